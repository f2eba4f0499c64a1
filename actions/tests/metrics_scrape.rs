//! metrics.scrape end to end: a real HTTP server (a tokio listener on a free loopback port)
//! serving an exposition, the outputs a scenario addresses, `select` subset matching, and
//! the failures: malformed text, HTTP errors, a server that never answers.
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testrunner_actions::{find, ActionCtx, ActionError, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const EXPOSITION: &str = r#"# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{method="get",code="200"} 1027 1395066363000
http_requests_total{method="post",code="200"} 3
http_requests_total{method="get",code="500"} 2
# TYPE up gauge
up 1
# TYPE temperature gauge
temperature{room="a \"quoted\" one",path="C:\\x"} -1.5e1
weird{kind="nan"} NaN
weird{kind="inf"} +Inf
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 5
latency_seconds_bucket{le="0.5"} 9
latency_seconds_bucket{le="+Inf"} 10
latency_seconds_sum 2.25
latency_seconds_count 10
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.99"} 0.8
rpc_seconds_sum 4
rpc_seconds_count 20
"#;

/// A one-response-per-connection HTTP/1.1 server: `/metrics` serves `body`, `/hang` never
/// answers, anything else is a 404. Records each request's head.
async fn serve(body: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(vec![]));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = vec![];
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                log.lock().unwrap().push(head.clone());
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let (status, ctype, text) = match path.as_str() {
                    "/metrics" => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body),
                    "/hang" => {
                        // Hold the connection open without answering until the client gives up.
                        let _ = sock.read(&mut chunk).await;
                        return;
                    }
                    _ => ("404 Not Found", "text/plain", "404 page not found\n"),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (base, seen)
}

async fn scrape(params: Value) -> Result<Outcome, ActionError> {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ActionCtx::standalone(dir.path().to_path_buf(), "m", Duration::from_secs(10));
    find("metrics.scrape").expect("registered").run(params, &ctx).await
}

