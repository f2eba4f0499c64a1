//! `actions`, `explain` and `schema`: the catalogue, generated from the same definitions
//! that validate.
use crate::cli::{ExplainArgs, SchemaArgs};
use crate::error::{CliError, CliResult};
use serde_json::Value;
use testrunner_engine::ExitCode;
use testrunner_scenario::{did_you_mean, RESULT_FIELDS, STEP_KEYS};

/// Keys a step may carry that are the engine's, not an action's: what `explain` says of them.
const ENGINE_KEYS: &[(&str, &str)] = &[
    ("id", "name of the step's result, read as `<id>.<field>` (default `<phase>_<n>`)"),
    ("name", "a label for reports and the terminal"),
    ("timeout", "the step's deadline (default `defaults.step_timeout`, 30s); every step has one"),
    ("until", "an expression; the action is re-run every `interval` until it holds or the deadline passes"),
    ("interval", "polling period for `until` and `retries` (fixed rate, from attempt start; default `defaults.interval`)"),
    ("retries", "re-run a failing action up to N more times"),
    ("save", "write the step's output (`json`, `rows`, `text` or `stdout`) to `evidence/<file>`"),
    ("background", "run concurrently until a `stop:` or `wait:` step (in this or a later phase), else the end of the phase"),
    ("when", "run the step only if the expression holds"),
    ("allow_failure", "a failure is recorded as an allowed failure (never as a pass)"),
    ("stop", "`- stop: <id>` ends a background step and waits (bounded) for its result"),
    ("wait", "`- { id: first, wait: { any: [a, b] } }` (or `all:`) waits for the first (every) background poll (`background: true` + `until`) to match; result: `winner`, `matched`"),
    ("use", "`- { use: <fragment>, id: <prefix>, with: { ... } }` expands a fragment's steps in place"),
    ("with", "the parameters of a `use` step's fragment"),
];

/// `words` joined with ", " and wrapped at `width` columns, each line indented by `indent`.
fn wrap(words: &[&str], indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for (i, w) in words.iter().enumerate() {
        let piece = if i + 1 < words.len() { format!("{w},") } else { format!("{w}.") };
        if !line.is_empty() && indent + line.len() + 1 + piece.len() > width {
            out.push_str(&format!("{}{}\n", " ".repeat(indent), line));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&piece);
    }
    if !line.is_empty() {
        out.push_str(&format!("{}{}\n", " ".repeat(indent), line));
    }
    out
}

fn engine_key_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = STEP_KEYS.to_vec();
    for (k, _) in ENGINE_KEYS {
        if !names.contains(k) {
            names.push(k);
        }
    }
    names
}

pub fn list() -> CliResult {
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
    Ok(ExitCode::Pass)
}

/// The functions expressions add to CEL's own, for `testrunner explain functions`.
const FUNCTION_DOCS: &[(&str, &str)] = &[
    ("max(list), min(list)", "largest / smallest number (also max(a, b, ...))"),
    ("sum(list), avg(list)", "sum / mean of the numbers in a list"),
    ("percentile(list, p)", "the p-th percentile (0-100) of a list of numbers"),
    ("duration_ms(\"90s\")", "a duration text in milliseconds (90000)"),
    ("s.replace(from, to)", "every `from` in s replaced by `to` (s.replace(from, to, n): the first n)"),
    ("s.split(sep)", "the list of parts of s between `sep`"),
    ("list.join(sep)", "the strings of a list joined with `sep` (list.join(): no separator)"),
    ("s.lower(), s.upper()", "s in lower / upper case"),
    ("s.trim()", "s without leading and trailing white space"),
    ("size, contains, startsWith, endsWith, matches, int, string, ...", "CEL's standard functions (cel.dev)"),
    ("lowerAscii, substring, indexOf, charAt, ...", "CEL's strings extension"),
];

