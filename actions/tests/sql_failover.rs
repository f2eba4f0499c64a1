//! Failover under load with a real primary/standby pair: the same fault sequence (writers
//! running, the standby cut off from the primary, the primary killed with SIGKILL, the
//! standby promoted with sql.promote) loses acknowledged rows with asynchronous
//! replication (NEGATIVE CONTROL: the verifier must fail) and loses none with
//! `synchronous_commit = remote_apply` (the positive twin). Also sql.sample over the pair.
#[path = "support/pg.rs"]
mod pg;

use pg::{wait_for, PgOpts, PgServer};
use serde_json::{json, Map, Value};
use std::time::Duration;
use testrunner_actions::{find, ActionCtx, ActionError};

async fn act(name: &str, params: Value, ctx: &ActionCtx) -> Result<Map<String, Value>, ActionError> {
    find(name).unwrap_or_else(|| panic!("{name} registered")).run(params, ctx).await.map(|o| o.output)
}

fn count(pg: &PgServer, table: &str) -> u64 {
    pg.psql(&format!("SELECT count(*) FROM {table}")).parse().unwrap()
}

struct Failover {
    writers: Map<String, Value>,
    promote: Map<String, Value>,
    verify: Result<Map<String, Value>, ActionError>,
    primary_rows_at_kill: u64,
}

/// Writers → standby cut off → (async: ≥ 1,000 more rows committed; sync: commits waiting
/// for the standby) → primary SIGKILL → stop writers → promote → verify on the standby.
async fn failover(sync: bool) -> Failover {
    let commit = if sync { "remote_apply" } else { "on" };
    let mut primary = PgServer::start(PgOpts { synchronous_commit: commit.into(), ..Default::default() });
    let standby = PgServer::standby_of(&primary, sync);
    primary.psql("CREATE TABLE fo (id bigserial PRIMARY KEY, worker int NOT NULL, batch bigint, payload text NOT NULL)");
    wait_for(
        Duration::from_secs(10),
        || standby.psql("SELECT to_regclass('fo') IS NOT NULL") == "t",
        "table on standby",
    );

    let dir = tempfile::tempdir().unwrap();
    let ctx = ActionCtx::standalone(dir.path().into(), "writers", Duration::from_secs(25));
    let (c, url) = (ctx.clone(), primary.url());
    let pool = tokio::spawn(async move {
        let p = json!({"url": url, "table": "fo", "workers": 2, "batch_rows": 50, "row_bytes": 16, "create_table": false});
        act("sql.writers", p, &c).await
    });
    // Replication flows first: rows reach the standby.
    wait_for(Duration::from_secs(10), || count(&standby, "fo") >= 500, "rows on the standby");
    standby.cut_replication();
    let at_cut = count(&primary, "fo");
    if sync {
        // The primary now holds every commit until the (gone) standby applies it.
        let q = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'";
        wait_for(Duration::from_secs(10), || primary.psql(q) != "0", "commits waiting for the standby");
    } else {
        // The primary keeps acknowledging what the standby will never see.
        wait_for(Duration::from_secs(10), || count(&primary, "fo") >= at_cut + 1000, "commits after the cut");
    }
    let primary_rows_at_kill = count(&primary, "fo");
    primary.kill9();
    ctx.stop.cancel();
    let writers =
        tokio::time::timeout(Duration::from_secs(10), pool).await.expect("pool stops").unwrap().unwrap();

    let vctx = ActionCtx::standalone(dir.path().into(), "verify", Duration::from_secs(20));
    let promote = act("sql.promote", json!({"url": standby.url(), "timeout": "10s"}), &vctx).await.unwrap();
    let verify =
        act("sql.verify_no_loss", json!({"url": standby.url(), "table": "fo", "writers": "writers"}), &vctx)
            .await;
    // The promoted standby takes writes.
    let w = act(
        "sql.exec",
        json!({"url": standby.url(), "sql": "INSERT INTO fo (worker, payload) VALUES (99, 'after')"}),
        &vctx,
    )
    .await
    .unwrap();
    assert_eq!(w["rows_affected"], 1);
    assert_eq!(standby.psql("SELECT pg_is_in_recovery()"), "f");
    Failover { writers, promote, verify, primary_rows_at_kill }
}

