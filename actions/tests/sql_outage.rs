//! sql.writers under a server that stops answering:
//! - the client-observed outage of a real PostgreSQL frozen (SIGSTOP to the postmaster and
//!   every backend) for a measured time, with a negative control where nothing happens and
//!   no outage of that size may be reported;
//! - a COMMIT that never returns, and the batch pipelined behind it.
#[path = "support/pg.rs"]
mod pg;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pg::{PgOpts, PgServer};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};
use testrunner_actions::{find, ActionCtx};

fn ctx(dir: &tempfile::TempDir, step: &str) -> ActionCtx {
    ActionCtx::standalone(dir.path().into(), step, Duration::from_secs(25))
}

fn ms(o: &Map<String, Value>, k: &str) -> u64 {
    o[k].as_u64().unwrap_or_else(|| panic!("{k} is not a number: {o:?}"))
}

/// The postmaster and its children (each backend calls setsid(): not one process group).
fn server_pids(postmaster: u32) -> Vec<Pid> {
    let mut pids = vec![Pid::from_raw(postmaster as i32)];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // `pid (comm) state ppid ...`: comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        if rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(postmaster) {
            pids.push(Pid::from_raw(e.file_name().to_string_lossy().parse().unwrap()));
        }
    }
    pids
}

fn signal_all(pids: &[Pid], sig: Signal) {
    for p in pids {
        let _ = kill(*p, sig);
    }
}

/// Freezes the whole server for `pause` (the outage itself, not a synchronisation).
fn freeze(postmaster: u32, pause: Duration) -> (Instant, Instant) {
    let pids = server_pids(postmaster);
    assert!(pids.len() > 2, "backends found: {pids:?}");
    let stop = Instant::now();
    signal_all(&pids, Signal::SIGSTOP);
    std::thread::sleep(pause);
    let cont = Instant::now();
    signal_all(&pids, Signal::SIGCONT);
    (stop, cont)
}

/// Runs a rate-limited pool in the background; `during` runs while it writes; then stops it.
async fn pool_around(pg: &PgServer, table: &str, during: impl FnOnce(&ActionCtx)) -> Map<String, Value> {
    let dir = tempfile::tempdir().unwrap();
    let params = json!({"url": pg.url(), "table": table, "workers": 4, "batch_rows": 20, "row_bytes": 16, "rate": 2000});
    pool_with(&dir, params, pg, table, during).await
}

async fn pool_with(
    dir: &tempfile::TempDir,
    params: Value,
    pg: &PgServer,
    table: &str,
    during: impl FnOnce(&ActionCtx),
) -> Map<String, Value> {
    let c = ctx(dir, "pool");
    let c2 = c.clone();
    let h = tokio::spawn(async move { find("sql.writers").unwrap().run(params, &c2).await });
    pg::wait_for(
        Duration::from_secs(10),
        || pg.try_psql(&format!("SELECT count(*) >= 200 FROM {table}")).is_some_and(|o| o == "t"),
        "first writes",
    );
    during(&c);
    // Writes resume before the pool is stopped, so the window has an end.
    let before: u64 = pg.psql(&format!("SELECT count(*) FROM {table}")).parse().unwrap();
    pg::wait_for(
        Duration::from_secs(10),
        || pg.psql(&format!("SELECT count(*) FROM {table}")).parse::<u64>().unwrap() >= before + 200,
        "writes after",
    );
    c.stop.cancel();
    let out = tokio::time::timeout(Duration::from_secs(10), h).await.expect("pool stops").unwrap().unwrap();
    out.output
}

