//! VAL16: epoch divergence injected by SQL is detected, the leader fences itself, a fresh
//! epoch clears it, and user data is never touched.
mod support;

use serde_json::Value;
use std::time::Duration;
use support::{wait_for, writes_digest, Node, Pg};

fn cluster(pg: &Pg, dir: &std::path::Path) -> (Node, Node) {
    let flags = ["--renew-interval", "200ms", "--lease-ttl", "2s", "--fence-hold", "1s"];
    let n1 = Node::start("node1", &pg.url(), dir, &flags);
    wait_for("node1 to lead", Duration::from_secs(10), || n1.is_leader().then_some(()));
    let n2 = Node::start("node2", &pg.url(), dir, &flags);
    wait_for("node2 to follow", Duration::from_secs(10), || {
        (n2.status()["holder_id"] == "node1").then_some(())
    });
    for i in 0..5 {
        assert_eq!(n1.write(&format!("k{i}"), &format!("user data {i}\twith\\escapes\n")).0, 201);
    }
    (n1, n2)
}

fn detected(n: &Node) -> Option<Value> {
    let s = n.status();
    (s["split_brain_detected"] == true).then_some(s)
}

/// Injects, checks detection and fencing, waits for recovery; returns the recovered lease epoch.
fn inject_and_recover(pg: &Pg, n1: &Node, n2: &Node, sql: &str) -> i64 {
    let before = n1.status();
    assert_eq!(before["split_brain_detected"], false, "{before}");
    let data = writes_digest(pg);
    pg.query(sql);
    let s1 = wait_for("node1 to detect", Duration::from_secs(5), || detected(n1));
    wait_for("node2 to detect", Duration::from_secs(5), || detected(n2));
    assert_eq!(s1["is_leader"], false, "the leader fences itself: {s1}");
    let (code, body) = n1.write("during", "must be refused");
    assert_eq!(code, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("split brain"), "{body}");
    assert_eq!(n1.quorum()["write_block_active"], true);

    let seen = before["last_epoch_seen"].as_i64().unwrap();
    let s = wait_for("node1 to recover", Duration::from_secs(10), || {
        let s = n1.status();
        (s["split_brain_detected"] == false).then_some(s)
    });
    wait_for("node2 to recover", Duration::from_secs(10), || {
        (n2.status()["split_brain_detected"] == false).then_some(())
    });
    let epoch = s["epoch"].as_i64().unwrap();
    assert!(epoch > seen, "recovered epoch {epoch} must be above everything seen ({seen})");
    let lease = pg.scalar("SELECT holder_id || '/' || epoch FROM ha_lease");
    wait_for("both nodes to agree with the lease", Duration::from_secs(5), || {
        let (a, b) = (n1.status(), n2.status());
        let agree =
            [&a, &b].iter().all(|s| format!("{}/{}", s["holder_id"].as_str().unwrap(), s["epoch"]) == lease);
        let leaders = [&a, &b].iter().filter(|s| s["is_leader"] == true).count();
        (agree && leaders == 1).then_some(())
    });
    assert_eq!(writes_digest(pg), data, "user data untouched");
    epoch
}

#[test]
fn a_rogue_claim_on_the_current_epoch_is_detected_fenced_and_recovered() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let (n1, n2) = cluster(&pg, dir.path());
    // Negative control: a healthy cluster reports no split brain.
    assert!(n1.events("ha.split_brain.detected").is_empty());
    let epoch = inject_and_recover(
        &pg,
        &n1,
        &n2,
        "INSERT INTO ha_epoch_claims (node_id, epoch) SELECT 'rogue-node', epoch FROM ha_lease WHERE name = 'leader'",
    );
    let det = n1.events("ha.split_brain.detected");
    assert_eq!(det.len(), 2, "one per node: {det:?}");
    assert_eq!(det.iter().filter(|e| e["details"]["fenced_leader"] == true).count(), 1, "{det:?}");
    assert!(det[0]["details"]["reason"].as_str().unwrap().contains("claim epoch"), "{det:?}");
    assert_eq!(n1.events("ha.split_brain.recovered").len(), 2);
    // The fenced leader re-took the lease (it held it), with epoch = divergent + 1.
    assert_eq!(pg.scalar("SELECT holder_id FROM ha_lease"), "node1");
    assert_eq!(
        pg.scalar("SELECT max(epoch) FROM ha_epoch_claims WHERE node_id = 'rogue-node'"),
        (epoch - 1).to_string()
    );
    assert_eq!(n1.write("after", "ok").0, 201);
    let m = n1.get("/metrics").1;
    assert!(m.as_str().unwrap().contains("ha_split_brain_detected_total{node=\"node1\"} 1\n"), "{m}");
}

#[test]
fn a_lease_epoch_going_down_is_detected_and_recovered() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let (n1, n2) = cluster(&pg, dir.path());
    let before = n1.status()["epoch"].as_i64().unwrap();
    let epoch =
        inject_and_recover(&pg, &n1, &n2, "UPDATE ha_lease SET epoch = epoch - 1 WHERE name = 'leader'");
    assert_eq!(epoch, before + 1);
    let det = n2.events("ha.split_brain.detected");
    assert!(det[0]["details"]["reason"].as_str().unwrap().contains("went down"), "{det:?}");
}
