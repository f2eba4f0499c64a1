//! `readiness`: the VAL26-style proof report over the latest runs of several scenarios.
//! Exit 0 when the first readiness level is reached, 1 otherwise, 3 for a bad spec.
use crate::cli::ReadinessArgs;
use crate::error::{CliError, CliResult};
use crate::load::print_error;
use testrunner_engine::ExitCode;
use testrunner_readiness as readiness;

pub fn run(args: ReadinessArgs) -> CliResult {
    let path = args.spec.to_string_lossy().to_string();
    let text = match std::fs::read_to_string(&args.spec) {
        Ok(t) => t,
        Err(e) => {
            return Err(CliError::msg(
                format!("cannot read {path}: {e}"),
                Some("see readiness/ha.yaml for the format"),
            ));
        }
    };
    let spec = readiness::load_spec(&path, &text)?;
    if !args.runs.is_dir() {
        // Not fatal: every slice is MISSING and the report says so; but a typo should show.
        print_error(&format!("runs directory {} does not exist", args.runs.display()), None);
    }
    let now = chrono::Utc::now();
    let r = readiness::evaluate(&spec, &args.runs, now);
    let out = args.out.clone().unwrap_or_else(|| {
        args.runs.join(format!("readiness-{}", spec.id)).join(now.format("%Y%m%dT%H%M%SZ").to_string())
    });
    let text = readiness::text(&r);
    let written = std::fs::create_dir_all(&out)
        .and_then(|_| std::fs::write(out.join("readiness.txt"), &text))
        .and_then(|_| std::fs::write(out.join("readiness.json"), readiness::json(&r)))
        .and_then(|_| std::fs::write(out.join("readiness.html"), readiness::html(&r)));
    if let Err(e) = written {
        return Err(CliError::msg(format!("cannot write {}: {e}", out.display()), None));
    }
    print!("{text}");
    eprintln!("written to {}", out.display());
    Ok(if r.ready { ExitCode::Pass } else { ExitCode::CheckFailed })
}
