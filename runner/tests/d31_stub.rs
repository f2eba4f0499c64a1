//! scenarios/d31.yaml — the CloudNativePG variant — exercised against the STUB kubectl
//! (tests/stubs/kubectl; there is no Kubernetes API server here) and a real PostgreSQL
//! server run by this test. The real path (kubectl against a cluster) is the same
//! scenario with the stub left out.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Pg {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway PostgreSQL 15 on a free loopback port, run as the postgres user.
fn start_pg() -> Pg {
    use std::os::unix::process::CommandExt;
    let bin = Path::new("/usr/lib/postgresql/15/bin");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(dir.path(), Some(101), Some(104)).unwrap();
    std::os::unix::fs::chown(&data, Some(101), Some(104)).unwrap();
    let ok = Command::new(bin.join("initdb"))
        .args(["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust"])
        .uid(101)
        .gid(104)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "initdb failed");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(bin.join("postgres"))
        .args([
            "-D",
            data.to_str().unwrap(),
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-k",
            data.to_str().unwrap(),
            "-c",
            "fsync=off",
        ])
        .uid(101)
        .gid(104)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(30), "postgres did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Accepting TCP is not accepting queries yet: wait for pg_isready.
    while !Command::new(bin.join("pg_isready"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success()
    {
        assert!(t.elapsed() < Duration::from_secs(30), "postgres not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    Pg { child, port, _dir: dir }
}

fn stub() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/stubs/kubectl")
}

fn run_d31(
    pg: &Pg,
    env: &[(&str, &str)],
    extra: &[&str],
) -> (i32, serde_json::Value, PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.json");
    std::fs::write(
        &state,
        serde_json::json!({"objects": {
            "cluster/cnpg/pg-primary": {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "pg-primary", "namespace": "cnpg"}, "spec": {"instances": 3}},
            "cluster/cnpg/pg-replica": {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "pg-replica", "namespace": "cnpg"}, "spec": {"instances": 3, "replica": {"enabled": true}}, "status": {}}
        }, "pending": {}})
        .to_string(),
    )
    .unwrap();
    let url = format!("postgres://postgres:{}@127.0.0.1:{}/postgres", "s3cret-pw", pg.port);
    let out_dir = tmp.path().join("run");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_testrunner"));
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(["run", "scenarios/d31.yaml", "-q", "--no-baseline", "--out"])
        .arg(&out_dir)
        .args(["--var", &format!("writer_url={url}"), "--var", &format!("verify_url={url}")])
        .args([
            "--var",
            "rows=20000",
            "--var",
            "warmup=500ms",
            "--var",
            "settle=200ms",
            "--var",
            "rto_deadline=10s",
        ])
        .args(extra)
        .env("TESTRUNNER_VAR_pg_password", "s3cret-pw")
        .env("TESTRUNNER_KUBECTL", stub())
        .env("KUBECTL_STUB_STATE", &state)
        .env("KUBECTL_STUB_LOG", tmp.path().join("argv.jsonl"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("report.json"))
            .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&out.stderr))),
    )
    .unwrap();
    (out.status.code().unwrap_or(-1), report, out_dir, tmp)
}

#[test]
fn d31_against_the_kubectl_stub_passes_and_leaves_one_primary() {
    let pg = start_pg();
    let (code, report, out, tmp) = run_d31(&pg, &[], &[]);
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap_or_default();
    assert_eq!(code, 0, "{summary}");
    // Exact argument vectors, no shell.
    let log = std::fs::read_to_string(tmp.path().join("argv.jsonl")).unwrap();
    let calls: Vec<Vec<String>> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(calls.iter().any(|c| c.contains(&"patch".into())
        && c.contains(&"pg-primary".into())
        && c.contains(&"--namespace=cnpg".into())
        && c.contains(&"{\"spec\":{\"instances\":0}}".into())));
    assert!(calls.iter().any(|c| c.iter().any(|a| a == "-o=jsonpath={.status.currentPrimary}")));
    // The replica was promoted: the old primary stays down (no second primary).
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("state.json")).unwrap()).unwrap();
    assert_eq!(state["objects"]["cluster/cnpg/pg-primary"]["spec"]["instances"], 0);
    // The password never appears in any output.
    for f in ["journal.jsonl", "report.json", "junit.xml", "report.html", "summary.txt", "scenario.yaml"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(!text.contains("s3cret-pw"), "password leaked into {f}");
    }
    assert_eq!(report["verdict"], "PASS");
    // The stub promotes a few polls after the patch: the RTO poll really polled.
    let step =
        |id: &str| report["steps"].as_array().unwrap().iter().find(|s| s["step"] == id).unwrap().clone();
    let cp = step("rto_current_primary");
    assert!(cp["attempts"].as_u64().unwrap() >= 3, "{cp}");
    assert_eq!(cp["result"]["text"], "pg-replica-1");
    // ...and the RTO ends only when the replica's service is out of recovery.
    let rto = step("rto");
    assert_eq!(rto["result"]["row"]["is_primary"], true, "{rto}");
    assert!(rto["finished_ms"].as_u64() >= cp["finished_ms"].as_u64(), "{rto}");
    // The threshold text shows the deadline that was judged.
    let decl = report["checks"].as_array().unwrap().iter().find(|c| c["decl"]["id"] == "D31-RTO").unwrap()
        ["decl"]
        .clone();
    assert_eq!(decl["threshold"], "<= 10s");
}

#[test]
fn d31_with_the_promotion_withheld_exits_2() {
    let pg = start_pg();
    let (code, report, _out, tmp) = run_d31(
        &pg,
        &[("KUBECTL_STUB_NEVER_PROMOTE", "1")],
        &["--var", "rto_deadline=2s", "--var", "restore_primary=true"],
    );
    assert_eq!(code, 2, "{report}");
    // Asked to, the undo stack gives the primary the instances it had before the kill.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("state.json")).unwrap()).unwrap();
    assert_eq!(state["objects"]["cluster/cnpg/pg-primary"]["spec"]["instances"], 3);
    let rto =
        report["checks"].as_array().unwrap().iter().find(|c| c["decl"]["id"] == "D31-RTO").unwrap().clone();
    assert_eq!(rto["status"], "fail");
}

#[test]
fn d31_harness_error_before_the_failover_exits_3() {
    // The schema bootstrap cannot reach the database: a harness error, not an RTO failure,
    // and no Cluster was touched.
    let pg = start_pg();
    let dead = "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2";
    let (code, report, _out, tmp) = run_d31(&pg, &[], &["--var", &format!("writer_url={dead}")]);
    assert_eq!(code, 3, "{report}");
    let log = std::fs::read_to_string(tmp.path().join("argv.jsonl")).unwrap_or_default();
    assert!(!log.contains("\"patch\""), "a Cluster was patched: {log}");
}
