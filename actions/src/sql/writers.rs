//! sql.writers: a pool of workers writing batches and classifying every attempted write.
//!
//! Contract (DESIGN §5): a batch is **acknowledged** when its COMMIT returned with no
//! WARNING notice; **failed** when an error came before COMMIT was sent (rolled back);
//! **unknown** when the connection was lost during COMMIT, the commit outlived
//! `commit_timeout`, or COMMIT returned with a WARNING ("canceling wait for synchronous
//! replication ... may not have been replicated"). A commit in flight is never cancelled:
//! on stop the pool lets it finish, and on `commit_timeout` it drops the connection.
//! Ids are allocated from the table's sequence before each batch, so every id the pool
//! consumed is known and classified.
use super::conn::{connect, pg_error, redact, Conn, CONNECT_TIMEOUT};
use super::idset::IdSet;
use crate::params::{decode, schema};
use crate::{Action, ActionCtx, ActionEntry, ActionError, ActionSpec, Dur, Outcome, OutputField};
use async_trait::async_trait;
use futures::SinkExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// `INSERT ... SELECT unnest(ids)` per batch.
    Insert,
    /// `COPY ... FROM STDIN` per batch.
    Copy,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WritersParams {
    /// Connection string of the primary (or the service in front of it).
    url: String,
    /// Table (default tr_writes): id bigserial primary key, worker int, batch bigint, payload text.
    table: Option<String>,
    /// Concurrent workers, each with its own connection (default 8).
    workers: Option<u32>,
    /// Rows per transaction (default 1000).
    batch_rows: Option<u32>,
    /// Payload bytes per row (default 1024).
    row_bytes: Option<u32>,
    /// Stop after this many rows have been attempted.
    rows: Option<u64>,
    /// Stop after this long.
    duration: Option<Dur>,
    /// Cap on rows per second for the whole pool.
    rate: Option<u64>,
    /// insert (default) or copy.
    mode: Option<Mode>,
    /// Create the table if missing (default true).
    create_table: Option<bool>,
    /// Empty the table (and restart its sequence) first.
    #[serde(default)]
    truncate: bool,
    /// How long a COMMIT may take before the connection is dropped and the batch is unknown (default 30s).
    commit_timeout: Option<Dur>,
    /// Reconnect after a lost connection and keep writing (default true): writes continue across a failover.
    reconnect: Option<bool>,
}

/// Every id the pool allocated, by outcome.
#[derive(Default)]
pub struct WriterSets {
    pub acked: IdSet,
    pub failed: IdSet,
    pub unknown: IdSet,
}

type Key = (PathBuf, String);
static REGISTRY: LazyLock<Mutex<HashMap<Key, Arc<Mutex<WriterSets>>>>> = LazyLock::new(Default::default);

/// The id sets of a writers step of this run, if it ran in this process.
pub fn lookup(run_dir: &std::path::Path, step: &str) -> Option<Arc<Mutex<WriterSets>>> {
    REGISTRY.lock().unwrap().get(&(run_dir.to_path_buf(), step.to_string())).cloned()
}

pub fn ids_file_name(step: &str) -> String {
    format!("writers-{step}.ids")
}

/// `acked 1-5000`, `unknown 5001-6000`, `failed ...`: one line per run of ids.
pub fn render_ids(sets: &WriterSets) -> String {
    let mut out = String::from("# testrunner sql.writers ids v1\n");
    for (label, set) in [("acked", &sets.acked), ("unknown", &sets.unknown), ("failed", &sets.failed)] {
        for (a, b) in set.ranges() {
            out.push_str(&format!("{label} {a}-{b}\n"));
        }
    }
    out
}

pub fn parse_ids(text: &str) -> Result<WriterSets, String> {
    let mut s = WriterSets::default();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty()) {
        let (label, range) = line.split_once(' ').ok_or(format!("line {}: `{line}`", n + 1))?;
        let (a, b) = range.split_once('-').ok_or(format!("line {}: `{line}`", n + 1))?;
        let (a, b): (i64, i64) = (
            a.parse().map_err(|_| format!("line {}", n + 1))?,
            b.parse().map_err(|_| format!("line {}", n + 1))?,
        );
        let set = match label {
            "acked" => &mut s.acked,
            "unknown" => &mut s.unknown,
            "failed" => &mut s.failed,
            _ => return Err(format!("line {}: unknown label `{label}`", n + 1)),
        };
        for id in a..=b {
            set.insert(id);
        }
    }
    Ok(s)
}

