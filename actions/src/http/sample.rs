//! `http.sample`: a background availability sampler. Probes a URL (or the first of several
//! that answers, like a client with several hosts) every interval, records every attempt,
//! and outputs availability, latency percentiles and the longest unavailable window with
//! its bounds, plus a series the HTML report charts on the run clock.
use super::availability::{summarize, Probe};
use super::{probe_url, Statuses};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Chart, Dur, Outcome, OutputField,
    Precondition,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum Urls {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SampleParams {
    /// The URL, or a list tried in order until one gives an accepted answer (a client that
    /// fails over between nodes): the probe is up when any of them is.
    url: Urls,
    /// GET (default), POST, PUT, PATCH, DELETE, HEAD or OPTIONS.
    #[schemars(with = "Option<crate::params::HttpMethod>")]
    method: Option<String>,
    /// Request headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// A JSON body sent with every probe (e.g. a write through a write gate).
    json: Option<Value>,
    /// Time between probe starts (a slow probe stretches it: probes never overlap).
    every: Dur,
    /// A probe (per URL) slower than this counts as down (default 1s).
    timeout: Option<Dur>,
    /// The statuses that count as up (default: any 2xx).
    expect_status: Option<Statuses>,
    /// Stop after this many probes (default: until stopped or the step's deadline).
    max_samples: Option<u64>,
}

const SERIES_CAP: usize = 5000;
/// Bodies are read (so keep-alive works and a slow body counts) but not kept past this.
const BODY_CAP: usize = 64 << 10;

struct Sample;

#[async_trait]
impl Action for Sample {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "http.sample",
            traits: ActionTraits { chart: Some(Chart::Availability), ..ActionTraits::NONE },
            summary: "Probe a URL every interval in the background; availability %, latency percentiles, longest outage with bounds",
            params: schema::<SampleParams>(),
            outputs: &[
                OutputField { name: "samples", ty: "int", doc: "probes made" },
                OutputField { name: "up", ty: "int", doc: "probes answered with an accepted status within the timeout" },
                OutputField { name: "down", ty: "int", doc: "the others (other status, connection error, timeout)" },
                OutputField { name: "availability", ty: "float", doc: "up / samples × 100 (null when nothing was sampled)" },
                OutputField { name: "latency_p50_ms", ty: "float", doc: "median latency of accepted probes (also _p95_, _p99_, _max_)" },
                OutputField { name: "latency_p95_ms", ty: "float", doc: "95th percentile latency of accepted probes" },
                OutputField { name: "latency_p99_ms", ty: "float", doc: "99th percentile latency of accepted probes" },
                OutputField { name: "latency_max_ms", ty: "float", doc: "slowest accepted probe" },
                OutputField { name: "outages", ty: "int", doc: "windows of consecutive failed probes" },
                OutputField { name: "outage_ms", ty: "int", doc: "the longest: its first failed probe to the first accepted one after (to the end when open)" },
                OutputField { name: "outage_lo_ms", ty: "int", doc: "it lasted at least this long (first to last failed probe)" },
                OutputField { name: "outage_hi_ms", ty: "int", doc: "at most this long (last accepted before to first accepted after); null when open" },
                OutputField { name: "outage_start_ms", ty: "int", doc: "run-clock ms of its first failed probe (null: no outage)" },
                OutputField { name: "outage_start_lo_ms", ty: "int", doc: "the last accepted probe before it: the outage began in between" },
                OutputField { name: "outage_end_lo_ms", ty: "int", doc: "its last failed probe" },
                OutputField { name: "outage_end_ms", ty: "int", doc: "the first accepted probe after it: it ended in between (null: still down)" },
                OutputField { name: "recovered", ty: "bool", doc: "the last probe was accepted" },
                OutputField { name: "statuses", ty: "map", doc: "probe count by status code (`error` for no answer, `timeout`)" },
                OutputField { name: "last_error", ty: "string", doc: "the last failure, masked (null when none)" },
                OutputField { name: "series", ty: "list", doc: "[t_ms, latency_ms, ok] per probe on the run clock (at most 5,000: merged keeping failures)" },
            ],
            example: "- id: availability\n  http.sample:\n    url: [\"${node1_url}/v1/ha/status\", \"${node2_url}/v1/ha/status\"]\n    every: 100ms\n    timeout: 500ms\n  background: true\n- docker.stop: { container: pg }\n- stop: availability\n",
            background: true,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: SampleParams = decode(params)?;
        let urls = match &p.url {
            Urls::One(u) => vec![u.clone()],
            Urls::Many(v) if v.is_empty() => return Err(ActionError::new("`url` is an empty list")),
            Urls::Many(v) => v.clone(),
        };
        let method = p.method.as_deref().unwrap_or("GET").to_uppercase();
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| ActionError::new(format!("`{method}` is not an HTTP method")))?;
        let every = p.every.0.max(Duration::from_millis(1));
        let timeout = p.timeout.map(|t| t.0).unwrap_or(Duration::from_secs(1));
        let run_ms = |t: Instant| t.saturating_duration_since(ctx.state.t0).as_millis() as u64;
        let start = Instant::now();
        // Return (with the output) before the engine's deadline would drop us.
        let end = ctx.deadline.checked_sub(ctx.remaining().min(Duration::from_secs(1)) / 4).unwrap_or(start);
        let mut probes: Vec<Probe> = vec![];
        let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
        let mut last_error: Option<String> = None;
        while !ctx.stop.is_cancelled() && Instant::now() < end {
            let tick = Instant::now();
            let attempt = tokio::select! {
                a = probe_once(ctx, &method, &urls, &p, timeout.min(end.saturating_duration_since(tick))) => a,
                // A probe cut off by the stop is not a sample: the service did nothing wrong.
                _ = ctx.stop.cancelled() => break,
            };
            *statuses.entry(attempt.label.clone()).or_default() += 1;
            if let Some(e) = attempt.error {
                last_error = Some(ctx.state.masker.mask(&e).into_owned());
            }
            probes.push(Probe {
                t_ms: run_ms(tick),
                latency_ms: tick.elapsed().as_secs_f64() * 1000.0,
                ok: attempt.ok,
            });
            if p.max_samples.is_some_and(|m| probes.len() as u64 >= m) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until((tick + every).min(end).into()) => {}
                _ = ctx.stop.cancelled() => break,
            }
        }
        let mut out = summarize(&probes, run_ms(start), run_ms(Instant::now()), SERIES_CAP);
        let counts: Map<String, Value> = statuses.into_iter().map(|(k, v)| (k, json!(v))).collect();
        out.insert("statuses".into(), Value::Object(counts));
        out.insert("last_error".into(), last_error.map(Value::from).unwrap_or(Value::Null));
        Ok(Outcome { output: out, ..Default::default() })
    }

    /// Read-only: a HEAD to each URL that is already known (warnings only: the service
    /// may well be started by the scenario itself).
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        let urls: Vec<String> = match params.get("url") {
            Some(Value::String(u)) => vec![u.clone()],
            Some(Value::Array(v)) => v.iter().filter_map(|u| u.as_str().map(String::from)).collect(),
            _ => vec![],
        };
        let mut out = vec![];
        for u in urls {
            out.extend(probe_url(&u, ctx).await);
        }
        out
    }
}

