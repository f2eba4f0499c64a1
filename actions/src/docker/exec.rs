//! `docker.exec`: run an argument vector inside a running container (no shell) and capture
//! stdout, stderr and the exit code.
use super::{docker_err, probe_exists};
use crate::core::{truncate, ExpectExit};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Outcome, OutputField, Precondition,
};
use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecParams {
    /// Container name or id (it must be running).
    #[schemars(with = "crate::params::DockerName")]
    container: String,
    /// Program and arguments (argument vector, never a shell line).
    argv: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// User to run as (`101`, `101:104`, `postgres`).
    user: Option<String>,
    /// Working directory inside the container.
    workdir: Option<String>,
    /// Accepted exit code, list of codes, or "any" (default 0). Any other code fails the
    /// step, and the failure still carries stdout, stderr and exit_code.
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
                OutputField { name: "stdout", ty: "string", doc: "standard output (truncated past 64 KiB)" },
                OutputField { name: "stderr", ty: "string", doc: "standard error (truncated past 64 KiB)" },
                OutputField { name: "exit_code", ty: "int", doc: "exit code" },
                OutputField { name: "json", ty: "any", doc: "stdout parsed as JSON, when it is JSON" },
            ],
            example: "- id: ps\n  docker.exec: { container: val17-pg, argv: [/usr/lib/postgresql/15/bin/pg_isready, -h, 127.0.0.1] }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ExecParams = decode(params)?;
        if p.argv.is_empty() {
            return Err(ActionError::new("docker.exec: argv is empty").hint("argv: [program, arg, ...]"));
        }
        let d = ctx.docker().await?;
        let config = ExecConfig {
            cmd: Some(p.argv.clone()),
            env: Some(p.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            user: p.user,
            working_dir: p.workdir,
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = d.create_exec(&p.container, config).await.map_err(|e| docker_err(&p.container, e))?;
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let started = d.start_exec(&exec.id, None).await.map_err(|e| docker_err(&p.container, e))?;
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.next().await {
                match chunk? {
                    LogOutput::StdErr { message } => stderr.push_str(&String::from_utf8_lossy(&message)),
                    other => stdout.push_str(&other.to_string()),
                }
            }
        }
        let code = exit_code(ctx, &exec.id).await?;
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
        if code == 126 || code == 127 {
            e = e.hint("126/127: the program was not found or not executable inside the container (binds?)");
        }
        e.output = o.output;
        Err(e)
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_exists(params, ctx).await
    }
}

/// The exec's exit code. The output stream can close a moment before the Engine records
/// the exit, so poll (bounded) until it says the exec is no longer running.
async fn exit_code(ctx: &ActionCtx, id: &str) -> Result<i32, ActionError> {
    let d = ctx.docker().await?;
    let t = Instant::now();
    loop {
        let i = d.inspect_exec(id).await?;
        match (i.running, i.exit_code) {
            (Some(false), Some(c)) => return Ok(c as i32),
            _ if t.elapsed() > Duration::from_secs(5) => return Ok(i.exit_code.unwrap_or(-1) as i32),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

inventory::submit!(ActionEntry(&Exec));
