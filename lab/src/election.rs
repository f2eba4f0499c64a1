//! Leader election over one lease row in PostgreSQL, with epoch-divergence (split-brain)
//! detection and fencing. Every renew interval a node reads the lease, checks it for
//! divergence, then acquires it (free or expired: epoch + 1) or renews it (its own), all in
//! one conditional statement on the database clock.
use crate::pg;
use crate::shared::Shared;
use crate::state::{now_rfc3339, Fence};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

/// What one read of the lease shows.
struct Lease {
    holder: String,
    epoch: i64,
    expired: bool,
    expires_at: String,
    /// Claims on the lease's epoch by nodes other than its holder.
    conflicting_claims: i64,
    max_claim: i64,
}

impl Lease {
    /// The lease this node just took or renewed: `row` is `RETURNING epoch, expires_at`.
    fn won(me: &str, row: &tokio_postgres::Row) -> Lease {
        Lease {
            holder: me.to_string(),
            epoch: row.get(0),
            expired: false,
            expires_at: row.get(1),
            conflicting_claims: 0,
            max_claim: 0,
        }
    }
}

pub async fn run(app: Arc<Shared>) {
    let a = &app.args;
    let mut db: Option<Client> = None;
    let mut last_error = String::new();
    let mut tick = tokio::time::interval(a.renew_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let r = async {
            let c = match db.take() {
                Some(c) if !c.is_closed() => c,
                _ => {
                    let c = pg::connect(&a.pg_url, a.pg_connect_timeout).await?;
                    pg::ensure_schema(&c, a.pg_connect_timeout).await.map_err(|e| format!("schema: {e}"))?;
                    c
                }
            };
            let c = db.insert(c);
            step(&app, c).await
        }
        .await;
        match r {
            Ok(()) => last_error.clear(),
            Err(e) => {
                db = None;
                lose(&app, &format!("lease renewal failed: {e}"));
                // One log line per distinct error, not one per interval.
                if e != last_error {
                    eprintln!("election: {e}");
                    last_error = e;
                }
            }
        }
    }
}

/// Steps down (if leading) without touching the database.
fn lose(app: &Shared, why: &str) {
    let mut n = app.node();
    if n.leader {
        n.leader = false;
        n.lease_deadline = None;
        drop(n);
        eprintln!("lost leadership: {why}");
        app.audit.emit("ha.leader.lost", &app.args.node_id, json!({"reason": why}));
    }
}

async fn read_lease(app: &Shared, c: &Client) -> Result<Option<Lease>, String> {
    let sql = format!(
        "SELECT l.holder_id, l.epoch, l.expires_at < now(), {},
           (SELECT count(*) FROM ha_epoch_claims c WHERE c.epoch = l.epoch AND c.node_id <> l.holder_id),
           (SELECT coalesce(max(epoch), 0) FROM ha_epoch_claims)
         FROM ha_lease l WHERE l.name = 'leader'",
        pg::rfc3339_sql("l.expires_at")
    );
    let row = pg::bounded(app.args.pg_connect_timeout, c.query_opt(&sql, &[])).await?;
    Ok(row.map(|r| Lease {
        holder: r.get(0),
        epoch: r.get(1),
        expired: r.get(2),
        expires_at: r.get(3),
        conflicting_claims: r.get(4),
        max_claim: r.get(5),
    }))
}

async fn step(app: &Shared, c: &Client) -> Result<(), String> {
    let me = app.args.node_id.as_str();
    let lease = read_lease(app, c).await?;
    let (seen, fence) = {
        let n = app.node();
        (n.last_epoch_seen, n.fence.clone())
    };
    let divergence = lease.as_ref().and_then(|l| Some((l, divergence(l, seen)?)));
    match (divergence, fence) {
        (Some((l, why)), None) => {
            detect(app, l, seen, why);
            return Ok(());
        }
        (Some(_), Some(f)) => return try_recover(app, c, lease.as_ref(), &f).await,
        (None, Some(f)) => {
            // Clean again. Only a fresh epoch above the divergence ends the fence; a lease
            // still at the contested epoch (e.g. the rogue claim was deleted) needs one.
            match &lease {
                Some(l) if l.epoch > f.epoch => {
                    observe(app, Some(l)); // the new epoch before the fence is lifted
                    recovered(app, l)
                }
                _ => return try_recover(app, c, lease.as_ref(), &f).await,
            }
        }
        (None, None) => {}
    }
    observe(app, lease.as_ref());
    let was_holder = lease.as_ref().is_some_and(|l| l.holder == me && !l.expired);
    if let Some(l) = lease.as_ref().filter(|l| l.holder != me && !l.expired) {
        lose(app, &format!("lease held by {}", l.holder));
        return Ok(());
    }
    acquire_or_renew(app, c, lease.as_ref(), seen, was_holder).await
}