struct Attempt {
    ok: bool,
    /// The status code, `error` or `timeout` (of the last URL tried).
    label: String,
    error: Option<String>,
}

/// One probe: the URLs in order until one answers with an accepted status.
async fn probe_once(
    ctx: &ActionCtx,
    method: &reqwest::Method,
    urls: &[String],
    p: &SampleParams,
    timeout: Duration,
) -> Attempt {
    let mut last = Attempt { ok: false, label: "error".into(), error: None };
    for url in urls {
        let mut req = ctx.state.http.request(method.clone(), url);
        for (k, v) in &p.headers {
            req = req.header(k, v);
        }
        if let Some(j) = &p.json {
            req = req.json(j);
        }
        let fut = async {
            let mut resp = req.send().await?;
            let status = resp.status().as_u16();
            let mut read = 0usize;
            while let Some(chunk) = resp.chunk().await? {
                read += chunk.len();
                if read > BODY_CAP {
                    break;
                }
            }
            Ok::<u16, reqwest::Error>(status)
        };
        last = match tokio::time::timeout(timeout, fut).await {
            Err(_) => Attempt {
                ok: false,
                label: "timeout".into(),
                error: Some(format!(
                    "{method} {url}: no answer within {}",
                    testrunner_scenario::format_duration(timeout)
                )),
            },
            Ok(Err(e)) => Attempt {
                ok: false,
                label: "error".into(),
                error: Some(format!("{method} {url}: {}", ActionError::from(e).message)),
            },
            Ok(Ok(status)) => {
                let ok = match &p.expect_status {
                    Some(s) => s.accepts(status),
                    None => (200..300).contains(&status),
                };
                let error = (!ok).then(|| format!("{method} {url}: answered {status}"));
                Attempt { ok, label: status.to_string(), error }
            }
        };
        if last.ok {
            break;
        }
    }
    last
}

