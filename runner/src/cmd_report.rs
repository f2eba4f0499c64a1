use crate::cli::ReportArgs;
use crate::load::print_error;
use crate::rundir;
use testrunner_engine::ExitCode;
use testrunner_reports::RunReport;

/// Rebuilds every report of a run directory from its journal.
pub fn run(args: ReportArgs) -> i32 {
    let journal = args.run_dir.join("journal.jsonl");
    let text = match std::fs::read_to_string(&journal) {
        Ok(t) => t,
        Err(e) => {
            print_error(
                &format!("cannot read {}: {e}", journal.display()),
                Some("pass a run directory, e.g. runs/val17/<timestamp>"),
            );
            return ExitCode::HarnessError.code();
        }
    };
    let events = match RunReport::parse_journal(&text) {
        Ok(e) => e,
        Err(e) => {
            print_error(&format!("{}: {e}", journal.display()), None);
            return ExitCode::HarnessError.code();
        }
    };
    let report = RunReport::from_events(&events);
    let scenario_yaml = std::fs::read_to_string(args.run_dir.join("scenario.yaml")).unwrap_or_default();
    if let Err(e) = rundir::write_reports(&args.run_dir, &report, &scenario_yaml, None) {
        print_error(&format!("cannot write reports: {e}"), None);
        return ExitCode::HarnessError.code();
    }
    print!("{}", testrunner_reports::summary::render(&report));
    println!("reports rebuilt in {}", args.run_dir.display());
    ExitCode::Pass.code()
}
