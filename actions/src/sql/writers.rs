//! sql.writers: a pool of workers writing batches and classifying every attempted write.
//!
//! Contract (DESIGN §5). Each batch is one transaction; its ids are taken from the table's
//! sequence inside it and learned before its COMMIT is sent (INSERT … RETURNING; COPY mode
//! allocates them first), so every id the pool wrote is known. A batch is
//! - **acknowledged** when its COMMIT returned with no WARNING notice;
//! - **failed** when an error (or stop / deadline) came before COMMIT was sent: the server
//!   rolls it back, so its ids are certainly absent (one that failed before its ids were
//!   learned wrote nothing the pool can name: it counts in `blind_failures`);
//! - **unknown** when the connection was lost or errored during COMMIT, the COMMIT outlived
//!   `commit_timeout` / the deadline / the stop grace, or it returned with a WARNING
//!   ("canceling wait for synchronous replication ... may not have been replicated").
//!
//! A commit in flight is never cancelled (no cancel request): when it must be abandoned
//! the connection is dropped and the batch recorded unknown. The next batch's BEGIN and
//! write are sent behind each COMMIT (one round trip a batch); behind a COMMIT that is
//! abandoned, that batch goes with the connection, its COMMIT never sent: blind. Workers reconnect (bounded
//! backoff) after a lost connection and keep writing, so writes continue across a failover
//! when the URL follows the primary. Everything finishes before the step's deadline, so
//! the output and the ids file always exist; dropping the step aborts every worker.
use super::conn::{connect, pg_error, redact, Conn, CONNECT_TIMEOUT};
use super::sets::{ids_file_name, render_ids, Class, WriterSets};
use crate::params::{decode, schema};
use crate::sync::lock;
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Chart, Dur, Outcome, OutputField,
    Precondition,
};
use async_trait::async_trait;
use futures::SinkExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// `INSERT ... SELECT ... FROM generate_series(1, n) RETURNING id` per batch (the ids
    /// from the column default; the payload sent once a batch, as one parameter).
    Insert,
    /// `COPY ... FROM STDIN` per batch, with the pre-allocated ids.
    Copy,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WritersParams {
    /// Connection string of the primary (or of the service in front of it); masked in messages.
    url: String,
    /// Table (default tr_writes): `id bigserial primary key, worker int not null, batch bigint, payload text not null`.
    table: Option<String>,
    /// Concurrent workers, each with its own connection (default 8).
    workers: Option<u32>,
    /// Rows per transaction (default 1000).
    batch_rows: Option<u32>,
    /// Payload bytes per row (default 1024).
    row_bytes: Option<u32>,
    /// Stop after this many rows have been attempted (acknowledged + failed + unknown).
    rows: Option<u64>,
    /// Stop starting batches after this long.
    duration: Option<Dur>,
    /// Cap on rows per second for the whole pool.
    rate: Option<u64>,
    /// insert (default) or copy.
    mode: Option<Mode>,
    /// Create the table if missing (default true).
    create_table: Option<bool>,
    /// Empty the table and restart its sequence first (default false).
    #[serde(default)]
    truncate: bool,
    /// How long a COMMIT may take before its connection is dropped and the batch is unknown (default 30s).
    commit_timeout: Option<Dur>,
    /// After `stop`, how long an in-flight COMMIT may still finish before its connection is
    /// dropped and the batch is unknown (default 2s).
    stop_grace: Option<Dur>,
    /// Reconnect after a lost connection and keep writing (default true): writes continue
    /// across a failover. With false a worker ends when its connection fails.
    reconnect: Option<bool>,
}

struct Cfg {
    url: String,
    ident: String,
    /// The id sequence's oid (COPY mode allocates from it).
    seq_oid: u32,
    batch_rows: u64,
    row_bytes: i32,
    rows: Option<u64>,
    rate: Option<u64>,
    mode: Mode,
    commit_timeout: Duration,
    stop_grace: Duration,
    reconnect: bool,
    /// No batch starts after this (duration, or the step deadline minus a margin).
    write_end: Instant,
    /// No commit is waited for after this (the output must be written before the deadline).
    commit_end: Instant,
}

