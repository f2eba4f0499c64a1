//! `readiness`: the VAL26-style proof report over the latest runs of several scenarios.
use crate::cli::ReadinessArgs;
use crate::load::{color_stderr, print_error};
use std::sync::Arc;
use testrunner_engine::ExitCode;
use testrunner_reports::proof;
use testrunner_scenario::{Diagnostic, Sources, Span};

pub fn run(args: ReadinessArgs) -> i32 {
    let path = args.spec.to_string_lossy().to_string();
    let text = match std::fs::read_to_string(&args.spec) {
        Ok(t) => t,
        Err(e) => {
            print_error(&format!("cannot read {path}: {e}"), None);
            return ExitCode::HarnessError.code();
        }
    };
    let spec = match proof::parse_spec(&text) {
        Ok(s) => s,
        Err((msg, line, col)) => {
            let mut sources = Sources::default();
            sources.add(Arc::from(path.as_str()), Arc::from(text.as_str()));
            let d = Diagnostic::error(
                format!("invalid readiness spec: {msg}"),
                Span::new(Arc::from(path.as_str()), line, col, 1),
            )
            .hint("see readiness/ha.yaml for the format");
            eprint!("{}", d.render(&sources, color_stderr()));
            return ExitCode::HarnessError.code();
        }
    };
    let p = proof::build(&spec, &args.runs);
    let out = args.out.clone().unwrap_or_else(|| {
        args.runs
            .join(format!("readiness-{}", spec.readiness))
            .join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string())
    });
    let text = proof::text(&p);
    let written = std::fs::create_dir_all(&out)
        .and_then(|_| std::fs::write(out.join("readiness.txt"), &text))
        .and_then(|_| std::fs::write(out.join("readiness.json"), proof::to_json(&p)))
        .and_then(|_| std::fs::write(out.join("readiness.html"), proof::html(&p)));
    if let Err(e) = written {
        print_error(&format!("cannot write {}: {e}", out.display()), None);
        return ExitCode::HarnessError.code();
    }
    print!("{text}");
    println!("written to {}", out.display());
    if p.ready() {
        ExitCode::Pass.code()
    } else {
        ExitCode::CheckFailed.code()
    }
}