// Multi-threaded: the test thread blocks (psql, the pause) while the pool runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_is_the_outage_and_a_healthy_run_has_none() {
    let pg = PgServer::start(PgOpts::default());
    let postmaster = pg.pid().unwrap();
    let mut at = (0u64, 0u64);
    let o = pool_around(&pg, "ol", |c| {
        let run_ms = |t: Instant| t.duration_since(c.state.t0).as_millis() as u64;
        let (stop, cont) = freeze(postmaster, Duration::from_millis(1500));
        at = (run_ms(stop), run_ms(cont));
    })
    .await;
    let (stop_ms, cont_ms) = at;
    let (start, end, len) = (ms(&o, "outage_start_ms"), ms(&o, "outage_end_ms"), ms(&o, "outage_ms"));
    // No COMMIT can return while the server is frozen: the window covers the pause. The
    // acknowledgement that opens it came before the pause (or its reply was already on the
    // wire: a few ms of client lag allowed).
    assert!(end >= cont_ms, "outage ends at {end} before the server resumed at {cont_ms}: {o:?}");
    assert!(start <= stop_ms + 100, "outage starts at {start}, the server froze at {stop_ms}: {o:?}");
    assert_eq!(len, end - start);
    assert!(len >= 1400, "{o:?}");
    let (lo, hi) = (ms(&o, "outage_lo_ms"), ms(&o, "outage_hi_ms"));
    assert!(lo <= len && len <= hi, "{lo} <= {len} <= {hi}");
    // The acknowledgements behind it: the first COMMIT sent after the resume returned at or
    // after the window's end.
    let acks = o["acks"].as_array().unwrap();
    assert_eq!(o["acks_complete"], true);
    let first_after = acks
        .iter()
        .filter(|a| a[0].as_u64().unwrap() >= cont_ms)
        .map(|a| a[1].as_u64().unwrap())
        .min()
        .unwrap();
    assert!(first_after >= end, "{first_after} {end}");

    // NEGATIVE CONTROL: the same pool, nothing happens: no window anywhere near that size.
    let o = pool_around(&pg, "ol2", |_| {}).await;
    assert!(ms(&o, "outage_ms") < 700, "a healthy run reports an outage: {o:?}");
    assert!(o["outage_end_ms"].is_u64(), "{o:?}");
}

/// Unlimited, the pool sends each batch's BEGIN and INSERT behind the previous COMMIT. A
/// COMMIT that does not return in `commit_timeout` is unknown and the batch queued behind it
/// is abandoned with the connection: counted blind, and it must have written nothing (its
/// COMMIT was never sent), while every acknowledged row is present.
///
/// The hung COMMIT is made certain, not caught by timing: with a synchronous standby that
/// does not exist every COMMIT waits for it (the backend reads nothing behind it), until the
/// setting is reset. Freezing the server instead could land between a COMMIT's reply and the
/// next batch's, where no COMMIT is in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_behind_a_commit_that_did_not_return_writes_nothing() {
    let pg = PgServer::start(PgOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let params = json!({"url": pg.url(), "table": "pl", "workers": 2, "batch_rows": 20, "row_bytes": 16, "commit_timeout": "300ms"});
    let hung = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'";
    let o = pool_with(&dir, params, &pg, "pl", |_| {
        pg.psql("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
        pg.psql("SELECT pg_reload_conf()");
        // Both workers' first connections hang in COMMIT, give up on it after 300 ms and
        // reconnect, and the new connections' COMMITs hang too: 4 waiters prove the
        // first two were abandoned.
        pg::wait_for(
            Duration::from_secs(10),
            || pg.psql(hung).parse::<u64>().unwrap() >= 4,
            "COMMITs waiting for the absent standby",
        );
        pg.psql("ALTER SYSTEM RESET synchronous_standby_names");
        pg.psql("SELECT pg_reload_conf()");
    })
    .await;
    let (acked, unknown) = (ms(&o, "acknowledged"), ms(&o, "unknown"));
    assert!(unknown >= 20, "a frozen COMMIT must be unknown: {o:?}");
    assert!(ms(&o, "blind_failures") >= 1, "{o:?}");
    let errors = o["errors"].to_string();
    assert!(errors.contains("abandoned behind a COMMIT that did not return"), "{errors}");
    let rows: u64 = pg.psql("SELECT count(*) FROM pl").parse().unwrap();
    assert!(rows >= acked, "{rows} rows, {acked} acknowledged");
    // More rows than acknowledged + unknown would mean an abandoned batch committed.
    assert!(rows <= acked + unknown, "{rows} rows > {acked} acknowledged + {unknown} unknown: {o:?}");
    let v = find("sql.verify_no_loss")
        .unwrap()
        .run(json!({"url": pg.url(), "table": "pl", "writers": "pool"}), &ctx(&dir, "v"))
        .await
        .unwrap()
        .output;
    assert_eq!((v["lost"].clone(), v["failed_present"].clone()), (json!(0), json!(0)), "{v:?}");
}