struct Shared {
    sets: Arc<Mutex<WriterSets>>,
    next_batch: AtomicU64,
    attempted_rows: AtomicU64,
    blind: AtomicU64,
    errors: Mutex<Vec<String>>,
    /// Acknowledged rows per 100 ms bucket since start.
    per_bucket: Mutex<Vec<u64>>,
    /// (COMMIT sent, COMMIT returned) of every acknowledged batch: the outage windows.
    acks: Mutex<Vec<(Instant, Instant)>>,
    t0: Instant,
}

impl Shared {
    fn error(&self, msg: String) {
        let msg = redact(&msg);
        let mut e = lock(&self.errors);
        if e.len() < 5 && !e.contains(&msg) {
            e.push(msg);
        }
    }
    fn record(&self, class: Class, batch: u64, ids: &[i64]) {
        lock(&self.sets).record(class, batch as i64, ids);
        if class == Class::Acked {
            let s = (self.t0.elapsed().as_millis() / 100) as usize;
            let mut ps = lock(&self.per_bucket);
            if ps.len() <= s {
                ps.resize(s + 1, 0);
            }
            ps[s] += ids.len() as u64;
        }
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
                OutputField { name: "failed", ty: "int", doc: "rows whose batch failed before COMMIT was sent" },
                OutputField { name: "unknown", ty: "int", doc: "rows whose COMMIT outcome is unknown" },
                OutputField { name: "attempted", ty: "int", doc: "rows attempted (acknowledged + failed + unknown + those of blind failures)" },
                OutputField { name: "blind_failures", ty: "int", doc: "batches that failed, or were abandoned behind a COMMIT that did not return, before their ids were learned (rolled back: nothing written)" },
                OutputField { name: "rows_per_s", ty: "float", doc: "acknowledged rows per second" },
                OutputField { name: "max_ack_id", ty: "int", doc: "highest acknowledged id (null when none)" },
                OutputField { name: "ids_file", ty: "string", doc: "evidence file with every id by outcome (read by sql.verify_no_loss)" },
                OutputField { name: "series", ty: "list", doc: "[seconds, acknowledged rows/s] per 100 ms, for the write-rate chart" },
                OutputField { name: "errors", ty: "list", doc: "the first distinct errors (masked)" },
                OutputField { name: "write_ms", ty: "int", doc: "time from the first batch to the end" },
                OutputField { name: "workers", ty: "int", doc: "number of workers" },
                OutputField { name: "outage_ms", ty: "int", doc: "longest window with no acknowledged commit, as the clients saw it (see README)" },
                OutputField { name: "outage_start_ms", ty: "int", doc: "run-clock ms of the acknowledgement that opens it" },
                OutputField { name: "outage_end_ms", ty: "int", doc: "run-clock ms of the first acknowledgement after it (null: none came)" },
                OutputField { name: "outage_lo_ms", ty: "int", doc: "lower bound of that window on the server (COMMIT round trips)" },
                OutputField { name: "outage_hi_ms", ty: "int", doc: "upper bound of it (null while the window is open)" },
                OutputField { name: "acks", ty: "list", doc: "[COMMIT sent, returned] run-clock ms per acknowledged batch; read by <id>.first_ack_after(t)" },
                OutputField { name: "acks_complete", ty: "bool", doc: "false when acks holds only the first 100,000 batches" },
            ],
            example: "- id: writers\n  sql.writers: { url: \"${primary_url}\", workers: 8, batch_rows: 1000, row_bytes: 1024, rows: 1000000 }\n  background: true\n",
            background: true,
            traits: ActionTraits { chart: Some(Chart::WriteRate), ..ActionTraits::NONE },
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: WritersParams = decode(params)?;
        let table = p.table.clone().unwrap_or_else(|| "tr_writes".into());
        let ident = format!("\"{}\"", table.replace('"', "\"\""));
        let seq_oid = prepare_table(&p, &table, &ident, ctx).await?;
        // Keep a margin before the engine's deadline to stop, settle commits and write out.
        let margin = (ctx.remaining() / 10).min(Duration::from_secs(3));
        let now = Instant::now();
        let hard = ctx.deadline.checked_sub(margin / 3).unwrap_or(now);
        let soft = ctx.deadline.checked_sub(margin).unwrap_or(now);
        let cfg = Arc::new(Cfg {
            url: p.url.clone(),
            ident,
            seq_oid,
            batch_rows: p.batch_rows.unwrap_or(1000).max(1) as u64,
            row_bytes: p.row_bytes.unwrap_or(1024) as i32,
            rows: p.rows,
            rate: p.rate.filter(|r| *r > 0),
            mode: p.mode.unwrap_or(Mode::Insert),
            commit_timeout: p.commit_timeout.map(|d| d.0).unwrap_or(Duration::from_secs(30)),
            stop_grace: p.stop_grace.map(|d| d.0).unwrap_or(Duration::from_secs(2)),
            reconnect: p.reconnect.unwrap_or(true),
            write_end: p.duration.map(|d| (now + d.0).min(soft)).unwrap_or(soft),
            commit_end: hard,
        });
        // Kept for `sql.verify_no_loss` of this run (a retry replaces an earlier attempt's).
        let sets: Arc<Mutex<WriterSets>> = Arc::default();
        ctx.state.memory.put(&ctx.step_id, sets.clone());
        let shared = Arc::new(Shared {
            sets: sets.clone(),
            next_batch: AtomicU64::new(0),
            attempted_rows: AtomicU64::new(0),
            blind: AtomicU64::new(0),
            errors: Mutex::default(),
            per_bucket: Mutex::default(),
            acks: Mutex::default(),
            t0: Instant::now(),
        });
        let workers = p.workers.unwrap_or(8).max(1);
        // A JoinSet: if the engine drops this step, every worker is aborted with it.
        let mut set = tokio::task::JoinSet::new();
        for w in 0..workers {
            let (cfg, shared, ctx) = (cfg.clone(), shared.clone(), ctx.clone());
            set.spawn(async move { worker(w as i32, &cfg, &shared, &ctx).await });
        }
        while set.join_next().await.is_some() {}
        let elapsed = shared.t0.elapsed();
        let run_ms = |t: Instant| t.saturating_duration_since(ctx.state.t0).as_millis() as u64;
        let mut acks: Vec<(u64, u64)> =
            lock(&shared.acks).iter().map(|(s, a)| (run_ms(*s), run_ms(*a))).collect();
        let o = longest_outage(&mut acks, run_ms(shared.t0), run_ms(Instant::now()));
        let s = lock(&sets);
        let ids_file = ctx.write_evidence(&ids_file_name(&ctx.step_id), render_ids(&s).as_bytes())?;
        let acked = s.acked.len();
        let series: Vec<Value> = lock(&shared.per_bucket)
            .iter()
            .enumerate()
            .map(|(i, n)| json!([i as f64 / 10.0, n * 10]))
            .collect();
        let errors: Vec<String> =
            lock(&shared.errors).iter().map(|e| ctx.state.masker.mask(e).into_owned()).collect();
        let secs = elapsed.as_secs_f64();
        Ok(Outcome::new()
            .with("acknowledged", acked)
            .with("failed", s.failed.len())
            .with("unknown", s.unknown.len())
            .with("blind_failures", shared.blind.load(Ordering::Relaxed))
            .with("attempted", shared.attempted_rows.load(Ordering::Relaxed))
            .with("rows_per_s", if secs > 0.0 { (acked as f64 / secs).round() } else { 0.0 })
            .with("max_ack_id", s.acked.max().map(Value::from).unwrap_or(Value::Null))
            .with("write_ms", elapsed.as_millis() as u64)
            .with("ids_file", ids_file)
            .with("series", Value::Array(series))
            .with("errors", errors)
            .with("workers", workers)
            .with("outage_ms", o.ms)
            .with("outage_start_ms", o.start_ms)
            .with("outage_end_ms", o.end_ms.map(Value::from).unwrap_or(Value::Null))
            .with("outage_lo_ms", o.lo_ms)
            .with("outage_hi_ms", o.hi_ms.map(Value::from).unwrap_or(Value::Null))
            .with("acks", Value::Array(acks.iter().take(MAX_ACKS).map(|(s, a)| json!([s, a])).collect()))
            .with("acks_complete", acks.len() <= MAX_ACKS))
    }

    /// Read-only: connects and sends `SELECT 1` — it creates, truncates and writes nothing.
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        super::conn::probe(&params, ctx).await
    }
}

