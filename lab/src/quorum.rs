//! The quorum monitor: every interval a bounded connect + `SELECT 1` (and a count of
//! synchronous replicas) classifies the database as healthy, degraded or lost.
use crate::pg;
use crate::shared::Shared;
use crate::state::{now_rfc3339, Health};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// One probe: `Ok(sync replicas)` or the error text that becomes `quorum_loss_reason`.
async fn probe(url: &str, timeout: Duration) -> Result<i64, String> {
    let c = pg::connect(url, timeout).await?;
    pg::bounded(timeout, c.query_one("SELECT 1", &[])).await?;
    let sql = "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')";
    Ok(pg::bounded(timeout, c.query_one(sql, &[])).await?.get(0))
}

pub fn classify(result: &Result<i64, String>, min_sync: i64) -> (Health, String) {
    match result {
        Err(e) => (Health::Lost, e.clone()),
        Ok(n) if *n < min_sync => {
            (Health::Degraded, format!("{n} synchronous replicas, {min_sync} required"))
        }
        Ok(_) => (Health::Healthy, String::new()),
    }
}

pub async fn run(app: Arc<Shared>) {
    let a = &app.args;
    let mut tick = tokio::time::interval(a.quorum_monitor_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (health, reason) = classify(&probe(&a.pg_url, a.pg_connect_timeout).await, a.min_sync_replicas);
        apply(&app, health, reason);
    }
}

/// Records one classification; audits transitions with the same timestamp as the state.
pub fn apply(app: &Shared, health: Health, reason: String) {
    let at = now_rfc3339();
    let event = {
        let mut n = app.node();
        let q = &mut n.quorum;
        let prev = q.health;
        q.checked_at = Some(at.clone());
        q.health = health;
        // Only a loss has a loss reason; a degraded state's reason goes to the log/audit.
        q.reason = if health == Health::Lost { reason.clone() } else { String::new() };
        match (prev, health) {
            (p, Health::Lost) if p != Health::Lost => {
                q.detected_loss_count += 1;
                q.last_lost_at = Some(at.clone());
                Some((
                    "ha.quorum.lost",
                    json!({"reason": reason, "from": p.as_str(),
                    "detected_loss_count": q.detected_loss_count}),
                ))
            }
            (Health::Lost, h) if h != Health::Lost => {
                q.last_restored_at = Some(at.clone());
                Some((
                    "ha.quorum.restored",
                    json!({"quorum_health": h.as_str(),
                    "detected_loss_count": q.detected_loss_count}),
                ))
            }
            (Health::Healthy, Health::Degraded) => Some(("ha.quorum.degraded", json!({"reason": reason}))),
            (Health::Degraded, Health::Healthy) => Some(("ha.quorum.healthy", json!({}))),
            _ => None,
        }
    };
    if let Some((event, details)) = event {
        match health {
            Health::Lost => eprintln!("quorum lost: {reason}"),
            h => eprintln!("quorum {}", h.as_str()),
        }
        app.audit.emit_at(event, &app.args.node_id, &at, details);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(&Ok(0), 0).0, Health::Healthy);
        assert_eq!(classify(&Ok(0), 1).0, Health::Degraded);
        assert_eq!(classify(&Ok(2), 1).0, Health::Healthy);
        let (h, why) = classify(&Err("connect failed: refused".into()), 0);
        assert_eq!((h, why.as_str()), (Health::Lost, "connect failed: refused"));
    }
}