// Multi-threaded: the test thread blocks on psql while the pool runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_standby_loses_acknowledged_rows_negative_control() {
    let f = failover(false).await;
    assert_eq!(f.promote["promoted"], true);
    let acked = f.writers["acknowledged"].as_u64().unwrap();
    assert!(acked >= 1000, "{:?}", f.writers);
    let e = f.verify.expect_err("an asynchronous standby must lose acknowledged rows");
    let lost = e.output["lost"].as_u64().unwrap();
    assert!(lost >= 900, "lost {lost} of {acked}; {:?}", e.output);
    assert_eq!((e.output["floor_ok"].clone(), e.output["verified"].clone()), (json!(false), json!(false)));
    assert_eq!(e.output["lost_ids"].as_array().unwrap().len(), 20);
    // The standby has fewer rows than the primary had committed when it died.
    assert!(e.output["present"].as_u64().unwrap() + 900 <= f.primary_rows_at_kill, "{:?}", e.output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_apply_standby_keeps_every_acknowledged_row() {
    let f = failover(true).await;
    assert_eq!(f.promote["promoted"], true);
    let v = f.verify.expect("remote_apply keeps every acknowledged row");
    assert_eq!(
        (v["lost"].clone(), v["gaps"].clone(), v["verified"].clone()),
        (json!(0), json!(0), json!(true))
    );
    let acked = f.writers["acknowledged"].as_u64().unwrap();
    assert!(acked >= 500, "{:?}", f.writers);
    // The commits that were waiting when the primary died are unknown: their WAL may or
    // may not have reached the standby before the cut, but never half of a batch.
    assert!(f.writers["unknown"].as_u64().unwrap() >= 50, "{:?}", f.writers);
    assert_eq!(v["torn_batches"], 0);
    assert_eq!(v["present"].as_u64().unwrap(), acked + v["unknown_present"].as_u64().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_reports_replication_lag_percentiles() {
    let primary = PgServer::start(PgOpts::default());
    let standby = PgServer::standby_of(&primary, false);
    let dir = tempfile::tempdir().unwrap();
    let ctx = ActionCtx::standalone(dir.path().into(), "lag", Duration::from_secs(20));
    let sql = "SELECT COALESCE(EXTRACT(EPOCH FROM write_lag) * 1000, 0) FROM pg_stat_replication";
    let (c, url) = (ctx.clone(), primary.url());
    let sampler =
        tokio::spawn(
            async move { act("sql.sample", json!({"url": url, "sql": sql, "every": "20ms"}), &c).await },
        );
    let w = act(
        "sql.writers",
        json!({"url": primary.url(), "workers": 2, "batch_rows": 100, "row_bytes": 64, "rows": 3000}),
        &ActionCtx::standalone(dir.path().into(), "w", Duration::from_secs(20)),
    )
    .await
    .unwrap();
    assert_eq!(w["acknowledged"], 3000);
    wait_for(
        Duration::from_secs(10),
        // Asynchronous: until the CREATE TABLE has replayed, the table does not exist there.
        || standby.try_psql("SELECT count(*) FROM tr_writes").as_deref() == Some("3000"),
        "replicated",
    );
    ctx.stop.cancel();
    let s = tokio::time::timeout(Duration::from_secs(5), sampler).await.expect("stops").unwrap().unwrap();
    let n = s["samples"].as_u64().unwrap();
    assert!(n > 0 && s["errors"] == 0, "{s:?}");
    let (p50, p95, max) =
        (s["median"].as_f64().unwrap(), s["p95"].as_f64().unwrap(), s["max"].as_f64().unwrap());
    assert!(0.0 <= p50 && p50 <= p95 && p95 <= max, "{s:?}");
    assert_eq!(s["series"].as_array().unwrap().len() as u64, n);

    // NULL rows are `empty`, not zeros; the sampler returns by itself before its deadline.
    let short = ActionCtx::standalone(dir.path().into(), "nulls", Duration::from_secs(2));
    let s = act(
        "sql.sample",
        json!({"url": standby.url(), "sql": "SELECT NULL::float8", "every": "50ms"}),
        &short,
    )
    .await
    .unwrap();
    assert_eq!(s["samples"], 0);
    assert!(s["empty"].as_u64().unwrap() >= 5, "{s:?}");
    // A non-numeric column is an error per sample, and max_samples ends the sampler.
    let s = act(
        "sql.sample",
        json!({"url": standby.url(), "sql": "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn", "every": "10ms", "max_samples": 3}),
        &short,
    )
    .await
    .unwrap();
    assert_eq!(s["samples"], 3, "{s:?}");

    // sql.promote on a server that is not a standby fails with a hint.
    let e = act("sql.promote", json!({"url": primary.url()}), &short).await.unwrap_err();
    assert!(e.message.contains("recovery is not in progress"), "{}", e.message);
}