/// `acks` lists at most this many batches (a 1,000,000-row run at 1,000 rows a batch: 1,000).
const MAX_ACKS: usize = 100_000;

/// The longest window in which no commit was acknowledged, as the clients saw it (run-clock ms).
#[derive(Debug, PartialEq)]
struct Outage {
    /// The acknowledgement that opens the window (the pool's start when there was none).
    start_ms: u64,
    /// The first acknowledgement after it; None: none came before the pool ended.
    end_ms: Option<u64>,
    ms: u64,
    /// Bounds on the window between the two commits as the server made them: each took
    /// effect between its COMMIT being sent and returning. (Open window: no upper bound.)
    lo_ms: u64,
    hi_ms: Option<u64>,
}

/// `acks`: (COMMIT sent, COMMIT returned) per acknowledged batch; sorted here by return.
/// Windows run from one acknowledgement to the next, and from the last one to the pool's
/// end (open: the clients never saw writes come back). The time before the first
/// acknowledgement is one batch's latency, not an outage, unless nothing was acknowledged.
fn longest_outage(acks: &mut [(u64, u64)], start_ms: u64, end_ms: u64) -> Outage {
    acks.sort_by_key(|&(sent, ack)| (ack, sent));
    let Some(&(_, last)) = acks.last() else {
        let ms = end_ms.saturating_sub(start_ms);
        return Outage { start_ms, end_ms: None, ms, lo_ms: ms, hi_ms: None };
    };
    let mut best = Outage { start_ms: last, end_ms: Some(last), ms: 0, lo_ms: 0, hi_ms: Some(0) };
    for w in acks.windows(2) {
        let ((p_sent, p_ack), (n_sent, n_ack)) = (w[0], w[1]);
        if n_ack - p_ack > best.ms {
            best = Outage {
                start_ms: p_ack,
                end_ms: Some(n_ack),
                ms: n_ack - p_ack,
                lo_ms: n_sent.saturating_sub(p_ack),
                hi_ms: Some(n_ack - p_sent),
            };
        }
    }
    let open = end_ms.saturating_sub(last);
    if open > best.ms {
        best = Outage { start_ms: last, end_ms: None, ms: open, lo_ms: open, hi_ms: None };
    }
    best
}

