//! `net.netem` / `net.netem_clear`: latency, jitter and loss on a device of a container's
//! (or named) network namespace, through `tc qdisc … netem`. Whether the kernel has netem
//! (`sch_netem`) is decided before anything changes — in a throwaway namespace — so a
//! kernel without it gives one clear error naming the module, and `plan` a blocker.
use super::netns::{run_in, Target};
use super::partition::probe_target;
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Dur, Outcome, OutputField,
    Precondition, Undo,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// Whether this kernel can run a netem qdisc: Ok, or why it cannot and how to get it.
pub async fn netem_available() -> Result<(), ActionError> {
    static ANSWER: tokio::sync::OnceCell<Result<(), String>> = tokio::sync::OnceCell::const_new();
    ANSWER.get_or_init(|| probe_netem(&["unshare", "--net", "--", "tc"])).await.clone().map_err(unavailable)
}

/// Adds a netem qdisc to `lo` in a namespace that `argv` (ending in `tc`) creates and
/// throws away: read-only for the host, and the only sure test (a built-in or a module).
async fn probe_netem(argv: &[&str]) -> Result<(), String> {
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::process::Command::new(argv[0])
            .args(&argv[1..])
            .args(["qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "the netem check did not finish within 5s".to_string())?
    .map_err(|e| format!("cannot check for netem: `{}`: {e} (install iproute2 and util-linux)", argv[0]))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(if err.contains("qdisc kind is unknown") || err.contains("No such file") {
        format!(
            "this kernel has no netem: the module `sch_netem` is missing (CONFIG_NET_SCH_NETEM; \
             `tc` says: {err})"
        )
    } else {
        format!("cannot check for netem: {err}")
    })
}

fn unavailable(reason: String) -> ActionError {
    ActionError::new(reason).hint(
        "load it (`modprobe sch_netem`, package linux-modules-extra on some distributions) or run on a \
         kernel built with CONFIG_NET_SCH_NETEM; net.partition (nftables) needs no extra module",
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NetemParams {
    /// The container whose device is slowed (one of `container`, `netns`).
    #[schemars(with = "Option<crate::params::DockerName>")]
    container: Option<String>,
    /// A named network namespace (`/run/netns/<name>`) instead.
    #[schemars(with = "Option<crate::params::DockerName>")]
    netns: Option<String>,
    /// The device inside that namespace (default `eth0`).
    device: Option<String>,
    /// Added latency on every packet sent.
    delay: Option<Dur>,
    /// Variation of that latency (needs `delay`).
    jitter: Option<Dur>,
    /// Percentage of packets dropped (0–100).
    loss: Option<f64>,
}

fn device(d: &Option<String>) -> Result<String, ActionError> {
    let d = d.clone().unwrap_or_else(|| "eth0".into());
    let ok = !d.is_empty()
        && d.len() <= 15
        && !d.starts_with('-')
        && d.chars().all(|c| c.is_ascii_alphanumeric() || "_.-@".contains(c));
    ok.then_some(d.clone()).ok_or_else(|| ActionError::new(format!("`{d}` is not a network device name")))
}

/// `tc` arguments after `netem`, e.g. `delay 100ms 20ms loss 5%`.
fn netem_args(p: &NetemParams) -> Result<Vec<String>, ActionError> {
    let ms = |d: Dur| format!("{}ms", d.0.as_millis());
    let mut a = vec![];
    if let Some(d) = p.delay {
        a.extend(["delay".to_string(), ms(d)]);
        if let Some(j) = p.jitter {
            a.push(ms(j));
        }
    } else if p.jitter.is_some() {
        return Err(ActionError::new("`jitter` needs `delay`"));
    }
    if let Some(l) = p.loss {
        if !(0.0..=100.0).contains(&l) {
            return Err(ActionError::new(format!("`loss` is a percentage (0–100), not {l}")));
        }
        a.extend(["loss".to_string(), format!("{l}%")]);
    }
    if a.is_empty() {
        return Err(ActionError::new("say what to add: `delay`, `loss` or both"));
    }
    Ok(a)
}

struct Netem;

#[async_trait]
impl Action for Netem {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "net.netem",
            traits: ActionTraits::FAULT,
            summary: "Add latency / jitter / loss to a device in a container's netns (tc netem); removed by the undo stack",
            params: schema::<NetemParams>(),
            outputs: &[
                OutputField { name: "target", ty: "string", doc: "`container:<name>` or `netns:<name>`" },
                OutputField { name: "device", ty: "string", doc: "the device shaped" },
                OutputField { name: "netem", ty: "string", doc: "the netem options applied" },
            ],
            example: "- id: slow\n  net.netem: { container: \"pt-node1-${run.id}\", delay: 200ms, jitter: 50ms, loss: 5 }\n",
            background: false,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: NetemParams = decode(params)?;
        let args = netem_args(&p)?;
        let dev = device(&p.device)?;
        // Before anything changes: no module, no fault (and nothing to undo).
        netem_available().await?;
        let target = Target { container: p.container, netns: p.netns };
        let ns = target.require(ctx).await?;
        let mut clear = target.to_params();
        clear["device"] = json!(dev);
        let undo = Undo {
            key: format!("net.netem:{}/{dev}", ns.label),
            description: format!("remove netem from {dev} in {}", ns.label),
            action: "net.netem_clear",
            params: clear,
        };
        ctx.intend(&undo);
        let mut argv = vec!["tc", "qdisc", "replace", "dev", &dev, "root", "netem"];
        argv.extend(args.iter().map(String::as_str));
        run_in(&ns, &argv, None, ctx.remaining().min(Duration::from_secs(10))).await?;
        Ok(Outcome::new()
            .with("target", ns.label.clone())
            .with("device", dev)
            .with("netem", args.join(" "))
            .undo(undo))
    }

    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        let mut out = probe_target(params, ctx).await;
        out.retain(|p| !p.message.contains("`nft"));
        if let Err(e) = netem_available().await {
            out.push(Precondition::blocker(e.message));
        }
        out
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ClearParams {
    /// The container (one of `container`, `netns`).
    #[schemars(with = "Option<crate::params::DockerName>")]
    container: Option<String>,
    /// A named network namespace instead.
    #[schemars(with = "Option<crate::params::DockerName>")]
    netns: Option<String>,
    /// The device (default `eth0`).
    device: Option<String>,
}

struct Clear;

#[async_trait]
impl Action for Clear {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "net.netem_clear",
            traits: ActionTraits::HEAL,
            summary: "Remove the root qdisc a net.netem added (none there, or the namespace gone, is ok)",
            params: schema::<ClearParams>(),
            outputs: &[OutputField { name: "removed", ty: "bool", doc: "a qdisc was removed" }],
            example: "- net.netem_clear: { container: \"pt-node1-${run.id}\" }\n",
            background: false,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ClearParams = decode(params)?;
        let dev = device(&p.device)?;
        let target = Target { container: p.container, netns: p.netns };
        let resolves = |label: &str| format!("net.netem:{label}/{dev}");
        let Some(ns) = target.resolve(ctx).await? else {
            return Ok(Outcome::new().with("removed", false));
        };
        let argv = ["tc", "qdisc", "del", "dev", &dev, "root"];
        let removed = match run_in(&ns, &argv, None, ctx.remaining().min(Duration::from_secs(10))).await {
            Ok(_) => true,
            // The default qdisc has no handle to delete: nothing of ours is there.
            Err(e) if e.message.contains("handle of zero") || e.message.contains("No such file") => false,
            Err(e) => return Err(e),
        };
        Ok(Outcome::new().with("removed", removed).resolves(resolves(&ns.label)))
    }
}

inventory::submit!(ActionEntry(&Netem));
inventory::submit!(ActionEntry(&Clear));

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> NetemParams {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn options_become_tc_arguments_and_nonsense_is_refused() {
        let a = netem_args(&params(json!({"container": "x", "delay": "200ms", "jitter": "50ms", "loss": 5})));
        assert_eq!(a.unwrap().join(" "), "delay 200ms 50ms loss 5%");
        assert!(netem_args(&params(json!({"container": "x"})))
            .unwrap_err()
            .message
            .contains("`delay`, `loss`"));
        assert!(netem_args(&params(json!({"jitter": "5ms"}))).is_err());
        assert!(netem_args(&params(json!({"loss": 101}))).is_err());
        assert!(device(&Some("eth0".into())).is_ok());
        assert!(device(&Some("-help".into())).is_err() && device(&Some("a b".into())).is_err());
    }

    /// This machine's kernel lacks sch_netem (CONFIG_NET_SCH_NETEM is not set): the check
    /// says so by name, before any namespace is touched. Where netem exists the check
    /// passes instead, so the test asserts whichever the kernel really is.
    #[tokio::test]
    async fn a_kernel_without_netem_is_named_before_anything_changes() {
        let has_netem = std::fs::read_to_string("/proc/modules").unwrap_or_default().contains("sch_netem")
            || std::path::Path::new("/sys/module/sch_netem").exists();
        match netem_available().await {
            Ok(()) => assert!(has_netem || !kernel_config_says_no_netem(), "netem works here"),
            Err(reason) => {
                assert!(reason.message.contains("sch_netem"), "{reason}");
                let d = tempfile::tempdir().unwrap();
                let ctx = ActionCtx::standalone(d.path().into(), "slow", Duration::from_secs(5));
                // The target does not even exist: the module check comes first.
                let e = Netem
                    .run(json!({"container": "no-such-container", "delay": "100ms"}), &ctx)
                    .await
                    .unwrap_err();
                assert!(e.message.contains("sch_netem"), "{}", e.message);
                assert!(e.hint.unwrap().contains("modprobe sch_netem"));
                let plan = Netem.probe(json!({"delay": "100ms"}), &ctx).await;
                assert!(plan.iter().any(|p| p.blocker && p.message.contains("sch_netem")), "{plan:?}");
            }
        }
        // A failing check that is not about netem (no such program) is not blamed on it.
        let e = probe_netem(&["/nonexistent/unshare"]).await.unwrap_err();
        assert!(e.starts_with("cannot check for netem"), "{e}");
    }

    fn kernel_config_says_no_netem() -> bool {
        let Ok(out) = std::process::Command::new("sh").args(["-c", "zcat /proc/config.gz"]).output() else {
            return false;
        };
        String::from_utf8_lossy(&out.stdout).contains("# CONFIG_NET_SCH_NETEM is not set")
    }
}
