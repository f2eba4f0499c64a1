//! The shipped scenarios end to end against real PostgreSQL containers and the reference
//! lab, with their negative controls: each must pass, leave nothing behind, and each
//! negative control must fail with the right exit code.
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Run {
    code: i32,
    dir: PathBuf,
    report: serde_json::Value,
    _tmp: Option<tempfile::TempDir>,
}

fn run(scenario: &str, vars: &[&str]) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = run_in(tmp.path(), scenario, vars);
    r._tmp = Some(tmp);
    r
}

/// A run id unique among concurrently running tests (it names the run's containers).
fn run_id(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id())
}

/// Runs `scenario` into `<parent>/<unique run id>`.
fn run_in(parent: &Path, scenario: &str, vars: &[&str]) -> Run {
    let bin = Path::new(env!("CARGO_BIN_EXE_testrunner"));
    let bindir = bin.parent().unwrap();
    assert!(
        bindir.join("halab").exists(),
        "halab is not built: run `cargo build --workspace --bins` (scripts/test.sh does)"
    );
    let dir = parent.join(run_id("r"));
    let mut cmd = Command::new(bin);
    cmd.current_dir(root()).arg("run").arg(scenario).arg("--out").arg(&dir).arg("-q").arg("--no-baseline");
    // The selftest scenarios include `../fragments/…`, outside their own directory.
    cmd.arg("--include-root").arg("scenarios");
    for v in vars {
        cmd.arg("--var").arg(v);
    }
    let path = format!("{}:{}", bindir.display(), std::env::var("PATH").unwrap_or_default());
    let out = cmd.env("PATH", path).env("NO_COLOR", "1").output().unwrap();
    let report = std::fs::read_to_string(dir.join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_else(|_| panic!("no report.json; stderr:\n{}", String::from_utf8_lossy(&out.stderr)));
    let code = out.status.code().unwrap_or(-1);
    assert_nothing_left(&dir);
    Run { code, dir, report, _tmp: None }
}

/// No container of this run exists any more, and none is paused.
fn assert_nothing_left(dir: &Path) {
    let run_id = dir.file_name().unwrap().to_string_lossy().to_string();
    let out =
        Command::new("docker").args(["ps", "-a", "--format", "{{.Names}} {{.State}}"]).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    let ours: Vec<&str> = listing
        .lines()
        .filter(|l| l.split_whitespace().next().is_some_and(|n| n.ends_with(&format!("-{run_id}"))))
        .collect();
    assert!(ours.is_empty(), "containers left behind: {ours:?}");
}

fn check(r: &Run, id: &str) -> String {
    r.report["checks"].as_array().unwrap().iter().find(|c| c["decl"]["id"] == id).unwrap()["status"]
        .as_str()
        .unwrap()
        .to_string()
}

fn summary(r: &Run) -> String {
    std::fs::read_to_string(r.dir.join("summary.txt")).unwrap_or_default()
}

/// The five VAL slices pass for real, one after another (no other scenario's load skews
/// their timings), and their runs make the VAL26 readiness report ready; with one run
/// removed that slice is MISSING and the report is not ready.
#[test]
fn val13_to_val17_pass_and_their_runs_prove_readiness() {
    let runs = tempfile::tempdir().unwrap();
    for s in ["val13", "val14", "val15", "val16", "val17"] {
        let r = run_in(&runs.path().join(s), &format!("scenarios/{s}.yaml"), &[]);
        assert_eq!(r.code, 0, "{s}:\n{}", summary(&r));
        if s == "val17" {
            assert_val17_evidence_and_timing(&r);
        }
    }
    let readiness = |out: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_testrunner"))
            .current_dir(root())
            .args(["readiness", "readiness/ha.yaml", "--runs"])
            .arg(runs.path())
            .arg("--out")
            .arg(runs.path().join(out))
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).to_string())
    };
    let (code, text) = readiness("ready");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Verdict: HA DESIGN PARTNER READY"), "{text}");
    assert!(!text.contains("MISSING"), "{text}");
    std::fs::remove_dir_all(runs.path().join("val15")).unwrap();
    let (code, text) = readiness("missing");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("MISSING"), "{text}");
    assert!(!text.contains("Verdict: HA DESIGN PARTNER READY"), "{text}");
}

