//! Baselines (record, compare, regression fails the run) and `plan` (read-only).
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tr(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios").join(name).to_string_lossy().to_string()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn a_recorded_baseline_catches_a_slowed_run_and_passes_a_normal_one() {
    let d = tempfile::tempdir().unwrap();
    let s = scenario("timed.yaml");
    for i in 0..2 {
        let out = d.path().join(format!("base{i}"));
        let o = tr(&["run", &s, "-q", "--out", out.to_str().unwrap()], d.path());
        assert_eq!(o.status.code(), Some(0));
    }
    let o = tr(&["baseline", "record", "base0", "base1"], d.path());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let file = d.path().join("baselines/timed.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("work_time_ms") && text.contains("samples"), "{text}");

    // A run three times slower: the regression fails it, with a readable line in every report.
    let slow = d.path().join("slow");
    let o = tr(&["run", &s, "-q", "--var", "work_ms=400", "--out", slow.to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(summary.contains("REGRESSION work_time_ms"), "{summary}");
    let junit = std::fs::read_to_string(slow.join("junit.xml")).unwrap();
    assert!(junit.contains("BASELINE-work_time_ms") && junit.contains("REGRESSION"), "{junit}");
    let html = std::fs::read_to_string(slow.join("report.html")).unwrap();
    assert!(html.contains("REGRESSION work_time_ms"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(slow.join("report.json")).unwrap()).unwrap();
    let c = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["decl"]["id"] == "BASELINE-work_time_ms")
        .unwrap()
        .clone();
    assert_eq!(c["status"], "fail");

    // Within tolerance: passes, and the comparison is still reported.
    let ok = d.path().join("ok");
    let o = tr(&["run", &s, "-q", "--var", "work_ms=110", "--out", ok.to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("work_time_ms:"));

    // --no-baseline skips the comparison.
    let o = tr(
        &[
            "run",
            &s,
            "-q",
            "--no-baseline",
            "--var",
            "work_ms=400",
            "--out",
            d.path().join("nb").to_str().unwrap(),
        ],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(0));

    // A baseline without a value for a metric that has a `regression:` rule cannot judge
    // it: that is an error that fails the run, never a comparison silently skipped.
    std::fs::write(&file, text.replace("work_time_ms:", "other_metric_ms:")).unwrap();
    let stale = d.path().join("stale");
    let o = tr(&["run", &s, "-q", "--out", stale.to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("the baseline has no value"));
}

#[test]
fn a_baseline_is_not_recorded_from_runs_of_different_fingerprints_unless_allowed() {
    let d = tempfile::tempdir().unwrap();
    let s = scenario("timed.yaml");
    for (dir, work) in [("a", "100"), ("b", "101")] {
        let out = d.path().join(dir);
        let o = tr(
            &["run", &s, "-q", "--var", &format!("work_ms={work}"), "--out", out.to_str().unwrap()],
            d.path(),
        );
        assert_eq!(o.status.code(), Some(0));
    }
    let o = tr(&["baseline", "record", "a", "b"], d.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("different scenario fingerprints: a (fingerprint ") && err.contains(", b (fingerprint "),
        "{err}"
    );
    assert!(err.contains("--allow-mixed"), "{err}");
    assert!(!d.path().join("baselines/timed.yaml").exists());
    let o = tr(&["baseline", "record", "a", "b", "--allow-mixed"], d.path());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d.path().join("baselines/timed.yaml").exists());
}

#[test]
fn a_baseline_is_only_recorded_from_passing_runs() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("fail");
    let o = tr(&["run", &scenario("hung-endpoint.yaml"), "-q", "--out", f.to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(1));
    let o = tr(&["baseline", "record", "fail"], d.path());
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did not pass"));
}

#[test]
fn plan_changes_nothing_and_its_fingerprint_is_stable() {
    let d = tempfile::tempdir().unwrap();
    let s = scenario("timed.yaml");
    let a = tr(&["plan", &s], d.path());
    let b = tr(&["plan", &s], d.path());
    assert_eq!(a.status.code(), Some(0), "{}", String::from_utf8_lossy(&a.stderr));
    let fp = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find(|l| l.starts_with("Fingerprint:"))
            .unwrap()
            .to_string()
    };
    assert_eq!(fp(&a), fp(&b));
    // Nothing ran: no run directory, and the `exec: touch` never happened.
    assert!(!d.path().join("runs").exists());
    let text = String::from_utf8_lossy(&a.stdout);
    assert!(text.contains("touch") && text.contains("<run-dir>/touched"), "{text}");
    let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
    assert!(left.is_empty(), "plan wrote into its working directory: {left:?}");
}

#[test]
fn plan_of_every_shipped_scenario_mutates_no_container() {
    let before = Command::new("docker").args(["ps", "-aq"]).output().unwrap().stdout;
    // d31 talks to Kubernetes: the kubectl STUB logs every call, and plan may only read.
    let d = tempfile::tempdir().unwrap();
    let kube_log = d.path().join("argv.jsonl");
    let closed = "postgres://app@127.0.0.1:1/app";
    let loopback_urls =
        ["--var".to_string(), format!("writer_url={closed}"), "--var".into(), format!("verify_url={closed}")];
    for s in ["val13", "val14", "val15", "val16", "val17", "d31-local", "d31"] {
        let o = Command::new(env!("CARGO_BIN_EXE_testrunner"))
            .args(["plan", &format!("scenarios/{s}.yaml")])
            // d31's default URLs name cluster services; point them at a closed loopback port.
            .args(if s == "d31" { loopback_urls.as_slice() } else { &[] })
            .current_dir(root())
            .env("NO_COLOR", "1")
            .env("TESTRUNNER_KUBECTL", root().join("tests/stubs/kubectl"))
            .env("KUBECTL_STUB_STATE", d.path().join("state.json"))
            .env("KUBECTL_STUB_LOG", &kube_log)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("Fingerprint:") && out.contains("Worst case:"), "{s}: {out}");
        assert!(matches!(o.status.code(), Some(0) | Some(3)), "{s}");
    }
    let after = Command::new("docker").args(["ps", "-aq"]).output().unwrap().stdout;
    assert_eq!(before, after, "plan created or removed containers");
    let calls = std::fs::read_to_string(&kube_log).unwrap_or_default();
    assert!(!calls.is_empty(), "plan did not probe the kubectl context");
    for verb in ["patch", "apply", "delete", "scale"] {
        assert!(!calls.contains(&format!("\"{verb}\"")), "plan ran kubectl {verb}: {calls}");
    }
}

#[test]
fn plan_reports_a_missing_image_as_a_blocker() {
    let o =
        tr(&["plan", "scenarios/val17.yaml", "--var", "pg_image=testrunner-no-such-image:latest"], &root());
    assert_eq!(o.status.code(), Some(3));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("BLOCKER") && out.contains("testrunner-no-such-image"), "{out}");
}

#[test]
fn a_blocked_preflight_never_runs() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("run");
    let o = tr(
        &["run", &scenario("preflight-blocked.yaml"), "--preflight", "--out", out.to_str().unwrap()],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("testrunner-no-such-image"));
    assert!(!out.exists(), "a blocked preflight created the run directory");
    // Without --preflight the same scenario runs (and fails at the docker step): the touch ran.
    let o = tr(&["run", &scenario("preflight-blocked.yaml"), "-q", "--out", out.to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(out.join("touched").exists());
}

#[test]
fn run_refuses_a_scenario_that_changed_since_its_plan() {
    let d = tempfile::tempdir().unwrap();
    let s = scenario("timed.yaml");
    let plan = tr(&["plan", &s], d.path());
    let fp = String::from_utf8_lossy(&plan.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Fingerprint: ").map(|f| f.trim().to_string()))
        .unwrap();
    let run = |extra: &[&str], name: &str| {
        let out = d.path().join(name);
        let mut args = vec![
            "run",
            s.as_str(),
            "-q",
            "--expect-fingerprint",
            fp.as_str(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        tr(&args, d.path())
    };
    assert_eq!(run(&[], "same").status.code(), Some(0));
    // A var is part of what was reviewed: another value is another plan.
    let o = run(&["--var", "work_ms=5"], "changed");
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not the one that was planned"));
    assert!(!d.path().join("changed").exists());
}

#[test]
fn a_password_inside_a_connection_string_is_masked_everywhere() {
    let d = tempfile::tempdir().unwrap();
    let s = scenario("embedded-password.yaml");
    let plan = tr(&["plan", &s], d.path());
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("postgres://app:****@127.0.0.1:1/app"), "{text}");
    let out = d.path().join("run");
    let o = tr(&["run", &s, "--out", out.to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let mut seen =
        vec![String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string()];
    for f in ["journal.jsonl", "report.json", "junit.xml", "report.html", "summary.txt", "scenario.yaml"] {
        seen.push(std::fs::read_to_string(out.join(f)).unwrap());
    }
    for (i, t) in seen.iter().enumerate() {
        assert!(!t.contains("n0t-declared-pw"), "output {i} leaks the password");
    }
    assert!(seen[2].contains("app:****@"), "the echo is in the journal, masked");
}

#[test]
fn plan_finds_a_program_that_does_not_exist() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("s.yaml");
    std::fs::write(
        &f,
        "phases:\n  - name: p\n    steps:\n      - exec: { argv: [testrunner-no-such-program, x] }\n      - exec: { argv: [/no/such/tool] }\n      - exec: { argv: [\"echo $HOME\"], shell: true }\n",
    )
    .unwrap();
    let o = tr(&["plan", f.to_str().unwrap()], d.path());
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{text}");
    assert!(text.contains("BLOCKER  p_1: `testrunner-no-such-program` is not on PATH"), "{text}");
    assert!(text.contains("BLOCKER  p_2: `/no/such/tool` does not exist"), "{text}");
    assert!(text.contains("2 blockers, 0 warnings"), "a shell script is not a program: {text}");
}
