//! `run`: load, prepare the run directory, run under signal handling, write reports.
use crate::cli::RunArgs;
use crate::error::{CliError, CliResult};
use crate::load::{color_stderr, load_scenario, print_error};
use crate::progress::Progress;
use crate::rundir;
use std::io::Write;
use std::sync::{Arc, PoisonError};
use testrunner_engine::{ExitCode, Interrupt, Journal, RunOptions, UndoStack};
use testrunner_reports::{ReportFold, Subscriber};
use testrunner_scenario::{Loaded, Masker};

pub fn run(args: RunArgs) -> CliResult {
    if crate::suite::is_suite(&args) {
        return crate::suite::run(args);
    }
    let Loaded { scenario: sc, warnings } = load_scenario(&args.scenarios[0], &args.vars)?;
    for w in &warnings {
        eprint!("{}", w.render(&sc.sources, color_stderr()));
    }
    let resolved = sc.resolved();
    if let Some(fp) = &args.expect_fingerprint {
        let fp = fp.to_ascii_lowercase();
        if fp.len() < 8 || !fp.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(CliError::msg(
                format!("--expect-fingerprint `{fp}` is not a fingerprint"),
                Some("give at least 8 hex digits, as `testrunner plan` prints them (Fingerprint: ...)"),
            ));
        }
        if !resolved.fingerprint.starts_with(&fp) {
            return Err(CliError::msg(
                format!(
                    "the scenario is not the one that was planned: fingerprint {} is not {fp}",
                    &resolved.fingerprint[..16]
                ),
                Some(
                    "the file, an include or a --var changed since `testrunner plan`: review the plan again",
                ),
            ));
        }
    }
    if let Some(id) = &args.run_id {
        // It names containers: a plain name, as a scenario id.
        if !testrunner_scenario::valid_scenario_id(id) {
            return Err(CliError::msg(
                format!("--run-id `{id}` is not a plain name"),
                Some("letters, digits, `-`, `_`, `.`"),
            ));
        }
    }
    let dir = args.out.clone().unwrap_or_else(|| rundir::default_dir(&sc.id));
    warn_pending_cleanup(&dir, &sc.id);
    // A run directory is one run's evidence: never mix two runs in it.
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(CliError::msg(format!("run directory {} is not empty", dir.display()),
            Some("give --out a new directory (or remove the old run); a run never overwrites another's evidence")));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            return Err(CliError::msg(format!("cannot start the runtime: {e}"), None));
        }
    };
    if args.preflight {
        let plan = runtime.block_on(crate::cmd_plan::build(&sc));
        let blockers = plan.blockers();
        if !blockers.is_empty() {
            return Err(CliError::msg(
                format!(
                    "preflight found {} blocker(s); nothing was run:\n  {}",
                    blockers.len(),
                    blockers.join("\n  ")
                ),
                Some("fix them (see `testrunner plan`), or run without --preflight"),
            ));
        }
    }
    claim_run_dir(&dir)?;
    // On a worker, not the main thread: the engine then runs beside the tasks it waits on
    // (an HTTP connection's), instead of being woken across threads at every request.
    let ended = runtime.block_on(async {
        match tokio::spawn(run_async(args, sc, resolved.yaml, dir)).await {
            Ok(ended) => ended,
            // The panic hook printed the panic; the run is a harness error.
            Err(_) => Err(CliError::Reported),
        }
    });
    match ended {
        Ok(Ended::Abandoned(code)) => {
            // At once: a step blocked in the runtime must not hold the exit up.
            runtime.shutdown_background();
            Ok(code)
        }
        Ok(Ended::Finished(code)) => Ok(code),
        Err(e) => Err(e),
    }
}

/// How a run ended: by itself, or by a second signal that abandoned its cleanup.
enum Ended {
    Finished(ExitCode),
    Abandoned(ExitCode),
}