/// The seed's VAL17 evidence files (`val17-report.*` are the engine's, not the scenario's).
const VAL17_EVIDENCE: &[&str] = &[
    "val17-pg-setup.txt",
    "val17-ha-server.log",
    "val17-01-baseline.json",
    "val17-01-baseline.txt",
    "val17-01-baseline-check.txt",
    "val17-02-quorum-lost.json",
    "val17-02-quorum-lost.txt",
    "val17-03-loss-timing.txt",
    "val17-04-write-block-check.txt",
    "val17-05-loss-reason.txt",
    "val17-06-quorum-recovered.json",
    "val17-06-quorum-recovered.txt",
    "val17-07-recovery-timing.txt",
    "val17-08-recovery-check.txt",
    "val17-09-second-loss.json",
    "val17-09-second-recovery.json",
    "val17-09-count-check.txt",
    "val17-10-audit-lost.json",
    "val17-10-audit-restored.json",
    "val17-10-audit-check.txt",
];

fn evidence(r: &Run, f: &str) -> String {
    std::fs::read_to_string(r.dir.join("evidence").join(f)).unwrap_or_else(|e| panic!("evidence {f}: {e}"))
}

fn metric(r: &Run, name: &str) -> serde_json::Value {
    r.report["metrics"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap()["value"].clone()
}

/// VAL17's evidence files exist with the seed's contents, and its loss timing agrees with an
/// independent measurement.
fn assert_val17_evidence_and_timing(r: &Run) {
    for f in VAL17_EVIDENCE {
        assert!(r.dir.join("evidence").join(f).exists(), "evidence {f} missing");
    }
    // The HA node's own log, one session for all phases.
    let log = evidence(r, "val17-ha-server.log");
    assert!(log.contains("quorum monitor started") && log.contains("quorum lost: "), "{log}");
    // "ha quorum status CLI output": one `key: value` line per field.
    assert!(evidence(r, "val17-01-baseline.txt")
        .starts_with("quorum_health: healthy\nwrite_block_active: false\n"));
    let lost = evidence(r, "val17-02-quorum-lost.txt");
    assert!(
        lost.starts_with(
            "quorum_health: lost\nwrite_block_active: true\ncan_accept_protected_writes: false\n"
        ),
        "{lost}"
    );
    assert!(lost.contains("\ndetected_loss_count: 1\n"), "{lost}");
    assert!(evidence(r, "val17-06-quorum-recovered.txt").starts_with("quorum_health: healthy\n"));
    assert_eq!(
        evidence(r, "val17-01-baseline-check.txt"),
        "quorum_health=healthy write_block_active=False\n"
    );
    assert_eq!(
        evidence(r, "val17-04-write-block-check.txt"),
        "write_block_active=True can_accept_protected_writes=False\n"
    );
    // The write-gate probe (extra evidence): refused because of the block.
    let probe = evidence(r, "val17-04-write-gate-probe.txt");
    assert!(
        probe.contains(" status=503 ") && probe.contains(r#""error":"write blocked: quorum lost""#),
        "{probe}"
    );
    assert_eq!(evidence(r, "val17-03-loss-timing.txt"), format!("loss_ms={}\n", metric(r, "loss_ms")));
    assert_eq!(evidence(r, "val17-09-count-check.txt"), "detected_loss_count=2\n");
    // Independent measurement: the lab's own audit record of the moment it saw the loss,
    // against the wall-clock start of `docker stop`.
    let steps = r.report["steps"].as_array().unwrap();
    let stop = steps.iter().find(|s| s["step"] == "stop_pg").unwrap();
    let stop_at = chrono::DateTime::parse_from_rfc3339(stop["started_at"].as_str().unwrap()).unwrap();
    let audit: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(r.dir.join("evidence/val17-10-audit-lost.json")).unwrap(),
    )
    .unwrap();
    let first_loss = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap())
        .min()
        .unwrap();
    let independent_ms = (first_loss - stop_at).num_milliseconds();
    let metric = metric(r, "loss_ms").as_i64().unwrap();
    let poll_interval_ms = 200;
    assert!(
        (metric - independent_ms).abs() <= poll_interval_ms + 10,
        "runner says loss_ms={metric}, the lab's audit log says {independent_ms} ms"
    );
}

