//! sql.exec, sql.query (rows as values, types mapped faithfully) and sql.promote.
use super::conn::{connect, pg_error, CONNECT_TIMEOUT};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, Dur, Outcome, OutputField, Precondition,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::Instant;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecParams {
    /// Connection string (`postgres://user@127.0.0.1:5432/db` or `host=... user=...`).
    url: String,
    /// SQL; several statements separated by `;` run as one batch.
    sql: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct QueryParams {
    /// Connection string.
    url: String,
    /// One SQL statement; `$1`, `$2`... take `params`.
    sql: String,
    /// Parameters, passed as text (cast from text in SQL: `$1::text::int`).
    #[serde(default)]
    params: Vec<Value>,
}

/// A row value as JSON, by column type; unknown types fall back to their text form.
fn cell(row: &Row, i: usize) -> Value {
    let ty = row.columns()[i].type_().clone();
    macro_rules! get {
        ($t:ty) => {
            row.try_get::<_, Option<$t>>(i).ok().flatten()
        };
    }
    let v = match ty {
        Type::BOOL => get!(bool).map(Value::from),
        Type::INT2 => get!(i16).map(Value::from),
        Type::INT4 => get!(i32).map(Value::from),
        Type::INT8 => get!(i64).map(Value::from),
        Type::OID => get!(u32).map(Value::from),
        Type::FLOAT4 => get!(f32).map(|f| json!(f as f64)),
        Type::FLOAT8 => get!(f64).map(|f| json!(f)),
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR | Type::UNKNOWN => {
            get!(String).map(Value::from)
        }
        Type::JSON | Type::JSONB => get!(Value),
        Type::BYTEA => get!(Vec<u8>).map(|b| Value::from(hex::encode(b))),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => get!(Vec<Option<String>>).map(|v| json!(v)),
        Type::INT4_ARRAY => get!(Vec<Option<i32>>).map(|v| json!(v)),
        Type::INT8_ARRAY => get!(Vec<Option<i64>>).map(|v| json!(v)),
        _ => return Value::Null,
    };
    v.unwrap_or(Value::Null)
}

/// Column types without a direct mapping are re-read as text by the query itself.
fn needs_text(ty: &Type) -> bool {
    !matches!(
        *ty,
        Type::BOOL
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::OID
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::TEXT
            | Type::VARCHAR
            | Type::NAME
            | Type::BPCHAR
            | Type::UNKNOWN
            | Type::JSON
            | Type::JSONB
            | Type::BYTEA
            | Type::TEXT_ARRAY
            | Type::VARCHAR_ARRAY
            | Type::INT4_ARRAY
            | Type::INT8_ARRAY
    )
}

fn param_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

pub async fn run_query(
    ctx: &ActionCtx,
    url: &str,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Map<String, Value>>, ActionError> {
    let c = connect(url, ctx, CONNECT_TIMEOUT).await?;
    let stmt = c.client.prepare(sql).await.map_err(|e| pg_error(url, &e, ctx))?;
    // Parameters travel as text: the statement's casts decide their types.
    let texts: Vec<Option<String>> = params.iter().map(param_text).collect();
    let typed: Vec<&(dyn ToSql + Sync)> = texts.iter().map(|t| t as &(dyn ToSql + Sync)).collect();
    if stmt.params().iter().any(|t| *t != Type::TEXT && *t != Type::VARCHAR && *t != Type::UNKNOWN)
        && !params.is_empty()
    {
        return Err(ActionError::new("parameters are passed as text: cast them in the SQL from text (`$1::text::int`, `$1::text::pg_lsn`)"));
    }
    let textual = stmt.columns().iter().any(|c| needs_text(c.type_()));
    let rows = if textual {
        // Wrap the statement so every column comes back as text; numbers stay numbers below.
        let cols: Vec<String> = stmt
            .columns()
            .iter()
            .map(|c| {
                let q = format!("\"{}\"", c.name().replace('"', "\"\""));
                if needs_text(c.type_()) {
                    format!("{q}::text AS {q}")
                } else {
                    q
                }
            })
            .collect();
        let wrapped = format!("SELECT {} FROM ({}) AS q", cols.join(", "), sql.trim().trim_end_matches(';'));
        c.client.query(&wrapped, &typed).await.map_err(|e| pg_error(url, &e, ctx))?
    } else {
        c.client.query(&stmt, &typed).await.map_err(|e| pg_error(url, &e, ctx))?
    };
    Ok(rows
        .iter()
        .map(|r| (0..r.len()).map(|i| (r.columns()[i].name().to_string(), cell(r, i))).collect())
        .collect())
}

struct Exec;

#[async_trait]
impl Action for Exec {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "sql.exec",
            summary: "Run SQL statements (DDL, DML) against PostgreSQL",
            params: schema::<ExecParams>(),
            outputs: &[OutputField { name: "elapsed_ms", ty: "int", doc: "time the batch took" }],
            example: "- sql.exec: { url: \"${pg_url}\", sql: \"CREATE TABLE t (id bigserial PRIMARY KEY, v text)\" }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ExecParams = decode(params)?;
        let c = connect(&p.url, ctx, CONNECT_TIMEOUT).await?;
        let t = Instant::now();
        c.client.batch_execute(&p.sql).await.map_err(|e| pg_error(&p.url, &e, ctx))?;
        Ok(Outcome::new().with("elapsed_ms", t.elapsed().as_millis() as u64))
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_connect(params, ctx).await
    }
}

pub async fn probe_connect(params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
    let Some(url) = params.get("url").and_then(Value::as_str).filter(|u| !u.contains("${")) else {
        return vec![];
    };
    match connect(url, ctx, std::time::Duration::from_secs(3)).await {
        Ok(_) => vec![],
        Err(e) => vec![Precondition::warning(format!("PostgreSQL does not answer now: {}", e.message))],
    }
}

struct Query;

#[async_trait]
impl Action for Query {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "sql.query",
            summary: "Run a query; rows as values (ints, floats, bools, text, JSON; others as text). Poll it with `until`",
            params: schema::<QueryParams>(),
            outputs: &[
                OutputField { name: "rows", ty: "list", doc: "rows as maps column → value" },
                OutputField { name: "row", ty: "map", doc: "the first row (null when none)" },
                OutputField { name: "row_count", ty: "int", doc: "number of rows" },
            ],
            example: "- id: caught_up\n  sql.query: { url: \"${standby_url}\", sql: \"SELECT pg_is_in_recovery() AS standby\" }\n  until: caught_up.row.standby == false\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: QueryParams = decode(params)?;
        let rows = run_query(ctx, &p.url, &p.sql, &p.params).await?;
        let first = rows.first().cloned().map(Value::Object).unwrap_or(Value::Null);
        Ok(Outcome::new()
            .with("row_count", rows.len())
            .with("row", first)
            .with("rows", Value::Array(rows.into_iter().map(Value::Object).collect())))
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_connect(params, ctx).await
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PromoteParams {
    /// Connection string of the standby.
    url: String,
    /// Wait until the promotion completes (default true).
    wait: Option<bool>,
    /// How long pg_promote may wait (default 60s).
    timeout: Option<Dur>,
}

struct Promote;

#[async_trait]
impl Action for Promote {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "sql.promote",
            summary: "Promote a standby with pg_promote(), bounded",
            params: schema::<PromoteParams>(),
            outputs: &[
                OutputField { name: "promoted", ty: "bool", doc: "what pg_promote returned" },
                OutputField { name: "elapsed_ms", ty: "int", doc: "time the promotion took" },
            ],
            example: "- sql.promote: { url: \"${standby_url}\", wait: true, timeout: 30s }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: PromoteParams = decode(params)?;
        let secs = p.timeout.map(|d| d.0.as_secs().max(1) as i32).unwrap_or(60);
        let c = connect(&p.url, ctx, CONNECT_TIMEOUT).await?;
        let t = Instant::now();
        let row = c
            .client
            .query_one("SELECT pg_promote($1, $2)", &[&p.wait.unwrap_or(true), &secs])
            .await
            .map_err(|e| {
                pg_error(&p.url, &e, ctx).hint("is this server a standby? (SELECT pg_is_in_recovery())")
            })?;
        let promoted: bool = row.get(0);
        let o = Outcome::new().with("promoted", promoted).with("elapsed_ms", t.elapsed().as_millis() as u64);
        if promoted {
            Ok(o)
        } else {
            let mut e = ActionError::new(format!("pg_promote did not complete within {secs}s"));
            e.output = o.output;
            Err(e)
        }
    }
}

inventory::submit!(ActionEntry(&Exec));
inventory::submit!(ActionEntry(&Query));
inventory::submit!(ActionEntry(&Promote));
