//! One HA node: lease election, quorum monitor, write gate, split-brain detection, HTTP API.
use crate::audit::Audit;
use crate::pg;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::Client;

#[derive(clap::Args)]
pub struct Args {
    /// This node's id (the lease holder id).
    #[arg(long)]
    node_id: String,
    /// Address to listen on, e.g. 127.0.0.1:19003.
    #[arg(long)]
    listen: String,
    /// PostgreSQL holding the lease and the user data.
    #[arg(long)]
    pg_url: String,
    /// Lease time-to-live: how long a dead leader blocks a takeover.
    #[arg(long, default_value = "2s", value_parser = crate::duration)]
    lease_ttl: Duration,
    /// Renew (leader) / try-acquire (follower) period.
    #[arg(long, default_value = "500ms", value_parser = crate::duration)]
    renew_interval: Duration,
    /// Quorum monitor period; 0 disables the monitor (quorum then never changes).
    #[arg(long, default_value = "500ms", value_parser = crate::duration)]
    quorum_monitor_interval: Duration,
    /// Synchronous replicas required for `healthy`.
    #[arg(long, default_value_t = 0)]
    min_sync_replicas: i64,
    /// Where audit.jsonl is written.
    #[arg(long, default_value = "./audit")]
    audit_dir: std::path::PathBuf,
    /// Bound on every connect and query.
    #[arg(long, default_value = "1s", value_parser = crate::duration)]
    pg_connect_timeout: Duration,
}

#[derive(Default)]
struct Node {
    is_leader: bool,
    holder_id: Option<String>,
    epoch: i64,
    lease_expires_at: Option<String>,
    last_epoch_seen: i64,
    split_brain: bool,
    split_brain_since: Option<std::time::Instant>,
    quorum_health: String,
    quorum_loss_reason: String,
    last_lost_at: Option<String>,
    last_restored_at: Option<String>,
    detected_loss_count: i64,
    checked_at: Option<String>,
    quorum_lost_total: i64,
}

struct App {
    args: Args,
    node: Mutex<Node>,
    audit: Audit,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl App {
    fn writes_allowed(n: &Node) -> bool {
        n.quorum_health == "healthy" && !n.split_brain
    }
}

pub async fn run(args: Args) -> i32 {
    let audit = match Audit::new(args.audit_dir.clone()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("halab: audit dir {}: {e}", args.audit_dir.display());
            return 2;
        }
    };
    let node = Node { quorum_health: "healthy".into(), ..Default::default() };
    let app = Arc::new(App { args, node: Mutex::new(node), audit });
    let listener = match tokio::net::TcpListener::bind(&app.args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("halab: cannot listen on {}: {e}", app.args.listen);
            return 2;
        }
    };
    eprintln!("halab node {} listening on {}", app.args.node_id, app.args.listen);
    tokio::spawn(election(app.clone()));
    if app.args.quorum_monitor_interval.is_zero() {
        eprintln!("quorum monitor disabled");
    } else {
        eprintln!("quorum monitor started interval={}ms", app.args.quorum_monitor_interval.as_millis());
        tokio::spawn(monitor(app.clone()));
    }
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/ha/status", get(status))
        .route("/v1/ha/quorum", get(quorum))
        .route("/v1/protected/writes", post(write))
        .route("/v1/audit/events", get(audit_events))
        .route("/metrics", get(metrics))
        .with_state(app.clone());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal");
    let server = axum::serve(listener, router);
    tokio::select! {
        r = server => {
            if let Err(e) = r { eprintln!("halab: server: {e}"); }
            1
        }
        _ = term.recv() => {
            release(&app).await;
            0
        }
    }
}

