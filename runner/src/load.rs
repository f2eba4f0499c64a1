//! Loading a scenario from disk: file reads, variable overrides, diagnostics to stderr.
use crate::cli::VarArgs;
use std::io::IsTerminal;
use std::io::Write;
use std::path::Path;
use testrunner_engine::RegistryCatalog;
use testrunner_scenario::{
    load_with, read_source, Diagnostic, LoadFailure, LoadOptions, Loaded, Overrides, Sources, Span,
};

pub fn color_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints one diagnostic that has no source (bad flags, unreadable files) the same way.
pub fn print_error(title: &str, hint: Option<&str>) {
    let mut d = Diagnostic::error(title, Span::none());
    if let Some(h) = hint {
        d = d.hint(h);
    }
    let _ = write!(std::io::stderr(), "{}", d.render(&Sources::default(), color_stderr()));
}

pub fn overrides(args: &VarArgs) -> Result<Overrides, Box<Diagnostic>> {
    let mut o = Overrides::default();
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter_map(|(k, v)| k.strip_prefix("TESTRUNNER_VAR_").map(|n| (n.to_string(), v)))
        .collect();
    env.sort();
    for f in &args.vars_files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| {
                Diagnostic::error(format!("cannot read vars file {}: {e}", f.display()), Span::none()).hint(
                    "check the path given to --vars-file (relative paths start in the current directory)",
                )
            })
            .map_err(Box::new)?;
        let node =
            testrunner_scenario::parse_yaml(&std::sync::Arc::from(f.to_string_lossy().as_ref()), &text)
                .map_err(|e| {
                    Diagnostic::error(
                        format!("vars file {}: invalid YAML: {}", f.display(), e.message),
                        Span::none(),
                    )
                    .hint(format!("at {}; a vars file is a map of `name: value` lines", e.span))
                })
                .map_err(Box::new)?;
        let entries = match node.value {
            testrunner_scenario::Node::Map(entries) => entries,
            // An empty file sets nothing.
            testrunner_scenario::Node::Null => vec![],
            other => {
                return Err(Box::new(
                    Diagnostic::error(
                        format!(
                            "vars file {} must be a map of name: value, not {}",
                            f.display(),
                            other.kind()
                        ),
                        Span::none(),
                    )
                    .hint("e.g. `threshold_ms: 3000` on its own line"),
                ))
            }
        };
        for (k, v) in entries {
            let raw = match v.value.to_json() {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            if args.suite_vars {
                o.lenient.push(k.value.clone());
            }
            o.values.push((k.value, raw, format!("vars file {}", f.display())));
        }
    }
    for (name, value) in env {
        o.lenient.push(name.clone());
        o.values.push((name.clone(), value, format!("TESTRUNNER_VAR_{name}")));
    }
    for kv in &args.vars {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(Box::new(
                Diagnostic::error(format!("`--var {kv}` must look like NAME=VALUE"), Span::none()).hint(
                    format!("e.g. `--var {}=3000`", if kv.is_empty() { "threshold_ms" } else { kv.trim() }),
                ),
            ));
        };
        if args.suite_vars {
            o.lenient.push(k.trim().to_string());
        }
        o.values.push((k.trim().to_string(), v.to_string(), "--var".into()));
    }
    Ok(o)
}

pub fn load_scenario(path: &Path, vars: &VarArgs) -> Result<Loaded, LoadFailure> {
    let overrides = match overrides(vars) {
        Ok(o) => o,
        Err(d) => return Err(LoadFailure { diagnostics: vec![*d], sources: Sources::default() }),
    };
    let opts = LoadOptions {
        include_roots: vars.include_roots.iter().map(|r| r.to_string_lossy().into_owned()).collect(),
    };
    load_with(&path.to_string_lossy(), &read_source, &RegistryCatalog, &overrides, &opts)
}