/// A monitor that never runs: the loss is never detected. As in the seed, the detection
/// timeout is not a harness error: loss_ms is 99999, the evidence is written, the later
/// phases run, and the timing check FAILs (not errors) along with write blocking.
#[test]
fn val17_negative_control_monitor_disabled_fails_write_blocking() {
    // The loss is never seen: each poll waits out its timeout, kept short here.
    let r = run("scenarios/val17.yaml", &["monitor_interval=0", "detect_timeout=5s"]);
    assert_eq!(r.code, 1, "{}", summary(&r));
    assert_eq!(check(&r, "VAL17-04"), "fail", "{}", summary(&r));
    assert_eq!(check(&r, "VAL17-03"), "fail", "{}", summary(&r));
    assert_eq!(check(&r, "VAL17-02"), "fail", "{}", summary(&r));
    assert_eq!(r.report["verdict"], "FAIL");
    assert_eq!(metric(&r, "loss_ms"), 99999);
    assert_eq!(evidence(&r, "val17-03-loss-timing.txt"), "loss_ms=99999\n");
    assert_eq!(
        evidence(&r, "val17-04-write-block-check.txt"),
        "write_block_active=False can_accept_protected_writes=True\n"
    );
    // The later phases still ran: their checks are judged, none is an error.
    for id in ["VAL17-06", "VAL17-07", "VAL17-08", "VAL17-09", "VAL17-10"] {
        assert_ne!(check(&r, id), "error", "{id}: {}", summary(&r));
    }
    assert_eq!(check(&r, "VAL17-09"), "fail");
    for f in VAL17_EVIDENCE {
        assert!(r.dir.join("evidence").join(f).exists(), "evidence {f} missing");
    }
}

/// The write-gate probe must see the gate refuse *because of the block* (the body, not just
/// a 503, which a dead database also gives); and it can be turned off, leaving VAL17-04
/// exactly the seed's check.
#[test]
fn val17_write_gate_probe_checks_the_reason_and_is_opt_out() {
    // Negative control: the same lab, but the probe expects another reason for the 503.
    let r = run("scenarios/val17.yaml", &["write_gate_blocked_error=database:"]);
    assert_eq!(r.code, 1, "{}", summary(&r));
    assert_eq!(check(&r, "VAL17-04"), "fail", "{}", summary(&r));
    assert_eq!(r.report["verdict"], "FAIL", "VAL17-04 is mandatory");
    // The seed's own evidence still says the status fields were right.
    assert_eq!(
        evidence(&r, "val17-04-write-block-check.txt"),
        "write_block_active=True can_accept_protected_writes=False\n"
    );
    // Off: no probe, no probe evidence, and the run passes on the seed's fields alone.
    let r = run("scenarios/val17.yaml", &["write_gate_url="]);
    assert_eq!(r.code, 0, "{}", summary(&r));
    assert_eq!(check(&r, "VAL17-04"), "pass");
    assert!(!r.dir.join("evidence/val17-04-write-gate-probe.txt").exists());
    assert!(!r.dir.join("evidence/val17-04-write-gate-probe.json").exists());
}

#[test]
fn val13_negative_control_follower_that_never_takes_over() {
    // A lease that outlives the step's deadline: after SIGKILL no follower can take over in time.
    let r = run("scenarios/val13.yaml", &["lease_ttl=60s"]);
    assert_eq!(r.code, 1, "{}", summary(&r));
    assert_ne!(check(&r, "VAL13-05"), "pass", "{}", summary(&r));
}

#[test]
fn val14_negative_control_unreachable_drain_target() {
    let r = run("scenarios/val14.yaml", &["heavy_drain_target_ms=0"]);
    assert_eq!(r.code, 1, "{}", summary(&r));
    assert_eq!(check(&r, "VAL14-06"), "fail", "{}", summary(&r));
}

