//! `testrunner`: the thin command-line layer over the scenario core, engine and reports.

mod cli;
mod cmd_actions;
mod cmd_baseline;
mod cmd_check;
mod cmd_plan;
mod cmd_readiness;
mod cmd_report;
mod cmd_run;
mod load;
mod progress;
mod rundir;

// The registry only sees actions whose crate is linked: name it.
use testrunner_actions as _;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { testrunner_engine::ExitCode::HarnessError.code() } else { 0 };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let code = match cli.command {
        cli::Command::Run(args) => cmd_run::run(args),
        cli::Command::Check(args) => cmd_check::run(args),
        cli::Command::Actions => cmd_actions::list(),
        cli::Command::Explain(args) => cmd_actions::explain(args),
        cli::Command::Schema(args) => cmd_actions::schema(args),
        cli::Command::Report(args) => cmd_report::run(args),
        cli::Command::Plan(args) => cmd_plan::run(args),
        cli::Command::Baseline(args) => cmd_baseline::run(args),
        cli::Command::Readiness(args) => cmd_readiness::run(args),
    };
    ExitCode::from(code as u8)
}
