//! The HTTP API. Every answer comes from in-memory state except the protected write,
//! which is bounded by `--pg-connect-timeout`.
use crate::pg;
use crate::shared::Shared;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

pub fn router(app: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/ha/status", get(status))
        .route("/v1/ha/quorum", get(quorum))
        .route("/v1/protected/writes", post(write))
        .route("/v1/audit/events", get(audit_events))
        .route("/metrics", get(metrics))
        .with_state(app)
}

async fn status(State(app): State<Arc<Shared>>) -> Json<Value> {
    Json(app.node().status_json(&app.args.node_id))
}

async fn quorum(State(app): State<Arc<Shared>>) -> Json<Value> {
    Json(app.node().quorum_json(&app.args.node_id))
}

async fn metrics(State(app): State<Arc<Shared>>) -> impl IntoResponse {
    let text = app.node().metrics_text(&app.args.node_id);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

fn answer(code: StatusCode, body: Value) -> (StatusCode, Json<Value>) {
    (code, Json(body))
}

/// The write gate: 503 while writes are blocked, 409 on a follower, else one row in
/// `lab_writes`. The INSERT is itself fenced: it only commits while the lease in the
/// database is still ours at our epoch.
async fn write(State(app): State<Arc<Shared>>, body: Bytes) -> (StatusCode, Json<Value>) {
    let (can, leading, epoch, health, fenced, holder) = {
        let n = app.node();
        let can = n.can_accept_protected_writes();
        (can, n.leading(), n.epoch, n.quorum.health, n.fence.is_some(), n.holder_id.clone())
    };
    if !can {
        let error = if fenced {
            "write blocked: split brain detected (fenced)".to_string()
        } else {
            format!("write blocked: quorum {}", health.as_str())
        };
        let body = json!({"error": error, "quorum_health": health.as_str(), "write_block_active": true,
                          "split_brain_detected": fenced});
        return answer(StatusCode::SERVICE_UNAVAILABLE, body);
    }
    if !leading {
        return answer(StatusCode::CONFLICT, json!({"error": "not the leader", "holder_id": holder}));
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return answer(StatusCode::BAD_REQUEST, json!({"error": format!("body is not JSON: {e}")})),
    };
    let Some(key) = parsed.get("key").and_then(Value::as_str).map(str::to_string) else {
        return answer(StatusCode::BAD_REQUEST, json!({"error": "body needs a string `key`"}));
    };
    let value = match parsed.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    match insert(&app, &key, &value, epoch).await {
        Ok(Some(id)) => answer(StatusCode::CREATED, json!({"id": id, "epoch": epoch})),
        Ok(None) => answer(
            StatusCode::CONFLICT,
            json!({"error": format!("fenced: the lease is no longer held by this node at epoch {epoch}")}),
        ),
        Err(e) => answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": format!("database: {e}")})),
    }
}

async fn insert(app: &Shared, key: &str, value: &str, epoch: i64) -> Result<Option<i64>, String> {
    let a = &app.args;
    let client = {
        let mut slot = app.writer.lock().await;
        match slot.as_ref() {
            Some(c) if !c.is_closed() => c.clone(),
            _ => {
                let c = Arc::new(pg::connect(&a.pg_url, a.pg_connect_timeout).await?);
                *slot = Some(c.clone());
                c
            }
        }
    };
    let sql = "INSERT INTO lab_writes (key, value, node_id, epoch)
               SELECT $1::text, $2::text, $3::text, $4::bigint WHERE EXISTS (SELECT 1 FROM ha_lease WHERE name = 'leader'
                 AND holder_id = $3::text AND epoch = $4::bigint AND expires_at > now())
               RETURNING id";
    let r =
        pg::bounded(a.pg_connect_timeout, client.query_opt(sql, &[&key, &value, &a.node_id, &epoch])).await;
    if r.is_err() {
        // A broken or hung connection is not reused.
        *app.writer.lock().await = None;
    }
    Ok(r?.map(|row| row.get(0)))
}

async fn audit_events(
    State(app): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let start = match q.get("start_time").filter(|s| !s.is_empty()) {
        // A `+` offset left unencoded in a query string arrives as a space.
        Some(s) => match chrono::DateTime::parse_from_rfc3339(&s.replace(' ', "+")) {
            Ok(t) => Some(t.to_utc()),
            Err(e) => {
                return answer(StatusCode::BAD_REQUEST, json!({"error": format!("start_time `{s}`: {e}")}))
            }
        },
        None => None,
    };
    let kind = q.get("event_type").map(String::as_str).filter(|s| !s.is_empty());
    let events = app.audit.query(kind, start);
    let count = events.len();
    answer(StatusCode::OK, json!({"events": events, "count": count}))
}
