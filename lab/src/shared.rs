//! What the parts of one `halab serve` node share (election, quorum monitor, HTTP API), so
//! none of them imports another.
use crate::audit::Audit;
use crate::state::Node;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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

/// The state every part of a node reads and writes: its arguments, the election and quorum
/// view, the audit log and the write path's connection.
pub struct Shared {
    pub args: Args,
    /// Lock it with [`Shared::node`].
    pub node: Mutex<Node>,
    pub audit: Audit,
    /// The write path's connection, reused until it fails.
    pub writer: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl Shared {
    /// The node's state. A poisoned lock (a handler panicked holding it) still holds a whole
    /// `Node`: every critical section assigns fields, so the node keeps serving.
    pub fn node(&self) -> MutexGuard<'_, Node> {
        self.node.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
