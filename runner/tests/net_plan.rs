//! `plan` probes the network-fault actions read-only: a kernel without netem is a blocker
//! naming `sch_netem` (and the step fails with the same reason, before it changes anything);
//! the partition example, whose targets come from its own setup, has no blocker.
use std::path::Path;
use std::process::Command;

fn tr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn plan_names_a_missing_netem_module_as_a_blocker_and_the_step_fails_with_it() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let netem = rt.block_on(testrunner_actions::net::netem_available());
    let plan = tr(&["plan", "runner/tests/scenarios/netem-slow.yaml"]);
    match &netem {
        // This machine: CONFIG_NET_SCH_NETEM is not set.
        Err(reason) => {
            assert_eq!(plan.status.code(), Some(3), "{}", text(&plan));
            assert!(text(&plan).contains("sch_netem"), "{}", text(&plan));
            assert!(reason.message.contains("sch_netem"));
            let d = tempfile::tempdir().unwrap();
            let out = d.path().join("run");
            let run =
                tr(&["run", "runner/tests/scenarios/netem-slow.yaml", "-q", "--out", out.to_str().unwrap()]);
            assert_ne!(run.status.code(), Some(0), "{}", text(&run));
            let report: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
            let slow = report["steps"].as_array().unwrap().iter().find(|s| s["step"] == "slow").unwrap();
            assert!(slow["error"].as_str().unwrap().contains("sch_netem"), "{slow}");
            assert!(out.join("touched").exists(), "the steps before it ran");
            // Nothing was changed, so nothing is left to undo.
            assert!(report["undo"].as_array().is_none_or(|u| u.is_empty()), "{}", report["undo"]);
            // `run --preflight` refuses it before any step runs.
            let out2 = d.path().join("run2");
            let pre = tr(&[
                "run",
                "runner/tests/scenarios/netem-slow.yaml",
                "--preflight",
                "--out",
                out2.to_str().unwrap(),
            ]);
            assert_eq!(pre.status.code(), Some(3), "{}", text(&pre));
            assert!(!out2.join("touched").exists());
        }
        Ok(()) => assert!(!text(&plan).contains("sch_netem"), "{}", text(&plan)),
    }
}

#[test]
fn the_partition_example_plans_clean_and_says_what_it_probed() {
    let plan = tr(&["plan", "scenarios/examples/partition.yaml", "--include-root", "scenarios"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let t = text(&plan);
    assert!(t.contains("net.partition") && t.contains("http.sample"), "{t}");
}
