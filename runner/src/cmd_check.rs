use crate::cli::CheckArgs;
use crate::load::{color_stderr, load_scenario};
use testrunner_engine::ExitCode;

/// Validates every file; reports all problems of all files, exit 3 if any is invalid.
pub fn run(args: CheckArgs) -> i32 {
    let mut bad = 0;
    for path in &args.scenarios {
        match load_scenario(path, &args.vars) {
            Ok(sc) => {
                let checks: usize =
                    sc.phases.iter().map(|p| p.checks.len()).sum::<usize>() + sc.final_checks.len();
                let steps: usize = sc.setup.len()
                    + sc.phases.iter().map(|p| p.steps.len()).sum::<usize>()
                    + sc.teardown.len();
                println!(
                    "ok    {}  ({} phases, {steps} steps, {checks} checks)",
                    path.display(),
                    sc.phases.len()
                );
                for w in &sc.warnings {
                    eprint!("{}", w.render(&sc.sources, color_stderr()));
                }
            }
            Err(f) => {
                bad += 1;
                eprint!("{}", f.render(color_stderr()));
                println!("FAIL  {}", path.display());
            }
        }
    }
    if bad > 0 {
        ExitCode::HarnessError.code()
    } else {
        ExitCode::Pass.code()
    }
}
