//! HTTP actions: GET and arbitrary requests, with status, headers, text and JSON out.
use crate::params::{decode, schema};
use crate::sync::lock;
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Dur, Outcome, OutputField,
    Precondition,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Instant;

mod availability;
mod sample;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
enum Statuses {
    One(u16),
    Many(Vec<u16>),
}

impl Statuses {
    fn accepts(&self, s: u16) -> bool {
        match self {
            Statuses::One(x) => *x == s,
            Statuses::Many(xs) => xs.contains(&s),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetParams {
    /// The URL.
    url: String,
    /// Request headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Per-request timeout (default: what is left of the step's deadline).
    timeout: Option<Dur>,
    /// Fail unless the status is this one (or one of these). Default: any status is a result.
    expect_status: Option<Statuses>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RequestParams {
    /// GET, POST, PUT, PATCH, DELETE, HEAD...
    #[schemars(with = "crate::params::HttpMethod")]
    method: String,
    /// The URL.
    url: String,
    /// Request headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// A text body.
    body: Option<String>,
    /// A JSON body (sets content-type: application/json).
    json: Option<Value>,
    /// Per-request timeout (default: what is left of the step's deadline).
    timeout: Option<Dur>,
    /// Fail unless the status is this one (or one of these). Default: any status is a result.
    expect_status: Option<Statuses>,
}

const OUTPUTS: &[OutputField] = &[
    OutputField { name: "status", ty: "int", doc: "HTTP status code" },
    OutputField { name: "headers", ty: "map", doc: "response headers (lower-case names)" },
    OutputField { name: "text", ty: "string", doc: "response body (truncated past 64 KiB)" },
    OutputField { name: "json", ty: "any", doc: "the body parsed as JSON, when it is JSON" },
    OutputField { name: "elapsed_ms", ty: "int", doc: "time to the full response" },
];

/// The in-memory cap of a response body: a larger one fails the step instead of growing
/// the runner without bound (documented in the README).
pub const MAX_BODY: usize = 8 << 20;

enum BodyError {
    Http(reqwest::Error),
    TooLarge(u16, Map<String, Value>),
}

#[allow(clippy::too_many_arguments)] // one call site per action; a struct would only rename them
async fn send(
    ctx: &ActionCtx,
    method: &str,
    url: &str,
    headers: &BTreeMap<String, String>,
    body: Option<String>,
    json: Option<Value>,
    timeout: Option<Dur>,
    expect: Option<Statuses>,
) -> Result<Outcome, ActionError> {
    let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
        .map_err(|_| ActionError::new(format!("`{method}` is not an HTTP method")))?;
    let mut req = ctx.state.http.request(m, url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    if let Some(j) = json {
        req = req.json(&j);
    } else if let Some(b) = body {
        req = req.body(b);
    }
    // Never past the step's own deadline, whatever `timeout:` says.
    let limit = timeout.map(|d| d.0).unwrap_or_else(|| ctx.remaining()).min(ctx.remaining());
    let t = Instant::now();
    // What arrived so far, for the message when the deadline cuts the body off.
    let progress: std::sync::Mutex<Option<(u16, usize)>> = std::sync::Mutex::new(None);
    let fut = async {
        let mut resp = req.send().await.map_err(BodyError::Http)?;
        let status = resp.status().as_u16();
        *lock(&progress) = Some((status, 0));
        let mut h = Map::new();
        for (k, v) in resp.headers() {
            h.insert(k.as_str().to_lowercase(), Value::String(v.to_str().unwrap_or("").to_string()));
        }
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(BodyError::TooLarge(status, h));
        }
        // Streamed, so memory stays bounded by the cap whatever the server sends.
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(BodyError::Http)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(BodyError::TooLarge(status, h));
            }
            body.extend_from_slice(&chunk);
            *lock(&progress) = Some((status, body.len()));
        }
        Ok((status, h, String::from_utf8_lossy(&body).into_owned()))
    };
    let (status, h, text) = match tokio::time::timeout(limit, fut).await {
        Err(_) => {
            let within = testrunner_scenario::format_duration(limit);
            return Err(match *lock(&progress) {
                None => ActionError::new(format!("{method} {url}: no response within {within}"))
                    .hint("the service accepted the connection but did not answer; is it hung?"),
                Some((status, got)) => ActionError::new(format!(
                    "{method} {url}: answered {status}, but the body was cut off at the deadline \
                     ({within}) after {got} bytes"
                ))
                .hint("the body arrives too slowly or is too large for the step's timeout"),
            });
        }
        Ok(Err(BodyError::TooLarge(status, h))) => {
            let mut err = ActionError::new(format!(
                "{method} {url}: answered {status} with a body larger than {} MiB, which is not read",
                MAX_BODY >> 20
            ))
            .hint("HTTP bodies are kept in memory up to 8 MiB; ask for a smaller resource (a range, a page)");
            err.output = Outcome::new().with("status", status).with("headers", Value::Object(h)).output;
            return Err(err);
        }
        Ok(Err(BodyError::Http(e))) => {
            let mut err = ActionError::from(e);
            err.message = format!("{method} {url}: {}", err.message);
            return Err(
                err.hint("is the service listening there? (connection errors are retried by `until`)")
            );
        }
        Ok(Ok(r)) => r,
    };
    let mut o = Outcome::new()
        .with("status", status)
        .with("headers", Value::Object(h))
        .with("elapsed_ms", t.elapsed().as_millis() as u64);
    if let Ok(j) = serde_json::from_str::<Value>(&text) {
        o = o.with("json", j);
    }
    o = o.with("text", crate::core::truncate(&text));
    if let Some(e) = expect {
        if !e.accepts(status) {
            let mut err = ActionError::new(format!("{method} {url} answered {status}, expected {e:?}"));
            err.output = o.output;
            return Err(err);
        }
    }
    Ok(o)
}

async fn probe_url(url: &str, ctx: &ActionCtx) -> Vec<Precondition> {
    if url.contains("${") {
        return vec![];
    }
    match tokio::time::timeout(std::time::Duration::from_secs(3), ctx.state.http.head(url).send()).await {
        Ok(Ok(_)) => vec![],
        Ok(Err(e)) => vec![Precondition::warning(format!("{url} does not answer now: {e}"))],
        Err(_) => vec![Precondition::warning(format!("{url} did not answer within 3s"))],
    }
}

struct Get;

#[async_trait]
impl Action for Get {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "http.get",
            summary: "HTTP GET; status, headers, text and JSON out (any status is a result unless expect_status)",
            params: schema::<GetParams>(),
            outputs: OUTPUTS,
            example: "- id: lost\n  http.get: { url: \"${ha_url}/v1/ha/quorum\" }\n  until: lost.json.quorum_health == \"lost\"\n  interval: 200ms\n  timeout: 30s\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: GetParams = decode(params)?;
        send(ctx, "GET", &p.url, &p.headers, None, None, p.timeout, p.expect_status).await
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        match params.get("url").and_then(Value::as_str) {
            Some(u) => probe_url(u, ctx).await,
            None => vec![],
        }
    }
}

struct Request;

#[async_trait]
impl Action for Request {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "http.request",
            summary: "Any HTTP request (method, headers, body or json); status, headers, text and JSON out",
            params: schema::<RequestParams>(),
            outputs: OUTPUTS,
            example: "- id: write\n  http.request:\n    method: POST\n    url: \"${ha_url}/v1/protected/writes\"\n    json: { key: k, value: v }\n    expect_status: 201\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: RequestParams = decode(params)?;
        send(ctx, &p.method, &p.url, &p.headers, p.body, p.json, p.timeout, p.expect_status).await
    }
}

