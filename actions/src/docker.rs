//! Docker actions through the Engine API (bollard, version negotiated), never the CLI.
//! Created containers are removed, and stopped / paused / killed ones restored, by the
//! undo stack unless the scenario restored them itself.
use crate::core::{truncate, ExpectExit};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, Dur, Outcome, OutputField, Precondition, Undo,
};
use async_trait::async_trait;
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, KillContainerOptions, LogsOptions,
    RemoveContainerOptions, RestartContainerOptions, StartContainerOptions, StopContainerOptions,
};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

fn docker_err(container: &str, e: bollard::errors::Error) -> ActionError {
    let nf = not_found(&e);
    let err = ActionError::from(e);
    if nf {
        err.hint(format!("no container `{container}`: did the step that creates it run? (`docker ps -a`)"))
    } else {
        err
    }
}

async fn inspect(ctx: &ActionCtx, c: &str) -> Result<Value, ActionError> {
    let d = ctx.docker().await?;
    let i = d.inspect_container(c, None::<InspectContainerOptions>).await.map_err(|e| docker_err(c, e))?;
    Ok(serde_json::to_value(&i).unwrap_or(Value::Null))
}

fn state_of(inspect: &Value) -> String {
    inspect["State"]["Status"].as_str().unwrap_or("unknown").to_string()
}

fn container_only() -> Value {
    json!({"type": "object", "additionalProperties": false, "required": ["container"],
           "properties": {"container": {"type": "string", "description": "Container name or id."}}})
}

#[derive(Deserialize)]
struct ContainerParam {
    container: String,
}

// ---- docker.run ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunReady {
    /// Ready when the container's log has a line matching this regular expression.
    log_regex: Option<String>,
    /// Ready when this TCP port on 127.0.0.1 accepts connections.
    port: Option<u16>,
    /// Ready when Docker reports the container healthy (needs a HEALTHCHECK).
    #[serde(default)]
    healthy: bool,
    /// How long readiness may take (default: the step's deadline).
    timeout: Option<Dur>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunParams {
    /// Image (must exist locally; scripts/build-image.sh builds testrunner-hostfs:latest).
    image: String,
    /// Container name.
    name: String,
    /// Command (argument vector).
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
    /// Signal `docker stop` sends (e.g. SIGINT for PostgreSQL); set at create time.
    stop_signal: Option<String>,
    /// Extra labels (testrunner.managed and testrunner.step are always added).
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// Working directory.
    workdir: Option<String>,
    /// tmpfs mounts: path → options.
    #[serde(default)]
    tmpfs: BTreeMap<String, String>,
    /// When the container counts as started.
    ready: Option<RunReady>,
    /// Remove a container of the same name first.
    #[serde(default)]
    remove_existing: bool,
}

struct Run;

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
                OutputField { name: "ready_ms", ty: "int", doc: "time from start to ready" },
            ],
            example: "- id: pg\n  docker.run:\n    image: testrunner-hostfs:latest\n    name: val17-pg\n    network_mode: host\n    user: \"101:104\"\n    stop_signal: SIGINT\n    command: [/usr/lib/postgresql/15/bin/postgres, -D, /pgdata]\n    ready: { log_regex: \"ready to accept connections\", timeout: 60s }\n",
            background: false,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: RunParams = decode(params)?;
        let d = ctx.docker().await?;
        if p.remove_existing {
            let _ = d
                .remove_container(&p.name, Some(RemoveContainerOptions { force: true, ..Default::default() }))
                .await;
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
            stop_signal: p.stop_signal,
            host_config: Some(HostConfig {
                binds: (!p.binds.is_empty()).then_some(p.binds),
                network_mode: p.network_mode,
                tmpfs: (!p.tmpfs.is_empty()).then(|| p.tmpfs.into_iter().collect()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = d
            .create_container(
                Some(CreateContainerOptions { name: Some(p.name.clone()), ..Default::default() }),
                body,
            )
            .await
            .map_err(|e| {
                let nf = not_found(&e);
                let err = ActionError::from(e);
                if nf {
                    err.hint(format!(
                        "image `{}` not found locally: run scripts/build-image.sh (no registry is used)",
                        p.image
                    ))
                } else {
                    err.hint(
                        "a container with this name may exist already: `remove_existing: true` replaces it",
                    )
                }
            })?;
        let undo = Undo {
            key: format!("docker.container:{}", p.name),
            description: format!("remove container {}", p.name),
            action: "docker.rm",
            params: json!({"container": p.name, "force": true, "missing_ok": true}),
        };
        let started = Instant::now();
        if let Err(e) = d.start_container(&p.name, None::<StartContainerOptions>).await {
            let _ = d
                .remove_container(&p.name, Some(RemoveContainerOptions { force: true, ..Default::default() }))
                .await;
            return Err(ActionError::from(e));
        }
        if let Some(r) = &p.ready {
            if let Err(e) = wait_ready(ctx, &p.name, r, started).await {
                let _ = d
                    .remove_container(
                        &p.name,
                        Some(RemoveContainerOptions { force: true, ..Default::default() }),
                    )
                    .await;
                return Err(e);
            }
        }
        Ok(Outcome::new()
            .with("id", created.id)
            .with("name", p.name)
            .with("ready_ms", started.elapsed().as_millis() as u64)
            .undo(undo))
    }

    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        let d = match ctx.docker().await {
            Ok(d) => d,
            Err(e) => return vec![Precondition::blocker(format!("Docker is not reachable: {}", e.message))],
        };
        let mut out = vec![];
        if let Some(img) = params.get("image").and_then(Value::as_str).filter(|i| !i.contains("${")) {
            if d.inspect_image(img).await.is_err() {
                out.push(Precondition::blocker(format!(
                    "image `{img}` is not present locally (run scripts/build-image.sh)"
                )));
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
                    Precondition::blocker(msg)
                });
            }
        }
        out
    }
}

