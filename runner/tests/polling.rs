//! Polling against real HTTP servers (python3 -m http.server on free ports): `until` on a
//! failed attempt (wait for down), and concurrent background polls with `wait: { any }`.
use std::path::Path;
use std::process::Command;

fn run(scenario: &str, vars: &[&str]) -> (i32, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("run");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_testrunner"));
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(["run", scenario, "-q", "--no-baseline", "--out"])
        .arg(&out_dir);
    for v in vars {
        cmd.arg("--var").arg(v);
    }
    let out = cmd.output().unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    (out.status.code().unwrap_or(-1), report)
}

fn step<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["steps"].as_array().unwrap().iter().find(|s| s["step"] == id).unwrap()
}

#[test]
fn until_waits_for_a_killed_http_server_to_be_down() {
    let (code, report) = run("scenarios/examples/poll-down.yaml", &[]);
    assert_eq!(code, 0, "{report}");
    let gone = step(&report, "gone");
    assert_eq!(gone["ok"], true, "{gone}");
    // The first failed attempt already satisfies `!gone.ok` (before: 5 s of "did not hold").
    assert!(gone["attempts"].as_u64().unwrap() <= 3, "{gone}");
    assert!(gone["polls"][0]["error"].is_string(), "{gone}");
}

#[test]
fn concurrent_polls_name_the_survivor_that_became_primary() {
    for promoted in ["n3", "n2"] {
        let (code, report) = run("scenarios/examples/failover-poll.yaml", &[&format!("promoted={promoted}")]);
        assert_eq!(code, 0, "{report}");
        let w = step(&report, "new_primary");
        let winner = format!("{promoted}_primary");
        assert_eq!(w["result"]["winner"], winner.as_str(), "{w}");
        assert_eq!(w["result"]["first_match_ms"], step(&report, &winner)["first_match_ms"], "{w}");
        let loser = if promoted == "n3" { "n2_primary" } else { "n3_primary" };
        let l = step(&report, loser);
        assert_eq!((l["ok"].as_bool(), l["allowed_failure"].as_bool()), (Some(false), Some(true)), "{l}");
        assert!(l["error"].as_str().unwrap().starts_with(&format!("`{winner}` matched first")), "{l}");
    }
}
