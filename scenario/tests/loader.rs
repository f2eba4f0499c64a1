//! Parser and validator tests: exact error positions, did-you-mean, includes, fragments.
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use testrunner_scenario::{load, Catalog, LoadFailure, Output, Overrides, Scenario, StepKind};

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
    fn outputs(&self, action: &str) -> Option<Vec<Output>> {
        let names: &[&str] = match action {
            "exec" => &["stdout", "stderr", "exit_code", "pid", "json"],
            "http.get" => &["status", "json", "text", "headers"],
            "sleep" => &["interrupted"],
            "log" => &["message"],
            _ => return None,
        };
        Some(names.iter().map(|n| Output { name: n.to_string() }).collect())
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
    load(files[0].0, &read, &FakeCatalog, &overrides).map(|l| l.scenario)
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
    assert_eq!(sc.resolved().fingerprint.len(), 64);
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
fn an_escaped_quote_does_not_hide_the_unknown_name_after_it() {
    // `"a\"b"` is one string: the error points at `leader` (column 36), not at the whole
    // expression (column 27), which is what a scanner that ignores the backslash found.
    let e = errors(
        "phases:\n  - name: p\n    steps:\n      - sleep: { duration: 1ms }\n    checks:\n      - { id: A, expect: '\"a\\\"b\" + leader == \"x\"' }\n",
    );
    assert_eq!(e[0].0, "unknown name `leader` in `\"a\\\"b\" + leader == \"x\"`", "{e:?}");
    assert_eq!((e[0].1, e[0].2), (6, 36), "{e:?}");
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
    assert_eq!(*scope.aliases, vec![("ready".to_string(), "n1_ready".to_string())]);
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

/// (title, line, col, label, hint) of a diagnostic.
type Full = (String, u32, u32, Option<String>, Option<String>);

fn full(text: &str, overrides: Overrides) -> Vec<Full> {
    match load_files(&[("s.yaml", text)], overrides) {
        Ok(_) => panic!("expected errors"),
        Err(f) => f
            .diagnostics
            .iter()
            .map(|d| (d.title.clone(), d.span.line, d.span.col, d.label.clone(), d.hint.clone()))
            .collect(),
    }
}

fn ok(text: &str) {
    if let Err(f) = load_files(&[("s.yaml", text)], Overrides::default()) {
        panic!("{}", f.render(false));
    }
}

#[test]
fn a_step_read_before_it_runs_is_an_error() {
    let e = errors(
        "setup:\n  - id: early\n    exec: { argv: [echo, \"${later.stdout}\"] }\nphases:\n  - name: a\n    steps:\n      - id: x\n        log: { message: \"${y.message}\" }\n      - id: y\n        log: { message: hi }\n    checks:\n      - { id: C, expect: later.ok }\n  - name: b\n    steps:\n      - id: later\n        exec: { argv: [ls] }\n",
    );
    assert_eq!(e.len(), 3, "{e:?}");
    assert_eq!(e[0].0, "step `early` reads `later` before it has a value");
    assert_eq!((e[0].1, e[0].2), (3, 29));
    assert_eq!(e[1].0, "step `x` reads `y` before it has a value");
    assert_eq!((e[1].1, e[1].2), (8, 28));
    assert_eq!(e[2].0, "check `C` reads `later` before it has a value");
    assert_eq!((e[2].1, e[2].2), (12, 26));
    assert_eq!(e[2].3.as_deref(), Some("move the reading after it, or the step before the reading"));
}

#[test]
fn what_may_be_read_where() {
    // Earlier steps, a step's own result in `until`, a var redefined by `set`, a stopped
    // background step, metrics in checks, teardown reading anything: all fine.
    ok(r#"
vars: { url: x }
setup:
  - id: s
    set: { url: "${url + '/y'}" }
phases:
  - name: a
    steps:
      - id: probe
        http.get: { url: "${url}" }
        until: probe.status == 200
      - id: w
        sql.writers: {}
        background: true
      - stop: w
      - log: { message: "${string(w.ok)} ${probe.json.deep.path}" }
    metrics:
      took: probe.elapsed_ms
      twice: took * 2
    checks:
      - { id: C, expect: "twice > 0 && [1, 2].all(x, x > 0) && probe.first_match_ms > 0" }
checks:
  - { id: F, expect: "took > 0" }
teardown:
  - log: { message: "${string(probe.status)}" }
"#);
    let e = errors("phases:\n  - name: a\n    steps:\n      - id: own\n        log: { message: hi }\n        when: own.ok\n      - { id: w, sql.writers: {}, background: true }\n      - log: { message: \"${string(w.ok)}\" }\n");
    assert_eq!(e[0].0, "step `own` reads `own` before it has a value");
    assert_eq!((e[0].1, e[0].2), (6, 15));
    assert!(e[0].3.as_deref().unwrap().contains("use `until:`"), "{e:?}");
    assert_eq!(e[1].0, "step `a_3` reads `w` before it has a value");
    assert_eq!(e[1].3.as_deref(), Some("read it after `stop: w` (or in the phase's checks and metrics)"));
}

#[test]
fn vars_cannot_read_steps_or_later_vars() {
    let e = errors("vars:\n  a: \"${b}\"\n  b: 1\n  c: \"${s.ok}\"\nphases:\n  - name: p\n    steps:\n      - { id: s, log: { message: x } }\n");
    assert_eq!(e[0].0, "var `a` reads `b`, which is declared after it");
    assert_eq!((e[0].1, e[0].2), (2, 9));
    assert_eq!(e[1].0, "var `c` reads `s`, which has no value before the run starts");
    assert_eq!((e[1].1, e[1].2), (4, 9));
}

#[test]
fn unknown_function_lists_the_known_ones() {
    let e = full(
        "phases:\n  - name: p\n    steps:\n      - log: { message: \"${foo(1)} ${sise('ab')}\" }\n",
        Overrides::default(),
    );
    assert_eq!(e[0].0, "unknown function `foo` in `foo(1)`");
    assert_eq!((e[0].1, e[0].2), (4, 28));
    assert_eq!(e[0].3.as_deref(), Some("no such function"));
    assert!(e[0].4.as_deref().unwrap().starts_with("known functions: duration_ms, max, min"), "{e:?}");
    assert_eq!(e[1].0, "unknown function `sise` in `sise('ab')`");
    assert_eq!((e[1].1, e[1].2), (4, 38));
    assert!(e[1].4.as_deref().unwrap().starts_with("did you mean `size`? Known functions: "), "{e:?}");
}

#[test]
fn fields_an_action_does_not_output_are_errors() {
    let e = errors("phases:\n  - name: p\n    steps:\n      - { id: b, exec: { argv: [ls] } }\n      - { id: h, http.get: { url: x } }\n    checks:\n      - { id: C, expect: \"b.nonexistent_field == 1 && b.stdot == '' && h.json.any.thing && h.ok && b.elapsed_ms > 0\" }\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].0, "step `b` (`exec`) has no output `nonexistent_field`");
    assert_eq!((e[0].1, e[0].2), (7, 29));
    assert!(
        e[0].3.as_deref().unwrap().starts_with("`exec` outputs: stdout, stderr, exit_code, pid, json;"),
        "{e:?}"
    );
    assert_eq!(e[1].0, "step `b` (`exec`) has no output `stdot`");
    assert_eq!((e[1].1, e[1].2), (7, 57));
    assert_eq!(e[1].3.as_deref(), Some("did you mean `stdout`?"));
    // `set` outputs its own names; actions with unknown outputs are not checked.
    ok("setup:\n  - { id: s, set: { a: 1 } }\n  - { id: w, sql.writers: {} }\nchecks:\n  - { id: C, expect: \"s.a == 1 && w.anything == 1\" }\n");
    let e = errors("setup:\n  - { id: s, set: { a: 1 } }\nchecks:\n  - { id: C, expect: \"s.b == 1\" }\n");
    assert_eq!(e[0].0, "step `s` (`set`) has no output `b`");
}

#[test]
fn fragment_aliases_are_ordered_and_checked_as_their_steps() {
    let r = load_files(
        &[
            ("s.yaml", "include: [f.yaml]\nsetup:\n  - { use: start, id: n1 }\n"),
            ("f.yaml", "fragments:\n  start:\n    steps:\n      - id: first\n        log: { message: \"${ready.stdout}\" }\n      - id: ready\n        exec: { argv: [ls] }\n        until: ready.exit_code == 0 && ready.stdot == ''\n"),
        ],
        Overrides::default(),
    );
    let f = r.err().unwrap();
    let titles: Vec<&str> = f.diagnostics.iter().map(|d| d.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "step `n1_first` reads `ready` before it has a value",
            "step `ready` (`exec`) has no output `stdot`"
        ]
    );
}

#[test]
fn overrides_keep_the_declared_type() {
    let text = "vars:\n  n: 3\n  r: 0.5\n  b: true\n  s: pg\n  l: [1]\nphases: []\n";
    let o = |name: &str, raw: &str, source: &str| Overrides {
        values: vec![(name.into(), raw.into(), source.into())],
        lenient: vec![],
    };
    let e = full(text, o("n", "abc", "--var"));
    assert_eq!(e[0].0, "--var sets `n` to `abc`, but `n` is an integer");
    assert_eq!((e[0].1, e[0].2), (2, 6));
    assert_eq!(e[0].3.as_deref(), Some("`n` is declared as an integer here"));
    assert!(e[0].4.as_deref().unwrap().starts_with("pass an integer, e.g. `--var n=3`"), "{e:?}");
    let e = full(text, o("r", "x", "TESTRUNNER_VAR_r"));
    assert_eq!(e[0].0, "TESTRUNNER_VAR_r sets `r` to `x`, but `r` is a number");
    assert!(e[0].4.as_deref().unwrap().starts_with("pass a number, e.g. `TESTRUNNER_VAR_r=0.5`"), "{e:?}");
    let e = full(text, o("b", "yes", "vars file v.yaml"));
    assert_eq!(e[0].0, "vars file v.yaml sets `b` to `yes`, but `b` is a boolean");
    assert!(e[0].4.as_deref().unwrap().starts_with("pass true or false, e.g. `b: true`"), "{e:?}");
    let e = full(text, o("l", "3", "--var"));
    assert_eq!(e[0].0, "--var sets `l` to `3`, but `l` is a list");
    // Fitting values keep their type; strings take any text.
    for (name, raw, want) in [
        ("n", "30000", json!(30000)),
        ("r", "2", json!(2.0)),
        ("b", "false", json!(false)),
        ("s", "42", json!("42")),
        ("l", "[1, 2]", json!([1, 2])),
    ] {
        let sc = load_files(&[("s.yaml", text)], o(name, raw, "--var")).unwrap();
        let v = sc.vars.iter().find(|v| v.name == name).unwrap();
        assert_eq!(v.value.as_written(), want, "{name}");
        assert!(v.overridden);
    }
}

#[test]
fn expression_errors_point_at_the_offending_token() {
    let e = full(
        "phases:\n  - name: p\n    steps:\n      - id: first\n        exec: { argv: [ls] }\n      - log: { message: \"x ${first.exit_code == == 0} y\" }\n    checks:\n      - { id: A, expect: first.exit_code == == 0 }\n      - { id: B, expect: \"first.exit_code == == 0\" }\n      - { id: C, expect: first.exit_code == }\n      - { id: D, expect: \"${first.ok &&}\" }\n      - id: E\n        expect: 'first.stdout == \"abc'\n",
        Overrides::default(),
    );
    let got: Vec<(&str, u32, u32)> = e.iter().map(|d| (d.0.as_str(), d.1, d.2)).collect();
    assert_eq!(
        got,
        [
            ("invalid expression: unexpected `==`", 6, 49),
            ("invalid expression: unexpected `==`", 8, 45),
            ("invalid expression: unexpected `==`", 9, 46),
            ("invalid expression: the expression ends too early", 10, 44),
            ("invalid expression: the expression ends too early", 11, 40),
            ("invalid expression: unclosed string: add the closing quote", 13, 34),
        ]
    );
}

#[test]
fn diagnostics_carry_labels_and_hints() {
    // YAML syntax: no duplicated prefix or position in the title.
    let e = full(
        "phases:\n  - name: p\n    steps:\n      - log: { message: \"unclosed }\n",
        Overrides::default(),
    );
    assert_eq!(e[0].0, "invalid YAML: unclosed quote");
    assert_eq!((e[0].1, e[0].2), (4, 25));
    assert_eq!(e[0].3.as_deref(), Some("here"));
    assert!(e[0].4.is_some());
    let e = full("a: 1\na: 2\n", Overrides::default());
    assert_eq!(e[0].0, "invalid YAML: duplicate key `a`");
    // An empty file.
    let e = full("", Overrides::default());
    assert_eq!(e[0].0, "`s.yaml` is empty: expected a scenario");
    assert_eq!((e[0].1, e[0].2), (1, 1));
    assert!(e[0].4.as_deref().unwrap().contains("phases:"), "{e:?}");
    let f = load_files(&[("s.yaml", "")], Overrides::default()).err().unwrap();
    assert!(
        f.render(false).contains("1 | \n  | ^ a scenario (a map of keys) goes here"),
        "{}",
        f.render(false)
    );
    // Duplicate step id, bad retries, a check without `expect`.
    let e = full(
        "phases:\n  - name: p\n    steps:\n      - id: a\n        log: { message: x }\n        retries: many\n      - id: a\n        log: { message: y }\n    checks:\n      - { id: C-1 }\n",
        Overrides::default(),
    );
    assert_eq!(e[0].0, "`retries` must be a whole number from 0 to 10000");
    assert_eq!((e[0].1, e[0].2), (6, 18));
    assert_eq!(e[0].3.as_deref(), Some("not a whole number from 0 to 10000 (string)"));
    assert!(e[0].4.as_deref().unwrap().starts_with("e.g. `retries: 3`"));
    assert_eq!(e[1].0, "duplicate step id `a`");
    assert_eq!((e[1].1, e[1].2), (7, 13));
    assert_eq!(e[1].3.as_deref(), Some("already used"));
    assert_eq!(
        e[1].4.as_deref(),
        Some("step ids name results (`a.ok`) and must be unique: rename one, e.g. `a_2`")
    );
    assert_eq!(e[2].0, "check `C-1` has no `expect`");
    assert_eq!((e[2].1, e[2].2), (10, 15));
    assert_eq!(e[2].3.as_deref(), Some("this check needs `expect`"));
    assert!(e[2].4.as_deref().unwrap().contains("expect: probe.ok"));
}

#[test]
fn a_retry_setting_that_would_do_nothing_is_refused() {
    // `interval` alone, and `until` with `retries`: both would be settings that do nothing.
    let e = full(
        "phases:\n  - name: p\n    steps:\n      - id: a\n        log: { message: x }\n        interval: 1s\n      - id: b\n        log: { message: y }\n        until: b.ok\n        retries: 2\n",
        Overrides::default(),
    );
    assert_eq!(e[0].0, "`interval` does nothing on a step without `until` or `retries`");
    assert_eq!((e[0].1, e[0].2), (6, 19));
    assert_eq!(e[1].0, "a step takes `until` or `retries`, not both");
}

#[test]
fn evidence_that_would_leave_the_run_directory_is_refused() {
    let e = full(
        "phases:\n  - name: p\n    steps:\n      - id: a\n        log: { message: x }\n        save: ../../etc/x\n      - id: b\n        log: { message: y }\n        save: /tmp/y\n",
        Overrides::default(),
    );
    assert_eq!(e[0].0, "`save: ../../etc/x` leaves the evidence directory");
    assert_eq!((e[0].1, e[0].2), (6, 15));
    assert_eq!(e[1].0, "`save: /tmp/y` leaves the evidence directory");
}

#[test]
fn a_mistyped_override_of_a_secret_does_not_print_it() {
    let o = Overrides { values: vec![("pin".into(), "hunter2-pin".into(), "--var".into())], lenient: vec![] };
    let e = full("secrets: [pin]\nvars:\n  pin: 1234\nphases: []\n", o);
    assert_eq!(e[0].0, "--var sets `pin` to `****`, but `pin` is an integer");
    let text = format!("{e:?}");
    assert!(!text.contains("hunter2-pin") && !text.contains("1234"), "{text}");
}

#[test]
fn background_lifetimes_are_checked_at_load_time() {
    // A background step lives until its `stop:`, also in a later phase.
    ok("phases:\n  - name: a\n    steps:\n      - { id: w, sql.writers: {}, background: true }\n  - name: b\n    repeat: 2\n    steps:\n      - log: { message: x }\n  - name: c\n    steps:\n      - stop: w\n      - log: { message: \"${string(w.ok)}\" }\n");
    let e = full("phases:\n  - name: a\n    repeat: 2\n    steps:\n      - { id: w, sql.writers: {}, background: true }\n  - name: b\n    steps:\n      - stop: w\n", Overrides::default());
    assert_eq!(
        e[0].0,
        "`w` is started again in every iteration of phase `a`, but this step runs in phase `b`"
    );
    assert_eq!((e[0].1, e[0].2), (8, 15));
    let e = full("phases:\n  - name: a\n    steps:\n      - { id: w, sql.writers: {}, background: true }\n  - name: b\n    repeat: 2\n    steps:\n      - stop: w\n", Overrides::default());
    assert_eq!(
        e[0].0,
        "this step runs in every iteration of phase `b`, but `w` is started once, in phase `a`"
    );
    assert_eq!((e[0].1, e[0].2), (8, 15));
    let e = full("phases:\n  - name: a\n    steps:\n      - stop: w\n      - { id: w, sql.writers: {}, background: true }\n      - stop: w\n      - stop: w\nteardown:\n  - stop: w\n", Overrides::default());
    let titles: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(titles[0], "`stop` names `w` before it starts", "{e:?}");
    assert_eq!((e[0].1, e[0].2), (4, 15));
    assert!(titles[1].starts_with("`w` is already ended at s.yaml:6:9"), "{e:?}");
    assert_eq!(titles[2], "`stop: w` in teardown: `w` has already been stopped", "{e:?}");
    // A check of the phase that started it cannot read it when it is stopped later.
    let e = full("phases:\n  - name: a\n    steps:\n      - { id: w, sql.writers: {}, background: true }\n    checks:\n      - { id: C, expect: w.ok }\n  - name: b\n    steps:\n      - stop: w\n", Overrides::default());
    assert_eq!(e[0].0, "check `C` reads `w` before it has a value");
}

#[test]
fn wait_names_background_polls() {
    ok("phases:\n  - name: a\n    steps:\n      - { id: p1, http.get: { url: x }, until: p1.status == 200, background: true }\n      - { id: p2, http.get: { url: y }, until: p2.status == 200, background: true }\n      - { id: first, wait: { any: [p1, p2] }, timeout: 10s }\n      - log: { message: \"${first.winner} ${string(p1.first_match_ms)}\" }\n    checks:\n      - { id: C, expect: \"first.matched.size() > 0\" }\n");
    let e = full("phases:\n  - name: a\n    steps:\n      - { id: w, sql.writers: {}, background: true }\n      - { id: p1, http.get: { url: x }, until: p1.status == 200 }\n      - wait: { any: [w, p1, p3] }\n      - wait: { some: [w] }\n      - { wait: { all: [] }, timeot: 1s }\n      - { id: f, wait: { all: [w] } }\n      - log: { message: \"${f.winer}\" }\n", Overrides::default());
    let t: Vec<(&str, u32, u32)> = e.iter().map(|x| (x.0.as_str(), x.1, x.2)).collect();
    assert!(t.contains(&("`wait: { all: … }` needs a list of step ids", 8, 24)), "{t:?}");
    assert!(t.contains(&("unknown key `timeot` in a `wait` step", 8, 30)), "{t:?}");
    assert!(t.contains(&("`wait` takes `any: [ids]` or `all: [ids]`", 7, 15)), "{t:?}");
    assert!(t.contains(&("step `f` (`wait`) has no output `winer`", 10, 30)), "{t:?}");
    assert!(t.contains(&("`wait` names `w`, which has no `until`", 6, 15)), "{t:?}");
    assert!(t.contains(&("`wait: p1` names no background step", 6, 15)), "{t:?}");
    assert!(t.contains(&("`wait: p3` names no background step", 6, 15)), "{t:?}");
}

#[test]
fn each_kind_of_step_takes_its_own_keys() {
    let base = "phases:\n  - name: a\n    steps:\n      - { id: w, http.get: { url: x }, until: w.ok, background: true }\n      - { id: v, sql.writers: {}, background: true }\n";
    let text = format!("{base}      - {{ id: f, name: first, wait: {{ all: [w] }}, timeout: 5s }}\n      - {{ stop: v, name: end }}\n");
    let sc = load_files(&[("s.yaml", &text)], Overrides::default())
        .unwrap_or_else(|f| panic!("{}", f.render(false)));
    let steps = &sc.phases[0].steps[1..];
    assert_eq!(
        (steps[1].id.as_str(), steps[1].label(), steps[1].timeout),
        ("f", "first", Some(Duration::from_secs(5)))
    );
    assert_eq!((steps[1].kind, steps[2].kind), (StepKind::Wait, StepKind::Stop));
    assert_eq!((steps[2].id.as_str(), steps[2].label()), ("a_4", "end"));
    // A key another kind takes is unknown here, and is not read as well (one error each).
    let text = format!("{base}      - {{ id: f, wait: {{ all: [w] }}, until: \"(\" }}\n      - {{ stop: v, id: s, name: [x] }}\n      - {{ http.get: {{ url: x }}, timeout: soon }}\n");
    let e = full(&text, Overrides::default());
    let t: Vec<(&str, u32, u32)> = e.iter().map(|x| (x.0.as_str(), x.1, x.2)).collect();
    assert_eq!(
        t,
        [
            ("unknown key `until` in a `wait` step", 6, 38),
            ("unknown key `id` in a `stop` step", 7, 20),
            ("step name must be a string, not list", 7, 33),
            ("`soon` is not a duration (e.g. 250ms, 30s, 2m30s)", 8, 42),
        ],
        "{e:?}"
    );
}

#[test]
fn repeat_and_for_each_take_vars_checked_at_load_time() {
    ok("vars: { cycles: 3, nodes: [a, b] }\nphases:\n  - name: a\n    repeat: \"${cycles}\"\n  - name: b\n    for_each: \"${nodes}\"\n  - name: c\n    repeat: \"${cycles * 2}\"\n  - name: d\n    repeat: 0\n");
    let text = "vars: { cycles: 3, nodes: x }\nphases:\n  - name: a\n    repeat: \"${cycles}\"\n  - name: b\n    for_each: \"${nodes}\"\n  - name: c\n    repeat: -1\n";
    let e = full(
        text,
        Overrides { values: vec![("cycles".into(), "-2".into(), "--var".into())], lenient: vec![] },
    );
    assert_eq!(e[0].0, "`repeat` needs a whole number (0 or more), but var `cycles` is -2");
    assert_eq!((e[0].1, e[0].2), (4, 13));
    assert_eq!(e[1].0, "`for_each` needs a list, but var `nodes` is \"x\"");
    assert_eq!((e[1].1, e[1].2), (6, 15));
    assert_eq!(e[2].0, "`repeat` must be a whole number (0 or more), not integer");
    assert_eq!((e[2].1, e[2].2), (8, 13));
}

#[test]
fn metric_bounds_exist_only_for_metrics_read_from_a_poll() {
    let base = "phases:\n  - name: p\n    steps:\n      - id: probe\n        http.get: { url: \"http://x\" }\n        until: probe.status == 200\n      - { id: s, sleep: { duration: 1s } }\n    metrics:\n      polled_ms: { value: \"probe.first_match_ms - s.started_ms\" }\n      plain_ms: { value: \"s.finished_ms - s.started_ms\" }\n    checks:\n";
    let ok = format!(
        "{base}      - {{ id: C, expect: \"polled_ms.lo <= polled_ms && polled_ms.hi >= polled_ms\" }}\n"
    );
    load_files(&[("s.yaml", &ok)], Overrides::default()).unwrap_or_else(|f| panic!("{}", f.render(false)));
    let bad = format!("{base}      - {{ id: C, expect: \"plain_ms.hi < 5\" }}\n");
    let e = errors(&bad);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, "metric `plain_ms` has no uncertainty interval, so `plain_ms.hi` has no value");
    // Line 12, the column of `hi` in `plain_ms.hi`.
    assert_eq!((e[0].1, e[0].2), (12, 36), "{e:?}");
}

#[test]
fn a_known_var_converts_to_text_or_is_refused_where_written() {
    // A number or boolean var in a text slot is its text: nothing to report.
    ok("vars: { port: 28917, on: true }\nphases:\n  - name: p\n    steps:\n      - exec: { argv: [python3, -m, http.server, \"${port}\", \"${on}\"] }\n");
    // A list or map var cannot be text: refused at load time, at the template.
    let e = full(
        "vars: { hosts: [a, b] }\nphases:\n  - name: p\n    steps:\n      - exec: { argv: [echo, \"${hosts}\"] }\n",
        Overrides::default(),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, "`exec` parameter `argv[1]` must be a string, not list");
    assert_eq!((e[0].1, e[0].2), (5, 30));
    assert!(e[0].4.as_deref().unwrap().starts_with("`hosts` is [\"a\",\"b\"]"), "{e:?}");
    // An override keeps the check: a list var overridden is still a list.
    let o = Overrides { values: vec![("hosts".into(), "[x]".into(), "--var".into())], lenient: vec![] };
    let e = full(
        "vars: { hosts: [a] }\nphases:\n  - name: p\n    steps:\n      - exec: { argv: [\"${hosts}\"] }\n",
        o,
    );
    assert_eq!(e[0].0, "`exec` parameter `argv[0]` must be a string, not list");
    // A fragment parameter of the same name hides the var.
    ok("vars: { x: [a] }\nfragments:\n  f:\n    params: { x: one }\n    steps:\n      - exec: { argv: [\"${x}\"] }\nphases:\n  - name: p\n    steps:\n      - use: f\n");
}

#[test]
fn empty_expectations_and_ids_are_refused_where_written() {
    let e = errors("scenario: \"\"\nphases:\n  - name: p\n    steps:\n      - assert: { expect: [] }\n    checks:\n      - { id: \"\", expect: \"true\" }\n      - { id: C, expect: [] }\n");
    let at: Vec<(&str, u32, u32)> = e.iter().map(|x| (x.0.as_str(), x.1, x.2)).collect();
    assert_eq!(
        at,
        vec![
            ("scenario id is empty", 1, 11),
            ("`assert` has an empty `expect`", 5, 27),
            ("check id is empty", 7, 15),
            ("check `C` has an empty `expect`", 8, 26),
        ]
    );
}

#[test]
fn a_check_metric_must_name_a_metric() {
    let e = errors("phases:\n  - name: p\n    metrics: { loss_ms: \"1\" }\n    checks:\n      - { id: C, expect: \"true\", metric: los_ms }\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0].0.as_str(), e[0].1, e[0].2), ("`metric: los_ms` names no metric", 5, 42));
    assert_eq!(e[0].3.as_deref(), Some("did you mean `loss_ms`?"));
    ok("phases:\n  - name: p\n    checks:\n      - { id: C, expect: \"true\", metric: total }\nmetrics: { total: \"2\" }\n");
}

#[test]
fn rules_naming_missing_checks_point_at_the_entry() {
    let e = errors("phases:\n  - name: p\n    checks: [{ id: D31-RTO, expect: \"true\" }]\noutcome:\n  partial_if_passed: [D31-RTT]\nexit_codes:\n  - when_failed: [D31-RTO, D31-XX]\n    code: 2\n");
    let at: Vec<(&str, u32, u32)> = e.iter().map(|x| (x.0.as_str(), x.1, x.2)).collect();
    assert_eq!(
        at,
        vec![
            ("`outcome.partial_if_passed` names check `D31-RTT`, which does not exist", 5, 23),
            ("`exit_codes` names check `D31-XX`, which does not exist", 7, 28),
        ]
    );
}

#[test]
fn an_unused_fragment_is_validated_too() {
    let e = errors("fragments:\n  probe:\n    params: [url]\n    steps:\n      - http.get: { url: \"${url}\", timout: 1s }\n      - sleep: { duration: banana }\nphases:\n  - name: p\n    steps: []\n");
    let at: Vec<(&str, u32, u32)> = e.iter().map(|x| (x.0.as_str(), x.1, x.2)).collect();
    assert_eq!(at.len(), 2, "{e:?}");
    assert_eq!((at[0].1, at[0].2), (5, 36));
    assert!(at[0].0.contains("unknown parameter `timout`"), "{e:?}");
    assert_eq!((at[1].1, at[1].2), (6, 28));
    // Two unused fragments may use the same step ids (each expansion gets its own).
    ok("fragments:\n  a:\n    steps:\n      - { id: s, sleep: { duration: 1s } }\n  b:\n    steps:\n      - { id: s, sleep: { duration: 1s } }\nphases:\n  - name: p\n    steps: []\n");
    // A used one is reported once, at its use.
    let e = errors("fragments:\n  f:\n    steps:\n      - sleep: { duration: banana }\nphases:\n  - name: p\n    steps:\n      - use: f\n");
    assert_eq!(e.len(), 1, "{e:?}");
}

#[test]
fn a_yaml_newline_inside_an_expression_string_gets_a_hint() {
    let e = errors("phases:\n  - name: p\n    checks:\n      - { id: C, expect: \"'a\\nb' == 'x'\" }\n");
    assert_eq!(e.len(), 1, "{e:?}");
    let hint = e[0].3.as_deref().unwrap();
    assert!(hint.contains("real line break") && hint.contains("`\\\\n`"), "{hint}");
}
