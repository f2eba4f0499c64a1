//! `halab quorum-status`: the read-only "ha quorum status" CLI of the VAL17 seed. It asks a
//! node (this lab's, or any server speaking the same contract) for `GET /v1/ha/quorum` and
//! prints every field as one `key: value` line, in the order the server sent them.
//!
//! A minimal HTTP/1.0 client over a tokio socket (1.0: the answer is never chunked), so the
//! fixture needs no HTTP client library; every step is bounded by `--timeout`.
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(clap::Args)]
pub struct Args {
    /// Base URL of the node, e.g. http://127.0.0.1:19003 (`/v1/ha/quorum` is appended).
    #[arg(long)]
    url: String,
    /// Bound on the whole request.
    #[arg(long, default_value = "5s", value_parser = crate::duration)]
    timeout: Duration,
}

/// Exit 0 with the fields on stdout; 1 when the node cannot be asked or answers anything but
/// 200 with a JSON object (the reason on stderr); 2 for a URL this client cannot use.
pub async fn run(a: Args) -> i32 {
    let (host, port, base) = match parse_url(&a.url) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("halab quorum-status: {e}");
            return 2;
        }
    };
    let path = format!("{}/v1/ha/quorum", base.trim_end_matches('/'));
    let answer = tokio::time::timeout(a.timeout, get(&host, port, &path)).await;
    let (status, body) = match answer {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            eprintln!("halab quorum-status: GET {}{path}: {e}", authority(&host, port));
            return 1;
        }
        Err(_) => {
            eprintln!(
                "halab quorum-status: GET {}{path}: no answer within {:?}",
                authority(&host, port),
                a.timeout
            );
            return 1;
        }
    };
    if status != 200 {
        eprintln!("halab quorum-status: HTTP {status}: {}", body.trim());
        return 1;
    }
    match serde_json::from_str::<Value>(&body) {
        Ok(Value::Object(fields)) => {
            print!("{}", render(&fields));
            0
        }
        _ => {
            eprintln!("halab quorum-status: the answer is not a JSON object: {}", body.trim());
            1
        }
    }
}

/// One `key: value` line per field: strings as they are (`""` when empty), everything else
/// as JSON (`true`, `1`, `null`).
pub fn render(fields: &serde_json::Map<String, Value>) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) if s.is_empty() => "\"\"".to_string(),
                Value::String(s) => s.replace('\n', " "),
                other => other.to_string(),
            };
            format!("{k}: {text}\n")
        })
        .collect()
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn authority(host: &str, port: u16) -> String {
    format!("http://{}", host_port(host, port))
}

/// `http://host[:port][/base]` → (host, port, base path).
fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}`: only http:// URLs are supported (e.g. http://127.0.0.1:19003)"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let bad_port = |p: &str| format!("`{url}`: bad port `{p}`");
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| format!("`{url}`: unclosed `[`"))?;
        match after.strip_prefix(':') {
            Some(p) => (h, p.parse::<u16>().map_err(|_| bad_port(p))?),
            None if after.is_empty() => (h, 80),
            None => return Err(format!("`{url}`: unexpected `{after}` after the host")),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad_port(p))?),
            None => (hostport, 80),
        }
    };
    if host.is_empty() {
        return Err(format!("`{url}`: no host"));
    }
    Ok((host.to_string(), port, path.to_string()))
}

async fn get(host: &str, port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = tokio::net::TcpStream::connect((host, port)).await.map_err(|e| e.to_string())?;
    let req =
        format!("GET {path} HTTP/1.0\r\nHost: {}\r\nAccept: application/json\r\n\r\n", host_port(host, port));
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("the answer has no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP status in `{}`", head.lines().next().unwrap_or("")))?;
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls() {
        assert_eq!(parse_url("http://127.0.0.1:19003").unwrap(), ("127.0.0.1".into(), 19003, "".into()));
        assert_eq!(parse_url("http://h:8/base/").unwrap(), ("h".into(), 8, "/base/".into()));
        assert_eq!(parse_url("http://h").unwrap(), ("h".into(), 80, "".into()));
        assert_eq!(parse_url("http://[::1]:9").unwrap(), ("::1".into(), 9, "".into()));
        assert!(parse_url("https://h:1").is_err());
        assert!(parse_url("http://h:x").is_err());
        assert!(parse_url("http://:1").is_err());
    }

    #[test]
    fn one_line_per_field_in_order() {
        let v = json!({"quorum_health": "lost", "write_block_active": true, "quorum_loss_reason": "",
                       "last_restored_at": null, "detected_loss_count": 1, "why": "a\nb"});
        let Value::Object(m) = v else { unreachable!() };
        assert_eq!(
            render(&m),
            "quorum_health: lost\nwrite_block_active: true\nquorum_loss_reason: \"\"\n\
             last_restored_at: null\ndetected_loss_count: 1\nwhy: a b\n"
        );
    }
}
