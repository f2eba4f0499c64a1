//! Cleanup on every exit path: process groups (grandchildren die with their parent's
//! undo), background `exec` ended by `stop:` and by its phase's end, and after a SIGKILL
//! of the runner, `testrunner cleanup` replaying the write-ahead journal.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_testrunner")
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios").join(name)
}

/// Alive and not a zombie.
fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"))
}

fn gone_within(pid: i64, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn grandchild_pid(log: &Path) -> i64 {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("grandchild=")).expect("grandchild pid in log");
    line.trim().parse().unwrap()
}

fn pidfile(p: &Path) -> i64 {
    std::fs::read_to_string(p).unwrap().trim().parse().unwrap()
}

fn kill(pid: i64) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
}

#[test]
fn a_passing_run_leaves_no_grandchild_and_background_exec_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let t = Instant::now();
    let o = Command::new(bin())
        .arg("run")
        .arg(scenario("grandchild.yaml"))
        .arg("--out")
        .arg(&out)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let gc = grandchild_pid(&out.join("evidence/parent.log"));
    let (bg, bg2) = (pidfile(&out.join("bg.pid")), pidfile(&out.join("bg2.pid")));
    let left: Vec<i64> = [gc, bg, bg2].into_iter().filter(|p| alive(*p)).collect();
    left.iter().for_each(|p| kill(*p));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        left.is_empty(),
        "grandchildren {left:?} outlived a passing run (parent's {gc}, exec's {bg}, {bg2})"
    );
    // Two background steps of 20 s each, ended by `stop:` and by their phase's end.
    assert!(t.elapsed() < Duration::from_secs(15), "took {:?}", t.elapsed());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let steps = report["steps"].as_array().unwrap();
    for id in ["bg", "bg2"] {
        let s = steps.iter().find(|s| s["step"] == id).unwrap();
        assert_eq!(s["ok"], true, "{s}");
        assert_eq!(s["result"]["stopped"], true, "{s}");
    }
    let undo = report["undo"].as_array().unwrap();
    assert!(undo.iter().any(|u| u["key"] == "process:parent" && u["ok"] == true), "{undo:?}");
    assert!(report.get("pending_undo").is_none(), "{report}");
}

fn docker_ready() -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-image.sh");
    Command::new(script).output().is_ok_and(|o| o.status.success())
}

fn container_exists(name: &str) -> bool {
    Command::new("docker").args(["inspect", name]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn after_sigkill_the_report_lists_pending_cleanup_and_cleanup_undoes_it() {
    assert!(docker_ready(), "Docker and scripts/build-image.sh are needed");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run1");
    let name = format!("tr-leftover-{}-{}", std::process::id(), chrono::Utc::now().timestamp_millis());
    let mut child = Command::new(bin())
        .arg("run")
        .arg(scenario("leftovers.yaml"))
        .args(["--out"])
        .arg(&out)
        .args(["--var", &format!("container={name}")])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !std::fs::read_to_string(out.join("journal.jsonl"))
        .is_ok_and(|j| j.contains(r#""event":"step_started","step":"wait""#))
    {
        assert!(t.elapsed() < Duration::from_secs(60), "the run did not reach `wait`");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no cleanup at all
    child.wait().unwrap();
    let gc = grandchild_pid(&out.join("evidence/parent.log"));
    let cleanup_anyway = |name: &str| {
        kill(gc);
        let _ = Command::new("docker").args(["rm", "-f", name]).output();
    };
    if !alive(gc) || !container_exists(&name) {
        cleanup_anyway(&name);
        panic!("the SIGKILLed run should have left its grandchild {gc} and container {name} behind");
    }
    // The rebuilt report lists both as pending.
    let rep = Command::new(bin()).arg("report").arg(&out).env("NO_COLOR", "1").output().unwrap();
    let text = String::from_utf8_lossy(&rep.stdout).to_string();
    let listed = text.contains("PENDING       kill process parent")
        && text.contains(&format!("remove container {name}"));
    // A later run of the same scenario (same parent directory) warns about it; this one
    // stops right after, at its occupied --out.
    let occupied = dir.path().join("run2");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("x"), "").unwrap();
    let later = Command::new(bin())
        .arg("run")
        .arg(scenario("leftovers.yaml"))
        .arg("--out")
        .arg(&occupied)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let later_err = String::from_utf8_lossy(&later.stderr).to_string();
    let cleaned = Command::new(bin()).arg("cleanup").arg(&out).env("NO_COLOR", "1").output().unwrap();
    let gc_gone = gone_within(gc, Duration::from_secs(10));
    let box_gone = !container_exists(&name);
    cleanup_anyway(&name);
    assert!(listed, "report does not list the pending entries:\n{text}");
    assert!(
        later_err.contains("an earlier run left 2 change(s) pending")
            && later_err.contains("testrunner cleanup"),
        "{later_err}"
    );
    assert_eq!(
        cleaned.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&cleaned.stdout),
        String::from_utf8_lossy(&cleaned.stderr)
    );
    assert!(gc_gone, "grandchild {gc} survived `testrunner cleanup`");
    assert!(box_gone, "container {name} survived `testrunner cleanup`");
    // Idempotent: nothing is left to do, and the rebuilt report shows nothing pending.
    let again = Command::new(bin()).arg("cleanup").arg(&out).output().unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to clean up"));
    let rep = Command::new(bin()).arg("report").arg(&out).env("NO_COLOR", "1").output().unwrap();
    assert!(!String::from_utf8_lossy(&rep.stdout).contains("PENDING"));
}
