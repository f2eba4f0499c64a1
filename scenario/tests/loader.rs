//! Parser and validator tests: exact error positions, did-you-mean, includes, fragments.
use serde_json::{json, Value};
use std::collections::HashMap;
use testrunner_scenario::{load, Catalog, LoadFailure, Overrides, Scenario};

struct FakeCatalog;

impl Catalog for FakeCatalog {
    fn schema(&self, action: &str) -> Option<Value> {
        let dur = json!({"type": ["string", "integer"], "format": "duration"});
        Some(match action {
            "http.get" => json!({"type": "object", "additionalProperties": false, "required": ["url"],
                "properties": {"url": {"type": "string", "description": "The URL."}, "timeout": dur,
                               "headers": {"type": "object", "additionalProperties": {"type": "string"}}}}),
            "docker.stop" => {
                json!({"type": "object", "additionalProperties": false, "required": ["container"],
                "properties": {"container": {"type": "string"}, "grace": {"$ref": "#/definitions/Duration"}},
                "definitions": {"Duration": dur}})
            }
            "sleep" => json!({"type": "object", "additionalProperties": false, "required": ["duration"],
                "properties": {"duration": dur}}),
            "exec" => json!({"type": "object", "additionalProperties": false, "required": ["argv"],
                "properties": {"argv": {"type": "array", "items": {"type": "string"}},
                               "expect_exit": {"anyOf": [{"type": "integer"}, {"enum": ["any"]}]}}}),
            "assert" => json!({"type": "object", "additionalProperties": false, "required": ["expect"],
                "properties": {"expect": {"type": ["string", "array"]}, "message": {"type": "string"}}}),
            "set" | "log" => json!({"type": "object"}),
            "sql.writers" => json!({"type": "object"}),
            _ => return None,
        })
    }
    fn names(&self) -> Vec<String> {
        ["http.get", "docker.stop", "sleep", "exec", "assert", "set", "log", "sql.writers", "stop"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

fn load_files(files: &[(&str, &str)], overrides: Overrides) -> Result<Scenario, LoadFailure> {
    let map: HashMap<String, String> = files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
    let read = move |p: &str| map.get(p).cloned().ok_or_else(|| "No such file or directory".to_string());
    load(files[0].0, &read, &FakeCatalog, &overrides)
}

fn errors(text: &str) -> Vec<(String, u32, u32, Option<String>)> {
    match load_files(&[("s.yaml", text)], Overrides::default()) {
        Ok(_) => panic!("expected errors"),
        Err(f) => {
            f.diagnostics.iter().map(|d| (d.title.clone(), d.span.line, d.span.col, d.hint.clone())).collect()
        }
    }
}

#[test]
fn valid_scenario_loads() {
    let sc = load_files(
        &[(
            "s.yaml",
            r#"
title: demo
vars: { url: "http://127.0.0.1:1", limit: 500 }
phases:
  - name: probe
    steps:
      - id: get
        http.get: { url: "${url}/x", timeout: 2s }
        until: get.ok
        interval: 50ms
    metrics:
      took: { value: get.elapsed_ms, unit: ms }
    checks:
      - { id: C-1, name: fast, expect: "took <= limit" }
"#,
        )],
        Overrides::default(),
    )
    .unwrap_or_else(|f| panic!("{}", f.render(false)));
    assert_eq!(sc.id, "s");
    assert_eq!(sc.phases[0].steps[0].id, "get");
    assert_eq!(sc.phases[0].checks[0].id, "C-1");
    assert_eq!(sc.fingerprint.len(), 64);
}

#[test]
fn unknown_parameter_points_at_key_with_suggestion() {
    let e = errors("phases:\n  - name: p\n    steps:\n      - docker.stop: { contaner: pg }\n");
    assert_eq!(e[0].0, "unknown parameter `contaner` for `docker.stop`");
    assert_eq!((e[0].1, e[0].2), (4, 24));
    assert_eq!(e[0].3.as_deref(), Some("did you mean `container`?"));
}

#[test]
fn wrong_type_deep_inside_params_keeps_its_position() {
    let e = errors("phases:\n  - name: p\n    steps:\n      - exec:\n          argv: [\"ls\", 42]\n");
    assert!(e[0].0.contains("`argv[1]` must be a string, not integer"), "{e:?}");
    assert_eq!((e[0].1, e[0].2), (5, 24));
}

#[test]
fn bad_duration_and_enum() {
    let e = errors("phases:\n  - name: p\n    steps:\n      - docker.stop: { container: x, grace: 5 parsecs }\n      - exec: { argv: [ls], expect_exit: anny }\n");
    assert!(e.iter().any(|x| x.0.contains("unknown duration unit") && x.1 == 4 && x.2 == 45), "{e:?}");
    assert!(
        e.iter().any(|x| x.1 == 5 && x.2 == 42 && x.3.as_deref() == Some("did you mean `any`?")),
        "{e:?}"
    );
}

#[test]
fn unknown_action_and_step_key() {
    let e = errors("phases:\n  - name: p\n    steps:\n      - http.gte: { url: x }\n      - sleep: { duration: 1s }\n        timout: 5s\n");
    assert_eq!(e[0].0, "unknown action `http.gte`");
    assert_eq!((e[0].1, e[0].2), (4, 9));
    assert_eq!(e[0].3.as_deref(), Some("did you mean `http.get`?"));
    assert_eq!(e[1].0, "unknown step key `timout`");
    assert_eq!(e[1].3.as_deref(), Some("did you mean `timeout`?"));
}

#[test]
fn unknown_variable_and_step_reference() {
    let e = errors(
        "vars: { threshold_ms: 5 }\nphases:\n  - name: p\n    steps:\n      - id: probe\n        sleep: { duration: 1ms }\n    checks:\n      - { id: A, expect: \"prob.ok && treshold_ms > 1\" }\n",
    );
    assert!(
        e.iter()
            .any(|x| x.0.contains("unknown name `prob`") && x.3.as_deref() == Some("did you mean `probe`?")),
        "{e:?}"
    );
    assert!(e.iter().any(|x| x.0.contains("unknown name `treshold_ms`")
        && x.3.as_deref() == Some("did you mean `threshold_ms`?")));
    assert!(e.iter().all(|x| x.1 == 8), "{e:?}");
}

#[test]
fn bad_cel_reports_column_inside_the_string() {
    let e = errors("phases:\n  - name: p\n    steps:\n      - http.get: { url: \"http://x/${a +}\" }\n");
    assert!(e[0].0.starts_with("invalid expression"), "{e:?}");
    assert_eq!(e[0].1, 4);
    assert!(e[0].2 > 33, "{e:?}");
}

#[test]
fn duplicate_check_ids_and_step_ids() {
    let e = errors(
        "phases:\n  - name: p\n    steps:\n      - { id: a, sleep: { duration: 1ms } }\n      - { id: a, sleep: { duration: 1ms } }\n    checks:\n      - { id: X, expect: a.ok }\n      - { id: X, expect: a.ok }\n",
    );
    assert!(e.iter().any(|x| x.0 == "duplicate step id `a`" && x.1 == 5));
    assert!(e.iter().any(|x| x.0 == "duplicate check id `X`" && x.1 == 8));
}

#[test]
fn yaml_syntax_error_has_position() {
    let e = errors("phases:\n  - name: p\n    steps: [\n");
    assert!(e[0].0.starts_with("invalid YAML"), "{e:?}");
    assert!(e[0].1 >= 3, "{e:?}");
}

#[test]
fn include_cycle_is_an_error() {
    let r = load_files(
        &[
            ("dir/main.yaml", "include: [a.yaml]\nphases: []\n"),
            ("dir/a.yaml", "include: [b.yaml]\n"),
            ("dir/b.yaml", "include: [a.yaml]\n"),
        ],
        Overrides::default(),
    );
    let f = r.expect_err("cycle must fail");
    let d = &f.diagnostics[0];
    assert!(d.title.contains("include cycle"), "{}", d.title);
    assert_eq!(&*d.span.file, "dir/b.yaml");
    assert_eq!((d.span.line, d.span.col), (1, 11));
}

#[test]
fn fragments_expand_with_params_and_prefixes() {
    let sc = load_files(
        &[
            ("s.yaml", "include: [frag.yaml]\nsetup:\n  - { use: start, id: n1, with: { port: 1 } }\n  - { use: start, id: n2, with: { port: 2 } }\nphases:\n  - name: p\n    checks:\n      - { id: A, expect: n1_ready.ok && n2_ready.ok }\n"),
            ("frag.yaml", "fragments:\n  start:\n    params: { port: null, host: 127.0.0.1 }\n    steps:\n      - id: ready\n        http.get: { url: \"http://${host}:${port}/\" }\n        until: ready.ok\n"),
        ],
        Overrides::default(),
    )
    .unwrap_or_else(|f| panic!("{}", f.render(false)));
    let ids: Vec<&str> = sc.setup.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["n1_ready", "n2_ready"]);
    let scope = sc.setup[0].scope.as_ref().unwrap();
    assert_eq!(scope.aliases, vec![("ready".to_string(), "n1_ready".to_string())]);
}

#[test]
fn fragment_param_typo_and_missing_param() {
    let r = load_files(
        &[
            ("s.yaml", "include: [frag.yaml]\nsetup:\n  - { use: start, with: { prot: 1 } }\n"),
            (
                "frag.yaml",
                "fragments:\n  start:\n    params: [port]\n    steps:\n      - sleep: { duration: 1ms }\n",
            ),
        ],
        Overrides::default(),
    );
    let f = r.err().unwrap();
    assert!(f
        .diagnostics
        .iter()
        .any(|d| d.title.contains("has no parameter `prot`")
            && d.hint.as_deref() == Some("did you mean `port`?")));
    assert!(f.diagnostics.iter().any(|d| d.title.contains("needs parameter `port`")));
}

#[test]
fn var_overrides_keep_types_and_reject_typos() {
    let text = "vars: { limit: 5, name: x }\nphases: []\n";
    let o = Overrides { values: vec![("limit".into(), "30000".into(), "--var".into())], lenient: vec![] };
    let sc = load_files(&[("s.yaml", text)], o).unwrap();
    assert_eq!(sc.vars[0].value.as_written(), json!(30000));
    let o = Overrides { values: vec![("limt".into(), "1".into(), "--var".into())], lenient: vec![] };
    let f = load_files(&[("s.yaml", text)], o).err().unwrap();
    assert_eq!(f.diagnostics[0].hint.as_deref(), Some("did you mean `limit`?"));
}

#[test]
fn exit_code_rules_must_name_real_checks_and_codes() {
    let e = errors("phases:\n  - name: p\n    checks: [{ id: D31-RTO, expect: \"true\" }]\nexit_codes:\n  - { when_failed: [D31-RTT], code: 2 }\n  - { when_failed: [D31-RTO], code: 3 }\n");
    assert!(e.iter().any(|x| x.0.contains("`D31-RTT`") && x.3.as_deref() == Some("did you mean `D31-RTO`?")));
    assert!(e.iter().any(|x| x.0.contains("must be 2 or 4")));
}

#[test]
fn stop_must_name_a_background_step() {
    let e = errors("phases:\n  - name: p\n    steps:\n      - { id: w, sql.writers: {}, background: true }\n      - stop: ww\n");
    assert!(e[0].0.contains("`stop: ww` names no background step"), "{e:?}");
    assert_eq!(e[0].3.as_deref(), Some("did you mean `w`?"));
}