inventory::submit!(ActionEntry(&Get));
inventory::submit!(ActionEntry(&Request));

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn ctx(timeout: Duration) -> (tempfile::TempDir, ActionCtx) {
        let d = tempfile::tempdir().unwrap();
        let c = ActionCtx::standalone(d.path().to_path_buf(), "t", timeout);
        (d, c)
    }

    /// A one-route server answering every request with `body`.
    async fn serve(body: &'static str, status: &'static str) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let resp = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn get_parses_json_and_checks_status() {
        let port = serve("{\"quorum_health\":\"lost\"}", "503 Service Unavailable").await;
        let (_d, c) = ctx(Duration::from_secs(5));
        let url = format!("http://127.0.0.1:{port}/v1/ha/quorum");
        let o = Get.run(json!({"url": url}), &c).await.unwrap();
        assert_eq!(o.output["status"], 503);
        assert_eq!(o.output["json"]["quorum_health"], "lost");
        let e = Get.run(json!({"url": url, "expect_status": 200}), &c).await.unwrap_err();
        assert_eq!(e.output["status"], 503);
    }

    #[tokio::test]
    async fn hung_endpoint_ends_at_the_timeout() {
        // Accepts connections (backlog) and never answers.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port());
        let (_d, c) = ctx(Duration::from_secs(30));
        let t = Instant::now();
        let e = Get.run(json!({"url": url, "timeout": "300ms"}), &c).await.unwrap_err();
        assert!(e.message.contains("no response within 300ms"), "{}", e.message);
        assert!(t.elapsed() < Duration::from_secs(3));
        // And under the engine's deadline (the future is dropped), it ends promptly too.
        let r = tokio::time::timeout(Duration::from_millis(300), Get.run(json!({"url": url}), &c)).await;
        assert!(r.is_err());
        drop(l);
    }

    /// A server answering 200 with `head` as extra headers, then `body_len` bytes in 64 KiB
    /// writes with `pause` between them (generated, never held in memory).
    async fn serve_body(head: &'static str, body_len: usize, pause: Duration) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let h = format!("HTTP/1.1 200 OK\r\n{head}connection: close\r\n\r\n");
                    if s.write_all(h.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut sent = 0;
                    while sent < body_len {
                        let n = chunk.len().min(body_len - sent);
                        if s.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                        sent += n;
                        if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        }
                    }
                });
            }
        });
        format!("http://127.0.0.1:{port}/")
    }

    fn peak_rss_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn a_huge_body_is_refused_in_bounded_time_and_memory() {
        // 1 GiB without content-length (read until close): the cap stops it at 8 MiB.
        let url = serve_body("", 1 << 30, Duration::ZERO).await;
        let (_d, c) = ctx(Duration::from_secs(30));
        let (t, rss) = (Instant::now(), peak_rss_kib());
        let e = Get.run(json!({"url": url}), &c).await.unwrap_err();
        assert!(e.message.contains("body larger than 8 MiB"), "{}", e.message);
        assert_eq!(e.output["status"], 200);
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(peak_rss_kib() < rss + 200 * 1024, "peak RSS grew from {rss} KiB to {} KiB", peak_rss_kib());
        // A declared length over the cap is refused before any of it is read.
        let url = serve_body("content-length: 1073741824\r\n", 0, Duration::ZERO).await;
        let e = Get.run(json!({"url": url}), &c).await.unwrap_err();
        assert!(e.message.contains("body larger than 8 MiB"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_slow_body_ends_at_the_deadline_and_says_it_was_cut_off() {
        // Headers at once, then 64 KiB every 200 ms of a 4 MiB body.
        let url = serve_body("content-length: 4194304\r\n", 4 << 20, Duration::from_millis(200)).await;
        let (_d, c) = ctx(Duration::from_millis(800));
        let t = Instant::now();
        let e = Get.run(json!({"url": url}), &c).await.unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(
            e.message.contains("answered 200, but the body was cut off at the deadline"),
            "{}",
            e.message
        );
        // `timeout:` longer than the step's deadline does not outlive the step.
        let (_d, c) = ctx(Duration::from_millis(500));
        let t = Instant::now();
        let e = Get.run(json!({"url": url, "timeout": "60s"}), &c).await.unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(e.message.contains("cut off"), "{}", e.message);
    }

    #[tokio::test]
    async fn connection_refused_has_a_hint() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (_d, c) = ctx(Duration::from_secs(5));
        let e = Get.run(json!({"url": format!("http://127.0.0.1:{port}/")}), &c).await.unwrap_err();
        assert!(e.hint.unwrap().contains("listening"));
    }
}
