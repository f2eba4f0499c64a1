//! `halab serve`: one HA node — the election, the quorum monitor and the HTTP API, wired
//! together around one in-memory state.
use crate::audit::Audit;
use crate::state::Node;
use crate::{election, http, quorum};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::Client;

#[derive(clap::Args)]
pub struct Args {
    /// This node's id (the lease holder id).
    #[arg(long)]
    pub node_id: String,
    /// Address to listen on, e.g. 127.0.0.1:19003 (port 0: any free port, printed on stderr).
    #[arg(long)]
    pub listen: String,
    /// PostgreSQL holding the lease, the epoch claims and the user data.
    #[arg(long)]
    pub pg_url: String,
    /// Lease time-to-live: how long a dead (SIGKILLed) leader blocks a takeover.
    #[arg(long, default_value = "2s", value_parser = crate::duration)]
    pub lease_ttl: Duration,
    /// Renew (leader) / try-acquire (follower) period.
    #[arg(long, default_value = "500ms", value_parser = crate::duration)]
    pub renew_interval: Duration,
    /// Quorum monitor period; 0 disables the monitor (quorum then never changes).
    #[arg(long, default_value = "500ms", value_parser = crate::duration)]
    pub quorum_monitor_interval: Duration,
    /// Synchronous replicas (pg_stat_replication) required for `healthy`.
    #[arg(long, default_value_t = 0)]
    pub min_sync_replicas: i64,
    /// Where audit.jsonl is written.
    #[arg(long, default_value = "./audit")]
    pub audit_dir: std::path::PathBuf,
    /// Bound on every connect and every query.
    #[arg(long, default_value = "1s", value_parser = crate::duration)]
    pub pg_connect_timeout: Duration,
    /// How long a node stays fenced after detecting a split brain before it may re-take
    /// the lease with a fresh epoch.
    #[arg(long, default_value = "1s", value_parser = crate::duration)]
    pub fence_hold: Duration,
}

pub struct Shared {
    pub args: Args,
    pub node: Mutex<Node>,
    pub audit: Audit,
    /// The write path's connection, reused until it fails.
    pub writer: tokio::sync::Mutex<Option<Arc<Client>>>,
}

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