/// Creates / truncates the table as asked and returns the oid of its id sequence.
async fn prepare_table(
    p: &WritersParams,
    table: &str,
    ident: &str,
    ctx: &ActionCtx,
) -> Result<u32, ActionError> {
    let setup = connect(&p.url, ctx, CONNECT_TIMEOUT).await?;
    let mut ddl = vec![];
    if p.create_table.unwrap_or(true) {
        ddl.push(format!("CREATE TABLE IF NOT EXISTS {ident} (id bigserial PRIMARY KEY, worker int NOT NULL, batch bigint, payload text NOT NULL)"));
    }
    if p.truncate {
        ddl.push(format!("TRUNCATE {ident} RESTART IDENTITY"));
    }
    for sql in ddl {
        setup.client.batch_execute(&sql).await.map_err(|e| pg_error(&p.url, &e, ctx))?;
    }
    let seq: Option<u32> = setup
        .client
        .query_one("SELECT pg_get_serial_sequence($1, 'id')::regclass::oid", &[&ident])
        .await
        .map_err(|e| pg_error(&p.url, &e, ctx))?
        .get(0);
    seq.ok_or_else(|| {
        ActionError::new(format!("table {table} has no serial `id` column"))
            .hint("the pool needs `id bigserial PRIMARY KEY` (or a column default from a sequence)")
    })
}

/// Resolves when the worker must stop starting work: stop requested or past `write_end`.
async fn halted(ctx: &ActionCtx, cfg: &Cfg) {
    tokio::select! {
        _ = ctx.stop.cancelled() => {}
        _ = tokio::time::sleep_until(cfg.write_end.into()) => {}
    }
}

