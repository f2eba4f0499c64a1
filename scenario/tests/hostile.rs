//! Hostile scenario files: every bound of the loader (expression size, YAML nesting, file
//! reads, include confinement, include and fragment fan-out, scenario ids) ends in a
//! diagnostic at `file:line:col` in plain words, quickly and without a crash.
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use testrunner_scenario::{
    load, load_with, read_source, Catalog, LoadFailure, LoadOptions, Overrides, Scenario,
};

struct AnyCatalog;

impl Catalog for AnyCatalog {
    fn schema(&self, _action: &str) -> Option<Value> {
        Some(serde_json::json!({"type": "object"}))
    }
    fn names(&self) -> Vec<String> {
        vec!["log".into(), "set".into()]
    }
}

fn load_files(files: &[(&str, String)]) -> Result<Scenario, LoadFailure> {
    let map: HashMap<String, String> = files.iter().map(|(p, t)| (p.to_string(), t.clone())).collect();
    let read = move |p: &str| map.get(p).cloned().ok_or_else(|| "no such file".to_string());
    load(files[0].0, &read, &AnyCatalog, &Overrides::default()).map(|l| l.scenario)
}

fn failure(text: String) -> LoadFailure {
    match load_files(&[("s.yaml", text)]) {
        Ok(_) => panic!("expected errors"),
        Err(f) => f,
    }
}

/// Asserts every error has a position and no internal wording, and returns the rendering.
fn plain(f: &LoadFailure) -> String {
    for d in &f.diagnostics {
        assert!(d.span.line > 0 && d.span.col > 0, "no line:col: {d:?}");
    }
    let text = f.render(false);
    for internal in
        ["budget breached", "OtherError", "ParseError", "Incomplete", "from_str_multiple", "Context"]
    {
        assert!(!text.contains(internal), "internal text `{internal}` in:\n{text}");
    }
    text
}

#[test]
fn a_long_operator_chain_is_refused_not_a_stack_overflow() {
    let chain = vec!["1"; 30_000].join("+");
    let f = failure(format!("phases:\n  - name: p\n    when: \"{chain} > 0\"\n    steps: []\n"));
    let text = plain(&f);
    assert!(text.contains("too long"), "{text}");
    assert_eq!((f.diagnostics[0].span.line, f.diagnostics[0].span.col), (3, 12));
    assert!(text.len() < 2_000, "the snippet is cut: {} bytes", text.len());
}

#[test]
fn a_long_selection_chain_is_refused() {
    let chain = format!("s{}", ".ok".repeat(100_000));
    let text = plain(&failure(format!("phases:\n  - name: p\n    when: \"{chain}\"\n    steps: []\n")));
    assert!(text.contains("too long"), "{text}");
    // Under the length bound, the operator bound holds.
    let chain = format!("s{}", ".ok".repeat(600));
    let text = plain(&failure(format!("phases:\n  - name: p\n    when: \"{chain}\"\n    steps: []\n")));
    assert!(text.contains("too complex"), "{text}");
    let chain = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let text = plain(&failure(format!("phases:\n  - name: p\n    when: \"{chain} == 1\"\n    steps: []\n")));
    assert!(text.contains("nests brackets too deeply"), "{text}");
}

#[test]
fn expressions_in_templates_are_bounded_too() {
    let chain = vec!["1"; 3_000].join("+");
    let text = plain(&failure(format!(
        "phases:\n  - name: p\n    steps:\n      - log: {{ message: \"${{{chain}}}\" }}\n"
    )));
    assert!(text.contains("too complex"), "{text}");
}

#[test]
fn deep_yaml_nesting_is_a_plain_error() {
    let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
    let text = plain(&failure(format!("vars:\n  x: {deep}\n")));
    assert!(text.contains("nested too deeply"), "{text}");
}

#[test]
fn several_documents_are_a_plain_error() {
    let text = plain(&failure("phases: []\n---\nphases: []\n".into()));
    assert!(text.contains("more than one YAML document"), "{text}");
}

