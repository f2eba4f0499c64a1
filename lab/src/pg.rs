//! Bounded PostgreSQL access: a stopped or hung database must never hang the server.
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

pub async fn connect(url: &str, timeout: Duration) -> Result<Client, String> {
    let fut = tokio_postgres::connect(url, NoTls);
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(format!("connect timed out after {}ms", timeout.as_millis())),
        Ok(Err(e)) => Err(format!("connect failed: {}", describe(&e))),
        Ok(Ok((client, conn))) => {
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(client)
        }
    }
}

pub fn describe(e: &tokio_postgres::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// Runs `f` with a bound; errors and timeouts become strings.
pub async fn bounded<T, F>(timeout: Duration, f: F) -> Result<T, String>
where
    F: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    match tokio::time::timeout(timeout, f).await {
        Err(_) => Err(format!("query timed out after {}ms", timeout.as_millis())),
        Ok(Err(e)) => Err(describe(&e)),
        Ok(Ok(v)) => Ok(v),
    }
}
