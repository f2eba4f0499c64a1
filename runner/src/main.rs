//! `testrunner`: the thin command-line layer over the scenario core, engine and reports.

mod cli;
mod cmd_actions;
mod cmd_baseline;
mod cmd_check;
mod cmd_cleanup;
mod cmd_init;
mod cmd_plan;
mod cmd_readiness;
mod cmd_report;
mod cmd_run;
mod cmd_runs;
mod error;
mod lab_path;
mod load;
mod progress;
mod rundir;
mod scenario_keys;
mod suite;

// The registry only sees actions whose crate is linked: name it.
use testrunner_actions as _;

use clap::Parser;
use std::process::ExitCode;

/// A closed standard output (`testrunner actions | head -1`) ends the process quietly, as
/// it ends other Unix tools: SIGPIPE gets its default action back (Rust ignores it, which
/// turns every later `println!` into a panic). `run` keeps ignoring it, so a closed pipe can
/// never cut its cleanup short; should one of its writes still hit the closed pipe, the
/// panic hook below ends it quietly.
fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: resets one signal's disposition to the default before any other thread
    // exists; no handler function is installed.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
}

/// `print!` to a closed pipe panics with "failed printing to stdout: Broken pipe": exit
/// quietly instead (status 141, as if SIGPIPE had ended the process), the one place that
/// handles EPIPE. Every other panic is reported as usual.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to std") && msg.contains("Broken pipe") {
            std::process::exit(testrunner_engine::ExitCode::BrokenPipe.code());
        }
        default(info);
    }));
}

/// glibc gives threads that allocate their own arenas (up to 8 per core): the scenario is
/// loaded on the main thread and run on a runtime worker, so with a second arena the run
/// could not reuse what loading freed. One arena: a 10,000-step run in 61 MB instead of
/// 75 MB, no slower (docs/performance.md). `MALLOC_ARENA_MAX` still wins. Only for `run`:
/// `check` parses on two threads, and sharing one arena's lock made it twice as slow.
fn one_malloc_arena() {
    #[cfg(target_env = "gnu")]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: a malloc tuning call, made before any other thread exists.
        unsafe {
            nix::libc::mallopt(nix::libc::M_ARENA_MAX, 1);
        }
    }
}

fn main() -> ExitCode {
    lab_path::install();
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            default_sigpipe();
            let code = if e.use_stderr() {
                testrunner_engine::ExitCode::HarnessError
            } else {
                testrunner_engine::ExitCode::Pass
            };
            let _ = e.print();
            return ExitCode::from(code.code() as u8);
        }
    };
    if matches!(cli.command, cli::Command::Run(_)) {
        one_malloc_arena();
    } else {
        // Not for `run`: a closed pipe must never end it before its cleanup (its own
        // writes ignore the error instead).
        default_sigpipe();
        quiet_broken_pipe();
    }
    let result = match cli.command {
        cli::Command::Run(args) => cmd_run::run(*args),
        cli::Command::Check(args) => cmd_check::run(args),
        cli::Command::Actions => cmd_actions::list(),
        cli::Command::Explain(args) => cmd_actions::explain(args),
        cli::Command::Schema(args) => cmd_actions::schema(args),
        cli::Command::Report(args) => cmd_report::run(args),
        cli::Command::Cleanup(args) => cmd_cleanup::run(args),
        cli::Command::Plan(args) => cmd_plan::run(args),
        cli::Command::Baseline(args) => cmd_baseline::run(args),
        cli::Command::Readiness(args) => cmd_readiness::run(args),
        cli::Command::Runs(args) => cmd_runs::list(args),
        cli::Command::Init(args) => cmd_init::init(args),
        cli::Command::Completions(args) => cmd_init::completions(args),
        cli::Command::Diff(args) => cmd_runs::diff(args),
    };
    ExitCode::from(error::exit_code(result).code() as u8)
}
