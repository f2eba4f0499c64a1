//! Bounded PostgreSQL access: a stopped or hung database must never hang the server.
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// Connects with a bound on the whole handshake (a SIGSTOPped postmaster accepts the TCP
/// connection and then never answers).
pub async fn connect(url: &str, timeout: Duration) -> Result<Client, String> {
    match tokio::time::timeout(timeout, tokio_postgres::connect(url, NoTls)).await {
        Err(_) => Err(format!("connect timed out after {}ms", timeout.as_millis())),
        Ok(Err(e)) => Err(format!("connect failed: {}", describe(&e))),
        Ok(Ok((client, conn))) => {
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(client)
        }
    }
}

/// The error with its sources (tokio-postgres puts the useful part in the source).
pub fn describe(e: &tokio_postgres::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        let t = x.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = x.source();
    }
    s
}

/// Runs `f` with a bound; errors and timeouts become strings.
pub async fn bounded<T, F>(timeout: Duration, f: F) -> Result<T, String>
where
    F: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    match tokio::time::timeout(timeout, f).await {
        Err(_) => Err(format!("query timed out after {}ms", timeout.as_millis())),
        Ok(Err(e)) => Err(describe(&e)),
        Ok(Ok(v)) => Ok(v),
    }
}

/// The lab's tables, created by whichever node connects first (the advisory lock keeps two
/// nodes starting together from racing on CREATE TABLE).
const SCHEMA: &str = "BEGIN;
SELECT pg_advisory_xact_lock(7415001);
CREATE TABLE IF NOT EXISTS ha_lease (name text PRIMARY KEY, holder_id text NOT NULL,
    epoch bigint NOT NULL, expires_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS ha_epoch_claims (node_id text NOT NULL, epoch bigint NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS lab_writes (id bigserial PRIMARY KEY, key text NOT NULL,
    value text NOT NULL, node_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE lab_writes ADD COLUMN IF NOT EXISTS epoch bigint;
COMMIT;";

pub async fn ensure_schema(c: &Client, timeout: Duration) -> Result<(), String> {
    bounded(timeout, c.batch_execute(SCHEMA)).await
}

/// `timestamptz` rendered as RFC 3339 UTC with milliseconds, in SQL (no chrono feature needed).
pub fn rfc3339_sql(col: &str) -> String {
    format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}
