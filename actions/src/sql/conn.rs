//! Bounded connections that also collect server notices (a COMMIT that returns with a
//! WARNING is not an acknowledgement).
use crate::{ActionCtx, ActionError};
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::{AsyncMessage, Client, NoTls};

pub struct Conn {
    pub client: Client,
    /// (severity, message) of every notice received so far.
    pub notices: Arc<Mutex<Vec<(String, String)>>>,
}

/// Removes a password from a connection string for messages (`password=x`, `user:x@`).
pub fn redact(url: &str) -> String {
    static RE: std::sync::LazyLock<(regex::Regex, regex::Regex)> = std::sync::LazyLock::new(|| {
        (
            regex::Regex::new(r"(?i)password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]+)").unwrap(),
            regex::Regex::new(r"(postgres(?:ql)?://[^:/@\s]+):[^@\s]*@").unwrap(),
        )
    });
    RE.1.replace_all(&RE.0.replace_all(url, "password=****"), "$1:****@").into_owned()
}

pub fn pg_error(url: &str, e: &tokio_postgres::Error, ctx: &ActionCtx) -> ActionError {
    let mut msg = e.to_string();
    if let Some(db) = e.as_db_error() {
        msg = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            msg.push_str(&format!(" ({d})"));
        }
    } else {
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
    }
    let text = ctx.state.masker.mask(&redact(&format!("{msg} [{}]", redact(url)))).into_owned();
    ActionError::new(text)
}

pub async fn connect(url: &str, ctx: &ActionCtx, timeout: Duration) -> Result<Conn, ActionError> {
    let limit = timeout.min(ctx.remaining()).max(Duration::from_millis(1));
    let (client, mut connection) =
        match tokio::time::timeout(limit, tokio_postgres::connect(url, NoTls)).await {
            Err(_) => {
                return Err(ActionError::new(format!(
                    "connect to {} timed out after {}ms",
                    ctx.state.masker.mask(&redact(url)),
                    limit.as_millis()
                ))
                .hint("is PostgreSQL running and listening there?"))
            }
            Ok(Err(e)) => {
                return Err(pg_error(url, &e, ctx)
                    .hint("is PostgreSQL running there, and are the credentials right?"))
            }
            Ok(Ok(pair)) => pair,
        };
    let notices: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = notices.clone();
    tokio::spawn(async move {
        let mut stream = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(msg) = stream.next().await {
            match msg {
                Ok(AsyncMessage::Notice(n)) => {
                    sink.lock().unwrap().push((n.severity().to_string(), n.message().to_string()))
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    Ok(Conn { client, notices })
}

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
