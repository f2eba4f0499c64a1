use crate::cli::{CheckArgs, CheckFormat};
use crate::load::{color_stderr, load_scenario};
use testrunner_engine::ExitCode;
use testrunner_scenario::{Diagnostic, Loaded};

/// `1 phase`, `3 steps`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// One file's result, for every format.
struct Checked {
    file: String,
    /// (phases, steps, checks) when valid.
    counts: Option<(usize, usize, usize)>,
    diagnostics: Vec<Diagnostic>,
    /// The human rendering (source lines, carets).
    rendered: String,
}

/// Validates every file; reports all problems of all files, exit 3 if any is invalid.
pub fn run(args: CheckArgs) -> i32 {
    // A directory checks the scenarios in it (fragments are checked through them).
    let files = match crate::suite::select::expand(&args.scenarios) {
        Ok(f) => f,
        Err(e) => {
            crate::load::print_error(&e, Some("give scenario files, directories or quoted globs"));
            return ExitCode::HarnessError.code();
        }
    };
    let color = color_stderr() && args.format == CheckFormat::Text;
    let results: Vec<Checked> = files
        .iter()
        .map(|path| {
            let file = path.to_string_lossy().into_owned();
            match load_scenario(path, &args.vars) {
                Ok(Loaded { scenario: sc, warnings }) => {
                    let checks: usize =
                        sc.phases.iter().map(|p| p.checks.len()).sum::<usize>() + sc.final_checks.len();
                    let steps: usize = sc.setup.len()
                        + sc.phases.iter().map(|p| p.steps.len()).sum::<usize>()
                        + sc.teardown.len();
                    let rendered = warnings.iter().map(|w| w.render(&sc.sources, color)).collect();
                    Checked {
                        file,
                        counts: Some((sc.phases.len(), steps, checks)),
                        diagnostics: warnings,
                        rendered,
                    }
                }
                Err(f) => {
                    Checked { file, counts: None, rendered: f.render(color), diagnostics: f.diagnostics }
                }
            }
        })
        .collect();
    let bad = results.iter().filter(|r| r.counts.is_none()).count();
    match args.format {
        CheckFormat::Text => text(&results, bad),
        CheckFormat::Json => {
            let doc: Vec<serde_json::Value> = results
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "file": r.file,
                        "valid": r.counts.is_some(),
                        "phases": r.counts.map(|c| c.0),
                        "steps": r.counts.map(|c| c.1),
                        "checks": r.counts.map(|c| c.2),
                        "diagnostics": r.diagnostics.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        CheckFormat::Github => {
            // Annotations on stdout (where the runner reads workflow commands), the full
            // rendering on stderr for the log.
            for r in &results {
                for d in &r.diagnostics {
                    println!("{}", d.github());
                }
                eprint!("{}", r.rendered);
            }
            println!("{}", summary_line(results.len(), bad));
        }
    }
    if bad > 0 {
        ExitCode::HarnessError.code()
    } else {
        ExitCode::Pass.code()
    }
}

fn summary_line(n: usize, bad: usize) -> String {
    if bad == 0 {
        format!("all {n} files valid")
    } else {
        format!("{bad} of {n} files invalid")
    }
}

fn text(results: &[Checked], bad: usize) {
    for r in results {
        match r.counts {
            Some((phases, steps, checks)) => {
                println!(
                    "ok    {}  ({}, {}, {})",
                    r.file,
                    count(phases, "phase"),
                    count(steps, "step"),
                    count(checks, "check")
                );
                eprint!("{}", r.rendered);
            }
            None => {
                eprint!("{}", r.rendered);
                println!("FAIL  {}", r.file);
            }
        }
    }
    if results.len() > 1 {
        println!("{}", summary_line(results.len(), bad));
    }
}