async fn run_async(
    args: RunArgs,
    sc: testrunner_scenario::Scenario,
    resolved_yaml: String,
    dir: std::path::PathBuf,
) -> Result<Ended, CliError> {
    // Secrets are the values of the vars named in `secrets:`, resolved as the run will see them.
    let masker = Arc::new(Masker::new(secret_values(&sc)));
    if let Err(e) = crate::rundir::put(&dir, "scenario.yaml", masker.mask(&resolved_yaml).as_bytes()) {
        return Err(CliError::msg(
            format!("cannot write {}: {e}", dir.join("scenario.yaml").display()),
            None,
        ));
    }
    // The journal feeds the terminal and the report.
    let fold = Arc::new(std::sync::Mutex::new(ReportFold::default()));
    let progress = Progress::new(color_stderr(), args.quiet).with_scenario(&sc);
    let subscribers: Vec<Box<dyn Subscriber>> = vec![Box::new(progress), Box::new(fold.clone())];
    let journal = match Journal::create(&dir.join("journal.jsonl"), masker.clone(), subscribers) {
        Ok(j) => j,
        Err(e) => {
            return Err(CliError::msg(format!("cannot create the journal in {}: {e}", dir.display()), None));
        }
    };
    let baseline = load_baseline(&args, &sc)?;
    let undo = UndoStack::default();
    let interrupt = Interrupt::default();
    let abandon = Abandon::default();
    spawn_signal_handler(interrupt.clone(), abandon.clone());
    let t0 = std::time::Instant::now();
    let opts = RunOptions {
        run_dir: std::fs::canonicalize(&dir).unwrap_or(dir.clone()),
        run_id: args
            .run_id
            .clone()
            .unwrap_or_else(|| dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()),
        command: std::env::args().map(|a| masker.mask(&a).into_owned()).collect(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: git_revision(),
        host: hostname(),
        baseline,
    };
    let engine = testrunner_engine::run(&sc, &opts, masker.clone(), journal.clone(), undo.clone(), interrupt);
    let outcome = tokio::select! {
        o = engine => o,
        // Dropping the engine drops its running steps: their process groups are killed.
        _ = abandon.token.cancelled() => {
            let signal = abandon.signal.lock().unwrap_or_else(PoisonError::into_inner).clone().unwrap_or_default();
            let code = abandon_cleanup(&signal, &undo, &journal, t0).await;
            let report = take_report(&fold);
            if let Err(e) = rundir::write_reports(&dir, &report, &masker.mask(&resolved_yaml), args.junit.as_deref()) {
                print_error(&format!("cannot write reports in {}: {e}", dir.display()), None);
            }
            let text = testrunner_reports::summary::render(&report);
            let _ = writeln!(std::io::stdout().lock(), "{text}run directory: {}", dir.display());
            let _ = std::io::stdout().flush();
            return Ok(Ended::Abandoned(code));
        }
    };
    let report = take_report(&fold);
    if let Err(e) = rundir::write_reports(&dir, &report, &masker.mask(&resolved_yaml), args.junit.as_deref())
    {
        return Err(CliError::msg(format!("cannot write reports in {}: {e}", dir.display()), None));
    }
    let text = testrunner_reports::summary::render(&report);
    // A closed stdout (`| head`) must not replace the run's verdict with an I/O error.
    let _ = writeln!(std::io::stdout().lock(), "{text}run directory: {}", dir.display());
    Ok(Ended::Finished(outcome.exit))
}

/// The report folded so far, handed over: later events (if any) fold into an empty one.
fn take_report(fold: &std::sync::Mutex<ReportFold>) -> testrunner_reports::RunReport {
    std::mem::take(&mut *fold.lock().unwrap_or_else(|e| e.into_inner())).finish()
}

/// Creates the run directory and claims it: `evidence/` is made with `create_dir`, which
/// exactly one of two runs racing for the same `--out` can do.
fn claim_run_dir(dir: &std::path::Path) -> Result<(), CliError> {
    let hint = Some("give --out a new directory; a run never shares its directory with another");
    let fail = |e: std::io::Error| {
        CliError::msg(format!("cannot create run directory {}: {e}", dir.display()), hint)
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    match std::fs::create_dir(dir.join("evidence")) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(CliError::msg(
            format!("run directory {} is already in use by another run", dir.display()),
            hint,
        )),
        Err(e) => Err(fail(e)),
    }
}

fn load_baseline(
    args: &RunArgs,
    sc: &testrunner_scenario::Scenario,
) -> Result<Option<testrunner_engine::Baseline>, CliError> {
    let scenario = sc.id.as_str();
    let has_regression_rules =
        sc.phases.iter().flat_map(|p| &p.metrics).chain(&sc.final_metrics).any(|m| m.regression.is_some());
    if args.no_baseline {
        return Ok(None);
    }
    let (path, explicit) = match &args.baseline {
        Some(p) => (p.clone(), true),
        None => (crate::cmd_baseline::default_path(scenario), false),
    };
    if !explicit && !path.exists() {
        // Only worth saying when the scenario has something to compare.
        if !args.quiet && has_regression_rules {
            eprintln!(
                "no baseline at {}: metrics are not compared (record one with `testrunner baseline record <run-dir>...`)",
                path.display()
            );
        }
        return Ok(None);
    }
    let fail = |title: String| {
        CliError::msg(
            title,
            Some("record one with `testrunner baseline record <run-dir>...`, or pass --no-baseline"),
        )
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| fail(format!("cannot read baseline {}: {e}", path.display())))?;
    let b = testrunner_engine::Baseline::from_yaml(&text)
        .map_err(|e| fail(format!("baseline {}: {e}", path.display())))?;
    if b.scenario != scenario {
        return Err(fail(format!(
            "baseline {} is for scenario `{}`, not `{scenario}`",
            path.display(),
            b.scenario
        )));
    }
    if !args.quiet {
        eprintln!(
            "comparing with baseline {} ({} run(s), recorded {})",
            path.display(),
            b.runs.len(),
            b.recorded_at
        );
    }
    Ok(Some(b))
}

pub(crate) fn secret_values(sc: &testrunner_scenario::Scenario) -> Vec<String> {
    let mut scope = testrunner_scenario::Scope::new();
    let mut out = vec![];
    for v in &sc.vars {
        if let Ok(val) = v.value.eval(&scope) {
            if sc.secrets.contains(&v.name) {
                match &val {
                    serde_json::Value::String(s) => out.push(s.clone()),
                    other => out.push(other.to_string()),
                }
            }
            if let serde_json::Value::String(s) = &val {
                out.extend(testrunner_scenario::embedded_credentials(s));
            }
            scope.set(v.name.clone(), val);
        }
    }
    out
}

/// The second signal: which one, and the token that abandons cleanup. The name is whole
/// after any panic: a poisoned lock is read as it is, never a reason to lose the run's end.
#[derive(Clone, Default)]
struct Abandon {
    token: tokio_util::sync::CancellationToken,
    signal: Arc<std::sync::Mutex<Option<String>>>,
}

/// First SIGINT/SIGTERM: stop scheduling, clean up, report (the engine does it).
/// Second: abandon cleanup (`run_async` kills what runs, reports, exits).
fn spawn_signal_handler(interrupt: Interrupt, abandon: Abandon) {
    use tokio::signal::unix::{signal, SignalKind};
    // Registered here, before the run starts: inside the spawned task they would only be
    // once a worker polls it, and a signal before that would kill the run uncleaned.
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return;
    };
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            count += 1;
            // Fire first, and never panic on a closed stderr (`| tee` dies of the same ^C).
            let mut err = std::io::stderr();
            if count == 1 {
                interrupt.fire(name);
                let _ =
                    writeln!(err, "\n{name}: stopping; running cleanup (send it again to abandon cleanup)");
                continue;
            }
            if count == 2 {
                abandon
                    .signal
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert_with(|| name.to_string());
                abandon.token.cancel();
                let _ = writeln!(err, "\n{name} again: abandoning cleanup.");
            }
        }
    });
}

