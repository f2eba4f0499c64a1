//! `testrunner schema`: the JSON Schema editors use must accept every shipped scenario and
//! fragment, and reject the invalid ones (negative controls). Checked with Python's
//! `jsonschema` (Draft 7), an implementation independent of ours.
use std::path::Path;
use std::process::Command;

const VALIDATE: &str = r#"
import glob, json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
v = jsonschema.Draft7Validator(schema)
for f in sys.argv[2:]:
    errs = list(v.iter_errors(yaml.safe_load(open(f))))
    best = jsonschema.exceptions.best_match(errs) if errs else None
    where = ("/".join(str(p) for p in best.absolute_path) or "-") if best else "-"
    msg = best.message.replace("\n", " ") if best else ""
    print(f"{f} {'invalid' if errs else 'valid'} {where} {msg}")
"#;

/// (file, `valid` / `invalid`, where the best error is, its message).
fn validate(files: &[String]) -> Vec<(String, String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tmp = tempfile::tempdir().unwrap();
    let schema = tmp.path().join("scenario.schema.json");
    let o = Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .arg("schema")
        .arg("--out")
        .arg(&schema)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new("python3")
        .current_dir(&root)
        .args(["-c", VALIDATE])
        .arg(&schema)
        .args(files)
        .output()
        .expect("python3 (scripts/setup.sh installs it with python3-yaml and python3-jsonschema)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let mut p = l.splitn(4, ' ').map(String::from);
            (p.next().unwrap(), p.next().unwrap(), p.next().unwrap(), p.next().unwrap_or_default())
        })
        .collect()
}

fn yaml_files(dir: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = vec![];
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p.strip_prefix(&root).unwrap().to_string_lossy().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_shipped_scenario_and_fragment_is_valid() {
    let mut files = yaml_files("scenarios");
    files.extend(yaml_files("bench"));
    files.extend(yaml_files("runner/tests/scenarios"));
    assert!(files.len() >= 20, "{files:?}");
    let invalid: Vec<_> = validate(&files).into_iter().filter(|(_, v, ..)| v != "valid").collect();
    assert!(invalid.is_empty(), "{invalid:?}");
}

#[test]
fn invalid_scenarios_are_rejected_where_they_go_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().to_string()
    };
    let cases = [
        // A misspelt parameter, a misspelt engine key, a wrong type, an unknown action.
        (
            write("param.yaml", "phases: [{name: p, steps: [{docker.stop: {container: x, grase: 10s}}]}]"),
            "phases/0/steps/0",
        ),
        (
            write("key.yaml", "phases: [{name: p, steps: [{log: {message: hi}, timout: 5s}]}]"),
            "phases/0/steps/0",
        ),
        (
            write("type.yaml", "phases: [{name: p, steps: [{exec: {argv: [echo, 42]}, retries: many}]}]"),
            "phases/0/steps/0",
        ),
        (write("action.yaml", "setup: [{http.gte: {url: 'http://127.0.0.1:1/'}}]"), "setup/0"),
        (write("duration.yaml", "timeout: 5 parsecs\n"), "timeout"),
        (write("top.yaml", "phazes: []\n"), "-"),
    ];
    let files: Vec<String> = cases.iter().map(|(f, _)| f.clone()).collect();
    let mut got = validate(&files);
    got.extend(validate(&["runner/tests/golden/check-invalid/scenario.yaml".into()]));
    for (file, verdict, ..) in &got {
        assert_eq!(verdict, "invalid", "{file} was accepted");
    }
    for ((_, want), (file, _, at, _)) in cases.iter().zip(&got) {
        if *want != "-" {
            assert!(at.starts_with(want), "{file}: rejected at {at}, expected under {want}");
        }
    }
    // Precise: a step is discriminated by its action key, so the error names the misspelt
    // parameter, engine key or action, never "not valid under any of the given schemas".
    for (i, word) in
        [(0, "'grase' was unexpected"), (1, "'timout' was unexpected"), (3, "'http.gte' was unexpected")]
    {
        let (file, _, at, msg) = &got[i];
        assert!(msg.contains(word), "{file}: at {at}: {msg}");
    }
    assert!(got[0].2.ends_with("docker.stop"), "the error sits on the action's parameters: {}", got[0].2);
    // Templates are accepted wherever the loader accepts them.
    let ok = write("template.yaml", "vars: {n: 3}\nphases: [{name: p, steps: [{process.signal: {pid: '${n}', signal: TERM}, timeout: '${t}'}]}]");
    assert_eq!(validate(&[ok])[0].1, "valid");
}

/// The committed schema is what `testrunner schema` prints: regenerate it with
/// `testrunner schema --out schemas/scenario.schema.json` when an action or key changes.
#[test]
fn the_committed_schema_matches_the_generated_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = Command::new(env!("CARGO_BIN_EXE_testrunner")).arg("schema").output().unwrap();
    let committed = std::fs::read_to_string(root.join("schemas/scenario.schema.json")).unwrap_or_default();
    assert!(
        committed == String::from_utf8_lossy(&o.stdout),
        "schemas/scenario.schema.json is out of date: run `testrunner schema --out schemas/scenario.schema.json`"
    );
}

/// Every shipped scenario names the committed schema for the YAML language server.
#[test]
fn shipped_scenarios_point_at_the_committed_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for f in yaml_files("scenarios") {
        let text = std::fs::read_to_string(root.join(&f)).unwrap();
        let line = text.lines().find(|l| l.starts_with("# yaml-language-server: $schema="));
        let Some(line) = line else { panic!("{f} has no `# yaml-language-server: $schema=` line") };
        let rel = line.trim_start_matches("# yaml-language-server: $schema=");
        let target = root.join(&f).parent().unwrap().join(rel);
        assert!(target.is_file(), "{f}: {rel} does not lead to the schema");
    }
}