#[test]
fn val15_negative_control_a_damaged_restore_is_caught() {
    // One payload value changed in the restored database, after the restore reported success.
    let r = run(
        "scenarios/val15.yaml",
        &["restored_fault_sql=UPDATE lab_writes SET value = 'damaged' WHERE id = 500"],
    );
    assert_eq!(r.code, 1, "{}", summary(&r));
    assert_eq!(check(&r, "VAL15-06"), "fail", "{}", summary(&r));
    assert_eq!(check(&r, "VAL15-08"), "fail", "{}", summary(&r));
    assert_eq!(check(&r, "VAL15-07"), "pass", "row counts alone cannot see it");
}

#[test]
fn val16_negative_control_a_lab_that_stays_fenced_fails_recovery() {
    // Detection and fencing work, but no node re-takes the lease within the recovery budget.
    let r = run("scenarios/val16.yaml", &["fence_hold=10m"]);
    assert_eq!(r.code, 1, "{}", summary(&r));
    assert_eq!(check(&r, "VAL16-04"), "pass", "{}", summary(&r));
    assert_ne!(check(&r, "VAL16-07"), "pass", "{}", summary(&r));
    assert_ne!(check(&r, "VAL16-08"), "pass", "{}", summary(&r));
}

#[test]
fn d31_local_passes_with_zero_acknowledged_rows_lost() {
    let r = run("scenarios/d31-local.yaml", &["rows=400000"]);
    assert_eq!(r.code, 0, "{}", summary(&r));
    let v = r.report["steps"].as_array().unwrap().iter().find(|s| s["step"] == "verify_check").unwrap()
        ["result"]
        .clone();
    assert_eq!(v["lost"], 0);
    assert!(v["acknowledged"].as_u64().unwrap() > 0);
    assert_eq!(v["identity"], "id+batch");
    // The writers follow the promotion (a read-write multi-host URL, as CNPG's -rw
    // service): rows are acknowledged by the new primary too, and verified there.
    let step =
        |id: &str| r.report["steps"].as_array().unwrap().iter().find(|s| s["step"] == id).unwrap().clone();
    let (pool, promoted) = (step("writers_pool"), step("promote_standby"));
    let promoted_at = promoted["finished_ms"].as_u64().unwrap();
    let after =
        pool["result"]["acks"].as_array().unwrap().iter().filter(|a| a[0].as_u64() >= Some(promoted_at));
    assert!(after.count() > 0, "no write acknowledged after the promotion: {}", pool["result"]["acks"]);
    // The pool's own outage figure is the failover: it opens before the kill and closes
    // once the promoted standby acknowledges.
    let killed_at = step("region_kill")["started_ms"].as_u64().unwrap();
    let o = &pool["result"];
    assert!(o["outage_start_ms"].as_u64().unwrap() <= killed_at + 100, "{o}");
    assert!(o["outage_end_ms"].as_u64().is_some_and(|e| e > killed_at), "{o}");
    assert_eq!(metric(&r, "write_outage_ms").as_f64(), o["outage_ms"].as_f64());
    // The HTML shows the write rate with the kill and the promotion marked, and the RTO.
    let html = std::fs::read_to_string(r.dir.join("report.html")).unwrap();
    assert!(html.contains("Write rate — writers_pool"));
    assert!(html.contains(">kill<") && html.contains(">promote<"), "kill and promotion marks");
    assert!(html.contains("RTO "));
}

#[test]
fn d31_negative_control_async_standby_loses_acknowledged_rows() {
    let r = run("scenarios/selftest/d31-async-loss.yaml", &[]);
    assert_eq!(r.code, 1, "{}", summary(&r));
    assert_eq!(check(&r, "D31-FLOOR"), "fail", "{}", summary(&r));
    // At least the rows committed after the freeze (2,000, less the batches in flight).
    let v = &r.report["steps"].as_array().unwrap().iter().find(|s| s["step"] == "verify_check").unwrap()
        ["result"];
    assert!(v["lost"].as_u64().unwrap() >= 1000, "{v}");
}