/// Kills every process group the run still has (announced by a running step or on the
/// undo stack), journals it, and lists what is really left (containers, paused objects,
/// groups that would not die). Returns the exit code.
async fn abandon_cleanup(
    signal: &str,
    undo: &UndoStack,
    journal: &Journal,
    t0: std::time::Instant,
) -> ExitCode {
    use testrunner_actions::process::ProcGroup;
    use testrunner_reports::Event;
    let t_ms = || t0.elapsed().as_millis() as u64;
    let mut left = vec![];
    for u in undo.live() {
        if u.action != "process.kill_group" {
            left.push(u.description.clone());
            continue;
        }
        let num = |k: &str| u.params.get(k).and_then(serde_json::Value::as_i64).unwrap_or(0);
        let g = ProcGroup {
            pgid: num("pgid") as i32,
            start: num("start_time") as u64,
            session: num("session") as i32,
        };
        let result = tokio::task::spawn_blocking(move || g.kill_blocking(std::time::Duration::ZERO))
            .await
            .unwrap_or_else(|e| Err(testrunner_actions::ActionError::new(e.to_string())));
        if result.is_err() {
            left.push(u.description.clone());
        }
        journal.emit(Event::Undo {
            key: u.key.clone(),
            description: format!("{} (cleanup abandoned: killed at once)", u.description),
            ok: result.is_ok(),
            error: result.err().map(|e| e.message),
            t_ms: t_ms(),
        });
    }
    let mut err = std::io::stderr();
    if left.is_empty() {
        let _ = writeln!(err, "nothing was left to undo.");
    } else {
        let _ = writeln!(err, "left undone (`testrunner cleanup <run-dir>` replays them):");
        for l in &left {
            let _ = writeln!(err, "  - {l}");
        }
    }
    let code = if signal == "SIGTERM" { ExitCode::Terminated } else { ExitCode::Interrupted };
    journal.emit(Event::CleanupAbandoned { signal: signal.to_string(), left, t_ms: t_ms() });
    journal.emit(Event::RunFinished {
        verdict: testrunner_reports::Verdict::Interrupted,
        exit_code: code.code(),
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: t_ms(),
    });
    code
}

/// An earlier run of the same scenario (a sibling directory) that left changes pending is
/// worth a warning before this one starts: its leftovers may disturb this run.
fn warn_pending_cleanup(dir: &std::path::Path, scenario: &str) {
    let Some(parent) = dir.parent() else { return };
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    let mut siblings: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p != dir && p.join("journal.jsonl").is_file())
        .collect();
    siblings.sort();
    // The latest runs only: a directory of thousands of runs must not slow every start.
    for p in siblings.iter().rev().take(20) {
        if let Ok(r) = crate::cmd_cleanup::read_report(p) {
            if r.scenario == scenario && !r.pending_undo.is_empty() {
                eprintln!(
                    "warning: an earlier run left {} change(s) pending ({}): run `testrunner cleanup {}`",
                    r.pending_undo.len(),
                    r.pending_undo.iter().map(|u| u.description.as_str()).collect::<Vec<_>>().join("; "),
                    p.display()
                );
            }
        }
    }
}

fn git_revision() -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