struct Shared {
    sets: Arc<Mutex<WriterSets>>,
    next_batch: AtomicU64,
    attempted_rows: AtomicU64,
    blind: AtomicU64,
    errors: Mutex<Vec<String>>,
    /// Acknowledged rows per 100 ms bucket since start.
    per_bucket: Mutex<Vec<u64>>,
    t0: Instant,
}

impl Shared {
    fn error(&self, msg: String) {
        let mut e = self.errors.lock().unwrap();
        if e.len() < 5 && !e.contains(&msg) {
            e.push(msg);
        }
    }
    fn acked(&self, n: u64) {
        let s = (self.t0.elapsed().as_millis() / 100) as usize;
        let mut ps = self.per_bucket.lock().unwrap();
        if ps.len() <= s {
            ps.resize(s + 1, 0);
        }
        ps[s] += n;
    }
}

struct Writers;

#[async_trait]
impl Action for Writers {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "sql.writers",
            summary: "Background writer pool: N workers, batches of rows, every write classified acknowledged / failed / unknown",
            params: schema::<WritersParams>(),
            outputs: &[
                OutputField { name: "acknowledged", ty: "int", doc: "rows whose COMMIT returned cleanly" },
                OutputField { name: "failed", ty: "int", doc: "rows whose batch failed before COMMIT" },
                OutputField { name: "unknown", ty: "int", doc: "rows whose COMMIT outcome is unknown" },
                OutputField { name: "blind_failures", ty: "int", doc: "id allocations that failed (ids never learned)" },
                OutputField { name: "rows_per_s", ty: "float", doc: "acknowledged rows per second" },
                OutputField { name: "max_ack_id", ty: "int", doc: "highest acknowledged id" },
                OutputField { name: "ids_file", ty: "string", doc: "evidence file with every id by outcome" },
                OutputField { name: "series", ty: "list", doc: "[seconds, acknowledged rows/s] per 100 ms, for the write-rate chart" },
                OutputField { name: "errors", ty: "list", doc: "the first distinct errors" },
            ],
            example: "- id: writers\n  sql.writers: { url: \"${primary_url}\", workers: 8, batch_rows: 1000, row_bytes: 1024, rows: 1000000 }\n  background: true\n",
            background: true,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: WritersParams = decode(params)?;
        let table = p.table.clone().unwrap_or_else(|| "tr_writes".into());
        let ident = format!("\"{}\"", table.replace('"', "\"\""));
        let setup = connect(&p.url, ctx, CONNECT_TIMEOUT).await?;
        if p.create_table.unwrap_or(true) {
            let ddl = format!("CREATE TABLE IF NOT EXISTS {ident} (id bigserial PRIMARY KEY, worker int NOT NULL, batch bigint, payload text NOT NULL)");
            setup.client.batch_execute(&ddl).await.map_err(|e| pg_error(&p.url, &e, ctx))?;
        }
        if p.truncate {
            setup
                .client
                .batch_execute(&format!("TRUNCATE {ident} RESTART IDENTITY"))
                .await
                .map_err(|e| pg_error(&p.url, &e, ctx))?;
        }
        let seq: Option<String> = setup
            .client
            .query_one("SELECT pg_get_serial_sequence($1, 'id')", &[&table])
            .await
            .map_err(|e| pg_error(&p.url, &e, ctx))?
            .get(0);
        let seq = seq.ok_or_else(|| ActionError::new(format!("table {table} has no serial `id` column")))?;
        drop(setup);

