use crate::cli::ReportArgs;
use crate::error::{CliError, CliResult};
use crate::rundir;
use testrunner_engine::ExitCode;
use testrunner_reports::RunReport;

/// Rebuilds every report of a run directory from its journal.
pub fn run(args: ReportArgs) -> CliResult {
    let journal = args.run_dir.join("journal.jsonl");
    let text = match std::fs::read_to_string(&journal) {
        Ok(t) => t,
        Err(e) => {
            return Err(CliError::msg(
                format!("cannot read {}: {e}", journal.display()),
                Some("pass a run directory, e.g. runs/val17/<timestamp>"),
            ));
        }
    };
    let events = match RunReport::parse_journal(&text) {
        Ok(e) => e,
        Err(e) => {
            return Err(CliError::msg(format!("{}: {e}", journal.display()), None));
        }
    };
    let report = RunReport::from_events(&events);
    let scenario_yaml = std::fs::read_to_string(args.run_dir.join("scenario.yaml")).unwrap_or_default();
    if let Err(e) = rundir::write_reports(&args.run_dir, &report, &scenario_yaml, None) {
        return Err(CliError::msg(format!("cannot write reports: {e}"), None));
    }
    print!("{}", testrunner_reports::summary::render(&report));
    println!("reports rebuilt in {}", args.run_dir.display());
    Ok(ExitCode::Pass)
}
