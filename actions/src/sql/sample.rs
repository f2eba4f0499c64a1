//! sql.sample: a background sampler of one numeric query (e.g. write_lag), with percentiles.
use super::conn::{connect, CONNECT_TIMEOUT};
use crate::params::{decode, schema};
use crate::{Action, ActionCtx, ActionEntry, ActionError, ActionSpec, Dur, Outcome, OutputField};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Instant;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SampleParams {
    /// Connection string.
    url: String,
    /// A query returning one numeric column in its first row (NULL or no row = `empty`).
    sql: String,
    /// Sampling period.
    every: Dur,
    /// Stop after this many samples (default: until stopped).
    max_samples: Option<u64>,
}

struct Sample;

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[async_trait]
impl Action for Sample {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "sql.sample",
            summary: "Sample a numeric query every N ms in the background; min/median/p95/p99/max out",
            params: schema::<SampleParams>(),
            outputs: &[
                OutputField { name: "samples", ty: "int", doc: "number of numeric samples" },
                OutputField { name: "empty", ty: "int", doc: "samples that returned NULL or no row" },
                OutputField { name: "errors", ty: "int", doc: "samples that failed" },
                OutputField { name: "min", ty: "float", doc: "smallest value" },
                OutputField { name: "median", ty: "float", doc: "50th percentile" },
                OutputField { name: "p95", ty: "float", doc: "95th percentile" },
                OutputField { name: "p99", ty: "float", doc: "99th percentile" },
                OutputField { name: "max", ty: "float", doc: "largest value" },
                OutputField { name: "mean", ty: "float", doc: "average" },
                OutputField { name: "series", ty: "list", doc: "[t_ms, value] pairs (first 5,000)" },
            ],
            example: "- id: lag\n  sql.sample:\n    url: \"${primary_url}\"\n    sql: \"SELECT COALESCE(EXTRACT(EPOCH FROM write_lag) * 1000, 0)::float8 FROM pg_stat_replication\"\n    every: 50ms\n  background: true\n- sleep: { duration: 2s }\n- stop: lag\n",
            background: true,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: SampleParams = decode(params)?;
        let t0 = Instant::now();
        let (mut values, mut series) = (vec![], vec![]);
        let (mut empty, mut errors) = (0u64, 0u64);
        let mut last_error = None;
        let mut conn = None;
        loop {
            let tick = Instant::now();
            if conn.is_none() {
                conn = connect(&p.url, ctx, CONNECT_TIMEOUT)
                    .await
                    .map_err(|e| last_error = Some(e.message))
                    .ok();
            }
            if let Some(c) = &conn {
                match c.client.query_opt(&p.sql, &[]).await {
                    Ok(Some(row)) => match row.try_get::<_, Option<f64>>(0) {
                        Ok(Some(v)) => {
                            values.push(v);
                            if series.len() < 5000 {
                                series.push(json!([t0.elapsed().as_millis() as u64, v]));
                            }
                        }
                        Ok(None) => empty += 1,
                        Err(e) => {
                            errors += 1;
                            last_error =
                                Some(format!("the first column must be float8 (cast it: ::float8): {e}"));
                        }
                    },
                    Ok(None) => empty += 1,
                    Err(e) => {
                        errors += 1;
                        last_error = Some(e.to_string());
                        conn = None;
                    }
                }
            } else {
                errors += 1;
            }
            if p.max_samples.is_some_and(|m| values.len() as u64 >= m) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until((tick + p.every.0).into()) => {}
                _ = ctx.stop.cancelled() => break,
            }
        }
        let mut sorted = values.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let mean = if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 };
        Ok(Outcome::new()
            .with("samples", values.len())
            .with("empty", empty)
            .with("errors", errors)
            .with("last_error", last_error.map(Value::from).unwrap_or(Value::Null))
            .with("min", sorted.first().copied().unwrap_or(0.0))
            .with("median", pct(&sorted, 50.0))
            .with("p95", pct(&sorted, 95.0))
            .with("p99", pct(&sorted, 99.0))
            .with("max", sorted.last().copied().unwrap_or(0.0))
            .with("mean", mean)
            .with("series", Value::Array(series)))
    }
}

inventory::submit!(ActionEntry(&Sample));
