//! Docker actions through the Engine API (bollard, version negotiated), never the CLI.
//! Created containers are removed, and stopped / paused / killed ones restored, by the
//! undo stack unless the scenario restored them itself.
//!
//! Undo keys: `docker.container:<name>` (run → rm), `docker.stopped:<name>` (stop / kill →
//! start), `docker.paused:<name>` (pause → unpause); networks: see network.rs.
mod exec;
mod lifecycle;
mod network;
mod observe;
mod run;

use crate::{ActionCtx, ActionError, Precondition, Undo};
use bollard::query_parameters::InspectContainerOptions;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

fn status(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn not_found(e: &bollard::errors::Error) -> bool {
    status(e) == Some(404)
}

/// An Engine error about `container`, with a hint for the two common causes.
fn docker_err(container: &str, e: bollard::errors::Error) -> ActionError {
    let code = status(&e);
    let err = ActionError::from(e);
    match code {
        Some(404) => err.hint(format!(
            "no such container `{container}`: did the setup step that creates it run? (`docker ps -a`)"
        )),
        Some(409) => err.hint(format!(
            "container `{container}` is not in a state that allows this (stopped? paused?): \
             `docker.inspect` shows its state"
        )),
        _ => err,
    }
}

pub(crate) async fn inspect(ctx: &ActionCtx, c: &str) -> Result<Value, ActionError> {
    let d = ctx.docker().await?;
    let i = d.inspect_container(c, None::<InspectContainerOptions>).await.map_err(|e| docker_err(c, e))?;
    Ok(serde_json::to_value(&i).unwrap_or(Value::Null))
}

fn state_of(inspect: &Value) -> String {
    inspect["State"]["Status"].as_str().unwrap_or("unknown").to_string()
}

/// The parameters of actions that take only the container.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ContainerParam {
    /// Container name or id.
    #[schemars(with = "crate::params::DockerName")]
    container: String,
}

fn stopped_undo(c: &str) -> Undo {
    Undo {
        key: format!("docker.stopped:{c}"),
        description: format!("start container {c} again"),
        action: "docker.start",
        params: json!({"container": c}),
    }
}

/// `plan`: the container named in the parameters must exist.
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