async fn worker(w: i32, cfg: &Cfg, sh: &Shared, ctx: &ActionCtx) {
    let mut conn: Option<(Conn, Statements)> = None;
    let mut had_conn = false;
    let mut backoff = Duration::from_millis(50);
    let payload = "x".repeat(cfg.row_bytes.max(0) as usize);
    // A batch written inside its open transaction on `conn`, its COMMIT not yet sent.
    let mut ready: Option<(u64, Vec<i64>)> = None;
    loop {
        let (batch, ids) = match ready.take() {
            Some(r) => r,
            None => {
                if ctx.stop.is_cancelled() || Instant::now() >= cfg.write_end {
                    return;
                }
                if conn.as_ref().is_none_or(|(c, _)| c.client.is_closed()) {
                    if had_conn && !cfg.reconnect {
                        return;
                    }
                    let attempt = tokio::select! {
                        c = connect_prepared(cfg, ctx) => c,
                        _ = halted(ctx, cfg) => return,
                    };
                    match attempt {
                        Ok(c) => {
                            conn = Some(c);
                            had_conn = true;
                            backoff = Duration::from_millis(50);
                        }
                        Err(e) => {
                            sh.error(e.message);
                            if !cfg.reconnect {
                                return;
                            }
                            tokio::select! {
                                _ = tokio::time::sleep(backoff) => {}
                                _ = halted(ctx, cfg) => return,
                            }
                            backoff = (backoff * 2).min(Duration::from_secs(1));
                            continue;
                        }
                    }
                }
                let Some((batch, n)) = claim(cfg, sh) else { return };
                if let Some(rate) = cfg.rate {
                    // The pool may not run ahead of `rate` rows per second.
                    let due = sh.t0 + Duration::from_secs_f64((batch * cfg.batch_rows) as f64 / rate as f64);
                    tokio::select! {
                        _ = tokio::time::sleep_until(due.into()) => {}
                        _ = halted(ctx, cfg) => return,
                    }
                }
                let Some((c, st)) = conn.as_ref() else { continue };
                match write_batch(c, st, cfg, ctx, w, batch as i64, n as i64, &payload).await {
                    Before::Ready(ids) => (batch, ids),
                    other => {
                        if !settle(other, batch, Some(c), cfg, ctx, sh).await {
                            conn = None;
                        }
                        continue;
                    }
                }
            }
        };
        let Some((c, st)) = conn.as_ref() else {
            // Unreachable: a ready batch is only kept with its connection. Its transaction
            // died with the connection, so it is certainly not committed.
            sh.record(Class::Failed, batch, &ids);
            continue;
        };
        // The next batch's BEGIN and write travel behind this COMMIT in one pipeline, so a
        // batch costs one round trip and one wake-up of this worker, as pgbench's
        // single-statement transaction does. A rate-limited pool has time to spare.
        let next = if cfg.rate.is_none() && !ctx.stop.is_cancelled() && Instant::now() < cfg.write_end {
            claim(cfg, sh)
        } else {
            None
        };
        let sent = Instant::now();
        let ((class, why, reusable), returned, after) = {
            // Polled first, so COMMIT is sent before the next batch's requests.
            let committing = async { (commit(c, cfg, ctx).await, Instant::now()) };
            let writing = async {
                match next {
                    Some((b, n)) => {
                        Some((b, write_batch(c, st, cfg, ctx, w, b as i64, n as i64, &payload).await))
                    }
                    None => None,
                }
            };
            futures::pin_mut!(committing, writing);
            let mut after = None;
            let (committed, returned) = loop {
                tokio::select! {
                    biased;
                    r = &mut committing => break r,
                    a = &mut writing, if after.is_none() => after = Some(a),
                }
            };
            // The next batch is waited for only on a connection this COMMIT left usable;
            // behind one that did not return it is abandoned with the connection (its
            // COMMIT was never sent, so nothing of it committed).
            let after = match after {
                Some(a) => a,
                None if committed.2 => writing.await,
                None => next
                    .map(|(b, _)| (b, Before::Blind("abandoned behind a COMMIT that did not return".into()))),
            };
            (committed, returned, after)
        };
        if class == Class::Acked {
            lock(&sh.acks).push((sent, returned));
        }
        sh.record(class, batch, &ids);
        if let Some(why) = why {
            sh.error(why);
        }
        let keep = match after {
            None => reusable,
            Some((b, Before::Ready(ids))) if reusable => {
                ready = Some((b, ids));
                true
            }
            Some((b, before)) => settle(before, b, reusable.then_some(c), cfg, ctx, sh).await && reusable,
        };
        if !keep {
            conn = None;
        }
    }
}