#[test]
fn cel_parser_internals_are_not_shown() {
    for bad in ["a ? b", "a.", "[1,", "a[", "{1:", "!", "a.b(", "1 +", "in", "a in"] {
        let f = failure(format!("phases:\n  - name: p\n    when: \"{bad}\"\n    steps: []\n"));
        plain(&f);
    }
}

#[test]
fn invalid_utf8_has_line_and_column() {
    let dir = tempdir();
    let p = dir.join("s.yaml");
    std::fs::write(&p, b"phases:\n  - name: p\xff\n").unwrap();
    let f = load_with(
        p.to_str().unwrap(),
        &read_source,
        &AnyCatalog,
        &Overrides::default(),
        &LoadOptions::default(),
    )
    .unwrap_err();
    plain(&f);
    let d = &f.diagnostics[0];
    assert!(d.title.contains("not valid UTF-8"), "{}", d.title);
    assert_eq!((d.span.line, d.span.col), (2, 12));
}

#[test]
fn only_regular_files_are_read_and_only_so_much() {
    let start = Instant::now();
    for dev in ["/dev/zero", "/dev/urandom", "/dev/null", "/tmp"] {
        let e = read_source(dev).unwrap_err();
        assert!(e.contains("only regular files"), "{dev}: {e}");
    }
    // A pseudo file reports size 0: nothing is read (so /proc/kmsg cannot block).
    assert_eq!(read_source("/proc/self/status").unwrap(), b"");
    let dir = tempdir();
    let fifo = dir.join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let e = read_source(fifo.to_str().unwrap()).unwrap_err();
    assert!(e.contains("a pipe"), "{e}");
    let big = dir.join("big.yaml");
    std::fs::File::create(&big).unwrap().set_len(9 * 1024 * 1024).unwrap();
    let e = read_source(big.to_str().unwrap()).unwrap_err();
    assert!(e.contains("too large"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

fn tempdir() -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "testrunner-hostile-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn load_disk(main: &std::path::Path, roots: &[&std::path::Path]) -> Result<Scenario, LoadFailure> {
    let opts =
        LoadOptions { include_roots: roots.iter().map(|r| r.to_string_lossy().into_owned()).collect() };
    load_with(main.to_str().unwrap(), &read_source, &AnyCatalog, &Overrides::default(), &opts)
        .map(|l| l.scenario)
}

#[test]
fn includes_outside_the_scenario_directory_are_refused_unless_allowed() {
    let base = tempdir();
    let (dir, other) = (base.join("sc"), base.join("shared"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("f.yaml"), "vars: { x: 1 }\n").unwrap();
    let main = dir.join("s.yaml");
    std::fs::write(&main, "include: [../shared/f.yaml]\nphases: []\n").unwrap();
    let f = load_disk(&main, &[]).unwrap_err();
    let text = plain(&f);
    assert!(text.contains("outside the scenario's directory") && text.contains("--include-root"), "{text}");
    assert_eq!((f.diagnostics[0].span.line, f.diagnostics[0].span.col), (1, 11));
    load_disk(&main, &[&other]).unwrap_or_else(|f| panic!("{}", f.render(false)));

    // A symlink inside the directory that points out of it is outside too.
    std::os::unix::fs::symlink(other.join("f.yaml"), dir.join("link.yaml")).unwrap();
    std::fs::write(&main, "include: [link.yaml]\nphases: []\n").unwrap();
    let text = plain(&load_disk(&main, &[]).unwrap_err());
    assert!(text.contains("outside the scenario's directory"), "{text}");
}

#[test]
fn a_file_that_is_not_yaml_is_never_read_nor_echoed() {
    let dir = tempdir();
    let secret = dir.join("shadow");
    std::fs::write(&secret, "root:$6$secrethash:19000:0:99999:7:::\n").unwrap();
    let main = dir.join("s.yaml");
    std::fs::write(&main, format!("include: [{}, /dev/zero, /etc/passwd]\nphases: []\n", secret.display()))
        .unwrap();
    let start = Instant::now();
    let f = load_disk(&main, &[std::path::Path::new("/")]).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    let text = plain(&f);
    assert_eq!(f.diagnostics.len(), 3, "{text}");
    assert!(text.contains("not a YAML file"), "{text}");
    assert!(!text.contains("secrethash") && !text.contains("root:x"), "{text}");
}

#[test]
fn each_included_file_is_parsed_once() {
    // A chain of files each including the next three times.
    let n = 20;
    let mut files =
        vec![("s.yaml".to_string(), "include: [f0.yaml, f0.yaml, f0.yaml]\nphases: []\n".to_string())];
    for i in 0..n {
        let next = if i + 1 < n {
            format!("include: [f{0}.yaml, f{0}.yaml, f{0}.yaml]\n", i + 1)
        } else {
            String::new()
        };
        files.push((format!("f{i}.yaml"), format!("{next}vars: {{ v{i}: {i} }}\n")));
    }
    let map: HashMap<String, String> = files.iter().cloned().collect();
    let reads = AtomicUsize::new(0);
    let read = |p: &str| {
        reads.fetch_add(1, Ordering::SeqCst);
        map.get(p).cloned().ok_or_else(|| "no such file".to_string())
    };
    let sc = load("s.yaml", &read, &AnyCatalog, &Overrides::default())
        .unwrap_or_else(|f| panic!("{}", f.render(false)))
        .scenario;
    assert_eq!(sc.vars.len(), n);
    assert_eq!(reads.load(Ordering::SeqCst), n + 1);
}

#[test]
fn fragment_fan_out_is_capped() {
    // Each fragment uses the next one four times, twenty levels deep: 4^20 steps.
    let mut text = String::from("fragments:\n");
    for i in 0..20 {
        let body = if i + 1 < 20 {
            format!("[{{ use: f{0}, id: a }}, {{ use: f{0}, id: b }}, {{ use: f{0}, id: c }}, {{ use: f{0}, id: d }}]", i + 1)
        } else {
            "[{ log: { message: hi } }]".into()
        };
        text.push_str(&format!("  f{i}: {{ steps: {body} }}\n"));
    }
    text.push_str("phases:\n  - name: p\n    steps: [{ use: f0 }]\n");
    let start = Instant::now();
    let f = failure(text);
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
    let text = plain(&f);
    assert!(text.contains("expands to more than"), "{text}");
    assert_eq!(f.diagnostics.len(), 1, "{text}");
}

#[test]
fn scenario_ids_are_plain_names() {
    for bad in [r#""../../../x""#, "/abs", "a/b", "'..'", ".hidden", "'a b'", r#""x\e[31m""#, "x..y"] {
        let f = failure(format!("scenario: {bad}\nphases: []\n"));
        let text = plain(&f);
        assert!(text.contains("must be a plain name"), "{bad}: {text}");
        assert_eq!((f.diagnostics[0].span.line, f.diagnostics[0].span.col), (1, 11), "{bad}");
    }
    for good in ["val17", "d31-local", "a_b.c"] {
        load_files(&[("s.yaml", format!("scenario: {good}\nphases: []\n"))])
            .unwrap_or_else(|f| panic!("{good}: {}", f.render(false)));
    }
}

#[test]
fn a_long_chain_of_distinct_includes_is_refused_not_a_stack_overflow() {
    // Every file includes another, new one: no cycle, no repeat, only depth.
    let read = |p: &str| {
        let depth = p.matches('/').count();
        Ok::<_, String>(format!("include: [d{depth}/next.yaml]\nvars: {{ v{depth}: 1 }}\n"))
    };
    let Err(f) = load("s.yaml", &read, &AnyCatalog, &Overrides::default()) else {
        panic!("a 10,000-deep include chain was accepted")
    };
    let text = f.render(false);
    assert!(text.contains("includes nest more than 32 files deep"), "{text}");
    assert!(text.contains(" --> "), "{text}");
}
