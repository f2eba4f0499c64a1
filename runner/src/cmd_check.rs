use crate::cli::CheckArgs;
use crate::load::{color_stderr, load_scenario};
use testrunner_engine::ExitCode;

/// `1 phase`, `3 steps`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

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
                    "ok    {}  ({}, {}, {})",
                    path.display(),
                    count(sc.phases.len(), "phase"),
                    count(steps, "step"),
                    count(checks, "check")
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
    let n = args.scenarios.len();
    if n > 1 {
        if bad == 0 {
            println!("all {n} files valid");
        } else {
            println!("{bad} of {n} files invalid");
        }
    }
    if bad > 0 {
        ExitCode::HarnessError.code()
    } else {
        ExitCode::Pass.code()
    }
}