/// Takes the pool's next batch number and its row count; None once `rows` are all taken.
fn claim(cfg: &Cfg, sh: &Shared) -> Option<(u64, u64)> {
    let batch = sh.next_batch.fetch_add(1, Ordering::SeqCst);
    let n = match cfg.rows {
        Some(total) if batch * cfg.batch_rows >= total => return None,
        Some(total) => cfg.batch_rows.min(total - batch * cfg.batch_rows),
        None => cfg.batch_rows,
    };
    sh.attempted_rows.fetch_add(n, Ordering::Relaxed);
    Some((batch, n))
}

/// Records a batch that did not reach its COMMIT. `conn` is its connection when still
/// usable: a batch rolled back there lets it be reused. Returns whether it can be.
async fn settle(
    before: Before,
    batch: u64,
    conn: Option<&Conn>,
    cfg: &Cfg,
    ctx: &ActionCtx,
    sh: &Shared,
) -> bool {
    let e = match before {
        // Its connection is gone: the open transaction died with it, never committed.
        Before::Ready(ids) => {
            sh.record(Class::Failed, batch, &ids);
            return false;
        }
        Before::Blind(e) => {
            sh.blind.fetch_add(1, Ordering::Relaxed);
            e
        }
        Before::Failed(ids, e) => {
            sh.record(Class::Failed, batch, &ids);
            e
        }
        Before::Unknown(ids, e) => {
            sh.record(Class::Unknown, batch, &ids);
            sh.error(e);
            return false;
        }
    };
    sh.error(e);
    match conn {
        Some(c) => rolled_back(c, cfg, ctx).await,
        None => false,
    }
}

/// Sends COMMIT and waits for it — never cancelling it — within `commit_timeout`, the
/// deadline and, once stop is requested, `stop_grace`. Returns the class, why it is not
/// acknowledged, and whether the connection can be reused (COMMIT returned).
async fn commit(c: &Conn, cfg: &Cfg, ctx: &ActionCtx) -> (Class, Option<String>, bool) {
    let before = lock(&c.notices).len();
    let limit = (Instant::now() + cfg.commit_timeout).min(cfg.commit_end);
    let fut = c.client.simple_query("COMMIT");
    futures::pin_mut!(fut);
    let outcome = tokio::select! {
        biased;
        r = &mut fut => Some(r),
        _ = tokio::time::sleep_until(limit.into()) => None,
        _ = ctx.stop.cancelled() => {
            let grace = (Instant::now() + cfg.stop_grace).min(limit);
            tokio::select! {
                biased;
                r = &mut fut => Some(r),
                _ = tokio::time::sleep_until(grace.into()) => None,
            }
        }
    };
    // Notices of the batch sent behind this COMMIT may be among them: a WARNING there
    // makes this batch unknown, never acknowledged by mistake.
    let warnings: Vec<String> = lock(&c.notices)[before..]
        .iter()
        .filter(|(sev, _)| sev == "WARNING")
        .map(|(_, m)| m.clone())
        .collect();
    match outcome {
        Some(Ok(_)) if warnings.is_empty() => (Class::Acked, None, true),
        Some(Ok(_)) => {
            (Class::Unknown, Some(format!("COMMIT returned with a warning: {}", warnings.join("; "))), true)
        }
        Some(Err(e)) => (Class::Unknown, Some(format!("COMMIT failed: {e}: batch unknown")), false),
        None => (
            Class::Unknown,
            Some("COMMIT did not return in time (timeout, deadline or stop): connection dropped, batch unknown".into()),
            false,
        ),
    }
}