        let sets: Arc<Mutex<WriterSets>> = Arc::default();
        REGISTRY.lock().unwrap().insert((ctx.state.run_dir.clone(), ctx.step_id.clone()), sets.clone());
        let shared = Arc::new(Shared {
            sets: sets.clone(),
            next_batch: AtomicU64::new(0),
            attempted_rows: AtomicU64::new(0),
            blind: AtomicU64::new(0),
            errors: Mutex::default(),
            per_bucket: Mutex::default(),
            t0: Instant::now(),
        });
        let cfg = Arc::new(Cfg {
            url: p.url.clone(),
            ident,
            seq,
            batch_rows: p.batch_rows.unwrap_or(1000).max(1) as u64,
            row_bytes: p.row_bytes.unwrap_or(1024) as i32,
            rows: p.rows,
            until: p.duration.map(|d| Instant::now() + d.0),
            rate: p.rate,
            mode: p.mode.unwrap_or(Mode::Insert),
            commit_timeout: p.commit_timeout.map(|d| d.0).unwrap_or(Duration::from_secs(30)),
            reconnect: p.reconnect.unwrap_or(true),
        });
        let workers = p.workers.unwrap_or(8).max(1);
        let mut handles = vec![];
        for w in 0..workers {
            let (cfg, shared, ctx) = (cfg.clone(), shared.clone(), ctx.clone());
            handles.push(tokio::spawn(async move { worker(w as i32, &cfg, &shared, &ctx).await }));
        }
        for h in handles {
            let _ = h.await;
        }
        let elapsed = shared.t0.elapsed();
        let s = sets.lock().unwrap();
        let ids_text = render_ids(&s);
        let ids_file = ctx.write_evidence(&ids_file_name(&ctx.step_id), ids_text.as_bytes())?;
        let acked = s.acked.len();
        let series: Vec<Value> = shared
            .per_bucket
            .lock()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, n)| json!([i as f64 / 10.0, n * 10]))
            .collect();
        let errors: Vec<String> =
            shared.errors.lock().unwrap().iter().map(|e| ctx.state.masker.mask(e).into_owned()).collect();
        Ok(Outcome::new()
            .with("acknowledged", acked)
            .with("failed", s.failed.len())
            .with("unknown", s.unknown.len())
            .with("blind_failures", shared.blind.load(Ordering::Relaxed))
            .with("attempted", shared.attempted_rows.load(Ordering::Relaxed))
            .with(
                "rows_per_s",
                if elapsed.as_secs_f64() > 0.0 {
                    (acked as f64 / elapsed.as_secs_f64()).round()
                } else {
                    0.0
                },
            )
            .with("max_ack_id", s.acked.max().map(Value::from).unwrap_or(Value::Null))
            .with("elapsed_ms", elapsed.as_millis() as u64)
            .with("ids_file", ids_file)
            .with("series", Value::Array(series))
            .with("errors", errors)
            .with("workers", workers))
    }
}

struct Cfg {
    url: String,
    ident: String,
    seq: String,
    batch_rows: u64,
    row_bytes: i32,
    rows: Option<u64>,
    until: Option<Instant>,
    rate: Option<u64>,
    mode: Mode,
    commit_timeout: Duration,
    reconnect: bool,
}

