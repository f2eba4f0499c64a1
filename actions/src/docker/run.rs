//! `docker.run`: create + start a labelled container, wait until it is ready, and register
//! its removal. A container whose readiness fails, or whose step is dropped at its deadline,
//! is removed here, since no undo entry exists for it yet.
use super::{inspect, not_found, state_of, status};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Dur, Outcome, OutputField,
    Precondition, Undo,
};
use async_trait::async_trait;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, LogsOptions, RemoveContainerOptions,
    StartContainerOptions,
};
use bollard::Docker;
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunReady {
    /// Ready when a line of the container's log (stdout or stderr) matches this regular expression.
    #[schemars(with = "Option<crate::params::RegexText>")]
    log_regex: Option<String>,
    /// Ready when this TCP port on 127.0.0.1 accepts connections (host networking).
    port: Option<u16>,
    /// Ready when Docker reports the container healthy (needs a HEALTHCHECK).
    #[serde(default)]
    healthy: bool,
    /// How long readiness may take (default: the step's deadline less a second, so the
    /// container is still removed here when it never gets ready).
    timeout: Option<Dur>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunParams {
    /// Image; must exist locally (no registry is used): scripts/build-image.sh builds
    /// `testrunner-hostfs:latest`.
    #[schemars(with = "crate::params::DockerImage")]
    image: String,
    /// Container name.
    #[schemars(with = "crate::params::DockerName")]
    name: String,
    /// Command (argument vector, no shell).
    command: Option<Vec<String>>,
    /// Entrypoint (argument vector).
    entrypoint: Option<Vec<String>>,
    /// Environment variables.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Bind mounts, `host:container[:ro]`.
    #[serde(default)]
    binds: Vec<String>,
    /// Network mode, e.g. `host`.
    network_mode: Option<String>,
    /// User, e.g. `101:104`.
    user: Option<String>,
    /// Signal `docker.stop` sends (e.g. SIGINT for PostgreSQL's fast shutdown); set at create time.
    #[schemars(with = "Option<crate::params::DockerSignal>")]
    stop_signal: Option<String>,
    /// Extra labels (`testrunner.managed=true` and `testrunner.step=<step id>` are always added).
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// Working directory inside the container.
    workdir: Option<String>,
    /// tmpfs mounts: container path → mount options (e.g. `/scratch: "rw,mode=1777"`). The Engine
    /// (20.10) does not re-apply `mode=` when the container is started again: a directory that
    /// must stay writable across docker.stop/start should be a bind of a host directory.
    #[serde(default)]
    tmpfs: BTreeMap<String, String>,
    /// When the container counts as started (default: as soon as it runs).
    ready: Option<RunReady>,
    /// Remove a container of the same name first.
    #[serde(default)]
    remove_existing: bool,
}

struct Run;

fn force() -> Option<RemoveContainerOptions> {
    Some(RemoveContainerOptions { force: true, ..Default::default() })
}

/// Removes the container unless disarmed: covers the future being dropped (step deadline)
/// between create and the undo registration. The removal runs on the current runtime.
struct RemoveOnDrop {
    docker: Docker,
    name: String,
    armed: bool,
}

impl RemoveOnDrop {
    /// Removes it now (an error path that is still running).
    async fn remove(mut self) {
        self.armed = false;
        let _ = self.docker.remove_container(&self.name, force()).await;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (d, name) = (self.docker.clone(), std::mem::take(&mut self.name));
            rt.spawn(async move {
                let _ = d.remove_container(&name, force()).await;
            });
        }
    }
}

/// Only the project's own image is built by scripts/build-image.sh; any other must be
/// pulled or loaded by hand (testrunner never pulls).
fn missing_image_hint(image: &str) -> String {
    let repo = image.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).map_or(image, |(r, _)| r);
    if repo == "testrunner-hostfs" {
        format!("image `{image}` not found locally: run scripts/build-image.sh (no registry is used)")
    } else {
        format!(
            "image `{image}` not found locally, and testrunner never pulls: `docker pull {image}`, \
             `docker load -i <file>.tar` or build it first"
        )
    }
}

fn create_err(image: &str, name: &str, e: bollard::errors::Error) -> ActionError {
    let code = status(&e);
    let err = ActionError::from(e);
    match code {
        Some(404) => err.hint(missing_image_hint(image)),
        Some(409) => err.hint(format!(
            "a container named `{name}` exists already: remove it, or set `remove_existing: true`"
        )),
        _ => err,
    }
}

/// The container's first IP address on any network (none with host networking).
fn ip_of(inspect: &Value) -> Option<String> {
    let nets = inspect["NetworkSettings"]["Networks"].as_object()?;
    nets.values().filter_map(|n| n["IPAddress"].as_str()).find(|ip| !ip.is_empty()).map(String::from)
}