fn divergence(l: &Lease, seen: i64) -> Option<String> {
    if l.epoch < seen {
        Some(format!("lease epoch went down: {} < last seen {seen}", l.epoch))
    } else if l.conflicting_claims > 0 {
        Some(format!("{} other node(s) claim epoch {} held by {}", l.conflicting_claims, l.epoch, l.holder))
    } else {
        None
    }
}

/// Records what the lease shows (followers and leaders alike).
fn observe(app: &Shared, lease: Option<&Lease>) {
    let mut n = app.node();
    match lease {
        Some(l) => {
            n.holder_id = Some(l.holder.clone());
            n.epoch = l.epoch;
            n.lease_expires_at = Some(l.expires_at.clone());
            n.last_epoch_seen = n.last_epoch_seen.max(l.epoch);
        }
        None => {
            n.holder_id = None;
            n.lease_expires_at = None;
        }
    }
}

fn detect(app: &Shared, l: &Lease, seen: i64, why: String) {
    let fenced_leader = {
        let mut n = app.node();
        let was = n.leader;
        n.fence = Some(Fence { since: Instant::now(), epoch: l.epoch.max(seen).max(l.max_claim) });
        n.split_brain_detected_total += 1;
        n.leader = false;
        n.lease_deadline = None;
        n.holder_id = Some(l.holder.clone());
        n.epoch = l.epoch;
        was
    };
    eprintln!("split brain detected: {why}; fencing (was leader: {fenced_leader})");
    app.audit.emit(
        "ha.split_brain.detected",
        &app.args.node_id,
        json!({"reason": why, "lease_epoch": l.epoch, "lease_holder": l.holder, "last_epoch_seen": seen,
               "conflicting_claims": l.conflicting_claims, "fenced_leader": fenced_leader}),
    );
}

fn recovered(app: &Shared, l: &Lease) {
    app.node().fence = None;
    eprintln!("split brain recovered: lease holder={} epoch={}", l.holder, l.epoch);
    app.audit.emit(
        "ha.split_brain.recovered",
        &app.args.node_id,
        json!({"epoch": l.epoch, "holder_id": l.holder}),
    );
}

/// A fenced node re-takes the lease with a fresh epoch above everything seen, once it has
/// stayed fenced for `--fence-hold`, and only if the lease is its own or expired (so a
/// follower never takes over from a leader that has not yet fenced itself). The UPDATE is
/// a compare-and-set on what was read: exactly one node wins.
async fn try_recover(app: &Shared, c: &Client, lease: Option<&Lease>, f: &Fence) -> Result<(), String> {
    let a = &app.args;
    let me = a.node_id.as_str();
    if f.since.elapsed() < a.fence_hold {
        return Ok(());
    }
    if lease.is_some_and(|l| l.holder != me && !l.expired) {
        return Ok(());
    }
    let seen = app.node().last_epoch_seen;
    let fresh = lease.map_or(0, |l| l.epoch.max(l.max_claim)).max(f.epoch).max(seen) + 1;
    let ttl = a.lease_ttl.as_secs_f64();
    let exp = pg::rfc3339_sql("expires_at");
    let started = Instant::now();
    let row = match lease {
        Some(l) => {
            let sql = format!(
                "UPDATE ha_lease SET holder_id = $1::text, epoch = $2::bigint, expires_at = now() + make_interval(secs => $3::float8)
                 WHERE name = 'leader' AND epoch = $4::bigint AND holder_id = $5::text AND (holder_id = $1::text OR expires_at < now())
                 RETURNING epoch, {exp}"
            );
            pg::bounded(a.pg_connect_timeout, c.query_opt(&sql, &[&me, &fresh, &ttl, &l.epoch, &l.holder]))
                .await?
        }
        None => {
            let sql = format!(
                "INSERT INTO ha_lease (name, holder_id, epoch, expires_at)
                 VALUES ('leader', $1::text, $2::bigint, now() + make_interval(secs => $3::float8))
                 ON CONFLICT (name) DO NOTHING RETURNING epoch, {exp}"
            );
            pg::bounded(a.pg_connect_timeout, c.query_opt(&sql, &[&me, &fresh, &ttl])).await?
        }
    };
    let Some(row) = row else { return Ok(()) };
    let l = Lease::won(me, &row);
    // The node's lease state first, then the fence lifted: a status read in between must
    // never show "recovered" with the old epoch.
    won(app, c, &l, started).await;
    recovered(app, &l);
    Ok(())
}