#[tokio::test]
async fn scrapes_a_live_endpoint_into_addressable_values() {
    let (base, seen) = serve(EXPOSITION).await;
    let o = scrape(json!({"url": format!("{base}/metrics")})).await.unwrap().output;
    assert_eq!(o["samples"], 15);
    // values: labels sorted in the key, whatever their order on the wire.
    let v = &o["values"];
    assert_eq!(v[r#"http_requests_total{code="200",method="get"}"#], 1027.0);
    assert_eq!(v["up"], 1.0);
    assert_eq!(v[r#"temperature{path="C:\\x",room="a \"quoted\" one"}"#], -15.0);
    assert_eq!(
        (v[r#"weird{kind="nan"}"#].clone(), v[r#"weird{kind="inf"}"#].clone()),
        (json!("NaN"), json!("+Inf"))
    );
    // Histogram buckets, sum and count.
    assert_eq!(v[r#"latency_seconds_bucket{le="0.5"}"#], 9.0);
    assert_eq!(v[r#"latency_seconds_bucket{le="+Inf"}"#], 10.0);
    assert_eq!(
        (v["latency_seconds_sum"].clone(), v["latency_seconds_count"].clone()),
        (json!(2.25), json!(10.0))
    );
    assert_eq!(v[r#"rpc_seconds{quantile="0.99"}"#], 0.8);
    // metrics: name → [{labels, value}], timestamps kept.
    let reqs = o["metrics"]["http_requests_total"].as_array().unwrap();
    assert_eq!(reqs.len(), 3);
    assert_eq!(
        reqs[0],
        json!({"labels": {"code": "200", "method": "get"}, "value": 1027.0, "timestamp_ms": 1395066363000i64})
    );
    assert_eq!(o["metrics"]["latency_seconds_bucket"].as_array().unwrap().len(), 3);
    // types by family.
    assert_eq!(
        o["types"],
        json!({"http_requests_total": "counter", "up": "gauge", "temperature": "gauge", "weird": "untyped",
               "latency_seconds": "histogram", "rpc_seconds": "summary"})
    );
    assert!(o.get("selected").is_none(), "no select, no selected");
    // It asked for the text format.
    let head = seen.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.starts_with("get /metrics ") && head.contains("accept: text/plain;version=0.0.4"), "{head}");
}

#[tokio::test]
async fn select_sums_the_series_whose_labels_include_the_given_ones() {
    let (base, _) = serve(EXPOSITION).await;
    let o = scrape(json!({"url": format!("{base}/metrics"), "select": {
        "ok": r#"http_requests_total{code="200"}"#,
        "get_ok": r#"http_requests_total{ method="get", code="200" }"#,
        "all": "http_requests_total",
        "up": "up",
        "slow": r#"latency_seconds_bucket{le="+Inf"}"#,
        "none": r#"http_requests_total{code="418"}"#,
        "other_name": r#"up{code="200"}"#
    }}))
    .await
    .unwrap()
    .output;
    assert_eq!(
        o["selected"],
        json!({"ok": 1030.0, "get_ok": 1027.0, "all": 1032.0, "up": 1.0, "slow": 10.0, "none": 0.0, "other_name": 0.0})
    );
    // A zero from no match is told apart from a zero reading.
    assert_eq!(
        o["selected_series"],
        json!({"ok": 2, "get_ok": 1, "all": 3, "up": 1, "slow": 1, "none": 0, "other_name": 0})
    );
    // A selector that does not parse is an error, not a silent zero.
    let e = scrape(json!({"url": format!("{base}/metrics"), "select": {"bad": "up{code=200}"}}))
        .await
        .unwrap_err();
    assert!(e.message.contains("select `bad`"), "{}", e.message);
}

#[tokio::test]
async fn reads_a_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.prom");
    std::fs::write(&f, EXPOSITION).unwrap();
    let o = scrape(json!({"file": f, "select": {"x": "up"}})).await.unwrap().output;
    assert_eq!((o["samples"].clone(), o["selected"]["x"].clone()), (json!(15), json!(1.0)));
    let e = scrape(json!({"file": dir.path().join("missing.prom")})).await.unwrap_err();
    assert!(e.message.contains("cannot read"), "{}", e.message);
}

#[tokio::test]
async fn malformed_exposition_fails_with_the_line() {
    let (base, _) = serve("# TYPE up gauge\nup 1\nhttp_requests_total{code=\"200\" 5\n").await;
    let e = scrape(json!({"url": format!("{base}/metrics")})).await.unwrap_err();
    assert!(e.message.contains("line 3, column 32"), "{}", e.message);
    assert!(e.message.contains(r#"`http_requests_total{code="200" 5`"#), "the line is quoted: {}", e.message);
    assert_eq!(e.output["line"], 3);
}

#[tokio::test]
async fn http_errors_and_silence_are_errors() {
    let (base, _) = serve(EXPOSITION).await;
    let e = scrape(json!({"url": format!("{base}/nope")})).await.unwrap_err();
    assert!(e.message.contains("HTTP 404"), "{}", e.message);
    assert_eq!(e.output["status"], 404);
    let t = Instant::now();
    let e = scrape(json!({"url": format!("{base}/hang"), "timeout": "300ms"})).await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(e.message.contains("within 300 ms") || e.message.contains("timed out"), "{}", e.message);
    // Nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = scrape(json!({"url": format!("http://127.0.0.1:{port}/metrics")})).await.unwrap_err();
    assert_eq!(e.hint.as_deref(), Some("is the metrics endpoint up?"), "{}", e.message);
}

#[tokio::test]
async fn parameters_are_checked() {
    for (p, msg) in [
        (json!({}), "exactly one of `url` or `file`"),
        (json!({"url": "http://127.0.0.1:1/", "file": "x"}), "exactly one of `url` or `file`"),
        (json!({"url": "http://127.0.0.1:1/", "selct": {}}), "unknown field `selct`"),
    ] {
        let e = scrape(p).await.unwrap_err();
        assert!(e.message.contains(msg), "{}", e.message);
    }
}
