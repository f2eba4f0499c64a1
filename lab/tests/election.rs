//! Lease election against a real PostgreSQL: one leader, SIGTERM hand-over within about one
//! renew interval, SIGKILL take-over only after the lease TTL.
mod support;

use std::time::{Duration, Instant};
use support::{wait_for, Node, Pg};

const RENEW: &str = "200ms";

fn nodes(pg: &Pg, dir: &std::path::Path, ttl: &str) -> (Node, Node) {
    let flags = ["--renew-interval", RENEW, "--lease-ttl", ttl];
    let n1 = Node::start("node1", &pg.url(), dir, &flags);
    wait_for("node1 to lead", Duration::from_secs(10), || n1.is_leader().then_some(()));
    let n2 = Node::start("node2", &pg.url(), dir, &flags);
    wait_for("node2 to see node1's lease", Duration::from_secs(10), || {
        (n2.status()["holder_id"] == "node1").then_some(())
    });
    (n1, n2)
}

/// Exactly one leader, both agree on holder and epoch, and the follower's write is refused.
fn assert_single_leader(a: &Node, b: &Node) {
    for _ in 0..10 {
        let (sa, sb) = (a.status(), b.status());
        let leaders = [&sa, &sb].iter().filter(|s| s["is_leader"] == true).count();
        assert_eq!(leaders, 1, "{sa} {sb}");
        assert_eq!(sa["holder_id"], sb["holder_id"], "{sa} {sb}");
    }
}

#[test]
fn one_leader_and_sigterm_hands_over_within_an_interval() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    // A long TTL: a hand-over faster than it proves the graceful release.
    let (mut n1, n2) = nodes(&pg, dir.path(), "6s");
    assert_single_leader(&n1, &n2);
    let s1 = n1.status();
    assert_eq!(s1["role"], "leader");
    assert_eq!(s1["node_id"], "node1");
    assert!(s1["epoch"].as_i64().unwrap() >= 1, "{s1}");
    assert!(s1["lease_expires_at"].as_str().unwrap().ends_with('Z'), "{s1}");
    assert_eq!(s1["split_brain_detected"], false);
    let s2 = n2.status();
    assert_eq!((s2["role"].as_str(), s2["is_leader"].as_bool()), (Some("follower"), Some(false)));
    assert_eq!(s2["epoch"], s1["epoch"]);

    // The leader writes; the follower refuses with 409 (not a 503: writes are not blocked).
    let (code, body) = n1.write("k1", "v1");
    assert_eq!(code, 201, "{body}");
    assert!(body["id"].as_i64().is_some(), "{body}");
    let (code, body) = n2.write("k2", "v2");
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["holder_id"], "node1");

    let epoch = s1["epoch"].as_i64().unwrap();
    let t = Instant::now();
    assert_eq!(n1.terminate(), Some(0), "SIGTERM exits 0");
    let s = wait_for("node2 to lead", Duration::from_secs(5), || {
        let s = n2.status();
        (s["is_leader"] == true).then_some(s)
    });
    let took = t.elapsed();
    assert!(took < Duration::from_millis(2500), "SIGTERM hand-over took {took:?} (TTL is 6 s)");
    assert_eq!(s["epoch"].as_i64().unwrap(), epoch + 1, "{s}");
    assert_eq!(pg.scalar("SELECT holder_id || '/' || epoch FROM ha_lease"), format!("node2/{}", epoch + 1));
    let released = n2.events("ha.leader.released");
    assert_eq!(released.len(), 1, "{released:?}");
    assert_eq!(released[0]["node_id"], "node1");
    assert_eq!(released[0]["details"]["epoch"], epoch);
    let acquired = n2.events("ha.leader.acquired");
    let by: Vec<_> = acquired.iter().map(|e| e["node_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(by, ["node1", "node2"]);
    assert!(n1_log_says(&dir, "released leadership"));
    let (code, body) = n2.write("k3", "v3");
    assert_eq!(code, 201, "{body}");
    assert_eq!(pg.scalar("SELECT string_agg(node_id || '@' || epoch, ',' ORDER BY id) FROM lab_writes"), {
        format!("node1@{epoch},node2@{}", epoch + 1)
    });
}

fn n1_log_says(dir: &tempfile::TempDir, text: &str) -> bool {
    std::fs::read_to_string(dir.path().join("node1.log")).unwrap().contains(text)
}

#[test]
fn sigkill_takeover_waits_for_the_lease_ttl() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let ttl = Duration::from_secs(2);
    let (mut n1, n2) = nodes(&pg, dir.path(), "2s");
    assert_single_leader(&n1, &n2);
    let t = Instant::now();
    n1.kill();
    wait_for("node2 to lead", Duration::from_secs(10), || n2.is_leader().then_some(()));
    let took = t.elapsed();
    // The lease was renewed at most one interval before the kill: the follower must not
    // lead before it expires, and should lead soon after.
    assert!(took >= ttl - Duration::from_millis(300), "took over after {took:?}, before the {ttl:?} TTL");
    assert!(took < ttl + Duration::from_millis(1500), "took over after {took:?}");
    assert!(n2.events("ha.leader.released").is_empty(), "a SIGKILLed leader releases nothing");
}

#[test]
fn a_leader_that_loses_the_database_steps_down_within_the_ttl() {
    let mut pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let n1 = Node::start("node1", &pg.url(), dir.path(), &["--renew-interval", RENEW, "--lease-ttl", "2s"]);
    wait_for("node1 to lead", Duration::from_secs(10), || n1.is_leader().then_some(()));
    let t = Instant::now();
    pg.stop();
    wait_for("node1 to step down", Duration::from_secs(5), || (!n1.is_leader()).then_some(()));
    assert!(t.elapsed() < Duration::from_secs(2), "stepped down after {:?}", t.elapsed());
    pg.restart();
    let s = wait_for("node1 to lead again", Duration::from_secs(10), || {
        let s = n1.status();
        (s["is_leader"] == true).then_some(s)
    });
    assert_eq!(s["holder_id"], "node1", "{s}");
    assert_eq!(n1.events("ha.leader.lost").len(), 1);
}

#[test]
fn a_leader_paused_past_its_ttl_does_not_wake_up_leading() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let (n1, n2) = nodes(&pg, dir.path(), "1s");
    let stop = |s| nix::sys::signal::kill(nix::unistd::Pid::from_raw(n1.pid() as i32), s).unwrap();
    stop(nix::sys::signal::Signal::SIGSTOP);
    wait_for("node2 to take over", Duration::from_secs(10), || n2.is_leader().then_some(()));
    stop(nix::sys::signal::Signal::SIGCONT);
    // Its first answers after waking come from a stale view, but its own clock says the
    // lease is over: it must not claim leadership nor accept a write.
    assert_eq!(n1.status()["is_leader"], false);
    let (code, body) = n1.write("stale", "leader");
    assert_ne!(code, 201, "{body}");
    wait_for("node1 to follow node2", Duration::from_secs(5), || {
        (n1.status()["holder_id"] == "node2").then_some(())
    });
    assert_eq!(pg.scalar("SELECT count(*) FROM lab_writes WHERE key = 'stale'"), "0");
}
