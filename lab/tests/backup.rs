//! VAL15: `halab backup` / `halab restore` round trip against a real PostgreSQL, the
//! SHA-256 contract, and the refusal of a file whose checksum does not match.
mod support;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::process::Command;
use support::{halab, query, Pg};

fn run(args: &[&str]) -> (i32, Value) {
    let out = Command::new(halab()).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} / {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

const SEED: &str = "
CREATE TABLE lab_writes (id bigserial PRIMARY KEY, key text NOT NULL, value text NOT NULL,
  node_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), epoch bigint);
INSERT INTO lab_writes (key, value, node_id, epoch)
  SELECT 'k' || g, 'value ' || g || E'\\twith tab\\nnewline \\\\ backslash é', 'node1', 1
  FROM generate_series(1, 1000) g;
CREATE TABLE extra (a int, b text DEFAULT 'dflt', c jsonb);
INSERT INTO extra VALUES (1, NULL, '{\"x\": 1}'), (2, '\\.', NULL);";

#[test]
fn round_trip_preserves_rows_and_checksum_and_a_wrong_checksum_is_refused() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    query(&pg.url(), SEED);
    query(&pg.url(), "CREATE DATABASE restored");
    let file = dir.path().join("lab.backup");
    let f = file.to_str().unwrap();
    let url = pg.url();
    let (code, b) =
        run(&["backup", "--pg-url", &url, "--out", f, "--table", "lab_writes", "--table", "extra"]);
    assert_eq!(code, 0, "{b}");
    let bytes = std::fs::read(&file).unwrap();
    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(b["sha256"], sha.as_str(), "printed checksum is the file's");
    assert_eq!(b["bytes"], bytes.len());
    assert_eq!(b["file"], f);
    assert_eq!(b["tables"], serde_json::json!({"lab_writes": 1000, "extra": 2}));
    assert!(b["elapsed_ms"].is_u64());

    // Negative control first: a wrong checksum is refused and nothing is created.
    let target = pg.url_db("restored");
    let wrong = "0".repeat(64);
    let (code, r) = run(&["restore", "--pg-url", &target, "--file", f, "--verify-sha256", &wrong]);
    assert_eq!(code, 1, "{r}");
    assert!(r["error"].as_str().unwrap().contains("checksum mismatch"), "{r}");
    assert_eq!(query(&target, "SELECT to_regclass('lab_writes') IS NULL")[0][0].as_deref(), Some("t"));

    // A tampered file is refused against the original checksum.
    let tampered = dir.path().join("tampered.backup");
    std::fs::write(
        &tampered,
        String::from_utf8(bytes.clone()).unwrap().replace("value 500\\t", "value 999\\t"),
    )
    .unwrap();
    let (code, _) =
        run(&["restore", "--pg-url", &target, "--file", tampered.to_str().unwrap(), "--verify-sha256", &sha]);
    assert_eq!(code, 1);

    let (code, r) =
        run(&["restore", "--pg-url", &target, "--file", f, "--verify-sha256", &sha.to_uppercase()]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["tables"], serde_json::json!({"lab_writes": 1000, "extra": 2}));
    assert_eq!(r["sha256"], sha.as_str());
    assert_eq!(digest(&target), digest(&url), "rows and payloads identical");
    let extra = "SELECT string_agg(a || '|' || coalesce(b, 'NULL') || '|' || coalesce(c::text, 'NULL'), ';' ORDER BY a) FROM extra";
    assert_eq!(query(&target, extra), query(&url, extra));
    // Defaults, the primary key and the id sequence survive: a new row continues after 1000.
    let next =
        query(&target, "INSERT INTO lab_writes (key, value, node_id) VALUES ('new', 'v', 'n') RETURNING id");
    assert_eq!(next[0][0].as_deref(), Some("1001"));
    assert_eq!(query(&target, "SELECT b FROM extra WHERE a = 1")[0][0], None, "NULL stays NULL");
    let dflt = query(&target, "INSERT INTO extra (a) VALUES (3) RETURNING b");
    assert_eq!(dflt[0][0].as_deref(), Some("dflt"), "column default restored");
    let dup = support::query_opt(
        &target,
        "INSERT INTO lab_writes (id, key, value, node_id) VALUES (1, 'x', 'y', 'z')",
    );
    assert!(dup.unwrap_err().contains("duplicate key"), "primary key restored");

    // Restoring again replaces the tables (idempotent), in one transaction.
    let (code, _) = run(&["restore", "--pg-url", &target, "--file", f]);
    assert_eq!(code, 0);
    assert_eq!(digest(&target), digest(&url));
}

fn digest(url: &str) -> Vec<Vec<Option<String>>> {
    query(url, "SELECT count(*), md5(string_agg(id || ':' || key || ':' || value || ':' || created_at, ',' ORDER BY id)) FROM lab_writes")
}

#[test]
fn backup_of_a_missing_table_or_an_unreachable_database_fails_cleanly() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.backup");
    let o = out.to_str().unwrap();
    let (code, v) = run(&["backup", "--pg-url", &pg.url(), "--out", o, "--table", "nope"]);
    assert_eq!(code, 1, "{v}");
    assert!(v["error"].as_str().unwrap().contains("nope"), "{v}");
    assert!(!out.exists());
    let dead = "postgres://postgres@127.0.0.1:1/postgres";
    let (code, v) = run(&["backup", "--pg-url", dead, "--out", o]);
    assert_eq!(code, 1, "{v}");
}
