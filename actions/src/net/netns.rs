//! Which network namespace a network fault goes into, and running a program inside it.
//! A target is a container (through its main process's pid) or a named namespace the
//! scenario created (`ip netns add`, `/run/netns/<name>`). The runner's own namespace is
//! always refused: a rule there would cut the host, not a node of the lab.
use crate::{ActionCtx, ActionError};
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The namespace every `net.*` action targets: its `container` or `netns` parameter (one
/// of the two; a struct flattened into parameters would lose `deny_unknown_fields`).
#[derive(Clone, Default)]
pub struct Target {
    pub container: Option<String>,
    pub netns: Option<String>,
}

/// A resolved namespace: the path `nsenter --net=` takes.
pub struct Netns {
    pub path: String,
    /// `container:pg` or `netns:lab1`: how reports and undo keys name it.
    pub label: String,
}

impl Target {
    pub fn label(&self) -> String {
        match (&self.container, &self.netns) {
            (Some(c), _) => format!("container:{c}"),
            (_, Some(n)) => format!("netns:{n}"),
            _ => "none".into(),
        }
    }

    /// The parameters that name this target again (for an undo).
    pub fn to_params(&self) -> Value {
        match (&self.container, &self.netns) {
            (Some(c), _) => json!({"container": c}),
            (_, Some(n)) => json!({"netns": n}),
            _ => json!({}),
        }
    }

    fn check(&self) -> Result<(), ActionError> {
        match (&self.container, &self.netns) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err(ActionError::new("name exactly one of `container` and `netns`").hint(
                "`container: pg` enters that container's network namespace; `netns: lab1` a named one",
            )),
        }
    }

    /// The namespace now; `Ok(None)` when it no longer exists (a stopped container, a
    /// deleted namespace): whatever was installed there is gone with it.
    pub async fn resolve(&self, ctx: &ActionCtx) -> Result<Option<Netns>, ActionError> {
        self.check()?;
        let label = self.label();
        let path = if let Some(c) = &self.container {
            let d = ctx.docker().await?;
            let i = match d
                .inspect_container(c, None::<bollard::query_parameters::InspectContainerOptions>)
                .await
            {
                Ok(i) => i,
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                    return Ok(None)
                }
                Err(e) => return Err(ActionError::from(e)),
            };
            if i.host_config.as_ref().and_then(|h| h.network_mode.as_deref()) == Some("host") {
                return Err(host_refused(&label));
            }
            match i.state.and_then(|s| s.pid).filter(|p| *p > 0) {
                Some(pid) => format!("/proc/{pid}/ns/net"),
                None => return Ok(None),
            }
        } else {
            let n = self.netns.as_deref().unwrap_or_default();
            let p = format!("/run/netns/{n}");
            if !std::path::Path::new(&p).exists() {
                return Ok(None);
            }
            p
        };
        let ours = std::fs::metadata("/proc/self/ns/net")?;
        let theirs = std::fs::metadata(&path)
            .map_err(|e| ActionError::new(format!("cannot open the network namespace of {label}: {e}")))?;
        if (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino()) {
            return Err(host_refused(&label));
        }
        Ok(Some(Netns { path, label }))
    }

    /// Like [`Self::resolve`], but a missing namespace is an error.
    pub async fn require(&self, ctx: &ActionCtx) -> Result<Netns, ActionError> {
        self.resolve(ctx).await?.ok_or_else(|| {
            ActionError::new(format!("{} has no network namespace now (not running?)", self.label()))
                .hint("the container must be running (`docker.wait`), or the namespace created first")
        })
    }
}

fn host_refused(label: &str) -> ActionError {
    ActionError::new(format!("{label} shares the runner's own network namespace: refused"))
        .hint("a rule there would cut the host itself; run the target on its own network (a docker network, not `network_mode: host`)")
}

/// Runs `argv` inside `ns` (through `nsenter --net=`), feeding `stdin`, bounded by `limit`.
/// Returns stdout; a non-zero exit is an error carrying stderr.
pub async fn run_in(
    ns: &Netns,
    argv: &[&str],
    stdin: Option<&str>,
    limit: Duration,
) -> Result<String, ActionError> {
    let mut cmd = tokio::process::Command::new("nsenter");
    cmd.arg(format!("--net={}", ns.path)).arg("--").args(argv);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| missing_tool("nsenter", e))?;
    if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(text.as_bytes()).await?;
    }
    let out = tokio::time::timeout(limit, child.wait_with_output()).await.map_err(|_| {
        ActionError::new(format!("`{}` in {} did not finish within {limit:?}", argv.join(" "), ns.label))
    })??;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(ActionError::new(format!("`{}` in {} failed: {err}", argv.join(" "), ns.label)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn missing_tool(tool: &str, e: std::io::Error) -> ActionError {
    let pkg = match tool {
        "nft" => "nftables",
        "tc" => "iproute2",
        _ => "util-linux",
    };
    ActionError::new(format!("cannot run `{tool}`: {e}"))
        .hint(format!("install the Debian package `{pkg}` (scripts/setup.sh does)"))
}

/// `plan`: a program is installed and answers `--version`-like `args` (read-only).
pub async fn tool_works(tool: &str, args: &[&str]) -> Result<(), ActionError> {
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::process::Command::new(tool).args(args).kill_on_drop(true).output(),
    )
    .await
    .map_err(|_| ActionError::new(format!("`{tool}` did not answer within 5s")))?
    .map_err(|e| {
        ActionError::new(format!("{} ({})", missing_tool(tool, e).message, "scripts/setup.sh installs it"))
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ActionError::new(format!(
            "`{tool} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
