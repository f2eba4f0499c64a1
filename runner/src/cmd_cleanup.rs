//! `cleanup`: replays the undo entries a run recorded write-ahead (journal.jsonl) and never
//! undid, and appends what it did to the same journal, so a second call finds nothing left.
use crate::cli::CleanupArgs;
use crate::error::{CliError, CliResult};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testrunner_actions::{find, ActionCtx, ActionError};
use testrunner_engine::{ExitCode, Journal};
use testrunner_reports::{Event, PendingUndo, RunReport};
use testrunner_scenario::Masker;

/// The run's report folded from its journal, or a message saying why it cannot be read.
pub fn read_report(run_dir: &std::path::Path) -> Result<RunReport, String> {
    let journal = run_dir.join("journal.jsonl");
    let text =
        std::fs::read_to_string(&journal).map_err(|e| format!("cannot read {}: {e}", journal.display()))?;
    let events = RunReport::parse_journal(&text).map_err(|e| format!("{}: {e}", journal.display()))?;
    Ok(RunReport::from_events(&events))
}

pub fn run(args: CleanupArgs) -> CliResult {
    let report = match read_report(&args.run_dir) {
        Ok(r) => r,
        Err(e) => {
            return Err(CliError::msg(e, Some("pass a run directory, e.g. runs/val17/<timestamp>")));
        }
    };
    if report.pending_undo.is_empty() {
        println!("nothing to clean up in {}", args.run_dir.display());
        return Ok(ExitCode::Pass);
    }
    let journal = match Journal::append(&args.run_dir.join("journal.jsonl"), Arc::new(Masker::default())) {
        Ok(j) => j,
        Err(e) => {
            return Err(CliError::msg(
                format!("cannot append to the journal in {}: {e}", args.run_dir.display()),
                None,
            ));
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            return Err(CliError::msg(format!("cannot start the runtime: {e}"), None));
        }
    };
    let run_dir = std::fs::canonicalize(&args.run_dir).unwrap_or(args.run_dir.clone());
    let t_ms = report.clock_end_ms();
    let mut failed = 0;
    // Last recorded first, as the undo stack would have done it.
    for p in report.pending_undo.iter().rev() {
        let result = runtime.block_on(replay(p, &run_dir));
        match &result {
            Ok(()) => println!("restored      {}  [{}]", p.description, p.key),
            Err(e) => {
                failed += 1;
                println!("NOT RESTORED  {}  [{}]: {e}", p.description, p.key)
            }
        }
        journal.emit(Event::Undo {
            key: p.key.clone(),
            description: format!("{} (testrunner cleanup)", p.description),
            ok: result.is_ok(),
            error: result.err().map(|e| e.message),
            t_ms,
        });
    }
    if failed > 0 {
        return Err(CliError::msg(
            format!("{failed} change(s) could not be undone"),
            Some("fix the cause (is the Docker daemon running?) and run `testrunner cleanup` again"),
        ));
    }
    Ok(ExitCode::Pass)
}

async fn replay(p: &PendingUndo, run_dir: &std::path::Path) -> Result<(), ActionError> {
    let action = find(&p.action)
        .ok_or_else(|| ActionError::new(format!("undo action `{}` is not registered", p.action)))?;
    let ctx =
        ActionCtx::standalone(run_dir.to_path_buf(), &format!("cleanup:{}", p.key), Duration::from_secs(60));
    if p.action == "docker.rm" {
        // Only a container the runner created: it carries the label testrunner.managed=true.
        let container = p.params.get("container").cloned().unwrap_or(Value::Null);
        if let Some(inspect) = find("docker.inspect") {
            if let Ok(o) = inspect.run(json!({ "container": container }), &ctx).await {
                let label = &o.output["json"]["Config"]["Labels"]["testrunner.managed"];
                if label != "true" {
                    return Err(ActionError::new(format!(
                        "container {container} has no label testrunner.managed=true: not one testrunner started, left alone"
                    )));
                }
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    match tokio::time::timeout_at(deadline.into(), action.run(p.params.clone(), &ctx)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ActionError::new("did not finish within 60s")),
    }
}
