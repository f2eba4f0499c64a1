//! Suites: `testrunner run` over files, directories and globs, with --tags, --jobs,
//! --shard, --fail-fast and --repeat; one combined junit.xml (valid against junit-10.xsd),
//! index.html and report.json at the top of --out; one exit code by the documented rule.
//! The scenarios (tests/suites/) need no Docker: they run in about a second each.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn suites() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suites")
}

fn run(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .current_dir(root())
        .env("NO_COLOR", "1")
        .arg("run")
        .args(args)
        .args(["--no-baseline", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn suite_json(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// (run name, verdict, exit code) of every run, in order.
fn runs(out: &Path) -> Vec<(String, String, Option<i64>)> {
    suite_json(out)["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().into(),
                r["verdict"].as_str().unwrap().into(),
                r["exit_code"].as_i64(),
            )
        })
        .collect()
}

fn xmllint(path: &Path) {
    // ../shared next to the repository (a worktree sits deeper: the nearest ancestor's).
    let xsd = root()
        .ancestors()
        .map(|a| a.join("shared/schemas/junit-10.xsd"))
        .find(|p| p.is_file())
        .expect("shared/schemas/junit-10.xsd next to the repository");
    let o =
        Command::new("xmllint").args(["--noout", "--schema"]).arg(&xsd).arg(path).output().expect("xmllint");
    assert!(o.status.success(), "{} invalid: {}", path.display(), String::from_utf8_lossy(&o.stderr));
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_directory_with_tags_runs_each_scenario_once_with_combined_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("suite");
    let o = run(&[s(&suites()), "--tags", "fast"], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        runs(&out),
        [("pass-a".into(), "PASS".into(), Some(0)), ("pass-b".into(), "PASS".into(), Some(0))]
    );
    // Every run has its own directory and its own run id (scenarios name containers by it).
    let j = suite_json(&out);
    assert_eq!(j["schema"], "testrunner.suite/v1");
    let ids: Vec<&str> =
        j["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert!(ids[0].starts_with("pass-a-") && ids[1].starts_with("pass-b-") && ids[0] != ids[1], "{ids:?}");
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("pass-b/report.json")).unwrap()).unwrap();
    assert_eq!(b["run_id"], ids[1], "the run's own report carries the suite's run id");
    // One combined junit.xml: a <testsuite> per run, valid against the xsd.
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 2, "{junit}");
    assert!(junit.contains(r#"name="pass-a""#) && junit.contains("A-01 napped"), "{junit}");
    xmllint(&out.join("junit.xml"));
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains(r#"href="pass-a/report.html""#) && index.contains(r#"href="pass-b/report.html""#));
    assert!(out.join("pass-a/report.html").is_file());
    assert!(text(&o).contains("2/2 runs passed · exit 0"), "{}", text(&o));
    // --exclude-tags wins over --tags.
    let out2 = tmp.path().join("excluded");
    let o = run(&[s(&suites()), "--tags", "fast", "--exclude-tags", "b"], &out2);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(runs(&out2).len(), 1);
}

#[test]
fn the_exit_code_follows_the_documented_rule() {
    let tmp = tempfile::tempdir().unwrap();
    // Failed runs with different codes (1 and 2): 1.
    let out = tmp.path().join("mixed");
    let o = run(&[s(&suites()), "--tags", "failing"], &out);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        runs(&out),
        [("code2".into(), "FAIL".into(), Some(2)), ("fails".into(), "FAIL".into(), Some(1))]
    );
    xmllint(&out.join("junit.xml"));
    // The failed runs share a code (2): that code, also next to a passing run.
    let out = tmp.path().join("shared");
    let files = [suites().join("code2.yaml"), suites().join("pass-a.yaml")];
    let o = run(&[s(&files[0]), s(&files[1])], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // --fail-fast: nothing starts after the first failure; the rest is reported, skipped.
    let out = tmp.path().join("fast");
    let o = run(&[s(&suites()), "--tags", "failing", "--fail-fast"], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let r = runs(&out);
    assert_eq!(r[1], ("fails".into(), "NOT RUN".into(), None), "{r:?}");
    assert!(!out.join("fails").exists());
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("<skipped") && junit.contains("--fail-fast"), "{junit}");
    xmllint(&out.join("junit.xml"));
}

#[test]
fn jobs_run_scenarios_at_the_same_time() {
    let tmp = tempfile::tempdir().unwrap();
    let meet = tempfile::tempdir().unwrap();
    let dir = format!("dir={}", meet.path().display());
    let pair = suites().join("pair");
    // The two scenarios wait for each other: they pass only when they overlap.
    let out = tmp.path().join("parallel");
    let o = run(&[s(&pair), "--jobs", "2", "--var", &dir], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.join("console/left.txt").is_file(), "parallel runs keep their console in console/");
    // Negative control: one at a time, the first waits in vain.
    let meet = tempfile::tempdir().unwrap();
    let dir = format!("dir={}", meet.path().display());
    let out = tmp.path().join("serial");
    let o = run(&[s(&pair), "--jobs", "1", "--var", &dir, "--var", "wait=500ms"], &out);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(runs(&out)[0].1, "FAIL");
}

#[test]
fn shards_split_the_sorted_list_without_overlap() {
    let tmp = tempfile::tempdir().unwrap();
    let mut seen = vec![];
    for k in 1..=2 {
        let out = tmp.path().join(format!("shard{k}"));
        let shard = format!("{k}/2");
        let o = run(&[s(&suites()), "--exclude-tags", "pair,flaky", "--shard", &shard], &out);
        assert!(matches!(o.status.code(), Some(0..=2)), "{}", text(&o));
        seen.push(runs(&out).into_iter().map(|r| r.0).collect::<Vec<_>>());
    }
    assert_eq!(
        seen,
        [vec!["code2".to_string(), "pass-a".into()], vec!["fails".to_string(), "pass-b".into()]]
    );
    // A shard beyond the list is empty, not a failure; a bad one is refused.
    let o = run(&[s(&suites()), "--tags", "fast", "--shard", "3/3"], &tmp.path().join("empty"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&[s(&suites()), "--shard", "4/3"], &tmp.path().join("bad"));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[test]
fn repeat_reports_pass_rates_and_metric_spread_against_the_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let baseline = tmp.path().join("flaky.yaml");
    std::fs::write(
        &baseline,
        "scenario: flaky\nrecorded_at: 2026-01-01T00:00:00Z\nhost: h\nruns: [a, b]\nmetrics:\n  nap_ms: { unit: ms, samples: [5, 6], median: 5.5, spread: 1 }\n",
    )
    .unwrap();
    let out = tmp.path().join("rep");
    let o = Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .current_dir(root())
        .args([
            "run",
            s(&suites().join("flaky.yaml")),
            "--repeat",
            "3",
            "--baseline",
            s(&baseline),
            "--out",
            s(&out),
        ])
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let names: Vec<String> = runs(&out).into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["flaky.1", "flaky.2", "flaky.3"]);
    let f = &suite_json(&out)["flakiness"][0];
    assert_eq!(f["repeats"], 3);
    assert_eq!(f["passed_runs"], 2);
    let rate = |id: &str| {
        let c = f["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
        (c["passed"].as_u64().unwrap(), c["judged"].as_u64().unwrap())
    };
    assert_eq!(rate("FL-01"), (2, 3));
    assert_eq!(rate("FL-02"), (3, 3));
    let m = &f["metrics"][0];
    assert_eq!((m["name"].as_str(), m["count"].as_u64()), (Some("nap_ms"), Some(3)));
    assert!(m["min"].as_f64() <= m["median"].as_f64() && m["median"].as_f64() <= m["max"].as_f64(), "{m}");
    assert_eq!(m["baseline"]["spread"], 1.0);
    assert!(t.contains("FL-01") && t.contains("2/3 (67%)  FLAKY"), "{t}");
    assert!(t.contains("baseline median 5.5 [5, 6], spread 1 over 2 run(s)"), "{t}");
    assert!(std::fs::read_to_string(out.join("index.html")).unwrap().contains("Flakiness: flaky"));
    xmllint(&out.join("junit.xml"));
}

#[test]
fn an_invalid_file_or_an_undeclared_var_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "phases:\n  - name: p\n    steps:\n      - slep: { duration: 1s }\n").unwrap();
    let out = tmp.path().join("s");
    let o = run(&[s(&suites().join("pass-a.yaml")), s(&bad)], &out);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("nothing was run") && !out.join("pass-a").exists(), "{}", text(&o));
    let o =
        run(&[s(&suites().join("pass-a.yaml")), s(&suites().join("pass-b.yaml")), "--var", "nope=1"], &out);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("no scenario of the suite declares"), "{}", text(&o));
    // A glob that matches nothing is an error, never an empty green suite.
    let glob = format!("{}/*.nothing", suites().display());
    let o = run(&[&glob], &out);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

/// `run scenarios/x.yaml` finds `halab` next to testrunner's own executable, with a PATH
/// that does not have it (as after the README's set-up, without scripts/demo.sh).
#[test]
fn programs_next_to_testrunner_are_found_without_path() {
    let tmp = tempfile::tempdir().unwrap();
    let sc = tmp.path().join("lab.yaml");
    std::fs::write(
        &sc,
        "phases:\n  - name: p\n    steps:\n      - id: v\n        exec: { argv: [halab, --version] }\n      - id: none\n        exec: { argv: [no-such-program-here, --version] }\n        allow_failure: true\n    checks:\n      - { id: LAB, name: halab_found, expect: v.ok && v.stdout.contains('halab') }\n      - { id: NEG, name: others_are_not_invented, expect: '!none.ok' }\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .current_dir(tmp.path())
        .env("PATH", "/usr/bin:/bin")
        .args(["run", "lab.yaml", "--no-baseline", "--out", "r"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// Ctrl-C to a suite reaches every running run once: each cleans up and reports
/// INTERRUPTED, the suite starts nothing more and exits 130.
#[test]
fn sigint_is_passed_on_once_to_every_running_run() {
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    let hold = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/suite-hold.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .args(["run", s(&hold), "--repeat", "3", "--jobs", "2", "--no-baseline", "--out", s(&out)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Bounded wait until both running runs have started holding.
    let t = Instant::now();
    let started = |name: &str| {
        std::fs::read_to_string(out.join(name).join("journal.jsonl"))
            .is_ok_and(|j| j.lines().any(|l| l.contains("\"step_finished\"") && l.contains("\"started\"")))
    };
    while !(started("hold.1") && started("hold.2")) {
        assert!(t.elapsed() < Duration::from_secs(30), "the runs did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the suite did not end after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let r = runs(&out);
    assert_eq!(r[0], ("hold.1".into(), "INTERRUPTED".into(), Some(130)), "{r:?}");
    assert_eq!(r[1], ("hold.2".into(), "INTERRUPTED".into(), Some(130)), "{r:?}");
    assert_eq!(r[2], ("hold.3".into(), "NOT RUN".into(), None), "{r:?}");
    assert_eq!(suite_json(&out)["interrupted"], "SIGINT");
    xmllint(&out.join("junit.xml"));
}
