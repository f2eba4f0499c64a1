//! The quorum monitor and the write gate against a real PostgreSQL that is stopped and
//! restarted (cycle 1) and SIGSTOPped and resumed (cycle 2: a hang, not a refusal).
mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::{wait_for, Node, Pg};

/// `halab quorum-status` against a node: (exit code, stdout, stderr).
fn quorum_status_cli(url: &str) -> (i32, String, String) {
    let o = std::process::Command::new(support::halab())
        .args(["quorum-status", "--url", url, "--timeout", "3s"])
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (o.status.code().unwrap_or(-1), text(&o.stdout), text(&o.stderr))
}

fn quorum_state(n: &Node, want: &str) -> Option<Value> {
    let q = n.quorum();
    (q["quorum_health"] == want).then_some(q)
}

#[test]
fn loss_blocks_writes_and_recovery_restores_them_twice() {
    let mut pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(
        "cp-val17-node",
        &pg.url(),
        dir.path(),
        &["--quorum-monitor-interval", "200ms", "--renew-interval", "200ms", "--pg-connect-timeout", "500ms"],
    );
    assert!(n.log().contains("quorum monitor started interval=200ms"), "{}", n.log());
    wait_for("leadership", Duration::from_secs(10), || n.is_leader().then_some(()));
    let q = wait_for("a first probe", Duration::from_secs(5), || {
        let q = n.quorum();
        q["checked_at"].is_string().then_some(q)
    });
    let keys: Vec<&str> = q.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "quorum_health",
            "write_block_active",
            "can_accept_protected_writes",
            "quorum_loss_reason",
            "last_lost_at",
            "last_restored_at",
            "detected_loss_count",
            "node_id",
            "checked_at"
        ]
    );
    assert_eq!(q["quorum_health"], "healthy");
    assert_eq!(
        (q["write_block_active"].as_bool(), q["can_accept_protected_writes"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!((q["last_lost_at"].clone(), q["detected_loss_count"].clone()), (Value::Null, 0.into()));
    assert_eq!(n.write("before", "ok").0, 201);
    // The read-only CLI prints the same fields, one `key: value` line each, in order.
    let url = format!("http://127.0.0.1:{}", n.port);
    let (code, out, err) = quorum_status_cli(&url);
    assert_eq!(code, 0, "{err}");
    let keys: Vec<&str> = out.lines().map(|l| l.split_once(": ").unwrap().0).collect();
    assert_eq!(keys, q.as_object().unwrap().keys().map(String::as_str).collect::<Vec<_>>());
    assert!(out.starts_with("quorum_health: healthy\nwrite_block_active: false\n"), "{out}");
    assert!(out.contains("\nquorum_loss_reason: \"\"\nlast_lost_at: null\n"), "{out}");

    // Cycle 1: the database stops (connections refused).
    let t = Instant::now();
    pg.stop();
    let lost = wait_for("quorum lost", Duration::from_secs(5), || quorum_state(&n, "lost"));
    assert!(t.elapsed() < Duration::from_secs(2), "loss detected after {:?}", t.elapsed());
    assert_eq!(lost["write_block_active"], true);
    assert_eq!(lost["can_accept_protected_writes"], false);
    assert_eq!(lost["detected_loss_count"], 1);
    let reason = lost["quorum_loss_reason"].as_str().unwrap();
    assert!(reason.contains("connect"), "reason: {reason}");
    assert_eq!(
        lost["last_lost_at"],
        n.events("ha.quorum.lost")[0]["at"],
        "state and audit share the instant"
    );
    let (code, body) = n.write("during", "refused");
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["error"], "write blocked: quorum lost");
    assert!(n.log().contains("quorum lost: "), "{}", n.log());
    let (code, out, _) = quorum_status_cli(&url);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(
            "quorum_health: lost\nwrite_block_active: true\ncan_accept_protected_writes: false\n"
        ),
        "{out}"
    );
    assert!(out.contains(&format!("\nquorum_loss_reason: {reason}\n")), "{out}");
    assert!(out.contains("\ndetected_loss_count: 1\n"), "{out}");
    let m = n.get("/metrics").1;
    let text = m.as_str().unwrap();
    assert!(text.contains("ha_quorum_lost_total{node=\"cp-val17-node\"} 1\n"), "{text}");
    assert!(text.contains("ha_write_block_active{node=\"cp-val17-node\"} 1\n"), "{text}");

    pg.restart();
    let back = wait_for("quorum healthy", Duration::from_secs(5), || quorum_state(&n, "healthy"));
    assert_eq!(back["write_block_active"], false);
    assert_eq!(back["quorum_loss_reason"], "");
    assert!(back["last_lost_at"].is_string() && back["last_restored_at"].is_string(), "{back}");
    assert_eq!(back["detected_loss_count"], 1);
    wait_for("leadership again", Duration::from_secs(10), || n.is_leader().then_some(()));
    let (code, body) = n.write("after", "ok");
    assert_eq!(code, 201, "{body}");

    // Cycle 2: the postmaster hangs (SIGSTOP). The probe's bound turns the hang into a loss,
    // and HTTP keeps answering at once from memory.
    pg.pause();
    let lost2 = wait_for("second loss", Duration::from_secs(5), || quorum_state(&n, "lost"));
    assert_eq!(lost2["detected_loss_count"], 2);
    assert!(lost2["quorum_loss_reason"].as_str().unwrap().contains("timed out"), "{lost2}");
    let t = Instant::now();
    let _ = n.status();
    assert!(t.elapsed() < Duration::from_millis(300), "status took {:?} with the database hung", t.elapsed());
    pg.resume();
    let back2 = wait_for("second recovery", Duration::from_secs(5), || quorum_state(&n, "healthy"));
    assert_eq!(back2["detected_loss_count"], 2);
    assert_ne!(back2["last_restored_at"], back["last_restored_at"]);

    assert_eq!(n.events("ha.quorum.lost").len(), 2);
    assert_eq!(n.events("ha.quorum.restored").len(), 2);
    // start_time filters: only the second cycle's events are at or after the second loss.
    let since = lost2["last_lost_at"].as_str().unwrap();
    let (_, v) = n.get(&format!("/v1/audit/events?event_type=ha.quorum.lost&start_time={since}"));
    assert_eq!(v["count"], 1, "{v}");
    let (code, _) = n.get("/v1/audit/events?start_time=yesterday");
    assert_eq!(code, 400);
    // Negative controls for the CLI: a path that is not the quorum endpoint, nothing listening.
    let (code, _, err) = quorum_status_cli(&format!("{url}/nope"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("HTTP 404"), "{err}");
    drop(n);
    let (code, out, err) = quorum_status_cli(&url);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    let audit = std::fs::read_to_string(dir.path().join("audit/audit.jsonl")).unwrap();
    assert!(audit.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()), "{audit}");
    assert_eq!(support::query(&pg.url(), "SELECT key FROM lab_writes ORDER BY id").len(), 2);
}

