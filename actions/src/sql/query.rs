//! sql.exec and sql.query: statements and rows as values, types mapped faithfully.
use super::conn::{connect, pg_error, CONNECT_TIMEOUT};
use super::params::TextParam;
use super::value::{binary_supported, to_json, Raw};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Outcome, OutputField, Precondition,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, SimpleQueryMessage};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecParams {
    /// Connection string: `postgres://user:pass@127.0.0.1:5432/db` or `host=... user=... password=...`
    /// (passwords are masked in every message).
    url: String,
    /// SQL. Without `params`, several statements separated by `;` run as one batch (simple
    /// protocol); with `params`, exactly one statement.
    sql: String,
    /// Values for `$1`, `$2`...: sent as text and parsed by the server as the type the
    /// statement gives each placeholder (lists become arrays, maps become JSON).
    #[serde(default)]
    params: Vec<Value>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct QueryParams {
    /// Connection string (passwords are masked in every message).
    url: String,
    /// One SQL statement returning rows (SELECT, VALUES, ... RETURNING); `$1`, `$2`... take `params`.
    sql: String,
    /// Values for `$1`, `$2`...: sent as text, parsed by the server as the placeholder's type.
    #[serde(default)]
    params: Vec<Value>,
}

fn text_params(params: &[Value]) -> Vec<TextParam> {
    params.iter().map(TextParam::from_json).collect()
}

fn refs(ps: &[TextParam]) -> Vec<&(dyn ToSql + Sync)> {
    ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn row_map(row: &Row, names: &[String]) -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    for (i, name) in names.iter().enumerate() {
        let col = &row.columns()[i];
        let raw: Raw = row.try_get(i).map_err(|e| e.to_string())?;
        let v = match raw.0 {
            None => Value::Null,
            Some(b) => to_json(col.type_(), b).map_err(|e| format!("column `{name}`: {e}"))?,
        };
        m.insert(name.clone(), v);
    }
    Ok(m)
}

/// Runs one statement and returns its rows as maps. Columns whose type has no binary
/// mapping (interval, inet, money, ...) are read as `::text` by wrapping the statement in a
/// CTE with positional column names (so duplicate names and DML ... RETURNING work), decided
/// from the prepared statement before anything runs: the statement runs exactly once.
pub async fn run_query(
    ctx: &ActionCtx,
    url: &str,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Map<String, Value>>, ActionError> {
    let c = connect(url, ctx, CONNECT_TIMEOUT).await?;
    let stmt = c.client.prepare(sql).await.map_err(|e| pg_error(url, &e, ctx))?;
    let ps = text_params(params);
    if ps.len() != stmt.params().len() {
        return Err(ActionError::new(format!(
            "the statement has {} placeholder(s) but {} param(s) were given",
            stmt.params().len(),
            ps.len()
        )));
    }
    let names: Vec<String> = stmt.columns().iter().map(|c| c.name().to_string()).collect();
    let rows = if stmt.columns().iter().all(|c| binary_supported(c.type_())) {
        c.client.query(&stmt, &refs(&ps)).await.map_err(|e| pg_error(url, &e, ctx))?
    } else {
        let aliases: Vec<String> = (1..=names.len()).map(|i| quote_ident(&format!("c{i}"))).collect();
        let select: Vec<String> = stmt
            .columns()
            .iter()
            .zip(&aliases)
            .map(|(c, a)| if binary_supported(c.type_()) { a.clone() } else { format!("{a}::text") })
            .collect();
        let body = sql.trim().trim_end_matches(';');
        let wrapped = format!(
            "WITH \"tr_q\"({}) AS ({body}\n) SELECT {} FROM \"tr_q\"",
            aliases.join(", "),
            select.join(", ")
        );
        c.client.query(&wrapped, &refs(&ps)).await.map_err(|e| {
            pg_error(url, &e, ctx).hint("a column of a type without a direct mapping is read as text by wrapping the statement; cast it yourself (`col::text`)")
        })?
    };
    rows.iter().map(|r| row_map(r, &names).map_err(ActionError::new)).collect()
}

struct Exec;

#[async_trait]
impl Action for Exec {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "sql.exec",
            summary: "Run SQL statements (DDL, DML; several at once without params) against PostgreSQL",
            params: schema::<ExecParams>(),
            outputs: &[
                OutputField {
                    name: "rows_affected",
                    ty: "int",
                    doc: "rows the (last) statement inserted, updated, deleted or returned",
                },
                OutputField { name: "statements", ty: "int", doc: "statements that completed" },
            ],
            example: "- sql.exec:\n    url: \"${pg_url}\"\n    sql: \"CREATE TABLE IF NOT EXISTS t (id bigserial PRIMARY KEY, v text); DELETE FROM t\"\n- sql.exec: { url: \"${pg_url}\", sql: \"INSERT INTO t (v) VALUES ($1)\", params: [hello] }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ExecParams = decode(params)?;
        let c = connect(&p.url, ctx, CONNECT_TIMEOUT).await?;
        if !p.params.is_empty() {
            let ps = text_params(&p.params);
            let n = c.client.execute(&p.sql, &refs(&ps)).await.map_err(|e| pg_error(&p.url, &e, ctx))?;
            return Ok(Outcome::new().with("rows_affected", n).with("statements", 1));
        }
        let msgs = c.client.simple_query(&p.sql).await.map_err(|e| pg_error(&p.url, &e, ctx))?;
        let counts: Vec<u64> = msgs
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::CommandComplete(n) => Some(*n),
                _ => None,
            })
            .collect();
        Ok(Outcome::new()
            .with("rows_affected", counts.last().copied().unwrap_or(0))
            .with("statements", counts.len()))
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        super::conn::probe(&params, ctx).await
    }
}

struct Query;

#[async_trait]
impl Action for Query {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "sql.query",
            summary: "Run a query; rows as values (ints, floats, exact numerics, bools, text, JSON, timestamps, uuids, arrays; others as text). Poll it with `until`",
            params: schema::<QueryParams>(),
            outputs: &[
                OutputField { name: "rows", ty: "list", doc: "rows as maps column → value" },
                OutputField { name: "row", ty: "map", doc: "the first row (null when none)" },
                OutputField { name: "row_count", ty: "int", doc: "number of rows" },
            ],
            example: "- id: caught_up\n  sql.query: { url: \"${standby_url}\", sql: \"SELECT pg_is_in_recovery() AS standby\" }\n  until: caught_up.row.standby == false\n",
            background: false,
            traits: ActionTraits::NONE,
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
        super::conn::probe(&params, ctx).await
    }
}

inventory::submit!(ActionEntry(&Exec));
inventory::submit!(ActionEntry(&Query));
