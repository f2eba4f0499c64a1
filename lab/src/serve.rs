//! `halab serve`: one HA node — the election, the quorum monitor and the HTTP API, wired
//! together around one in-memory state.
use crate::audit::Audit;
pub use crate::shared::Args;
use crate::shared::Shared;
use crate::state::Node;
use crate::{election, http, quorum};
use std::sync::{Arc, Mutex};

pub async fn run(args: Args) -> i32 {
    if args.renew_interval.is_zero() || args.lease_ttl <= args.renew_interval {
        eprintln!("halab: --lease-ttl must be longer than --renew-interval (and both non-zero)");
        return 2;
    }
    let audit = match Audit::new(args.audit_dir.clone()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("halab: audit dir {}: {e}", args.audit_dir.display());
            return 2;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("halab: cannot listen on {}: {e}", args.listen);
            return 2;
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| args.listen.clone());
    let app = Arc::new(Shared {
        args,
        node: Mutex::new(Node::new()),
        audit,
        writer: tokio::sync::Mutex::new(None),
    });
    let a = &app.args;
    eprintln!(
        "halab node {} listening on {addr} (lease ttl={}ms renew={}ms)",
        a.node_id,
        a.lease_ttl.as_millis(),
        a.renew_interval.as_millis()
    );
    let mut tasks = vec![tokio::spawn(election::run(app.clone()))];
    if a.quorum_monitor_interval.is_zero() {
        eprintln!("quorum monitor disabled");
    } else {
        eprintln!("quorum monitor started interval={}ms", a.quorum_monitor_interval.as_millis());
        tasks.push(tokio::spawn(quorum::run(app.clone())));
    }
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("halab: cannot handle SIGTERM: {e}");
            return 2;
        }
    };
    let server = axum::serve(listener, http::router(app.clone()));
    let code = tokio::select! {
        r = server => {
            eprintln!("halab: server stopped: {r:?}");
            1
        }
        _ = term.recv() => {
            eprintln!("SIGTERM: shutting down");
            // Stop renewing first, so the release cannot be undone by a renewal.
            tasks.iter().for_each(|t| t.abort());
            election::release(&app).await;
            0
        }
    };
    code
}
