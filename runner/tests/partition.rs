//! scenarios/examples/partition.yaml end to end: the lab in containers on its own network,
//! the leader cut off from PostgreSQL by nftables, availability sampled throughout; and its
//! negative control (never healed) failing. Each leaves no container and no network.
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Run {
    code: i32,
    dir: PathBuf,
    report: serde_json::Value,
    _tmp: tempfile::TempDir,
}

fn run(scenario: &str, vars: &[&str]) -> Run {
    let bin = Path::new(env!("CARGO_BIN_EXE_testrunner"));
    let bindir = bin.parent().unwrap();
    assert!(bindir.join("halab").exists(), "halab is not built: run `cargo build --workspace --bins`");
    let tmp = tempfile::tempdir().unwrap();
    // The run id (the directory's name) names the containers: unique per concurrent test.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = tmp.path().join(format!("p{}x{n}", std::process::id()));
    let mut cmd = Command::new(bin);
    cmd.current_dir(root()).args(["run", scenario, "-q", "--no-baseline", "--include-root", "scenarios"]);
    cmd.arg("--out").arg(&dir);
    for v in vars {
        cmd.arg("--var").arg(v);
    }
    let path = format!("{}:{}", bindir.display(), std::env::var("PATH").unwrap_or_default());
    let out = cmd.env("PATH", path).env("NO_COLOR", "1").output().unwrap();
    let report = std::fs::read_to_string(dir.join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_else(|_| panic!("no report.json; stderr:\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_nothing_left(&dir);
    Run { code: out.status.code().unwrap_or(-1), dir, report, _tmp: tmp }
}

/// No container and no network named after this run exists any more.
fn assert_nothing_left(dir: &Path) {
    let id = dir.file_name().unwrap().to_string_lossy().to_string();
    for what in [&["ps", "-a", "--format", "{{.Names}}"][..], &["network", "ls", "--format", "{{.Name}}"][..]]
    {
        let out = Command::new("docker").args(what).output().unwrap();
        let listing = String::from_utf8_lossy(&out.stdout).to_string();
        let ours: Vec<&str> = listing.lines().filter(|l| l.ends_with(&format!("-{id}"))).collect();
        assert!(ours.is_empty(), "left behind ({}): {ours:?}", what[0]);
    }
}

fn summary(r: &Run) -> String {
    std::fs::read_to_string(r.dir.join("summary.txt")).unwrap_or_default()
}

fn check(r: &Run, id: &str) -> String {
    let c = r.report["checks"].as_array().unwrap().iter().find(|c| c["decl"]["id"] == id);
    c.unwrap_or_else(|| panic!("no check {id}"))["status"].as_str().unwrap().to_string()
}

fn step(r: &Run, id: &str) -> serde_json::Value {
    r.report["steps"].as_array().unwrap().iter().find(|s| s["step"] == id).unwrap().clone()
}

#[test]
fn the_partition_example_passes_and_measures_the_outage() {
    let r = run("scenarios/examples/partition.yaml", &[]);
    assert_eq!(r.code, 0, "{}", summary(&r));
    // The sampler saw the outage the partition caused, and its end after the takeover.
    let a = &step(&r, "availability")["result"];
    let cut = step(&r, "cut")["finished_ms"].as_u64().unwrap();
    let takeover = step(&r, "takeover")["finished_ms"].as_u64().unwrap();
    assert!(a["outages"].as_u64().unwrap() >= 1, "{a}");
    let (start, end) = (a["outage_start_ms"].as_u64().unwrap(), a["outage_end_ms"].as_u64().unwrap());
    assert!(start + 150 >= cut && start <= takeover, "outage from {start} ms; cut at {cut} ms: {a}");
    assert!(
        end >= start && end <= takeover + 1500,
        "outage to {end} ms; takeover seen at {takeover} ms: {a}"
    );
    let avail = a["availability"].as_f64().unwrap();
    assert!(avail > 20.0 && avail < 100.0, "{avail}");
    assert_eq!(a["recovered"], true);
    // The heal removed the partition's table; nothing was left for the undo stack.
    let heal = &step(&r, "heal")["result"];
    assert_eq!(heal["removed"], serde_json::json!([step(&r, "cut")["result"]["table"]]));
    // The HTML draws the sampler with the partition and the heal marked.
    let html = std::fs::read_to_string(r.dir.join("report.html")).unwrap();
    assert!(html.contains("<h2>Availability — availability</h2>"));
    assert!(html.contains(">cut</text>") && html.contains(">heal</text>"), "fault and heal marks");
}

/// Negative control: never healed, the isolated node cannot rejoin (PT-06 fails), and the
/// undo stack still removes the partition before the containers go.
#[test]
fn negative_control_a_partition_never_healed_fails_the_rejoin_check() {
    let r = run("scenarios/selftest/partition-never-healed.yaml", &[]);
    assert_eq!(r.code, 1, "{}", summary(&r));
    assert_eq!(check(&r, "PT-04"), "pass", "{}", summary(&r));
    assert_eq!(check(&r, "PT-06"), "fail", "{}", summary(&r));
    let undo = r.report["undo"].as_array().unwrap();
    assert!(undo.iter().all(|u| u["ok"] == true), "{undo:?}");
    assert!(undo.iter().any(|u| u["key"].as_str().unwrap().starts_with("net.partition:")), "{undo:?}");
}

/// A bound below what the lab can do (a lease outlives it) fails the takeover timing.
#[test]
fn negative_control_a_takeover_bound_below_the_lease_fails() {
    let r = run("scenarios/examples/partition.yaml", &["takeover_bound_ms=100"]);
    assert_eq!(r.code, 1, "{}", summary(&r));
    assert_eq!(check(&r, "PT-04"), "fail", "{}", summary(&r));
    assert_eq!(check(&r, "PT-06"), "pass", "only the timing fails: {}", summary(&r));
}