async fn logs_text(ctx: &ActionCtx, c: &str, tail: Option<usize>) -> Result<String, ActionError> {
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
        text.push_str(&chunk.map_err(|e| docker_err(c, e))?.to_string());
    }
    Ok(text)
}

async fn wait_ready(ctx: &ActionCtx, c: &str, r: &RunReady, started: Instant) -> Result<(), ActionError> {
    let limit = r.timeout.map(|d| d.0).unwrap_or_else(|| ctx.remaining());
    let re = match &r.log_regex {
        Some(s) => {
            Some(regex::Regex::new(s).map_err(|e| ActionError::new(format!("invalid log_regex: {e}")))?)
        }
        None => None,
    };
    loop {
        let i = inspect(ctx, c).await?;
        let state = state_of(&i);
        if state == "exited" || state == "dead" {
            let tail = logs_text(ctx, c, Some(5)).await.unwrap_or_default();
            return Err(ActionError::new(format!(
                "container `{c}` exited (code {}) before it was ready: {}",
                i["State"]["ExitCode"],
                tail.trim()
            )));
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
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- start / stop / kill / restart / pause / unpause / rm ----

struct Start;

#[async_trait]
impl Action for Start {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.start",
            summary: "Start a stopped container (restores a docker.stop / docker.kill)",
            params: container_only(),
            outputs: &[OutputField { name: "state", ty: "string", doc: "state after the start" }],
            example: "- id: start_pg\n  docker.start: { container: val17-pg }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ContainerParam = decode(params)?;
        let d = ctx.docker().await?;
        d.start_container(&p.container, None::<StartContainerOptions>)
            .await
            .map_err(|e| docker_err(&p.container, e))?;
        let state = state_of(&inspect(ctx, &p.container).await?);
        Ok(Outcome::new().with("state", state).resolves(format!("docker.stopped:{}", p.container)))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StopParams {
    /// Container name or id.
    container: String,
    /// Time to wait after the stop signal before SIGKILL (default 10s).
    grace: Option<Dur>,
}

struct Stop;

fn stopped_undo(c: &str) -> Undo {
    Undo {
        key: format!("docker.stopped:{c}"),
        description: format!("start container {c} again"),
        action: "docker.start",
        params: json!({"container": c}),
    }
}

#[async_trait]
impl Action for Stop {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.stop",
            summary: "Stop a container (its stop signal, then SIGKILL after the grace period)",
            params: schema::<StopParams>(),
            outputs: &[OutputField { name: "state", ty: "string", doc: "state after the stop" }],
            example: "- id: stop_pg\n  docker.stop: { container: val17-pg, grace: 10s }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: StopParams = decode(params)?;
        let d = ctx.docker().await?;
        let t = p.grace.map(|g| g.0.as_secs() as i32).unwrap_or(10);
        d.stop_container(&p.container, Some(StopContainerOptions { t: Some(t), signal: None }))
            .await
            .map_err(|e| docker_err(&p.container, e))?;
        let state = state_of(&inspect(ctx, &p.container).await?);
        // A stopped container is no longer paused: that inverse is moot.
        Ok(Outcome::new()
            .with("state", state)
            .undo(stopped_undo(&p.container))
            .resolves(format!("docker.paused:{}", p.container)))
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_exists(params, ctx).await
    }
}

async fn probe_exists(params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
    let Some(c) = params.get("container").and_then(Value::as_str).filter(|c| !c.contains("${")) else {
        return vec![];
    };
    match ctx.docker().await {
        Err(e) => vec![Precondition::blocker(format!("Docker is not reachable: {}", e.message))],
        Ok(d) => match d.inspect_container(c, None::<InspectContainerOptions>).await {
            Ok(_) => vec![],
            Err(_) => vec![Precondition::blocker(format!("container `{c}` does not exist"))],
        },
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct KillParams {
    /// Container name or id.
    container: String,
    /// Signal (default SIGKILL).
    signal: Option<String>,
}

struct Kill;

#[async_trait]
impl Action for Kill {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.kill",
            summary: "Send a signal to a container (default SIGKILL); a container that stops is restarted by the undo stack",
            params: schema::<KillParams>(),
            outputs: &[OutputField { name: "state", ty: "string", doc: "state after the signal" }],
            example: "- id: region_kill\n  docker.kill: { container: d31-primary, signal: SIGKILL }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: KillParams = decode(params)?;
        let d = ctx.docker().await?;
        let sig = p.signal.unwrap_or_else(|| "SIGKILL".into());
        d.kill_container(&p.container, Some(KillContainerOptions { signal: sig.clone() }))
            .await
            .map_err(|e| docker_err(&p.container, e))?;
        // A fatal signal stops the container; wait (briefly) for Docker to say so.
        let fatal = matches!(sig.trim_start_matches("SIG"), "KILL" | "TERM" | "INT" | "QUIT");
        let t = Instant::now();
        let mut state = state_of(&inspect(ctx, &p.container).await?);
        while fatal && state == "running" && t.elapsed() < Duration::from_secs(10).min(ctx.remaining()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            state = state_of(&inspect(ctx, &p.container).await?);
        }
        let mut o = Outcome::new().with("state", state.clone()).with("signal", sig);
        if state != "running" && state != "paused" {
            o = o.undo(stopped_undo(&p.container)).resolves(format!("docker.paused:{}", p.container));
        }
        Ok(o)
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_exists(params, ctx).await
    }
}

struct Restart;

#[async_trait]
impl Action for Restart {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.restart",
            summary: "Restart a container (stop with grace, then start)",
            params: schema::<StopParams>(),
            outputs: &[OutputField { name: "state", ty: "string", doc: "state after the restart" }],
            example: "- docker.restart: { container: val17-pg, grace: 5s }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: StopParams = decode(params)?;
        let d = ctx.docker().await?;
        let t = p.grace.map(|g| g.0.as_secs() as i32).unwrap_or(10);
        d.restart_container(&p.container, Some(RestartContainerOptions { t: Some(t), signal: None }))
            .await
            .map_err(|e| docker_err(&p.container, e))?;
        let state = state_of(&inspect(ctx, &p.container).await?);
        Ok(Outcome::new().with("state", state).resolves(format!("docker.stopped:{}", p.container)))
    }
}

struct Pause;

#[async_trait]
impl Action for Pause {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.pause",
            summary: "Freeze every process of a container (cgroup freezer); unpaused by the undo stack",
            params: container_only(),
            outputs: &[OutputField { name: "state", ty: "string", doc: "state after the pause" }],
            example: "- docker.pause: { container: d31-standby }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ContainerParam = decode(params)?;
        let d = ctx.docker().await?;
        d.pause_container(&p.container).await.map_err(|e| docker_err(&p.container, e))?;
        Ok(Outcome::new().with("state", "paused").undo(Undo {
            key: format!("docker.paused:{}", p.container),
            description: format!("unpause container {}", p.container),
            action: "docker.unpause",
            params: json!({"container": p.container}),
        }))
    }
}

struct Unpause;

#[async_trait]
impl Action for Unpause {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.unpause",
            summary: "Resume a paused container",
            params: container_only(),
            outputs: &[OutputField { name: "state", ty: "string", doc: "state after the unpause" }],
            example: "- docker.unpause: { container: d31-standby }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ContainerParam = decode(params)?;
        let d = ctx.docker().await?;
        match d.unpause_container(&p.container).await {
            Ok(()) => {}
            // Already running (or stopped): nothing left to unpause, which is what was asked.
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("is not paused") => {}
            Err(e) => return Err(docker_err(&p.container, e)),
        }
        let state = state_of(&inspect(ctx, &p.container).await?);
        Ok(Outcome::new().with("state", state).resolves(format!("docker.paused:{}", p.container)))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RmParams {
    /// Container name or id.
    container: String,
    /// Remove even if running.
    #[serde(default)]
    force: bool,
    /// Remove its anonymous volumes too.
    #[serde(default)]
    volumes: bool,
    /// A container that does not exist is not an error (default true).
    missing_ok: Option<bool>,
}

struct Rm;

#[async_trait]
impl Action for Rm {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.rm",
            summary: "Remove a container",
            params: schema::<RmParams>(),
            outputs: &[OutputField { name: "removed", ty: "bool", doc: "false when it did not exist" }],
            example: "- docker.rm: { container: d31-primary, force: true }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: RmParams = decode(params)?;
        let d = ctx.docker().await?;
        let removed = match d
            .remove_container(
                &p.container,
                Some(RemoveContainerOptions { force: p.force, v: p.volumes, ..Default::default() }),
            )
            .await
        {
            Ok(()) => true,
            Err(e) if not_found(&e) && p.missing_ok.unwrap_or(true) => false,
            Err(e) => return Err(docker_err(&p.container, e)),
        };
        Ok(Outcome::new()
            .with("removed", removed)
            .resolves(format!("docker.container:{}", p.container))
            .resolves(format!("docker.stopped:{}", p.container))
            .resolves(format!("docker.paused:{}", p.container)))
    }
}

// ---- exec / inspect / logs / wait ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecParams {
    /// Container name or id.
    container: String,
    /// Program and arguments (no shell).
    argv: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// User to run as.
    user: Option<String>,
    /// Working directory.
    workdir: Option<String>,
    /// Accepted exit code(s), or "any" (default 0).
    expect_exit: Option<ExpectExit>,
}

struct Exec;

#[async_trait]
impl Action for Exec {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.exec",
            summary: "Run a program inside a running container; stdout, stderr and exit code out",
            params: schema::<ExecParams>(),
            outputs: &[
                OutputField { name: "stdout", ty: "string", doc: "standard output" },
                OutputField { name: "stderr", ty: "string", doc: "standard error" },
                OutputField { name: "exit_code", ty: "int", doc: "exit code" },
                OutputField { name: "json", ty: "any", doc: "stdout parsed as JSON, when it is JSON" },
            ],
            example: "- id: ps\n  docker.exec: { container: val17-pg, argv: [/usr/lib/postgresql/15/bin/pg_isready, -h, 127.0.0.1] }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ExecParams = decode(params)?;
        let d = ctx.docker().await?;
        let exec = d
            .create_exec(
                &p.container,
                ExecConfig {
                    cmd: Some(p.argv.clone()),
                    env: Some(p.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                    user: p.user,
                    working_dir: p.workdir,
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| docker_err(&p.container, e))?;
        let (mut stdout, mut stderr) = (String::new(), String::new());
        if let bollard::exec::StartExecResults::Attached { mut output, .. } =
            d.start_exec(&exec.id, None).await?
        {
            while let Some(chunk) = output.next().await {
                match chunk? {
                    bollard::container::LogOutput::StdErr { message } => {
                        stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => stdout.push_str(&other.to_string()),
                }
            }
        }
        let code = d.inspect_exec(&exec.id).await?.exit_code.unwrap_or(-1) as i32;
        let mut o = Outcome::new()
            .with("stdout", truncate(&stdout))
            .with("stderr", truncate(&stderr))
            .with("exit_code", code);
        if let Ok(j) = serde_json::from_str::<Value>(stdout.trim()) {
            o = o.with("json", j);
        }
        let expect = p.expect_exit.unwrap_or(ExpectExit::Code(0));
        if expect.accepts(code) {
            return Ok(o);
        }
        let mut e = ActionError::new(format!(
            "`{}` in {} exited with {code}, expected {}",
            p.argv.join(" "),
            p.container,
            expect.describe()
        ));
        e.output = o.output;
        Err(e)
    }
}

struct Inspect;

#[async_trait]
impl Action for Inspect {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.inspect",
            summary: "The Engine's inspect JSON of a container, plus its state",
            params: container_only(),
            outputs: &[
                OutputField { name: "json", ty: "map", doc: "the inspect document" },
                OutputField { name: "state", ty: "string", doc: "created, running, paused, exited, dead..." },
                OutputField { name: "running", ty: "bool", doc: "State.Running" },
                OutputField { name: "pid", ty: "int", doc: "main process id on the host" },
                OutputField { name: "health", ty: "string", doc: "health status, if it has a healthcheck" },
            ],
            example: "- id: pg_state\n  docker.inspect: { container: val17-pg }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ContainerParam = decode(params)?;
        let i = inspect(ctx, &p.container).await?;
        Ok(Outcome::new()
            .with("state", state_of(&i))
            .with("running", i["State"]["Running"].as_bool().unwrap_or(false))
            .with("pid", i["State"]["Pid"].clone())
            .with("health", i["State"]["Health"]["Status"].clone())
            .with("json", i))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LogsParams {
    /// Container name or id.
    container: String,
    /// Evidence file (default `<container>.log`).
    save: Option<String>,
    /// Only the last N lines.
    tail: Option<usize>,
}

struct Logs;

#[async_trait]
impl Action for Logs {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.logs",
            summary: "Copy a container's stdout+stderr into the evidence directory",
            params: schema::<LogsParams>(),
            outputs: &[
                OutputField { name: "path", ty: "string", doc: "evidence path" },
                OutputField { name: "lines", ty: "int", doc: "number of lines" },
                OutputField { name: "text", ty: "string", doc: "the logs (truncated past 64 KiB)" },
            ],
            example: "- docker.logs: { container: val17-pg, save: val17-pg.log }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: LogsParams = decode(params)?;
        let text = logs_text(ctx, &p.container, p.tail).await?;
        let file = p.save.unwrap_or_else(|| format!("{}.log", p.container));
        let path = ctx.write_evidence(&file, text.as_bytes())?;
        Ok(Outcome::new()
            .with("path", path)
            .with("lines", text.lines().count())
            .with("text", truncate(&text)))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WaitParams {
    /// Container name or id.
    container: String,
    /// The state to wait for.
    state: WaitState,
    /// How long to wait (default: the step's deadline).
    timeout: Option<Dur>,
}

#[derive(Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "lowercase")]
enum WaitState {
    Running,
    Healthy,
    Exited,
    Paused,
}

struct Wait;

#[async_trait]
impl Action for Wait {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.wait",
            summary: "Wait (bounded) until a container is running, healthy, exited or paused",
            params: schema::<WaitParams>(),
            outputs: &[
                OutputField { name: "state", ty: "string", doc: "the state reached" },
                OutputField { name: "exit_code", ty: "int", doc: "exit code (for exited)" },
                OutputField { name: "waited_ms", ty: "int", doc: "how long it took" },
            ],
            example: "- docker.wait: { container: val17-pg, state: exited, timeout: 30s }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: WaitParams = decode(params)?;
        let limit = p.timeout.map(|d| d.0).unwrap_or_else(|| ctx.remaining());
        let t = Instant::now();
        loop {
            let i = inspect(ctx, &p.container).await?;
            let state = state_of(&i);
            let reached = match p.state {
                WaitState::Running => state == "running",
                WaitState::Paused => state == "paused",
                WaitState::Exited => state == "exited" || state == "dead",
                WaitState::Healthy => i["State"]["Health"]["Status"] == "healthy",
            };
            if reached {
                return Ok(Outcome::new()
                    .with("state", state)
                    .with("exit_code", i["State"]["ExitCode"].clone())
                    .with("waited_ms", t.elapsed().as_millis() as u64));
            }
            if t.elapsed() >= limit {
                return Err(ActionError::new(format!(
                    "container `{}` did not reach the wanted state within {} (it is {state})",
                    p.container,
                    testrunner_scenario::format_duration(limit)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

inventory::submit!(ActionEntry(&Run));
inventory::submit!(ActionEntry(&Start));
inventory::submit!(ActionEntry(&Stop));
inventory::submit!(ActionEntry(&Kill));
inventory::submit!(ActionEntry(&Restart));
inventory::submit!(ActionEntry(&Pause));
inventory::submit!(ActionEntry(&Unpause));
inventory::submit!(ActionEntry(&Rm));
inventory::submit!(ActionEntry(&Exec));
inventory::submit!(ActionEntry(&Inspect));
inventory::submit!(ActionEntry(&Logs));
inventory::submit!(ActionEntry(&Wait));