/// The negative control for VAL17-04: with the monitor disabled nothing ever changes, while
/// a witness node with the monitor on sees the same outage.
#[test]
fn monitor_disabled_never_reports_a_loss() {
    let mut pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let off = Node::start("off", &pg.url(), dir.path(), &["--quorum-monitor-interval", "0"]);
    let witness = Node::start("witness", &pg.url(), dir.path(), &["--quorum-monitor-interval", "100ms"]);
    assert!(off.log().contains("quorum monitor disabled"), "{}", off.log());
    pg.stop();
    wait_for("the witness to see the loss", Duration::from_secs(5), || quorum_state(&witness, "lost"));
    // Let the witness probe several more times, failing each time.
    let first = witness.quorum()["checked_at"].clone();
    wait_for("another failed witness probe", Duration::from_secs(5), || {
        let q = witness.quorum();
        let later = q["checked_at"] != first;
        (later && q["quorum_health"] == "lost").then_some(())
    });
    let q = off.quorum();
    assert_eq!(q["quorum_health"], "healthy", "{q}");
    assert_eq!(q["write_block_active"], false);
    assert_eq!(q["detected_loss_count"], 0);
    assert_eq!(q["checked_at"], Value::Null);
    let lost = off.events("ha.quorum.lost");
    assert!(lost.iter().all(|e| e["node_id"] == "witness"), "{lost:?}");
    pg.restart();
}