/// Graceful shutdown: expire our lease now so a follower can take over at once.
async fn release(app: &App) {
    let a = &app.args;
    if let Ok(c) = pg::connect(&a.pg_url, a.pg_connect_timeout).await {
        let r = pg::bounded(
            a.pg_connect_timeout,
            c.execute("UPDATE ha_lease SET expires_at = now() - interval '1 second' WHERE name = 'leader' AND holder_id = $1", &[&a.node_id]),
        )
        .await;
        if matches!(r, Ok(1)) {
            app.audit.emit("ha.leader.released", &a.node_id, json!({"reason": "SIGTERM"}));
            eprintln!("released leadership (SIGTERM)");
        }
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS ha_lease (name text PRIMARY KEY, holder_id text NOT NULL, epoch bigint NOT NULL, expires_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS ha_epoch_claims (node_id text NOT NULL, epoch bigint NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS lab_writes (id bigserial PRIMARY KEY, key text NOT NULL, value text NOT NULL, node_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());";

async fn election(app: Arc<App>) {
    let a = &app.args;
    let mut client: Option<Client> = None;
    loop {
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            client = match pg::connect(&a.pg_url, a.pg_connect_timeout).await {
                Ok(c) => match pg::bounded(a.pg_connect_timeout, c.batch_execute(SCHEMA)).await {
                    Ok(()) => Some(c),
                    Err(e) => {
                        eprintln!("schema: {e}");
                        None
                    }
                },
                Err(_) => None,
            };
        }
        match &client {
            Some(c) => {
                if let Err(e) = tick(&app, c).await {
                    eprintln!("election: {e}");
                    step_down(&app, "lease renewal failed");
                    client = None;
                }
            }
            None => step_down(&app, "database unreachable"),
        }
        tokio::time::sleep(a.renew_interval).await;
    }
}

fn step_down(app: &App, why: &str) {
    let mut n = app.node.lock().unwrap();
    if n.is_leader {
        n.is_leader = false;
        eprintln!("lost leadership: {why}");
    }
}

async fn tick(app: &App, c: &Client) -> Result<(), String> {
    let a = &app.args;
    let t = a.pg_connect_timeout;
    let row = pg::bounded(t, c.query_opt("SELECT holder_id, epoch, expires_at < now() AS expired, expires_at::text FROM ha_lease WHERE name = 'leader'", &[])).await?;
    let (holder, epoch, expired) = match &row {
        Some(r) => (Some(r.get::<_, String>(0)), r.get::<_, i64>(1), r.get::<_, bool>(2)),
        None => (None, 0, true),
    };
    // Epoch divergence: the lease went backwards, or another node claims the current epoch.
    let claims: i64 = pg::bounded(
        t,
        c.query_one(
            "SELECT count(*) FROM ha_epoch_claims WHERE epoch = $1 AND node_id <> $2",
            &[&epoch, &holder.clone().unwrap_or_default()],
        ),
    )
    .await?
    .get(0);
    let seen = app.node.lock().unwrap().last_epoch_seen;
    let diverged = (row.is_some() && epoch < seen) || claims > 0;
    {
        let mut n = app.node.lock().unwrap();
        if diverged && !n.split_brain {
            n.split_brain = true;
            n.split_brain_since = Some(std::time::Instant::now());
            let was_leader = n.is_leader;
            n.is_leader = false;
            drop(n);
            app.audit.emit(
                "ha.split_brain.detected",
                &a.node_id,
                json!({"lease_epoch": epoch, "last_epoch_seen": seen, "conflicting_claims": claims, "fenced": was_leader}),
            );
            eprintln!("split brain detected: lease epoch {epoch}, seen {seen}, conflicting claims {claims}; fencing");
            return Ok(());
        }
    }
    let fenced_for = app.node.lock().unwrap().split_brain_since.map(|s| s.elapsed());
    if let Some(f) = fenced_for {
        // Recover after staying fenced for two intervals: take the lease with a fresh epoch
        // above everything seen, and drop the stale claims.
        if f < a.renew_interval * 2 {
            return Ok(());
        }
        let fresh = epoch.max(seen) + 1;
        let sql = "WITH d AS (DELETE FROM ha_epoch_claims) INSERT INTO ha_lease (name, holder_id, epoch, expires_at) VALUES ('leader', $1, $2, now() + $3::bigint * interval '1 millisecond') ON CONFLICT (name) DO UPDATE SET holder_id = EXCLUDED.holder_id, epoch = EXCLUDED.epoch, expires_at = EXCLUDED.expires_at";
        let ttl = a.lease_ttl.as_millis() as i64;
        pg::bounded(t, c.execute(sql, &[&a.node_id, &fresh, &ttl])).await?;
        pg::bounded(
            t,
            c.execute("INSERT INTO ha_epoch_claims (node_id, epoch) VALUES ($1, $2)", &[&a.node_id, &fresh]),
        )
        .await?;
        {
            let mut n = app.node.lock().unwrap();
            n.split_brain = false;
            n.split_brain_since = None;
            n.is_leader = true;
            n.epoch = fresh;
            n.last_epoch_seen = fresh;
            n.holder_id = Some(a.node_id.clone());
        }
        app.audit.emit("ha.split_brain.recovered", &a.node_id, json!({"epoch": fresh}));
        app.audit.emit("ha.leader.acquired", &a.node_id, json!({"epoch": fresh}));
        eprintln!("split brain recovered: acquired leadership epoch={fresh}");
        return Ok(());
    }
    // Acquire when free or expired, renew when ours.
    let ttl = a.lease_ttl.as_millis() as i64;
    let mine = holder.as_deref() == Some(a.node_id.as_str());
    let got = if mine || expired {
        let new_epoch = if mine && !expired { epoch } else { epoch.max(seen) + 1 };
        let sql = "INSERT INTO ha_lease (name, holder_id, epoch, expires_at) VALUES ('leader', $1, $2, now() + $3::bigint * interval '1 millisecond')
                   ON CONFLICT (name) DO UPDATE SET holder_id = EXCLUDED.holder_id, epoch = EXCLUDED.epoch, expires_at = EXCLUDED.expires_at
                   WHERE ha_lease.holder_id = EXCLUDED.holder_id OR ha_lease.expires_at < now()
                   RETURNING epoch, expires_at::text";
        pg::bounded(t, c.query_opt(sql, &[&a.node_id, &new_epoch, &ttl])).await?
    } else {
        None
    };
    let acquired = {
        let mut n = app.node.lock().unwrap();
        match got {
            Some(r) => {
                let e: i64 = r.get(0);
                let newly = !n.is_leader;
                n.is_leader = true;
                n.holder_id = Some(a.node_id.clone());
                n.epoch = e;
                n.last_epoch_seen = n.last_epoch_seen.max(e);
                n.lease_expires_at = Some(r.get(1));
                newly.then_some(e)
            }
            None => {
                if n.is_leader {
                    eprintln!("lost leadership to {holder:?}");
                }
                n.is_leader = false;
                n.holder_id = holder;
                n.epoch = epoch;
                n.last_epoch_seen = n.last_epoch_seen.max(epoch);
                n.lease_expires_at = row.as_ref().map(|r| r.get(3));
                None
            }
        }
    };
    if let Some(e) = acquired {
        let _ = pg::bounded(
            t,
            c.execute("INSERT INTO ha_epoch_claims (node_id, epoch) VALUES ($1, $2)", &[&a.node_id, &e]),
        )
        .await;
        app.audit.emit("ha.leader.acquired", &a.node_id, json!({"epoch": e}));
        eprintln!("acquired leadership epoch={e}");
    }
    Ok(())
}

async fn monitor(app: Arc<App>) {
    let a = &app.args;
    loop {
        let probe = async {
            let c = pg::connect(&a.pg_url, a.pg_connect_timeout).await?;
            pg::bounded(a.pg_connect_timeout, c.query_one("SELECT 1", &[])).await?;
            let sync: i64 = pg::bounded(
                a.pg_connect_timeout,
                c.query_one(
                    "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')",
                    &[],
                ),
            )
            .await?
            .get(0);
            Ok::<i64, String>(sync)
        };
        let (health, reason) = match probe.await {
            Err(e) => ("lost", e),
            Ok(sync) if sync < a.min_sync_replicas => {
                ("degraded", format!("{sync} sync replicas, {} required", a.min_sync_replicas))
            }
            Ok(_) => ("healthy", String::new()),
        };
        let transition = {
            let mut n = app.node.lock().unwrap();
            let prev = n.quorum_health.clone();
            n.checked_at = Some(now());
            n.quorum_health = health.to_string();
            n.quorum_loss_reason = if health == "lost" { reason.clone() } else { String::new() };
            if health == "lost" && prev != "lost" {
                n.detected_loss_count += 1;
                n.quorum_lost_total += 1;
                n.last_lost_at = Some(now());
                Some((
                    "ha.quorum.lost",
                    json!({"reason": reason, "detected_loss_count": n.detected_loss_count}),
                ))
            } else if health != "lost" && prev == "lost" {
                n.last_restored_at = Some(now());
                Some(("ha.quorum.restored", json!({"quorum_health": health})))
            } else {
                None
            }
        };
        if let Some((event, details)) = transition {
            eprintln!("{event}: {details}");
            app.audit.emit(event, &a.node_id, details);
        }
        tokio::time::sleep(a.quorum_monitor_interval).await;
    }
}

async fn status(State(app): State<Arc<App>>) -> Json<Value> {
    let n = app.node.lock().unwrap();
    Json(json!({
        "node_id": app.args.node_id,
        "role": if n.is_leader { "leader" } else { "follower" },
        "is_leader": n.is_leader,
        "holder_id": n.holder_id,
        "epoch": n.epoch,
        "lease_expires_at": n.lease_expires_at,
        "split_brain_detected": n.split_brain,
        "last_epoch_seen": n.last_epoch_seen,
    }))
}

async fn quorum(State(app): State<Arc<App>>) -> Json<Value> {
    let n = app.node.lock().unwrap();
    let can = App::writes_allowed(&n);
    Json(json!({
        "quorum_health": n.quorum_health,
        "write_block_active": !can,
        "can_accept_protected_writes": can,
        "quorum_loss_reason": n.quorum_loss_reason,
        "last_lost_at": n.last_lost_at,
        "last_restored_at": n.last_restored_at,
        "detected_loss_count": n.detected_loss_count,
        "node_id": app.args.node_id,
        "checked_at": n.checked_at,
    }))
}

async fn write(State(app): State<Arc<App>>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let (allowed, leader, health, split) = {
        let n = app.node.lock().unwrap();
        (App::writes_allowed(&n), n.is_leader, n.quorum_health.clone(), n.split_brain)
    };
    if !allowed {
        let why = if split {
            "write blocked: split brain detected (fenced)".to_string()
        } else {
            format!("write blocked: quorum {health}")
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": why, "write_block_active": true})));
    }
    if !leader {
        return (StatusCode::CONFLICT, Json(json!({"error": "not the leader"})));
    }
    let key = body["key"].as_str().unwrap_or("").to_string();
    let value = body["value"].as_str().map(String::from).unwrap_or_else(|| body["value"].to_string());
    let a = &app.args;
    let r = async {
        let c = pg::connect(&a.pg_url, a.pg_connect_timeout).await?;
        pg::bounded(
            a.pg_connect_timeout,
            c.query_one(
                "INSERT INTO lab_writes (key, value, node_id) VALUES ($1, $2, $3) RETURNING id",
                &[&key, &value, &a.node_id],
            ),
        )
        .await
    }
    .await;
    match r {
        Ok(row) => (StatusCode::CREATED, Json(json!({"id": row.get::<_, i64>(0)}))),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": e}))),
    }
}

async fn audit_events(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let start = match q.get("start_time") {
        Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"error": format!("start_time: {e}")}))),
        },
        None => None,
    };
    let events = app.audit.query(q.get("event_type").map(String::as_str), start);
    (StatusCode::OK, Json(json!({"count": events.len(), "events": events})))
}

async fn metrics(State(app): State<Arc<App>>) -> String {
    let n = app.node.lock().unwrap();
    format!(
        "# HELP ha_is_leader 1 when this node holds the lease.\n# TYPE ha_is_leader gauge\nha_is_leader{{node=\"{id}\"}} {}\n\
         # TYPE ha_epoch gauge\nha_epoch{{node=\"{id}\"}} {}\n\
         # TYPE ha_quorum_lost_total counter\nha_quorum_lost_total{{node=\"{id}\"}} {}\n\
         # TYPE ha_write_block_active gauge\nha_write_block_active{{node=\"{id}\"}} {}\n",
        n.is_leader as i32,
        n.epoch,
        n.quorum_lost_total,
        (!App::writes_allowed(&n)) as i32,
        id = app.args.node_id
    )
}
