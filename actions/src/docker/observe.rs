//! Read-only observation: inspect, logs (into the evidence directory), and a bounded wait
//! for a container state.
use super::run::logs_text;
use super::{inspect, probe_exists, state_of, ContainerParam};
use crate::core::truncate;
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Dur, Outcome, OutputField,
    Precondition,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, Instant};

struct Inspect;

#[async_trait]
impl Action for Inspect {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.inspect",
            summary: "The Engine's inspect JSON of a container, plus its state",
            params: schema::<ContainerParam>(),
            outputs: &[
                OutputField { name: "json", ty: "map", doc: "the inspect document" },
                OutputField {
                    name: "state",
                    ty: "string",
                    doc: "created, running, paused, restarting, exited, dead",
                },
                OutputField { name: "running", ty: "bool", doc: "State.Running (also true while paused)" },
                OutputField { name: "pid", ty: "int", doc: "main process id on the host (0 when stopped)" },
                OutputField { name: "exit_code", ty: "int", doc: "last exit code" },
                OutputField { name: "health", ty: "string", doc: "health status, if it has a healthcheck" },
            ],
            example: "- id: pg_state\n  docker.inspect: { container: val17-pg }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ContainerParam = decode(params)?;
        let i = inspect(ctx, &p.container).await?;
        let mut o = Outcome::new()
            .with("state", state_of(&i))
            .with("running", i["State"]["Running"].as_bool().unwrap_or(false))
            .with("pid", i["State"]["Pid"].clone())
            .with("exit_code", i["State"]["ExitCode"].clone());
        if let Some(h) = i["State"]["Health"]["Status"].as_str() {
            o = o.with("health", h);
        }
        Ok(o.with("json", i))
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_exists(params, ctx).await
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LogsParams {
    /// Container name or id.
    #[schemars(with = "crate::params::DockerName")]
    container: String,
    /// Evidence file, relative to the run's evidence directory (default `<container>.log`).
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
            summary: "Copy a container's stdout+stderr (secrets masked) into the evidence directory",
            params: schema::<LogsParams>(),
            outputs: &[
                OutputField {
                    name: "path",
                    ty: "string",
                    doc: "evidence path, relative to the run directory",
                },
                OutputField { name: "lines", ty: "int", doc: "number of lines" },
                OutputField { name: "text", ty: "string", doc: "the logs (truncated past 64 KiB)" },
            ],
            example: "- docker.logs: { container: val17-pg, save: val17-pg.log }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: LogsParams = decode(params)?;
        let text = logs_text(ctx, &p.container, p.tail).await?;
        let file = p.save.unwrap_or_else(|| format!("{}.log", p.container));
        let path = ctx.write_evidence(&file, text.as_bytes())?;
        let masked = ctx.state.masker.mask(&text);
        Ok(Outcome::new()
            .with("path", path)
            .with("lines", text.lines().count())
            .with("text", truncate(&masked)))
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_exists(params, ctx).await
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WaitParams {
    /// Container name or id.
    #[schemars(with = "crate::params::DockerName")]
    container: String,
    /// The state to wait for (`exited` also accepts `dead`).
    state: WaitState,
    /// How long to wait (default: the step's deadline less a second).
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
            summary:
                "Wait (bounded, polling every 100 ms) until a container is running, healthy, exited or paused",
            params: schema::<WaitParams>(),
            outputs: &[
                OutputField { name: "state", ty: "string", doc: "the state reached" },
                OutputField { name: "exit_code", ty: "int", doc: "exit code (for exited)" },
                OutputField { name: "waited_ms", ty: "int", doc: "how long it took" },
            ],
            example: "- docker.wait: { container: val17-pg, state: exited, timeout: 30s }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: WaitParams = decode(params)?;
        let limit = match p.timeout {
            Some(t) => t.0,
            None => ctx.remaining().saturating_sub(Duration::from_secs(1)),
        };
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
                let mut o = Outcome::new().with("state", state);
                if p.state == WaitState::Exited {
                    o = o.with("exit_code", i["State"]["ExitCode"].clone());
                }
                return Ok(o.with("waited_ms", t.elapsed().as_millis() as u64));
            }
            if t.elapsed() >= limit {
                let mut e = ActionError::new(format!(
                    "container `{}` did not become {} within {} (it is {state})",
                    p.container,
                    wanted(&p.state),
                    testrunner_scenario::format_duration(limit)
                ));
                if p.state == WaitState::Healthy && i["State"]["Health"].is_null() {
                    e = e.hint("the container has no healthcheck, so it never reports healthy");
                }
                return Err(e.with("state", state));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_exists(params, ctx).await
    }
}

fn wanted(s: &WaitState) -> &'static str {
    match s {
        WaitState::Running => "running",
        WaitState::Healthy => "healthy",
        WaitState::Exited => "exited",
        WaitState::Paused => "paused",
    }
}

inventory::submit!(ActionEntry(&Inspect));
inventory::submit!(ActionEntry(&Logs));
inventory::submit!(ActionEntry(&Wait));
