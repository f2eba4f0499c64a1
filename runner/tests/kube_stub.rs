//! Every kube.* action, run from a scenario (tests/scenarios/kube-stub.yaml) against the
//! STUB kubectl (tests/stubs/kubectl). There is no Kubernetes API server here; the stub
//! records argument vectors and keeps objects in a JSON file.
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(seed: serde_json::Value) -> (i32, serde_json::Value, Vec<Vec<String>>, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.json");
    std::fs::write(&state, serde_json::json!({"objects": seed, "pending": {}}).to_string()).unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = tmp.path().join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .args(["run", "-q", "--no-baseline", "--out"])
        .arg(&out_dir)
        .arg(here.join("tests/scenarios/kube-stub.yaml"))
        .env("TESTRUNNER_KUBECTL", here.join("../tests/stubs/kubectl"))
        .env("KUBECTL_STUB_STATE", &state)
        .env("KUBECTL_STUB_LOG", tmp.path().join("argv.jsonl"))
        .output()
        .unwrap();
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    let report = serde_json::from_str(&read(out_dir.join("report.json"))).unwrap();
    let argv =
        read(tmp.path().join("argv.jsonl")).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let state = serde_json::from_str(&read(state)).unwrap();
    (out.status.code().unwrap_or(-1), report, argv, state)
}

#[test]
fn every_kube_action_runs_from_a_scenario_and_the_scale_is_undone() {
    let (code, report, argv, state) = run(serde_json::json!({}));
    assert_eq!(code, 0, "{report}");
    let has = |want: &[&str]| argv.iter().any(|c| want.iter().all(|w| c.iter().any(|a| a == w)));
    assert!(has(&["apply", "-f", "-", "--namespace=ha"]));
    assert!(has(&["get", "configmap", "--selector=app=ha", "-o=json"]));
    assert!(has(&["scale", "deployment/ha-server", "--replicas=0"]));
    assert!(has(&["patch", "configmap", "ha-config", "--type", "json"]));
    assert!(has(&["delete", "configmap", "ha-config", "--ignore-not-found=true"]));
    // The undo stack scaled the deployment back, after the phases.
    assert_eq!(argv.last().unwrap()[2..], ["scale", "deployment/ha-server", "--replicas=2"]);
    assert_eq!(state["objects"]["deployment/ha/ha-server"]["spec"]["replicas"], 2);
}

/// Negative control: a second object with the same label must trip the list checks.
#[test]
fn a_stray_object_fails_the_list_checks() {
    let stray = serde_json::json!({"configmap/ha/stray": {"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "stray", "namespace": "ha", "labels": {"app": "ha"}}}});
    let (code, report, _, _) = run(stray);
    assert_eq!(code, 1, "{report}");
    let status = |id: &str| {
        let c = report["checks"].as_array().unwrap().iter().find(|c| c["decl"]["id"] == id).unwrap();
        c["status"].as_str().unwrap().to_string()
    };
    assert_eq!((status("K1").as_str(), status("K4").as_str()), ("fail", "fail"));
    assert_eq!((status("K2").as_str(), status("K3").as_str()), ("pass", "pass"));
}