/// A slow failover, not a missing one: the standby is promoted and no acknowledged row is
/// lost, but only after the RTO deadline, so the timing check alone fails (exit 2).
#[test]
fn d31_negative_control_a_slow_promotion_trips_the_rto_timing() {
    let r = run("scenarios/d31-local.yaml", &["rows=200000", "rto_deadline=2s", "promote_delay=3s"]);
    assert_eq!(r.code, 2, "{}", summary(&r));
    assert_eq!(check(&r, "D31-RTO"), "fail", "{}", summary(&r));
    assert_eq!(check(&r, "D31-FLOOR"), "pass", "{}", summary(&r));
    assert!(metric(&r, "rto_ms").as_u64().unwrap() >= 3000, "{}", summary(&r));
}

#[test]
fn d31_negative_control_withheld_promotion_trips_rto() {
    let r = run("scenarios/selftest/d31-no-promote.yaml", &[]);
    assert_eq!(r.code, 2, "{}", summary(&r));
    assert_eq!(check(&r, "D31-RTO"), "fail", "{}", summary(&r));
}

#[test]
fn docker_lifecycle_against_the_real_daemon() {
    let r = run("runner/tests/scenarios/docker-lifecycle.yaml", &[]);
    assert_eq!(r.code, 0, "{}", summary(&r));
}

#[test]
fn a_scenario_failing_midway_leaves_no_container_and_none_paused() {
    let r = run("runner/tests/scenarios/docker-fails-midway.yaml", &[]);
    assert_eq!(r.code, 1, "{}", summary(&r));
    let undo = r.report["undo"].as_array().unwrap();
    assert!(undo.iter().all(|u| u["ok"] == true), "{undo:?}");
    let keys: Vec<&str> = undo.iter().map(|u| u["key"].as_str().unwrap()).collect();
    assert!(keys.iter().any(|k| k.starts_with("docker.paused:")), "{keys:?}");
    let out = Command::new("docker").args(["ps", "-a", "--format", "{{.Names}}"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("trtest-midway-"), "containers left behind");
}

#[test]
fn a_val17_baseline_catches_a_deliberately_slowed_run() {
    let base = run("scenarios/val17.yaml", &[]);
    assert_eq!(base.code, 0, "{}", summary(&base));
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("val17.yaml");
    let bin = env!("CARGO_BIN_EXE_testrunner");
    let o = Command::new(bin)
        .args(["baseline", "record"])
        .arg(&base.dir)
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    // A quorum monitor six times slower: loss and recovery detection regress.
    let bindir = Path::new(bin).parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join(run_id("s"));
    let o = Command::new(bin)
        .current_dir(root())
        .args(["run", "scenarios/val17.yaml", "-q", "--var", "monitor_interval=3s", "--baseline"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .env("PATH", format!("{}:{}", bindir.display(), std::env::var("PATH").unwrap_or_default()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("REGRESSION loss_ms") || text.contains("REGRESSION recovery_ms"), "{text}");
    let line = text.lines().find(|l| l.starts_with("VAL17-03 ")).unwrap_or("");
    assert!(line.contains("PASS"), "the functional checks still pass: {text}");
    // The same regression is a failed check in every report.
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    assert!(read("junit.xml").contains("BASELINE-") && read("junit.xml").contains("REGRESSION"));
    assert!(read("report.html").contains("REGRESSION"));
    let report: serde_json::Value = serde_json::from_str(&read("report.json")).unwrap();
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["decl"]["id"].as_str().unwrap())
        .collect();
    assert!(failed.iter().all(|id| id.starts_with("BASELINE-")) && !failed.is_empty(), "{failed:?}");
    assert_nothing_left(&out);
}

#[test]
fn negative_control_a_deleted_acknowledged_row_is_caught() {
    let r = run("runner/tests/scenarios/zero-loss-deleted-row.yaml", &[]);
    assert_eq!(r.code, 1, "{}", summary(&r));
    assert_eq!(check(&r, "ZL-00"), "pass", "{}", summary(&r));
    assert_eq!(check(&r, "ZL-01"), "pass", "{}", summary(&r));
    assert_eq!(check(&r, "ZL-02"), "fail", "{}", summary(&r));
    let v = r.report["steps"].as_array().unwrap().iter().find(|s| s["step"] == "after").unwrap()["result"]
        .clone();
    assert_eq!(v["lost"], 1);
    assert_eq!(v["lost_ids"], serde_json::json!([2500]));
}
