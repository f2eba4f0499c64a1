//! Loading a scenario from disk: file reads, variable overrides, diagnostics to stderr.
use crate::cli::VarArgs;
use std::io::IsTerminal;
use std::path::Path;
use testrunner_engine::RegistryCatalog;
use testrunner_scenario::{load, Diagnostic, LoadFailure, Overrides, Scenario, Sources, Span};

pub fn color_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints one diagnostic that has no source (bad flags, unreadable files) the same way.
pub fn print_error(title: &str, hint: Option<&str>) {
    let mut d = Diagnostic::error(title, Span::none());
    if let Some(h) = hint {
        d = d.hint(h);
    }
    eprint!("{}", d.render(&Sources::default(), color_stderr()));
}

pub fn overrides(args: &VarArgs) -> Result<Overrides, String> {
    let mut o = Overrides::default();
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter_map(|(k, v)| k.strip_prefix("TESTRUNNER_VAR_").map(|n| (n.to_string(), v)))
        .collect();
    env.sort();
    for f in &args.vars_files {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("cannot read vars file {}: {e}", f.display()))?;
        let node =
            testrunner_scenario::parse_yaml(&std::sync::Arc::from(f.to_string_lossy().as_ref()), &text)
                .map_err(|e| format!("{}: {}", e.span, e.message))?;
        let testrunner_scenario::Node::Map(entries) = node.value else {
            return Err(format!("vars file {} must be a map of name: value", f.display()));
        };
        for (k, v) in entries {
            let raw = match v.value.to_json() {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            o.values.push((k.value, raw, format!("vars file {}", f.display())));
        }
    }
    for (name, value) in env {
        o.lenient.push(name.clone());
        o.values.push((name.clone(), value, format!("TESTRUNNER_VAR_{name}")));
    }
    for kv in &args.vars {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(format!("`--var {kv}` must look like NAME=VALUE"));
        };
        o.values.push((k.trim().to_string(), v.to_string(), "--var".into()));
    }
    Ok(o)
}

pub fn load_scenario(path: &Path, vars: &VarArgs) -> Result<Scenario, LoadFailure> {
    let overrides = match overrides(vars) {
        Ok(o) => o,
        Err(e) => {
            return Err(LoadFailure {
                diagnostics: vec![Diagnostic::error(e, Span::none())],
                sources: Sources::default(),
            });
        }
    };
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| e.to_string());
    load(&path.to_string_lossy(), &read, &RegistryCatalog, &overrides)
}
