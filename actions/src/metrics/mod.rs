//! `metrics.scrape`: a Prometheus text exposition (0.0.4) → numbers addressable by name and
//! labels. The parser is in `parse.rs`; this module fetches the text and shapes the outputs.
mod parse;

pub use parse::{parse, selector, Family, ParseError, Sample};

use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Dur, Outcome, OutputField,
    Precondition,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScrapeParams {
    /// URL of a /metrics endpoint (HTTP GET); or use `file`.
    url: Option<String>,
    /// A file holding an exposition; or use `url`.
    file: Option<String>,
    /// Timeout of the HTTP request (default: what is left of the step's deadline).
    timeout: Option<Dur>,
    /// Named selections: `reqs: 'http_requests_total{code="200"}'` gives `selected.reqs`, the
    /// sum over every series of that name whose labels include the given ones (a subset
    /// match), and `selected_series.reqs`, how many series matched.
    select: Option<BTreeMap<String, String>>,
}

/// `name`, or `name{a="b",c="d"}` with labels sorted and values escaped as in the
/// exposition: the key of the `values` output.
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

/// JSON has no NaN or infinities: those become the strings `NaN`, `+Inf`, `-Inf`.
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

/// The step's outputs from parsed families and the `select` map.
pub fn outputs(
    families: &[Family],
    select: Option<&BTreeMap<String, String>>,
) -> Result<Outcome, ActionError> {
    let (mut values, mut metrics, mut types) = (Map::new(), Map::new(), Map::new());
    let mut count = 0;
    for f in families {
        types.insert(f.name.clone(), json!(f.kind));
        for s in &f.samples {
            count += 1;
            values.insert(series_key(&s.name, &s.labels), num(s.value));
            let mut entry = json!({"labels": s.labels, "value": num(s.value)});
            if let Some(t) = s.timestamp {
                entry["timestamp_ms"] = json!(t);
            }
            if let Value::Array(list) = metrics.entry(s.name.clone()).or_insert_with(|| json!([])) {
                list.push(entry);
            }
        }
    }
    let mut o = Outcome::new()
        .with("samples", count)
        .with("metrics", Value::Object(metrics))
        .with("values", Value::Object(values))
        .with("types", Value::Object(types));
    if let Some(select) = select {
        let (mut selected, mut matched) = (Map::new(), Map::new());
        for (name, sel) in select {
            let (want_name, want) = parse::selector(sel)
                .map_err(|e| ActionError::new(format!("select `{name}`: `{sel}`: {e}")))?;
            let hits: Vec<f64> = families
                .iter()
                .flat_map(|f| &f.samples)
                .filter(|s| s.name == want_name && want.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
                .map(|s| s.value)
                .collect();
            selected.insert(name.clone(), num(hits.iter().sum()));
            matched.insert(name.clone(), json!(hits.len()));
        }
        o = o.with("selected", Value::Object(selected)).with("selected_series", Value::Object(matched));
    }
    Ok(o)
}

/// First 120 characters of a line, for error messages.
fn excerpt(text: &str, line: usize) -> String {
    let l = text.split('\n').nth(line - 1).unwrap_or("").trim_end_matches('\r');
    let mut s: String = l.chars().take(120).collect();
    if l.chars().count() > 120 {
        s.push('…');
    }
    s
}

async fn fetch(url: &str, timeout: Option<Dur>, ctx: &ActionCtx) -> Result<String, ActionError> {
    let limit = timeout.map(|d| d.0).unwrap_or_else(|| ctx.remaining());
    let req = ctx
        .state
        .http
        .get(url)
        .header("accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
        .timeout(limit)
        .send();
    let resp = tokio::time::timeout(limit, req)
        .await
        .map_err(|_| ActionError::new(format!("GET {url}: no response within {} ms", limit.as_millis())))?
        .map_err(|e| ActionError::from(e).hint("is the metrics endpoint up?"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(ActionError::from)?;
    if !status.is_success() {
        let head: String = body.chars().take(200).collect();
        return Err(ActionError::new(format!("GET {url}: HTTP {}: {head}", status.as_u16()))
            .hint("is this the /metrics path?")
            .with("status", status.as_u16()));
    }
    Ok(body)
}

struct Scrape;

#[async_trait]
impl Action for Scrape {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "metrics.scrape",
            summary: "Scrape a Prometheus text exposition (URL or file); values by name and labels",
            params: schema::<ScrapeParams>(),
            outputs: &[
                OutputField { name: "samples", ty: "int", doc: "number of samples" },
                OutputField {
                    name: "values",
                    ty: "map",
                    doc: "`name` or `name{a=\"b\",c=\"d\"}` (labels sorted) → value; NaN/±Inf as strings",
                },
                OutputField {
                    name: "metrics",
                    ty: "map",
                    doc: "sample name (`x_bucket`, `x_sum`…) → [{labels, value, timestamp_ms?}]",
                },
                OutputField { name: "types", ty: "map", doc: "family → counter|gauge|histogram|summary|untyped" },
                OutputField { name: "selected", ty: "map", doc: "each `select` name → sum of the matching series" },
                OutputField {
                    name: "selected_series",
                    ty: "map",
                    doc: "each `select` name → how many series matched (0: the sum is no evidence)",
                },
            ],
            example: "- id: m\n  metrics.scrape:\n    url: \"${ha_url}/metrics\"\n    select: { leader: 'ha_is_leader{node=\"node1\"}' }\n# then: m.selected.leader == 1.0, m.values['ha_epoch{node=\"node1\"}'] >= 1.0\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ScrapeParams = decode(params)?;
        let (source, text) = match (&p.url, &p.file) {
            (Some(url), None) => (url.clone(), fetch(url, p.timeout, ctx).await?),
            (None, Some(f)) => (
                f.clone(),
                tokio::fs::read_to_string(f)
                    .await
                    .map_err(|e| ActionError::new(format!("cannot read {f}: {e}")))?,
            ),
            _ => return Err(ActionError::new("give exactly one of `url` or `file`")),
        };
        let families = parse(&text).map_err(|e| {
            ActionError::new(format!("invalid exposition from {source}: {e}: `{}`", excerpt(&text, e.line)))
                .hint("expected the Prometheus text format 0.0.4 (`# TYPE name kind`, `name{label=\"v\"} value`)")
                .with("line", e.line)
        })?;
        outputs(&families, p.select.as_ref())
    }

    async fn probe(&self, params: Value, _: &ActionCtx) -> Vec<Precondition> {
        match params.get("file").and_then(Value::as_str) {
            Some(f) if !f.contains("${") && !std::path::Path::new(f).exists() => {
                vec![Precondition::warning(format!("metrics file {f} does not exist (yet)"))]
            }
            _ => vec![],
        }
    }
}

inventory::submit!(ActionEntry(&Scrape));
