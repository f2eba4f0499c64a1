//! `runs [DIR]`: every run below DIR (any depth) with verdict, duration, counts and key
//! metrics; `diff RUN_A RUN_B`: check and metric deltas between two runs.
use crate::cli::{DiffArgs, RunsArgs};
use crate::error::{CliError, CliResult};
use std::fmt::Write as _;
use testrunner_engine::ExitCode;
use testrunner_reports::runs::find;

/// Metrics shown per run: the first few, so a line stays readable.
const KEY_METRICS: usize = 3;

pub fn list(args: RunsArgs) -> CliResult {
    if !args.dir.is_dir() {
        return Err(CliError::msg(
            format!("{} is not a directory", args.dir.display()),
            Some("runs are written under runs/ by default"),
        ));
    }
    let mut found = find(&args.dir);
    found
        .retain(|f| args.scenario.as_ref().is_none_or(|s| f.report.as_ref().is_ok_and(|r| &r.scenario == s)));
    let key = |f: &testrunner_reports::runs::FoundRun| {
        f.report.as_ref().map(|r| r.started_at.clone()).unwrap_or_default()
    };
    found.sort_by_key(key);
    if args.json {
        let rows: Vec<serde_json::Value> = found
            .iter()
            .map(|f| match &f.report {
                Ok(r) => {
                    let t = r.totals();
                    serde_json::json!({
                        "dir": f.dir, "scenario": r.scenario, "run_id": r.run_id, "started_at": r.started_at,
                        "verdict": r.verdict().as_str(), "exit_code": r.exit_code, "duration_ms": r.duration_ms,
                        "pass": t.pass, "total": t.total,
                        "metrics": r.metrics.iter().filter(|m| m.error.is_none()).map(|m| (m.name.clone(), m.value.clone())).collect::<serde_json::Map<_, _>>(),
                    })
                }
                Err(e) => serde_json::json!({"dir": f.dir, "error": e}),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
        return Ok(ExitCode::Pass);
    }
    let mut t = format!(
        "{:<24} {:<16} {:<11} {:>10} {:>7}  {:<40} {}\n",
        "STARTED", "SCENARIO", "VERDICT", "DURATION", "CHECKS", "KEY METRICS", "DIR"
    );
    for f in &found {
        let dir = f.dir.display();
        match &f.report {
            Ok(r) => {
                let totals = r.totals();
                let metrics: Vec<String> = r
                    .metrics
                    .iter()
                    .take(KEY_METRICS)
                    .map(|m| format!("{}={}", m.name, short(&m.text())))
                    .collect();
                let _ = writeln!(
                    t,
                    "{:<24} {:<16} {:<11} {:>10} {:>7}  {:<40} {dir}",
                    r.started_at.get(..19).unwrap_or(&r.started_at),
                    r.scenario,
                    r.verdict().as_str(),
                    secs(r.duration_ms),
                    format!("{}/{}", totals.pass, totals.total),
                    metrics.join(", "),
                );
            }
            Err(e) => {
                let _ = writeln!(
                    t,
                    "{:<24} {:<16} {:<11} {:>10} {:>7}  {:<40} {dir}",
                    "-", "?", "UNREADABLE", "-", "-", e
                );
            }
        }
    }
    let _ = writeln!(t, "{} run(s) under {}", found.len(), args.dir.display());
    print!("{}", testrunner_reports::text::escape_controls(&t));
    Ok(ExitCode::Pass)
}

/// A metric's text without its interval (`812 ms`), for one line per run.
fn short(text: &str) -> String {
    text.split(", true value").next().unwrap_or(text).replace(' ', "")
}

fn secs(ms: u64) -> String {
    format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
}

pub fn diff(args: DiffArgs) -> CliResult {
    let read = |d: &std::path::Path| {
        crate::cmd_baseline::read_run(d).or_else(|e| testrunner_reports::runs::read_report(d).map_err(|_| e))
    };
    let (a, b) = match (read(&args.run_a), read(&args.run_b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            return Err(CliError::msg(
                e,
                Some("give two run directories (each with journal.jsonl or report.json)"),
            ));
        }
    };
    let d =
        testrunner_reports::diff::diff(&args.run_a.to_string_lossy(), &a, &args.run_b.to_string_lossy(), &b);
    if let Some(path) = &args.html {
        if let Err(e) = std::fs::write(path, d.html()) {
            return Err(CliError::msg(format!("cannot write {}: {e}", path.display()), None));
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
    } else {
        print!("{}", d.text());
    }
    Ok(ExitCode::Pass)
}
