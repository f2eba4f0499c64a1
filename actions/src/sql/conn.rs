//! Bounded connections that also collect server notices (a COMMIT that returns with a
//! WARNING is not an acknowledgement).
use crate::sync::lock;
use crate::{ActionCtx, ActionError, Precondition};
use futures::StreamExt;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
            regex::Regex::new(r"(?i)password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]+)").expect("a constant pattern"),
            regex::Regex::new(r"(postgres(?:ql)?://[^:/@\s]+):[^@\s]*@").expect("a constant pattern"),
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
                    lock(&sink).push((n.severity().to_string(), n.message().to_string()))
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    Ok(Conn { client, notices })
}

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long `testrunner plan` waits for PostgreSQL to answer a probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The one precondition probe of every SQL action: does the server at `params.url` answer
/// now? Strictly read-only — it connects and sends `SELECT 1`, nothing else (no statement of
/// the step, no table created, no promotion). A server that does not answer within
/// [`PROBE_TIMEOUT`] is a warning, not a blocker: an earlier step may start it. A URL that
/// is only known at run time (`${…}`) is not probed.
pub async fn probe(params: &Value, ctx: &ActionCtx) -> Vec<Precondition> {
    let Some(url) = params.get("url").and_then(Value::as_str).filter(|u| !u.contains("${")) else {
        return vec![];
    };
    // Its own bound, whatever deadline the caller's context carries (plan shares one).
    let mut ctx = ctx.clone();
    ctx.deadline = Instant::now() + PROBE_TIMEOUT;
    let answer = async {
        let c = connect(url, &ctx, PROBE_TIMEOUT).await?;
        c.client.simple_query("SELECT 1").await.map_err(|e| pg_error(url, &e, &ctx))?;
        Ok::<(), ActionError>(())
    };
    let problem = match tokio::time::timeout(PROBE_TIMEOUT, answer).await {
        Ok(Ok(())) => return vec![],
        Ok(Err(e)) => e.message,
        Err(_) => format!(
            "{} did not answer `SELECT 1` within {}ms",
            ctx.state.masker.mask(&redact(url)),
            PROBE_TIMEOUT.as_millis()
        ),
    };
    vec![Precondition::warning(format!(
        "PostgreSQL does not answer now (fine if an earlier step starts it): {problem}"
    ))]
}