pub fn explain(args: ExplainArgs) -> CliResult {
    if matches!(args.action.as_str(), "functions" | "expressions") {
        println!("Expressions are CEL (cel.dev): bare in `until`, `when`, `expect` and `metrics`, and");
        println!("inside strings as `${{…}}`. Functions besides CEL's own:\n");
        for (f, d) in FUNCTION_DOCS {
            println!("  {f}\n      {d}");
        }
        return Ok(ExitCode::Pass);
    }
    // `name` and `when` are step keys first; the scenario keys come after them.
    if !ENGINE_KEYS.iter().any(|(k, _)| *k == args.action) {
        if let Some(text) = crate::scenario_keys::explain(&args.action) {
            print!("{text}");
            return Ok(ExitCode::Pass);
        }
    }
    if let Some((key, doc)) = ENGINE_KEYS.iter().find(|(k, _)| *k == args.action) {
        println!("`{key}` is an engine key, not an action: {doc}.\n");
        println!("Engine keys (allowed on every step besides its one action):");
        let w = ENGINE_KEYS.iter().map(|(k, _)| k.len()).max().unwrap_or(4);
        for (k, d) in ENGINE_KEYS {
            println!("  {k:<w$}  {d}");
        }
        println!("\n`testrunner actions` lists the actions; `testrunner explain <action>` documents one.");
        return Ok(ExitCode::Pass);
    }
    let Some(action) = testrunner_actions::find(&args.action) else {
        let names: Vec<&str> = testrunner_actions::all().iter().map(|a| a.spec().name).collect();
        let keys = engine_key_names();
        let scenario_keys = crate::scenario_keys::names();
        let hint = did_you_mean(
            &args.action,
            names.iter().copied().chain(keys.iter().copied()).chain(scenario_keys.iter().copied()),
        )
        .unwrap_or_else(|| "`testrunner actions` lists them".into());
        return Err(CliError::msg(format!("unknown action `{}`", args.action), Some(hint.as_str())));
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
            let rows: Vec<(String, String, String, &str)> = p
                .iter()
                .map(|(name, schema)| {
                    let req = if required.contains(&name.as_str()) {
                        "required".to_string()
                    } else {
                        schema
                            .get("default")
                            .map(|d| format!("default {d}"))
                            .unwrap_or_else(|| "optional".into())
                    };
                    let doc = schema.get("description").and_then(Value::as_str).unwrap_or("");
                    (name.clone(), type_label(schema, root), req, doc)
                })
                .collect();
            // Columns as wide as their widest cell (a long type label never runs into the
            // next column), capped so the description keeps room; a wider label gets a line
            // of its own.
            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(4);
            let tw = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(4).min(28);
            let rw = rows.iter().map(|r| r.2.chars().count()).max().unwrap_or(8);
            for (name, ty, req, doc) in &rows {
                let mut lines = doc.lines();
                if ty.chars().count() > tw {
                    println!("  {name:<w$}  {ty}");
                    println!("  {:<w$}  {:<tw$}  {req:<rw$}  {}", "", "", lines.next().unwrap_or(""));
                } else {
                    println!("  {name:<w$}  {ty:<tw$}  {req:<rw$}  {}", lines.next().unwrap_or(""));
                }
                for l in lines {
                    println!("  {:<w$}  {:<tw$}  {:<rw$}  {l}", "", "", "");
                }
            }
        }
        _ => println!("  (free-form map: any names)"),
    }
    // A map parameter with keys of its own (`ready:` of process.spawn / docker.run): its
    // keys, so nobody learns them from an error message.
    for (name, schema) in props.into_iter().flatten() {
        let Some(obj) = object_schema(schema, root) else { continue };
        let Some(keys) = obj.get("properties").and_then(Value::as_object).filter(|k| !k.is_empty()) else {
            continue;
        };
        println!("\n  `{name}` takes:");
        let w = keys.keys().map(String::len).max().unwrap_or(4);
        let labels: Vec<String> = keys.values().map(|k| type_label(k, root)).collect();
        let tw = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4).min(20);
        for ((key, k), ty) in keys.iter().zip(&labels) {
            let doc = k.get("description").and_then(Value::as_str).unwrap_or("").replace('\n', " ");
            println!("    {key:<w$}  {ty:<tw$}  {doc}");
        }
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
    if spec.background {
        println!("\nRuns with `background: true` until a `stop: <id>` step or the end of its phase.");
    }
    let fields: Vec<&str> = RESULT_FIELDS.iter().copied().filter(|f| *f != "skipped").collect();
    println!("\nEvery step result also has (`first_match_ms`, `last_miss_ms`: with `until`):");
    print!("{}", wrap(&fields, 2, 88));
    println!("Engine keys (`testrunner explain <key>`):");
    print!("{}", wrap(&engine_key_names(), 2, 88));
    println!("\nExample:\n{}", indent(spec.example.trim_end()));
    Ok(ExitCode::Pass)
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

/// The object schema behind a parameter (through `$ref`, a one-branch `allOf`, and the
/// `null` branch of an optional), if it is one.
fn object_schema<'a>(schema: &'a Value, root: &'a Value) -> Option<&'a Value> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return object_schema(root.pointer(r.trim_start_matches('#'))?, root);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            return branches.iter().find_map(|b| object_schema(b, root));
        }
    }
    schema.get("properties").is_some().then_some(schema)
}

fn type_label(schema: &Value, root: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        if let Some(t) = root.pointer(r.trim_start_matches('#')) {
            return type_label(t, root);
        }
    }
    // schemars wraps a documented `$ref` in a one-branch `allOf`.
    if let Some([only]) = schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
        return type_label(only, root);
    }
    match schema.get("format").and_then(Value::as_str) {
        Some("duration") => return "duration".into(),
        Some("signal") => return "signal name".into(),
        _ => {}
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        return e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("|");
    }
    if let Some(c) = schema.get("const") {
        return c.as_str().map(String::from).unwrap_or_else(|| c.to_string());
    }
    if let Some(b) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
        let mut parts: Vec<String> = vec![];
        for t in b.iter().map(|x| type_label(x, root)).filter(|t| t != "null") {
            if !parts.contains(&t) {
                parts.push(t);
            }
        }
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

pub fn schema(args: SchemaArgs) -> CliResult {
    let mut all = testrunner_actions::all();
    all.sort_by_key(|a| a.spec().name);
    let actions: Vec<(String, String, Value)> = all
        .iter()
        .map(|a| {
            let spec = a.spec();
            (spec.name.to_string(), spec.summary.to_string(), spec.params)
        })
        .collect();
    // Kept: a `Value` (string keys, finite numbers) always serializes.
    let text = serde_json::to_string_pretty(&testrunner_scenario::scenario_schema(&actions))
        .expect("a JSON value serializes")
        + "\n";
    match args.out {
        None => {
            print!("{text}");
            Ok(ExitCode::Pass)
        }
        Some(path) => {
            // Like --junit and --out: missing parent directories are created.
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            let written = match dir {
                Some(d) => std::fs::create_dir_all(d).and_then(|()| std::fs::write(&path, text)),
                None => std::fs::write(&path, text),
            };
            match written {
                Ok(()) => Ok(ExitCode::Pass),
                Err(e) => Err(CliError::msg(
                    format!("cannot write {}: {e}", path.display()),
                    Some("check that the path is writable (missing directories are created)"),
                )),
            }
        }
    }
}
