//! metrics.scrape: Prometheus text exposition → values addressable by name and labels.
mod parse;

pub use parse::{parse, Family, ParseError, Sample};

use crate::params::{decode, schema};
use crate::{Action, ActionCtx, ActionEntry, ActionError, ActionSpec, Dur, Outcome, OutputField};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScrapeParams {
    /// URL of a /metrics endpoint (or use `file`).
    url: Option<String>,
    /// A file holding an exposition.
    file: Option<String>,
    /// Per-request timeout (default: the step's deadline).
    timeout: Option<Dur>,
    /// Named selections: `reqs: 'http_requests_total{code="200"}'` → `selected.reqs`, the sum of
    /// the series whose labels include those given.
    #[serde(default)]
    select: BTreeMap<String, String>,
}

struct Scrape;

/// `name{a="b",c="d"}` with labels sorted, the key of `values`.
pub fn series_key(name: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
        })
        .collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("+Inf")
    } else {
        json!("-Inf")
    }
}

#[async_trait]
impl Action for Scrape {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "metrics.scrape",
            summary: "Scrape a Prometheus text exposition; values by name and labels",
            params: schema::<ScrapeParams>(),
            outputs: &[
                OutputField { name: "samples", ty: "int", doc: "number of samples" },
                OutputField { name: "values", ty: "map", doc: "`name` or `name{a=\"b\"}` (labels sorted) → value" },
                OutputField { name: "metrics", ty: "map", doc: "name → [{labels, value}]" },
                OutputField { name: "types", ty: "map", doc: "family name → counter|gauge|histogram|summary|untyped" },
                OutputField { name: "selected", ty: "map", doc: "each `select` name → sum of matching series" },
            ],
            example: "- id: m\n  metrics.scrape:\n    url: \"${ha_url}/metrics\"\n    select: { leader: 'ha_is_leader{node=\"node1\"}' }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ScrapeParams = decode(params)?;
        let text = match (&p.url, &p.file) {
            (Some(url), None) => {
                let limit = p.timeout.map(|d| d.0).unwrap_or_else(|| ctx.remaining());
                let resp =
                    tokio::time::timeout(limit, async { ctx.state.http.get(url).send().await?.text().await })
                        .await
                        .map_err(|_| {
                            ActionError::new(format!("GET {url}: no response within {}ms", limit.as_millis()))
                        })?
                        .map_err(|e| ActionError::from(e).hint("is the metrics endpoint up?"))?;
                resp
            }
            (None, Some(f)) => {
                std::fs::read_to_string(f).map_err(|e| ActionError::new(format!("cannot read {f}: {e}")))?
            }
            _ => return Err(ActionError::new("give exactly one of `url` or `file`")),
        };
        let families = parse(&text)
            .map_err(|e| ActionError::new(format!("invalid exposition: line {}: {}", e.line, e.message)))?;
        let (mut values, mut metrics, mut types) = (Map::new(), Map::new(), Map::new());
        let mut count = 0;
        for f in &families {
            types.insert(f.name.clone(), json!(f.kind));
            for s in &f.samples {
                count += 1;
                values.insert(series_key(&s.name, &s.labels), num(s.value));
                let entry = metrics.entry(s.name.clone()).or_insert_with(|| json!([]));
                entry.as_array_mut().unwrap().push(json!({"labels": s.labels, "value": num(s.value)}));
            }
        }
        let mut selected = Map::new();
        for (name, sel) in &p.select {
            let (want_name, want) =
                parse::selector(sel).map_err(|e| ActionError::new(format!("select `{name}`: {e}")))?;
            let sum: f64 = families
                .iter()
                .flat_map(|f| &f.samples)
                .filter(|s| s.name == want_name && want.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
                .map(|s| s.value)
                .sum();
            selected.insert(name.clone(), num(sum));
        }
        Ok(Outcome::new()
            .with("samples", count)
            .with("values", Value::Object(values))
            .with("metrics", Value::Object(metrics))
            .with("types", Value::Object(types))
            .with("selected", Value::Object(selected)))
    }
}

inventory::submit!(ActionEntry(&Scrape));
