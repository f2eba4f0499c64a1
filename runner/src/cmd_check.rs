use crate::cli::{CheckArgs, CheckFormat, VarArgs};
use crate::error::{CliError, CliResult};
use crate::load::{color_stderr, load_scenario};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
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
pub fn run(args: CheckArgs) -> CliResult {
    // A directory checks the scenarios in it (fragments are checked through them).
    let files = match crate::suite::select::expand(&args.scenarios) {
        Ok(f) => f,
        Err(e) => {
            return Err(CliError::msg(e, Some("give scenario files, directories or quoted globs")));
        }
    };
    let color = color_stderr() && args.format == CheckFormat::Text;
    let results = check_all(&files, &args.vars, color);
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
        // Each problem is printed above, file by file.
        Err(CliError::Reported)
    } else {
        Ok(ExitCode::Pass)
    }
}

fn check_one(path: &Path, vars: &VarArgs, color: bool) -> Checked {
    let file = path.to_string_lossy().into_owned();
    match load_scenario(path, vars) {
        Ok(Loaded { scenario: sc, warnings }) => {
            let checks: usize =
                sc.phases.iter().map(|p| p.checks.len()).sum::<usize>() + sc.final_checks.len();
            let steps: usize =
                sc.setup.len() + sc.phases.iter().map(|p| p.steps.len()).sum::<usize>() + sc.teardown.len();
            let rendered = warnings.iter().map(|w| w.render(&sc.sources, color)).collect();
            Checked { file, counts: Some((sc.phases.len(), steps, checks)), diagnostics: warnings, rendered }
        }
        Err(f) => Checked { file, counts: None, rendered: f.render(color), diagnostics: f.diagnostics },
    }
}

/// Checks the files on as many threads as there are cores (each file is loaded on its
/// own); the results keep the order the files were given in.
fn check_all(files: &[PathBuf], vars: &VarArgs, color: bool) -> Vec<Checked> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(files.len());
    if workers <= 1 {
        return files.iter().map(|p| check_one(p, vars, color)).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = vec![];
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = files.get(i) else { return done };
            done.push((i, check_one(path, vars, color)));
        }
    };
    let mut slots: Vec<Option<Checked>> = files.iter().map(|_| None).collect();
    std::thread::scope(|s| {
        // The main thread's stack size: the loader recurses as deep on a worker.
        let spawn = || std::thread::Builder::new().stack_size(8 << 20).spawn_scoped(s, work);
        let handles: Vec<_> = (0..workers).map(|_| spawn()).collect();
        for h in handles {
            let done = match h {
                Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                // No thread to spare: the files it would have taken are checked below.
                Err(_) => vec![],
            };
            for (i, c) in done {
                slots[i] = Some(c);
            }
        }
    });
    files.iter().zip(slots).map(|(p, c)| c.unwrap_or_else(|| check_one(p, vars, color))).collect()
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