#[async_trait]
impl Action for Run {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.run",
            summary: "Create and start a container, wait until it is ready; removed by the undo stack",
            params: schema::<RunParams>(),
            outputs: &[
                OutputField { name: "id", ty: "string", doc: "container id" },
                OutputField { name: "name", ty: "string", doc: "container name" },
                OutputField { name: "ip", ty: "string", doc: "its IP address, if it has one (not with host networking)" },
                OutputField { name: "ready_ms", ty: "int", doc: "time from start to ready" },
            ],
            example: "- id: pg\n  docker.run:\n    image: testrunner-hostfs:latest\n    name: val17-pg\n    network_mode: host\n    user: \"101:104\"\n    stop_signal: SIGINT\n    binds: [\"/usr:/usr:ro\", \"/lib:/lib:ro\", \"/lib64:/lib64:ro\", \"/bin:/bin:ro\", \"/etc:/etc:ro\", \"/srv/pg:/pgdata\"]\n    command: [/usr/lib/postgresql/15/bin/postgres, -D, /pgdata, -p, \"5433\", -c, listen_addresses=127.0.0.1, -k, /pgdata]\n    ready: { log_regex: \"ready to accept connections\", timeout: 60s }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: RunParams = decode(params)?;
        let d = ctx.docker().await?;
        if p.remove_existing {
            match d.remove_container(&p.name, force()).await {
                Err(e) if !not_found(&e) => return Err(super::docker_err(&p.name, e)),
                _ => {}
            }
        }
        let mut labels: HashMap<String, String> = p.labels.into_iter().collect();
        labels.insert("testrunner.managed".into(), "true".into());
        labels.insert("testrunner.step".into(), ctx.step_id.clone());
        let body = ContainerCreateBody {
            image: Some(p.image.clone()),
            cmd: p.command,
            entrypoint: p.entrypoint,
            env: Some(p.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            user: p.user,
            working_dir: p.workdir,
            stop_signal: p.stop_signal.clone(),
            host_config: Some(HostConfig {
                binds: (!p.binds.is_empty()).then_some(p.binds),
                network_mode: p.network_mode,
                tmpfs: (!p.tmpfs.is_empty()).then(|| p.tmpfs.into_iter().collect()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptions { name: Some(p.name.clone()), ..Default::default() };
        let created =
            d.create_container(Some(opts), body).await.map_err(|e| create_err(&p.image, &p.name, e))?;
        let mut guard = RemoveOnDrop { docker: d.clone(), name: p.name.clone(), armed: true };
        // Write-ahead, by id (a later container of the same name is not ours): a SIGKILLed
        // runner leaves a record `testrunner cleanup` replays.
        ctx.intend(&Undo {
            key: format!("docker.container:{}", p.name),
            description: format!(
                "remove container {} (id {})",
                p.name,
                &created.id[..created.id.len().min(12)]
            ),
            action: "docker.rm",
            params: json!({"container": created.id, "force": true, "missing_ok": true,
                           "save_logs": format!("{}.container.log", p.name)}),
        });
        let started = Instant::now();
        if let Err(e) = d.start_container(&p.name, None::<StartContainerOptions>).await {
            guard.remove().await;
            return Err(
                ActionError::from(e).hint("the container was created but did not start; it was removed")
            );
        }
        if let Some(r) = &p.ready {
            if let Err(e) = wait_ready(ctx, &p.name, r, started).await {
                guard.remove().await;
                return Err(e);
            }
        }
        let ready_ms = started.elapsed().as_millis() as u64;
        let ip = match inspect(ctx, &p.name).await {
            Ok(i) => ip_of(&i),
            Err(e) => {
                guard.remove().await;
                return Err(e);
            }
        };
        guard.armed = false;
        let mut o = Outcome::new().with("id", created.id).with("name", p.name.clone());
        if let Some(ip) = ip {
            o = o.with("ip", ip);
        }
        // Its log is kept as evidence, under a name of its own (`docker.logs` defaults to
        // `<name>.log`; a snapshot a step took must not be overwritten). A container given a `stop_signal` said how it shuts
        // down cleanly (PostgreSQL: SIGINT), so it gets that first; others are killed.
        let mut rm = json!({"container": p.name, "force": true, "missing_ok": true,
                            "save_logs": format!("{}.container.log", p.name)});
        let description = if p.stop_signal.is_some() {
            rm["grace"] = json!("10s");
            format!("stop and remove container {} (log kept in evidence)", p.name)
        } else {
            format!("remove container {} (log kept in evidence)", p.name)
        };
        Ok(o.with("ready_ms", ready_ms).undo(Undo {
            key: format!("docker.container:{}", p.name),
            description,
            action: "docker.rm",
            params: rm,
        }))
    }

    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        let d = match ctx.docker().await {
            Ok(d) => d,
            Err(e) => return vec![Precondition::blocker(format!("Docker is not reachable: {}", e.message))],
        };
        let mut out = vec![];
        if let Some(img) = params.get("image").and_then(Value::as_str).filter(|i| !i.contains("${")) {
            if d.inspect_image(img).await.is_err() {
                out.push(Precondition::blocker(missing_image_hint(img)));
            }
        }
        if let Some(name) =
            params.get("name").and_then(Value::as_str).filter(|n| !n.contains("${") && !n.contains('<'))
        {
            if d.inspect_container(name, None::<InspectContainerOptions>).await.is_ok() {
                let replace = params.get("remove_existing").and_then(Value::as_bool).unwrap_or(false);
                let msg = format!("a container named `{name}` already exists");
                out.push(if replace {
                    Precondition::warning(format!("{msg}; it will be replaced"))
                } else {
                    Precondition::blocker(format!("{msg} (set `remove_existing: true` to replace it)"))
                });
            }
        }
        out
    }
}

/// stdout + stderr of a container, in order (`tail`: only the last N lines).
pub(super) async fn logs_text(ctx: &ActionCtx, c: &str, tail: Option<usize>) -> Result<String, ActionError> {
    let d = ctx.docker().await?;
    let opts = LogsOptions {
        stdout: true,
        stderr: true,
        tail: tail.map(|t| t.to_string()).unwrap_or_else(|| "all".into()),
        ..Default::default()
    };
    let mut s = d.logs(c, Some(opts));
    let mut text = String::new();
    while let Some(chunk) = s.next().await {
        text.push_str(&chunk.map_err(|e| super::docker_err(c, e))?.to_string());
    }
    Ok(text)
}

/// Polls (100 ms) until every configured readiness condition holds, the container exits,
/// or the readiness timeout passes.
async fn wait_ready(ctx: &ActionCtx, c: &str, r: &RunReady, started: Instant) -> Result<(), ActionError> {
    let limit = match r.timeout {
        Some(t) => t.0,
        None => ctx.remaining().saturating_sub(Duration::from_secs(1)),
    };
    let re = match &r.log_regex {
        Some(s) => Some(
            regex::Regex::new(s).map_err(|e| ActionError::new(format!("invalid ready.log_regex: {e}")))?,
        ),
        None => None,
    };
    loop {
        let i = inspect(ctx, c).await?;
        let state = state_of(&i);
        if state == "exited" || state == "dead" {
            let tail = logs_text(ctx, c, Some(5)).await.unwrap_or_default();
            return Err(ActionError::new(format!(
                "container `{c}` exited (code {}) before it was ready; last log lines: {}",
                i["State"]["ExitCode"],
                tail.trim()
            ))
            .hint("the container was removed; its command failed (wrong binds, user or arguments?)"));
        }
        let mut ready = state == "running";
        if let (true, Some(re)) = (ready, &re) {
            ready &= logs_text(ctx, c, None).await.is_ok_and(|t| t.lines().any(|l| re.is_match(l)));
        }
        if let (true, Some(port)) = (ready, r.port) {
            ready &= tokio::time::timeout(
                Duration::from_millis(200),
                tokio::net::TcpStream::connect(("127.0.0.1", port)),
            )
            .await
            .is_ok_and(|c| c.is_ok());
        }
        if ready && r.healthy {
            ready &= i["State"]["Health"]["Status"] == "healthy";
        }
        if ready {
            return Ok(());
        }
        if started.elapsed() >= limit {
            let tail = logs_text(ctx, c, Some(5)).await.unwrap_or_default();
            return Err(ActionError::new(format!(
                "container `{c}` not ready within {} (state {state}); last log lines: {}",
                testrunner_scenario::format_duration(limit),
                tail.trim()
            ))
            .hint("the container was removed; raise ready.timeout or check the readiness condition"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

inventory::submit!(ActionEntry(&Run));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_is_the_first_non_empty_network_address() {
        let host = json!({"NetworkSettings": {"Networks": {"host": {"IPAddress": ""}}}});
        assert_eq!(ip_of(&host), None);
        let bridge = json!({"NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}});
        assert_eq!(ip_of(&bridge).as_deref(), Some("172.17.0.2"));
        assert_eq!(ip_of(&json!({})), None);
    }

    #[test]
    fn create_errors_carry_the_right_hint() {
        let err = |code: u16| bollard::errors::Error::DockerResponseServerError {
            status_code: code,
            message: "x".into(),
        };
        let hostfs = create_err("testrunner-hostfs:latest", "c", err(404)).hint.unwrap();
        assert!(hostfs.contains("scripts/build-image.sh"), "{hostfs}");
        // Negative control: any other image is not built by that script.
        for other in ["postgres:15", "img", "registry.local:5000/testrunner-hostfs-x:1"] {
            let hint = create_err(other, "c", err(404)).hint.unwrap();
            assert!(!hint.contains("build-image") && hint.contains("docker pull"), "{other}: {hint}");
        }
        assert!(create_err("img", "c", err(409)).hint.unwrap().contains("remove_existing"));
        assert!(create_err("img", "c", err(500)).hint.is_none());
    }
}
