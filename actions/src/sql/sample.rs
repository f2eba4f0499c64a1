//! sql.sample: a background sampler of one numeric query (e.g. write_lag), with percentiles.
use super::conn::{connect, redact, Conn, CONNECT_TIMEOUT};
use super::value::{as_f64, to_json, Raw};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Dur, Outcome, OutputField,
    Precondition,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SampleParams {
    /// Connection string.
    url: String,
    /// A query whose first row's first column is a number (int, float or numeric). NULL or
    /// no row counts as `empty`, not as 0 (use COALESCE in the SQL to mean 0).
    sql: String,
    /// Sampling period (a slow query stretches it: samples never overlap).
    every: Dur,
    /// Stop after this many numeric samples (default: until stopped or the step's deadline).
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
                OutputField { name: "errors", ty: "int", doc: "samples that failed (connection lost, bad SQL)" },
                OutputField { name: "last_error", ty: "string", doc: "the last sampling error, masked (null when none)" },
                OutputField { name: "min", ty: "float", doc: "smallest value" },
                OutputField { name: "median", ty: "float", doc: "50th percentile" },
                OutputField { name: "p95", ty: "float", doc: "95th percentile" },
                OutputField { name: "p99", ty: "float", doc: "99th percentile" },
                OutputField { name: "max", ty: "float", doc: "largest value" },
                OutputField { name: "mean", ty: "float", doc: "average" },
                OutputField { name: "series", ty: "list", doc: "[t_ms, value] pairs (at most 5,000: thinned evenly on long runs)" },
            ],
            example: "- id: lag\n  sql.sample:\n    url: \"${primary_url}\"\n    sql: \"SELECT COALESCE(EXTRACT(EPOCH FROM write_lag) * 1000, 0)::float8 FROM pg_stat_replication\"\n    every: 50ms\n  background: true\n- sleep: { duration: 2s }\n- stop: lag\n",
            background: true,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: SampleParams = decode(params)?;
        let every = p.every.0.max(Duration::from_millis(1));
        let t0 = Instant::now();
        // Return (with the output) before the engine's deadline would drop us.
        let end = ctx.deadline.checked_sub(ctx.remaining().min(Duration::from_secs(1)) / 4).unwrap_or(t0);
        let mut values: Vec<f64> = vec![];
        let mut series: Vec<Value> = vec![];
        let mut stride = 1u64;
        let (mut empty, mut errors) = (0u64, 0u64);
        let mut last_error: Option<String> = None;
        let mut conn: Option<Conn> = None;
        // A sampler stopped before its first sample still takes that one (connecting can
        // take longer than a short phase): a stopped sampler always has a result to show.
        let taken = |v: &Vec<f64>, empty: u64, errors: u64| !v.is_empty() || empty + errors > 0;
        while (!ctx.stop.is_cancelled() || !taken(&values, empty, errors)) && Instant::now() < end {
            let tick = Instant::now();
            let first = !taken(&values, empty, errors);
            let sample = tokio::select! {
                s = one_sample(&p, ctx, &mut conn) => s,
                _ = ctx.stop.cancelled(), if !first => break,
                _ = tokio::time::sleep_until(end.into()) => break,
            };
            match sample {
                Ok(Some(v)) => {
                    // Keep the series under SERIES_CAP points by halving its resolution.
                    if (values.len() as u64).is_multiple_of(stride) {
                        if series.len() >= SERIES_CAP {
                            series = series.into_iter().step_by(2).collect();
                            stride *= 2;
                        }
                        series.push(json!([t0.elapsed().as_millis() as u64, v]));
                    }
                    values.push(v);
                }
                Ok(None) => empty += 1,
                Err(e) => {
                    errors += 1;
                    last_error = Some(ctx.state.masker.mask(&redact(&e)).into_owned());
                }
            }
            if p.max_samples.is_some_and(|m| values.len() as u64 >= m) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until((tick + every).min(end).into()) => {}
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

    /// Read-only: connects and sends `SELECT 1` — not the sampled query.
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        super::conn::probe(&params, ctx).await
    }
}

const SERIES_CAP: usize = 5000;

/// One sample: `Some(value)`, `None` for NULL or no row, or an error (the connection is
/// then dropped and re-made next time, so sampling survives a restart).
async fn one_sample(
    p: &SampleParams,
    ctx: &ActionCtx,
    conn: &mut Option<Conn>,
) -> Result<Option<f64>, String> {
    if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
        *conn = Some(connect(&p.url, ctx, CONNECT_TIMEOUT).await.map_err(|e| e.message)?);
    }
    let c = conn.as_ref().expect("connected");
    let row = match c.client.query_opt(&p.sql, &[]).await {
        Ok(r) => r,
        Err(e) => {
            *conn = None;
            return Err(e.to_string());
        }
    };
    let Some(row) = row else { return Ok(None) };
    if row.is_empty() {
        return Err("the query returns no column".into());
    }
    let raw: Raw = row.try_get(0).map_err(|e| e.to_string())?;
    let Some(bytes) = raw.0 else { return Ok(None) };
    let ty = row.columns()[0].type_();
    let v = to_json(ty, bytes)?;
    as_f64(&v).map(Some).ok_or_else(|| format!("the first column is not a number ({ty}): {v}"))
}

inventory::submit!(ActionEntry(&Sample));