inventory::submit!(ActionEntry(&Sample));

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers 200 while `up`, else 503; returns its URL.
    async fn flappy(up: Arc<AtomicBool>) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let up = up.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let st = if up.load(Ordering::SeqCst) { "200 OK" } else { "503 Service Unavailable" };
                    let r = format!("HTTP/1.1 {st}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                    let _ = s.write_all(r.as_bytes()).await;
                });
            }
        });
        format!("http://127.0.0.1:{port}/")
    }

    fn ctx(timeout: Duration) -> (tempfile::TempDir, ActionCtx) {
        let d = tempfile::tempdir().unwrap();
        let c = ActionCtx::standalone(d.path().to_path_buf(), "t", timeout);
        (d, c)
    }

    #[tokio::test]
    async fn an_outage_is_measured_with_its_bounds_and_the_sampler_stops_promptly() {
        let up = Arc::new(AtomicBool::new(true));
        let url = flappy(up.clone()).await;
        let (_d, c) = ctx(Duration::from_secs(30));
        let (stop, c2) = (c.stop.clone(), c.clone());
        let h = tokio::spawn(async move { Sample.run(json!({"url": url, "every": "20ms"}), &c2).await });
        // The outage: 503 from the moment `up` flips until it flips back (the run clock
        // is the context's t0, so these instants are comparable with the output).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let down_at = c.state.t0.elapsed().as_millis() as u64;
        up.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(400)).await;
        up.store(true, Ordering::SeqCst);
        let up_at = c.state.t0.elapsed().as_millis() as u64;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stopped = Instant::now();
        stop.cancel();
        let o = h.await.unwrap().unwrap().output;
        assert!(stopped.elapsed() < Duration::from_millis(500), "{:?}", stopped.elapsed());
        assert_eq!(o["outages"], 1, "{o:?}");
        assert_eq!(o["recovered"], true);
        let g = |k: &str| o[k].as_u64().unwrap();
        // The true window [down_at, up_at] lies inside the reported bounds.
        assert!(g("outage_start_lo_ms") <= down_at && down_at <= g("outage_start_ms") + 5, "{o:?}");
        assert!(g("outage_end_lo_ms") <= up_at + 5 && up_at <= g("outage_end_ms"), "{o:?}");
        assert!(g("outage_lo_ms") <= 400 + 10 && 400 <= g("outage_hi_ms") + 10, "{o:?}");
        let avail = o["availability"].as_f64().unwrap();
        assert!(avail > 50.0 && avail < 90.0, "{avail}");
        assert!(o["statuses"]["503"].as_u64().unwrap() >= 5, "{o:?}");
        assert!(o["series"].as_array().unwrap().iter().any(|p| p[2] == false));
    }

    #[tokio::test]
    async fn a_list_of_urls_is_up_when_any_answers_and_a_dead_port_is_down() {
        let up = Arc::new(AtomicBool::new(true));
        let good = flappy(up).await;
        let dead = format!(
            "http://127.0.0.1:{}/",
            std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
        );
        let (_d, c) = ctx(Duration::from_secs(10));
        let o = Sample
            .run(json!({"url": [dead.clone(), good], "every": "5ms", "max_samples": 5}), &c)
            .await
            .unwrap()
            .output;
        assert_eq!((o["samples"].clone(), o["availability"].clone()), (json!(5), json!(100.0)));
        // Negative control: the dead port alone is never up.
        let o = Sample.run(json!({"url": dead, "every": "5ms", "max_samples": 5}), &c).await.unwrap().output;
        assert_eq!(o["availability"], json!(0.0));
        assert_eq!(o["statuses"]["error"], 5);
        assert_eq!(o["recovered"], false);
        assert!(o["last_error"].as_str().unwrap().contains("127.0.0.1"), "{o:?}");
    }

    #[tokio::test]
    async fn a_hung_server_counts_as_down_at_the_probe_timeout() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port());
        let (_d, c) = ctx(Duration::from_secs(10));
        let t = Instant::now();
        let o = Sample
            .run(json!({"url": url, "every": "10ms", "timeout": "100ms", "max_samples": 3}), &c)
            .await
            .unwrap()
            .output;
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(o["statuses"]["timeout"], 3, "{o:?}");
        drop(l);
    }
}
