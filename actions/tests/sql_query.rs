//! sql.query type mapping, sql.exec, parameters, and bounded masked connection errors,
//! against a real PostgreSQL 15.
#[path = "support/pg.rs"]
mod pg;

use pg::{PgOpts, PgServer};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};
use testrunner_actions::{find, ActionCtx, ActionError};

async fn act(name: &str, params: Value, ctx: &ActionCtx) -> Result<Map<String, Value>, ActionError> {
    find(name).unwrap_or_else(|| panic!("{name} registered")).run(params, ctx).await.map(|o| o.output)
}

fn ctx(dir: &tempfile::TempDir, secs: u64) -> ActionCtx {
    ActionCtx::standalone(dir.path().into(), "step", Duration::from_secs(secs))
}

#[tokio::test]
async fn every_type_maps_faithfully() {
    let pg = PgServer::start(PgOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(&dir, 20);
    let sql = r#"SELECT 1::int2 AS i2, 2::int4 AS i4, 9000000000::int8 AS i8, 1.5::float4 AS f4,
        2.25::float8 AS f8, 'NaN'::float8 AS fnan, 12345678901234567890.000123::numeric AS n,
        (-0.5)::numeric(5,3) AS nneg, true AS b, 'x'::text AS t, 'v'::varchar AS vc, 'nm'::name AS nm,
        'ab'::char(3) AS ch, '{"a": [1, 2]}'::jsonb AS jb, '{"k": null}'::json AS j,
        '2026-01-02 03:04:05.25+02'::timestamptz AS tstz, '2026-01-02 03:04:05'::timestamp AS ts,
        '2026-01-02'::date AS d, '04:05:06'::time AS tm,
        '00000000-0000-0000-0000-0000000000ff'::uuid AS u, '\x0102ff'::bytea AS by,
        ARRAY[1, NULL, 3]::int4[] AS ia, ARRAY['a', 'b c']::text[] AS ta, ARRAY[[1,2],[3,4]]::int8[] AS ia2,
        '1 day 02:00:00'::interval AS iv, '16/B374D848'::pg_lsn AS lsn, '10.0.0.1/8'::inet AS ip,
        NULL::text AS nul, NULL::int4 AS nulint, 1 AS i2"#;
    let out = act("sql.query", json!({"url": pg.url(), "sql": sql}), &c).await.unwrap();
    assert_eq!(out["row_count"], 1);
    let r = &out["row"];
    let expect = json!({
        "i4": 2, "i8": 9000000000i64, "f4": 1.5, "f8": 2.25, "fnan": "NaN",
        "n": "12345678901234567890.000123", "nneg": "-0.500", "b": true, "t": "x", "vc": "v",
        "nm": "nm", "ch": "ab ", "jb": {"a": [1, 2]}, "j": {"k": null},
        "tstz": "2026-01-02T01:04:05.250Z", "ts": "2026-01-02T03:04:05", "d": "2026-01-02",
        "tm": "04:05:06", "u": "00000000-0000-0000-0000-0000000000ff", "by": "0102ff",
        "ia": [1, null, 3], "ta": ["a", "b c"], "ia2": [[1, 2], [3, 4]],
        "iv": "1 day 02:00:00", "lsn": "16/B374D848", "ip": "10.0.0.1/8", "nul": null, "nulint": null,
    });
    for (k, v) in expect.as_object().unwrap() {
        assert_eq!(&r[k], v, "column {k}: {r}");
    }
    // Duplicate column names: the last wins, as in any map; the wrapper did not break them.
    assert_eq!(r["i2"], 1);
    assert_eq!(out["rows"].as_array().unwrap().len(), 1);

    // No rows: row is null. Parameters are parsed by the server as the placeholder's type.
    let out =
        act("sql.query", json!({"url": pg.url(), "sql": "SELECT 1 AS x WHERE false"}), &c).await.unwrap();
    assert_eq!((out["row_count"].clone(), out["row"].clone()), (json!(0), Value::Null));
    let out = act(
        "sql.query",
        json!({"url": pg.url(), "sql": "SELECT $1::int8 + 1 AS n, $2::text AS s, $3::int4[] AS a, $4::jsonb AS j, $5::bool AS b",
               "params": [41, "hi", [1, 2], {"x": 1}, true]}),
        &c,
    )
    .await
    .unwrap();
    assert_eq!(out["row"], json!({"n": 42, "s": "hi", "a": [1, 2], "j": {"x": 1}, "b": true}));
}

#[tokio::test]
async fn exec_runs_batches_and_counts_rows() {
    let pg = PgServer::start(PgOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(&dir, 20);
    let url = pg.url();
    let out = act(
        "sql.exec",
        json!({"url": url, "sql": "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'x' FROM generate_series(1, 5) g; UPDATE t SET v = 'y' WHERE id <= 3"}),
        &c,
    )
    .await
    .unwrap();
    assert_eq!((out["statements"].clone(), out["rows_affected"].clone()), (json!(3), json!(3)));
    let out = act("sql.exec", json!({"url": url, "sql": "DELETE FROM t WHERE id > $1", "params": [3]}), &c)
        .await
        .unwrap();
    assert_eq!(out["rows_affected"], 2);
    assert_eq!(pg.psql("SELECT count(*) FROM t"), "3");
    // INSERT ... RETURNING of a type read as text goes through the wrapper exactly once.
    let out = act(
        "sql.query",
        json!({"url": url, "sql": "INSERT INTO t VALUES (10, 'z') RETURNING id, '1 hour'::interval AS iv"}),
        &c,
    )
    .await
    .unwrap();
    assert_eq!(out["row"], json!({"id": 10, "iv": "01:00:00"}));
    assert_eq!(pg.psql("SELECT count(*) FROM t WHERE id = 10"), "1");
    // An SQL error is an error, with the server's message.
    let e = act("sql.exec", json!({"url": url, "sql": "SELECT * FROM missing_table"}), &c).await.unwrap_err();
    assert!(e.message.contains("missing_table"), "{}", e.message);
}

#[tokio::test]
async fn bad_password_and_bad_host_fail_bounded_and_masked() {
    let pg = PgServer::start(PgOpts { password: Some("right-pw".into()), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(&dir, 20);
    let ok = act("sql.query", json!({"url": pg.url(), "sql": "SELECT 1 AS one"}), &c).await.unwrap();
    assert_eq!(ok["row"]["one"], 1);

    let secret = "Wr0ng-Secret-42";
    for url in [
        format!("postgres://postgres:{secret}@127.0.0.1:{}/postgres", pg.port),
        format!("host=127.0.0.1 port={} user=postgres password={secret} dbname=postgres", pg.port),
    ] {
        let t = Instant::now();
        let e = act("sql.query", json!({"url": url, "sql": "SELECT 1"}), &c).await.unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(e.message.contains("password authentication failed"), "{}", e.message);
        assert!(!e.message.contains(secret), "password leaked: {}", e.message);
        assert!(e.message.contains("****"), "{}", e.message);
    }

    // A host that accepts TCP but never answers: bounded by the step deadline, still masked.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url =
        format!("postgres://postgres:{secret}@127.0.0.1:{}/postgres", silent.local_addr().unwrap().port());
    let short = ctx(&dir, 2);
    let t = Instant::now();
    let e = act("sql.exec", json!({"url": url, "sql": "SELECT 1"}), &short).await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(4), "took {:?}", t.elapsed());
    assert!(e.message.contains("timed out") && !e.message.contains(secret), "{}", e.message);

    // Nothing listening: refused at once, masked.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("host=127.0.0.1 port={port} user=postgres password='{secret} x'");
    let e = act("sql.exec", json!({"url": url, "sql": "SELECT 1"}), &c).await.unwrap_err();
    assert!(!e.message.contains(secret) && e.hint.is_some(), "{}", e.message);
}
