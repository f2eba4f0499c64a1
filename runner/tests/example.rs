//! The README's first scenario (scenarios/examples/http-service.yaml) runs as shipped:
//! process.spawn, http.get + until, exec, file.read and file.grep against a real server.
use std::path::Path;
use std::process::Command;

#[test]
fn the_shipped_example_passes_and_leaves_no_process() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(["run", "scenarios/examples/http-service.yaml", "-q", "--no-baseline", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report}");
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4);
    assert!(checks.iter().all(|c| c["status"] == "pass"), "{report}");
    // The spawned server was killed by the undo stack.
    let web = report["steps"].as_array().unwrap().iter().find(|s| s["step"] == "web").unwrap();
    let pid = web["result"]["pid"].as_i64().unwrap();
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "web server {pid} still running");
}
