//! `actions`, `explain` and `schema`: the catalogue, generated from the same definitions
//! that validate.
use crate::cli::{ExplainArgs, SchemaArgs};
use crate::load::print_error;
use serde_json::Value;
use testrunner_engine::ExitCode;
use testrunner_scenario::{did_you_mean, STEP_KEYS};

pub fn list() -> i32 {
    let mut all = testrunner_actions::all();
    all.sort_by_key(|a| {
        let name = a.spec().name;
        (name.split_once('.').map(|(d, _)| d).unwrap_or("core"), name)
    });
    let width = all.iter().map(|a| a.spec().name.len()).max().unwrap_or(10);
    let mut domain = "";
    for a in &all {
        let spec = a.spec();
        let d = spec.name.split_once('.').map(|(d, _)| d).unwrap_or("core");
        if d != domain {
            println!("{}{d}", if domain.is_empty() { "" } else { "\n" });
            domain = d;
        }
        println!("  {:<width$}  {}", spec.name, spec.summary);
    }
    println!(
        "\n{} actions. `testrunner explain <action>` shows parameters, outputs and an example.",
        all.len()
    );
    ExitCode::Pass.code()
}

pub fn explain(args: ExplainArgs) -> i32 {
    let Some(action) = testrunner_actions::find(&args.action) else {
        let names: Vec<&str> = testrunner_actions::all().iter().map(|a| a.spec().name).collect();
        let hint = did_you_mean(&args.action, names.iter().copied())
            .unwrap_or_else(|| "`testrunner actions` lists them".into());
        print_error(&format!("unknown action `{}`", args.action), Some(&hint));
        return ExitCode::HarnessError.code();
    };
    let spec = action.spec();
    println!("{} — {}\n", spec.name, spec.summary);
    println!("Parameters:");
    let root = &spec.params;
    let props = root.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = root
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match props {
        Some(p) if !p.is_empty() => {
            let w = p.keys().map(|k| k.len()).max().unwrap_or(4);
            for (name, schema) in p {
                let ty = type_label(schema, root);
                let req = if required.contains(&name.as_str()) {
                    "required".to_string()
                } else {
                    schema.get("default").map(|d| format!("default {d}")).unwrap_or_else(|| "optional".into())
                };
                let doc = schema.get("description").and_then(Value::as_str).unwrap_or("");
                let mut lines = doc.lines();
                println!("  {name:<w$}  {ty:<18} {req:<16} {}", lines.next().unwrap_or(""));
                for l in lines {
                    println!("  {:<w$}  {:<18} {:<16} {l}", "", "", "");
                }
            }
        }
        _ => println!("  (free-form map: any names)"),
    }
    if spec.outputs.is_empty() {
        println!("\nOutputs: none of its own (only the step fields below).");
    } else {
        println!("\nOutputs (read them as <step_id>.<field>):");
        let w = spec.outputs.iter().map(|o| o.name.len()).max().unwrap_or(4);
        for o in spec.outputs {
            println!("  {:<w$}  {:<8} {}", o.name, o.ty, o.doc);
        }
    }
    println!("\nEvery step also has: ok, error, started_ms, finished_ms, elapsed_ms, started_at, attempts,");
    println!("last_miss_ms and first_match_ms (with `until`). Engine keys: {}.", STEP_KEYS.join(", "));
    if spec.background {
        println!("Runs with `background: true` until a `stop: <id>` step or the end of its phase.");
    }
    println!("\nExample:\n{}", indent(spec.example.trim_end()));
    ExitCode::Pass.code()
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

fn type_label(schema: &Value, root: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        if let Some(t) = root.pointer(r.trim_start_matches('#')) {
            return type_label(t, root);
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("duration") {
        return "duration".into();
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        return e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("|");
    }
    if let Some(b) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
        let parts: Vec<String> =
            b.iter().map(|x| type_label(x, root)).filter(|t| t != "null").collect::<Vec<_>>();
        return parts.join("|");
    }
    match schema.get("type") {
        Some(Value::String(t)) => simple(t, schema, root),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .map(|t| simple(t, schema, root))
            .collect::<Vec<_>>()
            .join("|"),
        _ => "any".into(),
    }
}

fn simple(t: &str, schema: &Value, root: &Value) -> String {
    match t {
        "array" => format!(
            "list of {}",
            schema.get("items").map(|i| type_label(i, root)).unwrap_or_else(|| "any".into())
        ),
        "object" => "map".into(),
        "integer" => "int".into(),
        "boolean" => "bool".into(),
        other => other.into(),
    }
}

pub fn schema(args: SchemaArgs) -> i32 {
    let mut all = testrunner_actions::all();
    all.sort_by_key(|a| a.spec().name);
    let actions: Vec<(String, String, Value)> = all
        .iter()
        .map(|a| {
            let spec = a.spec();
            (spec.name.to_string(), spec.summary.to_string(), spec.params)
        })
        .collect();
    let text = serde_json::to_string_pretty(&testrunner_scenario::scenario_schema(&actions))
        .expect("a JSON value serializes")
        + "\n";
    match args.out {
        None => {
            print!("{text}");
            ExitCode::Pass.code()
        }
        Some(path) => match std::fs::write(&path, text) {
            Ok(()) => ExitCode::Pass.code(),
            Err(e) => {
                print_error(
                    &format!("cannot write {}: {e}", path.display()),
                    Some("check that the directory exists and is writable"),
                );
                ExitCode::HarnessError.code()
            }
        },
    }
}