async fn worker(w: i32, cfg: &Cfg, sh: &Shared, ctx: &ActionCtx) {
    let mut conn: Option<Conn> = None;
    let mut backoff = Duration::from_millis(50);
    let payload = "x".repeat(cfg.row_bytes.max(0) as usize);
    loop {
        if ctx.stop.is_cancelled() || cfg.until.is_some_and(|u| Instant::now() >= u) {
            return;
        }
        let batch = sh.next_batch.fetch_add(1, Ordering::SeqCst);
        let n = match cfg.rows {
            Some(total) if batch * cfg.batch_rows >= total => return,
            Some(total) => cfg.batch_rows.min(total - batch * cfg.batch_rows),
            None => cfg.batch_rows,
        };
        if let Some(rate) = cfg.rate.filter(|r| *r > 0) {
            // The pool may not be ahead of `rate` rows per second.
            let due = sh.t0 + Duration::from_secs_f64((batch * cfg.batch_rows) as f64 / rate as f64);
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = ctx.stop.cancelled() => return,
            }
        }
        if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            match connect(&cfg.url, ctx, CONNECT_TIMEOUT).await {
                Ok(c) => {
                    conn = Some(c);
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    sh.error(e.message);
                    if !cfg.reconnect {
                        return;
                    }
                    // This batch number is abandoned (nothing was allocated); back off, bounded.
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = ctx.stop.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            }
        }
        let c = conn.as_ref().unwrap();
        sh.attempted_rows.fetch_add(n, Ordering::Relaxed);
        let ids: Vec<i64> = match c
            .client
            .query(
                "SELECT nextval($1::text::regclass) FROM generate_series(1, $2::int8)",
                &[&cfg.seq, &(n as i64)],
            )
            .await
        {
            Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
            Err(e) => {
                sh.blind.fetch_add(1, Ordering::Relaxed);
                sh.error(format!("allocate ids: {}", redact(&e.to_string())));
                conn = None;
                continue;
            }
        };
        if let Err(e) = write_batch(c, cfg, w, batch as i64, &ids, &payload).await {
            sh.error(e);
            {
                let mut s = sh.sets.lock().unwrap();
                ids.iter().for_each(|id| {
                    s.failed.insert(*id);
                });
            }
            if c.client.is_closed() || c.client.simple_query("ROLLBACK").await.is_err() {
                conn = None;
            }
            continue;
        }
        // COMMIT: never cancelled by stop; bounded by commit_timeout (then the connection is dropped).
        let before = c.notices.lock().unwrap().len();
        let outcome = tokio::time::timeout(cfg.commit_timeout, c.client.simple_query("COMMIT")).await;
        let warned = c.notices.lock().unwrap()[before..].iter().any(|(sev, _)| sev == "WARNING");
        let acked = matches!(outcome, Ok(Ok(_))) && !warned;
        {
            let mut s = sh.sets.lock().unwrap();
            let set = if acked { &mut s.acked } else { &mut s.unknown };
            ids.iter().for_each(|id| {
                set.insert(*id);
            });
        }
        if acked {
            sh.acked(ids.len() as u64);
        } else {
            let why = match &outcome {
                Err(_) => format!(
                    "COMMIT took longer than {}ms: connection dropped, batch unknown",
                    cfg.commit_timeout.as_millis()
                ),
                Ok(Err(e)) => format!("COMMIT failed: {e}: batch unknown"),
                Ok(Ok(_)) => {
                    let n = c.notices.lock().unwrap();
                    format!(
                        "COMMIT returned with a warning: {}",
                        n[before..].iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("; ")
                    )
                }
            };
            sh.error(why);
            if !matches!(outcome, Ok(Ok(_))) {
                conn = None;
            }
        }
    }
}

async fn write_batch(
    c: &Conn,
    cfg: &Cfg,
    worker: i32,
    batch: i64,
    ids: &[i64],
    payload: &str,
) -> Result<(), String> {
    c.client.simple_query("BEGIN").await.map_err(|e| format!("BEGIN: {e}"))?;
    match cfg.mode {
        Mode::Insert => {
            let sql = format!("INSERT INTO {} (id, worker, batch, payload) SELECT unnest($1::int8[]), $2, $3, repeat('x', $4)", cfg.ident);
            c.client
                .execute(&sql, &[&ids, &worker, &batch, &cfg.row_bytes])
                .await
                .map_err(|e| format!("INSERT: {e}"))?;
        }
        Mode::Copy => {
            let sink = c
                .client
                .copy_in(&format!("COPY {} (id, worker, batch, payload) FROM STDIN", cfg.ident))
                .await
                .map_err(|e| format!("COPY: {e}"))?;
            let mut buf = String::with_capacity(ids.len() * (payload.len() + 32));
            for id in ids {
                buf.push_str(&format!("{id}\t{worker}\t{batch}\t{payload}\n"));
            }
            futures::pin_mut!(sink);
            sink.send(bytes::Bytes::from(buf)).await.map_err(|e| format!("COPY: {e}"))?;
            sink.finish().await.map_err(|e| format!("COPY: {e}"))?;
        }
    }
    Ok(())
}

inventory::submit!(ActionEntry(&Writers));