/// The pool's statements, prepared once per connection: a batch then costs no Parse.
struct Statements {
    /// COPY mode: the batch's ids, as one array.
    alloc: Option<tokio_postgres::Statement>,
    /// INSERT mode: the batch's rows; returns their ids as one array.
    insert: Option<tokio_postgres::Statement>,
}

/// Connects and prepares the mode's statement.
async fn connect_prepared(cfg: &Cfg, ctx: &ActionCtx) -> Result<(Conn, Statements), ActionError> {
    let c = connect(&cfg.url, ctx, CONNECT_TIMEOUT).await?;
    let (sql, insert) = match cfg.mode {
        // `$1::oid::regclass` is a cast without a catalog lookup (a name would be looked up per row).
        Mode::Copy => (
            "SELECT array_agg(nextval($1::oid::regclass)) FROM generate_series(1, $2::int8)".to_string(),
            false,
        ),
        Mode::Insert => (insert_sql(&cfg.ident), true),
    };
    let prepared = c.client.prepare(&sql).await.map_err(|e| pg_error(&cfg.url, &e, ctx))?;
    let st = if insert {
        Statements { alloc: None, insert: Some(prepared) }
    } else {
        Statements { alloc: Some(prepared), insert: None }
    };
    Ok((c, st))
}

/// The payload is one text parameter, the same datum for every row. Generated per row
/// (`repeat('x', $n)`), the server spent 1.6× the CPU a batch: PostgreSQL's `repeat`
/// copies its input once per repetition, 1,024 one-byte `memcpy`s a row (docs/performance.md).
fn insert_sql(ident: &str) -> String {
    format!(
        "WITH ins AS (INSERT INTO {ident} (worker, batch, payload) SELECT $1::int4, $2::int8, $3::text \
         FROM generate_series(1, $4::int8) RETURNING id) SELECT array_agg(id) FROM ins"
    )
}

/// What became of a batch before its COMMIT was sent.
enum Before {
    /// Written inside its open transaction; these are its ids.
    Ready(Vec<i64>),
    /// Failed before its ids were learned: rolled back, nothing written (`blind_failures`).
    Blind(String),
    /// Failed after its ids were learned, before COMMIT: rolled back, certainly absent.
    Failed(Vec<i64>, String),
    /// BEGIN failed but the write returned: it ran outside a transaction and may have
    /// committed by itself. Never call that failed.
    Unknown(Vec<i64>, String),
}

