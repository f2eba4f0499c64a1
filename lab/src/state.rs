//! A node's in-memory state. The election and the quorum monitor update it; HTTP answers
//! from it alone, so a stopped database never slows an answer down.
use serde_json::{json, Value};
use std::time::Instant;

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Health {
    Healthy,
    Degraded,
    Lost,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Lost => "lost",
        }
    }
}

/// Fenced after an epoch divergence: no leadership until a fresh epoch above `epoch`.
#[derive(Clone, Debug)]
pub struct Fence {
    pub since: Instant,
    /// The highest epoch involved in the divergence.
    pub epoch: i64,
}

pub struct Quorum {
    pub health: Health,
    pub reason: String,
    pub last_lost_at: Option<String>,
    pub last_restored_at: Option<String>,
    pub detected_loss_count: i64,
    pub checked_at: Option<String>,
}

pub struct Node {
    /// We won (or renewed) the lease; only trusted until `lease_deadline`.
    pub leader: bool,
    /// Local bound on our leadership: the start of the last successful renewal + TTL.
    pub lease_deadline: Option<Instant>,
    pub holder_id: Option<String>,
    pub epoch: i64,
    pub lease_expires_at: Option<String>,
    pub last_epoch_seen: i64,
    pub fence: Option<Fence>,
    pub quorum: Quorum,
    pub leader_acquired_total: u64,
    pub split_brain_detected_total: u64,
}

impl Node {
    pub fn new() -> Node {
        Node {
            leader: false,
            lease_deadline: None,
            holder_id: None,
            epoch: 0,
            lease_expires_at: None,
            last_epoch_seen: 0,
            fence: None,
            quorum: Quorum {
                health: Health::Healthy,
                reason: String::new(),
                last_lost_at: None,
                last_restored_at: None,
                detected_loss_count: 0,
                checked_at: None,
            },
            leader_acquired_total: 0,
            split_brain_detected_total: 0,
        }
    }

    /// Leader now: we won the lease and its local deadline has not passed (a node paused
    /// longer than the TTL must not act as leader when it wakes up).
    pub fn leading(&self) -> bool {
        self.leader && self.lease_deadline.is_some_and(|d| Instant::now() < d)
    }

    /// The write gate: quorum healthy and not fenced by a split brain. Leadership is
    /// checked separately (a follower answers 409, not 503).
    pub fn can_accept_protected_writes(&self) -> bool {
        self.quorum.health == Health::Healthy && self.fence.is_none()
    }

    pub fn status_json(&self, node_id: &str) -> Value {
        let leading = self.leading();
        json!({
            "node_id": node_id,
            "role": if leading { "leader" } else { "follower" },
            "holder_id": self.holder_id,
            "epoch": self.epoch,
            "lease_expires_at": self.lease_expires_at,
            "is_leader": leading,
            "split_brain_detected": self.fence.is_some(),
            "last_epoch_seen": self.last_epoch_seen,
        })
    }

    pub fn quorum_json(&self, node_id: &str) -> Value {
        let q = &self.quorum;
        let can = self.can_accept_protected_writes();
        json!({
            "quorum_health": q.health.as_str(),
            "write_block_active": !can,
            "can_accept_protected_writes": can,
            "quorum_loss_reason": q.reason,
            "last_lost_at": q.last_lost_at,
            "last_restored_at": q.last_restored_at,
            "detected_loss_count": q.detected_loss_count,
            "node_id": node_id,
            "checked_at": q.checked_at,
        })
    }

    /// Prometheus text exposition.
    pub fn metrics_text(&self, node_id: &str) -> String {
        let id = node_id.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (extra, v) in samples {
                out.push_str(&format!("{name}{{node=\"{id}\"{extra}}} {v}\n"));
            }
        };
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        metric("ha_is_leader", "gauge", "1 when this node holds the lease.", &[("", b(self.leading()))]);
        metric("ha_epoch", "gauge", "Lease epoch as last read.", &[("", self.epoch as f64)]);
        metric(
            "ha_last_epoch_seen",
            "gauge",
            "Highest lease epoch seen.",
            &[("", self.last_epoch_seen as f64)],
        );
        metric(
            "ha_split_brain_detected",
            "gauge",
            "1 while fenced by an epoch divergence.",
            &[("", b(self.fence.is_some()))],
        );
        metric(
            "ha_split_brain_detected_total",
            "counter",
            "Epoch divergences detected.",
            &[("", self.split_brain_detected_total as f64)],
        );
        metric(
            "ha_leader_acquired_total",
            "counter",
            "Lease acquisitions by this node.",
            &[("", self.leader_acquired_total as f64)],
        );
        let h = self.quorum.health;
        metric(
            "ha_quorum_health",
            "gauge",
            "1 for the current quorum state.",
            &[
                (",state=\"healthy\"", b(h == Health::Healthy)),
                (",state=\"degraded\"", b(h == Health::Degraded)),
                (",state=\"lost\"", b(h == Health::Lost)),
            ],
        );
        metric(
            "ha_write_block_active",
            "gauge",
            "1 while protected writes are refused.",
            &[("", b(!self.can_accept_protected_writes()))],
        );
        metric(
            "ha_quorum_lost_total",
            "counter",
            "Transitions to quorum lost.",
            &[("", self.quorum.detected_loss_count as f64)],
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn leadership_needs_a_live_local_deadline() {
        let mut n = Node::new();
        n.leader = true;
        assert!(!n.leading(), "no deadline: not leading");
        n.lease_deadline = Some(Instant::now() + Duration::from_secs(5));
        assert!(n.leading());
        n.lease_deadline = Some(Instant::now() - Duration::from_millis(1));
        assert!(!n.leading(), "an expired local deadline ends leadership");
        assert_eq!(n.status_json("a")["role"], "follower");
    }

    #[test]
    fn write_gate_follows_quorum_and_fence() {
        let mut n = Node::new();
        assert_eq!(n.quorum_json("a")["write_block_active"], false);
        n.quorum.health = Health::Degraded;
        assert_eq!(n.quorum_json("a")["write_block_active"], true);
        n.quorum.health = Health::Healthy;
        n.fence = Some(Fence { since: Instant::now(), epoch: 3 });
        let q = n.quorum_json("a");
        assert_eq!(q["write_block_active"], true);
        assert_eq!(q["can_accept_protected_writes"], false);
    }

    #[test]
    fn metrics_are_labelled_by_node() {
        let t = Node::new().metrics_text("n\"1");
        assert!(t.contains("ha_is_leader{node=\"n\\\"1\"} 0\n"), "{t}");
        assert!(t.contains("ha_quorum_health{node=\"n\\\"1\",state=\"healthy\"} 1\n"), "{t}");
    }
}
