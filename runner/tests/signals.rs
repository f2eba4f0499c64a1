//! The runner under real signals: SIGINT mid-run cleans up and exits 130; SIGKILL leaves a
//! journal from which `testrunner report` rebuilds every report; a hung endpoint cannot
//! hang a run.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_testrunner")
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios").join(name)
}

fn start(name: &str, out: &Path) -> Child {
    Command::new(bin())
        .arg("run")
        .arg(scenario(name))
        .arg("--out")
        .arg(out)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded) until the journal shows `step` finished; returns its result.
fn wait_for_step(out: &Path, step: &str, limit: Duration) -> serde_json::Value {
    let t = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(out.join("journal.jsonl")) {
            for line in text.lines() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                    if v["event"] == "step_finished" && v["step"] == step {
                        return v["result"].clone();
                    }
                }
            }
        }
        assert!(t.elapsed() < limit, "step {step} did not finish within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> i32 {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("runner did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The process's state letter once it is `want`, or the last one seen when `limit` passes.
fn state_within(pid: i64, want: &str, limit: Duration) -> Option<String> {
    let t = Instant::now();
    loop {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let state = s.split_whitespace().nth(2).map(str::to_string);
        if state.as_deref() == Some(want) || t.elapsed() >= limit {
            return state;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn process_gone(pid: i64, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            // A zombie has exited; only its parent's bookkeeping is left.
            Ok(s) if s.split_whitespace().nth(2) == Some("Z") => return true,
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

#[test]
fn sigint_mid_run_cleans_up_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = start("interrupt.yaml", &out);
    let pid = wait_for_step(&out, "sleeper", Duration::from_secs(20))["pid"].as_i64().unwrap();
    wait_for_step(&out, "freeze", Duration::from_secs(20));
    // kill(SIGSTOP) returns before the kernel has stopped the target: wait (bounded) for it.
    assert_eq!(
        state_within(pid, "T", Duration::from_secs(10)).as_deref(),
        Some("T"),
        "the sleeper is stopped before the interrupt"
    );
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)
        .unwrap();
    let code = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(code, 130);
    assert!(process_gone(pid, Duration::from_secs(10)), "spawned process {pid} was left behind");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["verdict"], "INTERRUPTED");
    assert_eq!(report["interrupted"], "SIGINT");
    let undo = report["undo"].as_array().unwrap();
    assert!(undo.iter().all(|u| u["ok"] == true) && undo.len() >= 2, "{undo:?}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("interrupted"), "{junit}");
    validate_junit(&out.join("junit.xml"));
}

#[test]
fn sigkilled_runner_leaves_a_journal_that_rebuilds_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = start("interrupt.yaml", &out);
    let pid = wait_for_step(&out, "sleeper", Duration::from_secs(20))["pid"].as_i64().unwrap();
    wait_for_step(&out, "freeze", Duration::from_secs(20));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Children die with the runner (PR_SET_PDEATHSIG), even stopped ones.
    assert!(process_gone(pid, Duration::from_secs(10)), "spawned process {pid} outlived a SIGKILLed runner");
    assert!(!out.join("report.json").exists());
    let rebuilt = Command::new(bin()).arg("report").arg(&out).env("NO_COLOR", "1").output().unwrap();
    assert_eq!(rebuilt.status.code(), Some(0), "{}", String::from_utf8_lossy(&rebuilt.stderr));
    let stdout = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(stdout.contains("INCOMPLETE"), "{stdout}");
    for f in ["report.json", "report.html", "junit.xml", "summary.txt", "manifest.json"] {
        assert!(out.join(f).exists(), "{f} missing after rebuild");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["verdict"], "INCOMPLETE");
    let steps = report["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["step"] == "freeze" && s["ok"] == true));
    validate_junit(&out.join("junit.xml"));
}

/// Waits (bounded) until the journal shows `step` started.
fn wait_for_start(out: &Path, step: &str, limit: Duration) {
    let t = Instant::now();
    let needle = format!(r#""event":"step_started","step":"{step}""#);
    while !std::fs::read_to_string(out.join("journal.jsonl")).is_ok_and(|j| j.contains(&needle)) {
        assert!(t.elapsed() < limit, "step {step} did not start within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn second_sigint_during_teardown_kills_its_child_and_still_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = start("abandon.yaml", &out);
    let sleeper = wait_for_step(&out, "sleeper", Duration::from_secs(20))["pid"].as_i64().unwrap();
    wait_for_start(&out, "wait", Duration::from_secs(20));
    let runner = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(runner, nix::sys::signal::Signal::SIGINT).unwrap();
    wait_for_start(&out, "slow_teardown", Duration::from_secs(20));
    let pidfile = out.join("teardown.pid");
    let t = Instant::now();
    while !std::fs::read_to_string(&pidfile).is_ok_and(|s| !s.trim().is_empty()) {
        assert!(t.elapsed() < Duration::from_secs(10), "teardown child did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let grandchild: i64 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(runner, nix::sys::signal::Signal::SIGINT).unwrap();
    let code = wait_exit(&mut child, Duration::from_secs(10));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let survived = !process_gone(grandchild, Duration::from_secs(5));
    if survived {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(grandchild as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(code, 130, "{stderr}");
    assert!(!survived, "the teardown's child {grandchild} outlived the second SIGINT");
    assert!(process_gone(sleeper, Duration::from_secs(5)));
    // The spawned sleeper was undone before the teardown: it is not "left undone".
    let after = stderr.split("again: abandoning cleanup").nth(1).unwrap_or_default();
    assert!(!after.contains("kill process sleeper"), "{stderr}");
    assert!(stderr.contains("nothing was left to undo"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["cleanup_abandoned"], "SIGINT");
    assert_eq!(report["verdict"], "INTERRUPTED");
    assert!(report.get("pending_undo").is_none(), "{report}");
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert!(summary.contains("ABANDONED"), "{summary}");
    validate_junit(&out.join("junit.xml"));
}

#[test]
fn hung_endpoint_cannot_hang_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let t = Instant::now();
    let mut child = start("hung-endpoint.yaml", &out);
    let code = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(code, 1);
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let step = report["steps"].as_array().unwrap().iter().find(|s| s["step"] == "status").unwrap().clone();
    assert_eq!(step["ok"], false);
    let elapsed = step["finished_ms"].as_u64().unwrap() - step["started_ms"].as_u64().unwrap();
    assert!((1400..5000).contains(&elapsed), "ended after {elapsed} ms, deadline 1500 ms");
    let err = step["error"].as_str().unwrap();
    assert!(err.contains("deadline 1500ms exceeded") || err.contains("no response within"), "{err}");
    validate_junit(&out.join("junit.xml"));
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
}

fn validate_junit(path: &Path) {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas/junit-10.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(path)
        .output()
        .expect("xmllint (libxml2-utils)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