/// Opens the batch's transaction and writes it, learning its ids before COMMIT.
///
/// INSERT mode takes the ids inside the INSERT itself (the column default, as pgbench's
/// INSERT does) and returns them as one array: BEGIN and the INSERT are pipelined, and the
/// worker sends both behind the previous batch's COMMIT, so a batch costs one round trip,
/// one wake-up of the client. On a machine whose cores the server saturates, every
/// wake-up waits for a core (docs/performance.md). COPY mode must know the ids before
/// sending rows: BEGIN and the allocation are pipelined, then COPY.
/// tokio-postgres sends requests in the order their futures are first polled; `join!`
/// polls BEGIN first.
#[allow(clippy::too_many_arguments)]
async fn write_batch(
    c: &Conn,
    st: &Statements,
    cfg: &Cfg,
    ctx: &ActionCtx,
    worker: i32,
    batch: i64,
    n: i64,
    payload: &str,
) -> Before {
    const STOPPED: &str = "stopped before COMMIT";
    // Ids from one request: BEGIN pipelined with it. BEGIN failing alone (the request
    // then ran outside a transaction) is reported apart.
    async fn begin_and(
        c: &Conn,
        st: &tokio_postgres::Statement,
        args: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> (Result<(), tokio_postgres::Error>, Result<Vec<i64>, tokio_postgres::Error>) {
        let (begun, row) = futures::join!(c.client.batch_execute("BEGIN"), c.client.query_one(st, args));
        (begun, row.map(|r| r.get::<_, Option<Vec<i64>>>(0).unwrap_or_default()))
    }
    let learned = match cfg.mode {
        Mode::Insert => {
            let st = st.insert.as_ref().expect("prepared in insert mode");
            let args: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&worker, &batch, &payload, &n];
            tokio::select! {
                r = begin_and(c, st, &args) => r,
                _ = halted(ctx, cfg) => return Before::Blind(STOPPED.into()),
            }
        }
        Mode::Copy => {
            let alloc = st.alloc.as_ref().expect("prepared in copy mode");
            let args: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&cfg.seq_oid, &n];
            tokio::select! {
                r = begin_and(c, alloc, &args) => r,
                _ = halted(ctx, cfg) => return Before::Blind(STOPPED.into()),
            }
        }
    };
    let ids = match learned {
        (Ok(()), Ok(ids)) => ids,
        (Err(b), Ok(ids)) if cfg.mode == Mode::Insert => return Before::Unknown(ids, format!("BEGIN: {b}")),
        (Err(e), _) | (_, Err(e)) => {
            let what = if cfg.mode == Mode::Insert { "INSERT" } else { "allocate ids" };
            return Before::Blind(format!("{what}: {e}"));
        }
    };
    if cfg.mode == Mode::Insert {
        return Before::Ready(ids);
    }
    let copied = async {
        let sink = c
            .client
            .copy_in(&format!("COPY {} (id, worker, batch, payload) FROM STDIN", cfg.ident))
            .await
            .map_err(|e| format!("COPY: {e}"))?;
        let mut buf = String::with_capacity(ids.len() * (payload.len() + 32));
        for id in &ids {
            buf.push_str(&format!("{id}\t{worker}\t{batch}\t{payload}\n"));
        }
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::from(buf)).await.map_err(|e| format!("COPY: {e}"))?;
        sink.finish().await.map_err(|e| format!("COPY: {e}"))?;
        Ok::<(), String>(())
    };
    let r = tokio::select! {
        r = copied => r,
        _ = halted(ctx, cfg) => Err(STOPPED.to_string()),
    };
    match r {
        Ok(()) => Before::Ready(ids),
        Err(e) => Before::Failed(ids, e),
    }
}

/// After a batch failed before COMMIT: ROLLBACK on a healthy connection so it can be
/// reused; false when it must be dropped (dropping also rolls the batch back).
async fn rolled_back(c: &Conn, cfg: &Cfg, ctx: &ActionCtx) -> bool {
    !c.client.is_closed()
        && !ctx.stop.is_cancelled()
        && Instant::now() < cfg.write_end
        && c.client.batch_execute("ROLLBACK").await.is_ok()
}

inventory::submit!(ActionEntry(&Writers));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_window_between_acknowledgements_with_its_bounds() {
        // (sent, returned); out of order on purpose: windows follow the returns.
        let mut acks = vec![(100, 110), (2000, 2300), (105, 120), (130, 150)];
        let o = longest_outage(&mut acks, 0, 2310);
        // 150 → 2300: the two commits took effect within [130, 150] and [2000, 2300].
        assert_eq!(o, Outage { start_ms: 150, end_ms: Some(2300), ms: 2150, lo_ms: 1850, hi_ms: Some(2170) });
    }

    #[test]
    fn an_outage_still_open_at_the_end_has_no_end() {
        let mut acks = vec![(0, 10), (10, 20)];
        let o = longest_outage(&mut acks, 0, 5020);
        assert_eq!(o, Outage { start_ms: 20, end_ms: None, ms: 5000, lo_ms: 5000, hi_ms: None });
        // Nothing acknowledged at all: the whole run, from the pool's start.
        assert_eq!(
            longest_outage(&mut [], 40, 1040),
            Outage { start_ms: 40, end_ms: None, ms: 1000, lo_ms: 1000, hi_ms: None }
        );
    }

    #[test]
    fn the_first_batch_latency_is_not_an_outage() {
        let mut acks = vec![(900, 1000), (1000, 1010), (1005, 1030)];
        let o = longest_outage(&mut acks, 0, 1031);
        assert_eq!((o.start_ms, o.end_ms, o.ms), (1010, Some(1030), 20));
    }
}
