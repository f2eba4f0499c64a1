//! A partition outlives a SIGKILLed runner only until `testrunner cleanup`: the write-ahead
//! journal names its table, and the replay removes it before the container and network.
//! After Ctrl-C the run's own undo removes it.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_testrunner")
}

fn exists(what: &[&str]) -> bool {
    Command::new("docker").args(what).output().is_ok_and(|o| o.status.success())
}

fn tables(container: &str) -> String {
    let pid = Command::new("docker").args(["inspect", "-f", "{{.State.Pid}}", container]).output().unwrap();
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    let o = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["nft", "list", "tables"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Starts the leftover scenario and returns once it waits with the partition in place.
fn start(out: &Path, net: &str, boxname: &str) -> std::process::Child {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-image.sh");
    assert!(Command::new(script).output().is_ok_and(|o| o.status.success()), "Docker is needed");
    let child = Command::new(bin())
        .arg("run")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/partition-leftover.yaml"))
        .arg("--out")
        .arg(out)
        .args(["--var", &format!("network={net}"), "--var", &format!("container={boxname}")])
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
    child
}

fn names(tag: &str) -> (String, String) {
    let tag = format!("{tag}{}-{}", std::process::id(), chrono::Utc::now().timestamp_millis());
    (format!("trp-net-{tag}"), format!("trp-box-{tag}"))
}

fn remove(net: &str, boxname: &str) {
    let _ = Command::new("docker").args(["rm", "-f", boxname]).output();
    let _ = Command::new("docker").args(["network", "rm", net]).output();
}

#[test]
fn after_sigkill_cleanup_removes_the_partition_table_then_the_container_and_network() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let (net, boxname) = names("k");
    let mut child = start(&out, &net, &boxname);
    child.kill().unwrap(); // SIGKILL: no cleanup at all
    child.wait().unwrap();
    let left = tables(&boxname);
    let cleaned = Command::new(bin()).arg("cleanup").arg(&out).env("NO_COLOR", "1").output().unwrap();
    let (box_left, net_left) = (exists(&["inspect", &boxname]), exists(&["network", "inspect", &net]));
    remove(&net, &boxname);
    assert!(left.contains("table inet testrunner_cut_"), "the partition was in place: {left}");
    let text = String::from_utf8_lossy(&cleaned.stdout).to_string();
    assert_eq!(cleaned.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&cleaned.stderr));
    assert!(text.contains("remove nftables table testrunner_cut_"), "{text}");
    assert!(!box_left && !net_left, "container or network left: {text}");
}

#[test]
fn after_ctrl_c_the_run_heals_the_partition_itself() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let (net, boxname) = names("i");
    let mut child = start(&out, &net, &boxname);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let code = child.wait().unwrap().code();
    let (box_left, net_left) = (exists(&["inspect", &boxname]), exists(&["network", "inspect", &net]));
    remove(&net, &boxname);
    assert_eq!(code, Some(130));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let undo = report["undo"].as_array().unwrap();
    let keys: Vec<&str> = undo.iter().map(|u| u["key"].as_str().unwrap()).collect();
    assert!(undo.iter().all(|u| u["ok"] == true), "{undo:?}");
    // LIFO: the partition first, then the container, then the network.
    assert!(keys[0].starts_with("net.partition:container:trp-box-"), "{keys:?}");
    assert!(keys.last().unwrap().starts_with("docker.network:"), "{keys:?}");
    assert!(!box_left && !net_left);
}