/// Acquire when free or expired (epoch above everything seen), renew when ours and live.
async fn acquire_or_renew(
    app: &Shared,
    c: &Client,
    lease: Option<&Lease>,
    seen: i64,
    was_holder: bool,
) -> Result<(), String> {
    let a = &app.args;
    let me = a.node_id.as_str();
    let floor = lease.map_or(0, |l| l.max_claim).max(seen);
    let ttl = a.lease_ttl.as_secs_f64();
    let sql = format!(
        "INSERT INTO ha_lease AS l (name, holder_id, epoch, expires_at)
         VALUES ('leader', $1::text, $2::bigint + 1, now() + make_interval(secs => $3::float8))
         ON CONFLICT (name) DO UPDATE SET holder_id = EXCLUDED.holder_id,
           epoch = CASE WHEN l.holder_id = EXCLUDED.holder_id AND l.expires_at >= now() THEN l.epoch
                        ELSE greatest(l.epoch, $2::bigint) + 1 END,
           expires_at = EXCLUDED.expires_at
         WHERE l.holder_id = EXCLUDED.holder_id OR l.expires_at < now()
         RETURNING epoch, {}",
        pg::rfc3339_sql("expires_at")
    );
    let started = Instant::now();
    let row = pg::bounded(a.pg_connect_timeout, c.query_opt(&sql, &[&me, &floor, &ttl])).await?;
    let Some(row) = row else {
        // Someone else won the race for a free lease.
        lose(app, "lease taken by another node");
        return Ok(());
    };
    let l = Lease::won(me, &row);
    let renewed = {
        let n = app.node();
        was_holder && n.leader && n.epoch == l.epoch
    };
    if renewed {
        let mut n = app.node();
        n.lease_deadline = Some(started + a.lease_ttl);
        n.lease_expires_at = Some(l.expires_at);
    } else {
        won(app, c, &l, started).await;
    }
    Ok(())
}

/// A new term: record it locally, claim the epoch in `ha_epoch_claims`, audit it.
async fn won(app: &Shared, c: &Client, l: &Lease, started: Instant) {
    let a = &app.args;
    {
        let mut n = app.node();
        n.leader = true;
        n.lease_deadline = Some(started + a.lease_ttl);
        n.holder_id = Some(l.holder.clone());
        n.epoch = l.epoch;
        n.lease_expires_at = Some(l.expires_at.clone());
        n.last_epoch_seen = n.last_epoch_seen.max(l.epoch);
        n.leader_acquired_total += 1;
    }
    let claim = "INSERT INTO ha_epoch_claims (node_id, epoch) VALUES ($1, $2)";
    if let Err(e) = pg::bounded(a.pg_connect_timeout, c.execute(claim, &[&a.node_id, &l.epoch])).await {
        eprintln!("epoch claim not recorded: {e}");
    }
    eprintln!("acquired leadership epoch={}", l.epoch);
    app.audit.emit_at(
        "ha.leader.acquired",
        &a.node_id,
        &now_rfc3339(),
        json!({"epoch": l.epoch, "lease_expires_at": l.expires_at}),
    );
}

/// Graceful shutdown: expire our lease now so a follower takes over on its next attempt.
pub async fn release(app: &Shared) {
    let a = &app.args;
    let leading = app.node().leader;
    if !leading {
        return;
    }
    let r = async {
        let c = pg::connect(&a.pg_url, a.pg_connect_timeout).await?;
        let sql =
            "UPDATE ha_lease SET expires_at = now() WHERE name = 'leader' AND holder_id = $1 RETURNING epoch";
        pg::bounded(a.pg_connect_timeout, c.query_opt(sql, &[&a.node_id])).await
    }
    .await;
    match r {
        Ok(Some(row)) => {
            let epoch: i64 = row.get(0);
            eprintln!("released leadership epoch={epoch} (SIGTERM)");
            app.audit.emit("ha.leader.released", &a.node_id, json!({"epoch": epoch, "reason": "SIGTERM"}));
        }
        Ok(None) => eprintln!("release: lease no longer ours"),
        Err(e) => eprintln!("release failed (the lease will expire by itself): {e}"),
    }
}
