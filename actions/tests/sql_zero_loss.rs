//! sql.writers + sql.verify_no_loss on one real PostgreSQL: a clean table verifies, a
//! deleted acknowledged row is caught (negative control), COPY mode reports exact ids.
#[path = "support/pg.rs"]
mod pg;

use pg::{PgOpts, PgServer};
use serde_json::{json, Map, Value};
use std::time::Duration;
use testrunner_actions::{find, ActionCtx, ActionError};

async fn act(name: &str, params: Value, ctx: &ActionCtx) -> Result<Map<String, Value>, ActionError> {
    find(name).unwrap_or_else(|| panic!("{name} registered")).run(params, ctx).await.map(|o| o.output)
}

fn ctx(dir: &tempfile::TempDir, step: &str) -> ActionCtx {
    ActionCtx::standalone(dir.path().into(), step, Duration::from_secs(25))
}

#[tokio::test]
async fn clean_table_verifies_and_a_deleted_row_is_caught() {
    let pg = PgServer::start(PgOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let w = act(
        "sql.writers",
        json!({"url": url, "table": "zl", "workers": 2, "batch_rows": 50, "row_bytes": 16, "rows": 5000}),
        &ctx(&dir, "writers"),
    )
    .await
    .unwrap();
    assert_eq!(
        (w["acknowledged"].clone(), w["failed"].clone(), w["unknown"].clone()),
        (json!(5000), json!(0), json!(0))
    );
    assert_eq!(w["max_ack_id"], 5000);
    assert_eq!(w["ids_file"], "evidence/writers-writers.ids");
    let ids = std::fs::read_to_string(dir.path().join("evidence/writers-writers.ids")).unwrap();
    assert!(ids.lines().any(|l| l == "acked 1-5000"), "{ids}");
    assert!(w["series"].as_array().is_some_and(|s| !s.is_empty()));
    assert_eq!(pg.psql("SELECT count(*) FROM zl"), "5000");
    // Every row carries `row_bytes` of payload (sent once a batch, the same for each row).
    assert_eq!(
        pg.psql("SELECT min(octet_length(payload)) || ' ' || max(octet_length(payload)) FROM zl"),
        "16 16"
    );

    let v =
        act("sql.verify_no_loss", json!({"url": url, "table": "zl", "writers": "writers"}), &ctx(&dir, "v1"))
            .await
            .unwrap();
    assert_eq!(v["verified"], true, "{v:?}");
    assert_eq!(
        (v["lost"].clone(), v["gaps"].clone(), v["present"].clone()),
        (json!(0), json!(0), json!(5000))
    );

    // NEGATIVE CONTROL: one acknowledged row disappears; the verifier must fail and name it.
    pg.psql("DELETE FROM zl WHERE id = 2500");
    let e =
        act("sql.verify_no_loss", json!({"url": url, "table": "zl", "writers": "writers"}), &ctx(&dir, "v2"))
            .await
            .unwrap_err();
    assert_eq!(e.output["lost"], 1, "{e:?}");
    assert_eq!(e.output["lost_ids"], json!([2500]));
    assert_eq!((e.output["floor_ok"].clone(), e.output["verified"].clone()), (json!(false), json!(false)));
    assert_eq!(e.output["gaps"], 1);
    assert!(e.message.contains("2500"), "{}", e.message);

    // NEGATIVE CONTROL: the row comes back under the same id, but it is not the pool's
    // write (another writer; or a promoted standby's sequence handing the id out again).
    // Judged by id alone this would pass; by (id, batch) it is still lost.
    pg.psql("INSERT INTO zl (id, worker, payload) VALUES (2500, 0, 'impostor')");
    let e = act(
        "sql.verify_no_loss",
        json!({"url": url, "table": "zl", "writers": "writers"}),
        &ctx(&dir, "v2b"),
    )
    .await
    .unwrap_err();
    assert_eq!((e.output["lost"].clone(), e.output["lost_ids"].clone()), (json!(1), json!([2500])), "{e:?}");
    assert_eq!(
        (e.output["batch_mismatches"].clone(), e.output["identity"].clone()),
        (json!(1), json!("id+batch"))
    );
    pg.psql("DELETE FROM zl WHERE id = 2500");

    // The ids file alone (another process) gives the same verdict.
    let e = act(
        "sql.verify_no_loss",
        json!({"url": url, "table": "zl", "ids_file": "evidence/writers-writers.ids"}),
        &ctx(&dir, "v3"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.output["lost_ids"], json!([2500]));

    // A row the pool reported failed must not exist: put one in and the check fails too.
    let fresh = tempfile::tempdir().unwrap();
    pg.psql("TRUNCATE zl RESTART IDENTITY");
    std::fs::create_dir_all(fresh.path().join("evidence")).unwrap();
    std::fs::write(fresh.path().join("evidence/w.ids"), "acked 1-2\nfailed 3-3\n").unwrap();
    pg.psql("INSERT INTO zl (id, worker, payload) VALUES (1, 0, ''), (2, 0, ''), (3, 0, '')");
    let e = act(
        "sql.verify_no_loss",
        json!({"url": url, "table": "zl", "ids_file": "evidence/w.ids"}),
        &ctx(&fresh, "v4"),
    )
    .await
    .unwrap_err();
    assert_eq!((e.output["lost"].clone(), e.output["failed_present"].clone()), (json!(0), json!(1)));
}

// Multi-threaded: the test thread blocks on psql while the pool runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_mode_acknowledges_exact_ids_and_stop_ends_the_pool() {
    let pg = PgServer::start(PgOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    // Another client's rows interleave with the pool's ids: they are not the pool's to judge.
    pg.psql("CREATE TABLE cp (id bigserial PRIMARY KEY, worker int NOT NULL, batch bigint, payload text NOT NULL)");
    pg.psql("INSERT INTO cp (worker, payload) SELECT -1, 'other' FROM generate_series(1, 10)");
    let w = act(
        "sql.writers",
        json!({"url": url, "table": "cp", "workers": 3, "batch_rows": 100, "row_bytes": 32, "rows": 3000, "mode": "copy", "create_table": false}),
        &ctx(&dir, "copy"),
    )
    .await
    .unwrap();
    assert_eq!(w["acknowledged"], 3000, "{w:?}");
    assert_eq!(pg.psql("SELECT count(*) FROM cp WHERE worker >= 0"), "3000");
    assert_eq!(pg.psql("SELECT min(id) FROM cp WHERE worker >= 0"), "11");
    let v = act("sql.verify_no_loss", json!({"url": url, "table": "cp", "writers": "copy"}), &ctx(&dir, "v"))
        .await
        .unwrap();
    assert_eq!(
        (v["verified"].clone(), v["lost"].clone(), v["present"].clone()),
        (json!(true), json!(0), json!(3010))
    );
    pg.psql("DELETE FROM cp WHERE id = 3010");
    let e = act("sql.verify_no_loss", json!({"url": url, "table": "cp", "writers": "copy"}), &ctx(&dir, "v"))
        .await
        .unwrap_err();
    assert_eq!(e.output["lost_ids"], json!([3010]));

    // Unbounded pool in the background, ended by `stop`: it returns promptly with its counts.
    let c = ctx(&dir, "bg");
    let (c2, url2) = (c.clone(), url.clone());
    let h = tokio::spawn(async move {
        act("sql.writers", json!({"url": url2, "table": "cp", "workers": 2, "batch_rows": 50, "row_bytes": 8, "create_table": false, "rate": 5000}), &c2).await
    });
    pg::wait_for(
        Duration::from_secs(10),
        || pg.psql("SELECT count(*) FROM cp").parse::<u64>().unwrap() > 3500,
        "rows",
    );
    c.stop.cancel();
    let out =
        tokio::time::timeout(Duration::from_secs(5), h).await.expect("stops promptly").unwrap().unwrap();
    let acked = out["acknowledged"].as_u64().unwrap();
    assert!(acked >= 400, "{out:?}");
    let v = act("sql.verify_no_loss", json!({"url": url, "table": "cp", "writers": "bg"}), &ctx(&dir, "v"))
        .await
        .unwrap();
    assert_eq!((v["lost"].clone(), v["acknowledged"].clone()), (json!(0), json!(acked)));
}
