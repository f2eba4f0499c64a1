//! Container lifecycle: start, stop, kill, restart, pause, unpause, rm. Each change
//! registers its inverse; each restore resolves the matching undo key.
use super::{docker_err, inspect, not_found, probe_exists, state_of, stopped_undo, ContainerParam};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Dur, Outcome, OutputField,
    Precondition, Undo,
};
use async_trait::async_trait;
use bollard::query_parameters::{
    KillContainerOptions, RemoveContainerOptions, RestartContainerOptions, StartContainerOptions,
    StopContainerOptions,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Start;

#[async_trait]
impl Action for Start {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.start",
            summary: "Start a stopped container (restores a docker.stop / docker.kill); a running one is left as is",
            params: schema::<ContainerParam>(),
            outputs: &[OutputField { name: "state", ty: "string", doc: "state after the start" }],
            example: "- id: start_pg\n  docker.start: { container: val17-pg }\n",
            background: false,
            traits: ActionTraits::HEAL,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ContainerParam = decode(params)?;
        let d = ctx.docker().await?;
        // The Engine answers 304 for a running container, which bollard treats as success.
        d.start_container(&p.container, None::<StartContainerOptions>)
            .await
            .map_err(|e| docker_err(&p.container, e))?;
        let state = state_of(&inspect(ctx, &p.container).await?);
        Ok(Outcome::new().with("state", state).resolves(format!("docker.stopped:{}", p.container)))
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_exists(params, ctx).await
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StopParams {
    /// Container name or id.
    #[schemars(with = "crate::params::DockerName")]
    container: String,
    /// Time between the stop signal and SIGKILL, rounded up to whole seconds (default 10s).
    grace: Option<Dur>,
}

/// The Engine takes whole seconds; round up so `grace: 500ms` is not an immediate SIGKILL.
fn grace_secs(grace: Option<Dur>) -> i32 {
    grace.map(|g| g.0.as_millis().div_ceil(1000) as i32).unwrap_or(10)
}

struct Stop;

#[async_trait]
impl Action for Stop {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.stop",
            summary: "Stop a container (its stop signal, then SIGKILL after the grace period); started again by the undo stack",
            params: schema::<StopParams>(),
            outputs: &[
                OutputField { name: "state", ty: "string", doc: "state after the stop" },
                OutputField { name: "exit_code", ty: "int", doc: "the main process's exit code" },
            ],
            example: "- id: stop_pg\n  docker.stop: { container: val17-pg, grace: 10s }\n",
            background: false,
            traits: ActionTraits::FAULT,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: StopParams = decode(params)?;
        let d = ctx.docker().await?;
        let opts = StopContainerOptions { t: Some(grace_secs(p.grace)), signal: None };
        ctx.intend(&stopped_undo(&p.container));
        d.stop_container(&p.container, Some(opts)).await.map_err(|e| docker_err(&p.container, e))?;
        let i = inspect(ctx, &p.container).await?;
        // A stopped container is no longer paused: that inverse is moot.
        Ok(Outcome::new()
            .with("state", state_of(&i))
            .with("exit_code", i["State"]["ExitCode"].clone())
            .undo(stopped_undo(&p.container))
            .resolves(format!("docker.paused:{}", p.container)))
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_exists(params, ctx).await
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct KillParams {
    /// Container name or id.
    #[schemars(with = "crate::params::DockerName")]
    container: String,
    /// Signal name or number (default SIGKILL).
    #[schemars(with = "Option<crate::params::DockerSignal>")]
    signal: Option<String>,
}

/// Signals whose default action ends a process. PID 1 in a container ignores them unless it
/// installed a handler, so after one of these the container may or may not stop.
fn may_stop(sig: &str) -> bool {
    let s = sig.trim().trim_start_matches("SIG");
    matches!(s, "KILL" | "TERM" | "INT" | "QUIT" | "ABRT" | "9" | "15" | "2" | "3" | "6")
}

struct Kill;

#[async_trait]
impl Action for Kill {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.kill",
            summary: "Send a signal to a container (default SIGKILL); a container that stops is started again by the undo stack",
            params: schema::<KillParams>(),
            outputs: &[
                OutputField { name: "state", ty: "string", doc: "state after the signal" },
                OutputField { name: "signal", ty: "string", doc: "the signal sent" },
            ],
            example: "- id: region_kill\n  docker.kill: { container: d31-primary, signal: SIGKILL }\n",
            background: false,
            traits: ActionTraits::FAULT,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: KillParams = decode(params)?;
        let d = ctx.docker().await?;
        let sig = p.signal.unwrap_or_else(|| "SIGKILL".into());
        if may_stop(&sig) {
            ctx.intend(&stopped_undo(&p.container));
        }
        d.kill_container(&p.container, Some(KillContainerOptions { signal: sig.clone() }))
            .await
            .map_err(|e| docker_err(&p.container, e))?;
        // Docker reports the exit asynchronously: wait (bounded) to know whether it stopped.
        let bound = Duration::from_secs(10).min(ctx.remaining());
        let t = Instant::now();
        let mut state = state_of(&inspect(ctx, &p.container).await?);
        while may_stop(&sig) && state == "running" && t.elapsed() < bound {
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
            traits: ActionTraits::FAULT,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: StopParams = decode(params)?;
        let d = ctx.docker().await?;
        let opts = RestartContainerOptions { t: Some(grace_secs(p.grace)), signal: None };
        d.restart_container(&p.container, Some(opts)).await.map_err(|e| docker_err(&p.container, e))?;
        let state = state_of(&inspect(ctx, &p.container).await?);
        Ok(Outcome::new().with("state", state).resolves(format!("docker.stopped:{}", p.container)))
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_exists(params, ctx).await
    }
}

struct Pause;

#[async_trait]
impl Action for Pause {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.pause",
            summary: "Freeze every process of a container (cgroup freezer); unpaused by the undo stack",
            params: schema::<ContainerParam>(),
            outputs: &[OutputField { name: "state", ty: "string", doc: "state after the pause" }],
            example: "- docker.pause: { container: d31-standby }\n",
            background: false,
            traits: ActionTraits::FAULT,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ContainerParam = decode(params)?;
        let d = ctx.docker().await?;
        let undo = Undo {
            key: format!("docker.paused:{}", p.container),
            description: format!("unpause container {}", p.container),
            action: "docker.unpause",
            params: json!({"container": p.container}),
        };
        ctx.intend(&undo);
        d.pause_container(&p.container).await.map_err(|e| docker_err(&p.container, e))?;
        let state = state_of(&inspect(ctx, &p.container).await?);
        Ok(Outcome::new().with("state", state).undo(undo))
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_exists(params, ctx).await
    }
}

struct Unpause;

#[async_trait]
impl Action for Unpause {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.unpause",
            summary: "Resume a paused container (a container that is not paused is left as is)",
            params: schema::<ContainerParam>(),
            outputs: &[OutputField { name: "state", ty: "string", doc: "state after the unpause" }],
            example: "- docker.unpause: { container: d31-standby }\n",
            background: false,
            traits: ActionTraits::HEAL,
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
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_exists(params, ctx).await
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RmParams {
    /// Container name or id.
    #[schemars(with = "crate::params::DockerName")]
    container: String,
    /// Remove it even if it is running (SIGKILL).
    #[serde(default)]
    force: bool,
    /// Remove its anonymous volumes too.
    #[serde(default)]
    volumes: bool,
    /// A container that does not exist is not an error (default false; the undo of
    /// `docker.run` sets it, so a container the scenario removed itself is fine).
    #[serde(default)]
    missing_ok: bool,
    /// Stop it first with its own stop signal, waiting this long before SIGKILL (a
    /// PostgreSQL container then shuts down cleanly instead of being killed by `force`).
    grace: Option<Dur>,
    /// Copy its stdout+stderr into this evidence file first (secrets masked), so the
    /// container's log outlives it.
    save_logs: Option<String>,
}

struct Rm;

#[async_trait]
impl Action for Rm {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.rm",
            summary: "Remove a container (resolves its pending remove / start / unpause undo entries)",
            params: schema::<RmParams>(),
            outputs: &[
                OutputField { name: "removed", ty: "bool", doc: "false when it did not exist" },
                OutputField {
                    name: "logs",
                    ty: "string",
                    doc: "evidence path of the saved logs (with `save_logs`)",
                },
                OutputField {
                    name: "logs_error",
                    ty: "string",
                    doc: "why the logs could not be kept (the container is removed anyway)",
                },
            ],
            example: "- docker.rm: { container: d31-primary, force: true }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: RmParams = decode(params)?;
        let d = ctx.docker().await?;
        if p.grace.is_some() {
            let opts = StopContainerOptions { t: Some(grace_secs(p.grace)), signal: None };
            if let Err(e) = d.stop_container(&p.container, Some(opts)).await {
                // 304: already stopped.
                let fine = super::status(&e) == Some(304) || (not_found(&e) && p.missing_ok);
                if !fine {
                    return Err(docker_err(&p.container, e));
                }
            }
        }
        // After the stop, so the log holds the shutdown too.
        let mut saved = Value::Null;
        let mut logs_error = Value::Null;
        if let Some(file) = &p.save_logs {
            // Best effort: logs that cannot be kept must not keep the container alive.
            let kept = match super::run::logs_text(ctx, &p.container, None).await {
                Ok(text) => ctx.write_evidence(file, text.as_bytes()),
                Err(e) => Err(e),
            };
            match kept {
                Ok(path) => saved = Value::String(path),
                Err(e) => logs_error = Value::String(e.message),
            }
        }
        let opts = RemoveContainerOptions { force: p.force, v: p.volumes, ..Default::default() };
        let removed = match d.remove_container(&p.container, Some(opts)).await {
            Ok(()) => true,
            Err(e) if not_found(&e) && p.missing_ok => false,
            Err(e) => {
                let running = e.to_string().to_lowercase().contains("remove a running container");
                let err = docker_err(&p.container, e);
                return Err(if running {
                    err.hint("the container is running: set `force: true`")
                } else {
                    err
                });
            }
        };
        Ok(Outcome::new()
            .with("removed", removed)
            .with("logs", saved)
            .with("logs_error", logs_error)
            .resolves(format!("docker.container:{}", p.container))
            .resolves(format!("docker.stopped:{}", p.container))
            .resolves(format!("docker.paused:{}", p.container)))
    }
}

inventory::submit!(ActionEntry(&Start));
inventory::submit!(ActionEntry(&Stop));
inventory::submit!(ActionEntry(&Kill));
inventory::submit!(ActionEntry(&Restart));
inventory::submit!(ActionEntry(&Pause));
inventory::submit!(ActionEntry(&Unpause));
inventory::submit!(ActionEntry(&Rm));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_rounds_up_to_whole_seconds() {
        assert_eq!(grace_secs(None), 10);
        assert_eq!(grace_secs(Some(Dur::ms(0))), 0);
        assert_eq!(grace_secs(Some(Dur::ms(500))), 1);
        assert_eq!(grace_secs(Some(Dur::ms(1000))), 1);
        assert_eq!(grace_secs(Some(Dur::ms(1001))), 2);
    }

    #[test]
    fn only_terminating_signals_are_waited_on() {
        for s in ["SIGKILL", "KILL", "9", "SIGTERM", "15", "SIGINT", "SIGQUIT", "SIGABRT"] {
            assert!(may_stop(s), "{s}");
        }
        for s in ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "1", "10"] {
            assert!(!may_stop(s), "{s}");
        }
    }
}
