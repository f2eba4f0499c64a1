use crate::ActionError;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use testrunner_scenario::Masker;
use tokio_util::sync::CancellationToken;

/// A process started by `process.spawn`, addressable by its name.
#[derive(Debug)]
pub struct SpawnedProcess {
    pub name: String,
    pub pid: u32,
    pub child: Option<tokio::process::Child>,
    pub log: PathBuf,
}

pub type Processes = Arc<Mutex<HashMap<String, SpawnedProcess>>>;

/// State shared by every step of one run (process table, clients). Cheap to clone.
#[derive(Clone)]
pub struct SharedState {
    pub run_dir: PathBuf,
    pub masker: Arc<Masker>,
    pub processes: Processes,
    /// Lazily built clients, so a scenario that never touches Docker never needs a daemon.
    pub docker: Arc<tokio::sync::OnceCell<bollard::Docker>>,
    pub http: reqwest::Client,
    /// The run clock's zero (the engine's `t0`): actions report times in run-clock ms.
    pub t0: Instant,
}

impl SharedState {
    pub fn new(run_dir: PathBuf, masker: Arc<Masker>) -> Self {
        install_crypto_provider();
        SharedState {
            run_dir,
            masker,
            processes: Arc::default(),
            docker: Arc::default(),
            http: reqwest::Client::builder().no_proxy().build().expect("http client"),
            t0: Instant::now(),
        }
    }

    pub fn evidence_dir(&self) -> PathBuf {
        self.run_dir.join("evidence")
    }
}

/// Installs rustls' ring provider once per process; reqwest is built without a default one.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// What one attempt of one step gets to see.
#[derive(Clone)]
pub struct ActionCtx {
    pub step_id: String,
    pub state: SharedState,
    /// When the engine will drop this attempt. Actions that spawn their own waits (a child
    /// process, a commit) use it to bound them and to report "deadline" in their output.
    pub deadline: Instant,
    /// Graceful stop: cancelled by a `stop:` step or at the end of the phase for background
    /// steps, and on interrupt for everyone. Long-running actions return their output when it fires.
    pub stop: CancellationToken,
}

impl ActionCtx {
    /// Resolves `rel` inside the run's evidence directory, refusing anything that escapes it
    /// (absolute paths, `..`), and creates the parent directories.
    pub fn evidence_path(&self, rel: &str) -> Result<PathBuf, ActionError> {
        let base = self.state.evidence_dir();
        let p = Path::new(rel);
        if p.is_absolute() || p.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(ActionError::new(format!("evidence path `{rel}` leaves the run directory"))
                .hint("use a relative file name such as `val17-01-baseline.json`"));
        }
        let full = base.join(p);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        Ok(full)
    }

    /// Writes an evidence file with secrets masked; returns its path relative to the run dir.
    pub fn write_evidence(&self, rel: &str, bytes: &[u8]) -> Result<String, ActionError> {
        let path = self.evidence_path(rel)?;
        let text = String::from_utf8_lossy(bytes);
        let masked = self.state.masker.mask(&text);
        std::fs::write(&path, masked.as_bytes())?;
        Ok(format!("evidence/{rel}"))
    }

    pub fn remaining(&self) -> std::time::Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub async fn docker(&self) -> Result<&bollard::Docker, ActionError> {
        self.state
            .docker
            .get_or_try_init(|| async {
                let d = bollard::Docker::connect_with_local_defaults().map_err(|e| {
                    ActionError::from(e).hint("is the Docker daemon running? (`docker info`)")
                })?;
                d.negotiate_version()
                    .await
                    .map_err(|e| ActionError::from(e).hint("is the Docker daemon running? (`docker info`)"))
            })
            .await
    }
}

impl ActionCtx {
    /// A context for exercising one action outside the engine (tests, benchmarks).
    pub fn standalone(run_dir: PathBuf, step_id: &str, timeout: std::time::Duration) -> Self {
        ActionCtx {
            step_id: step_id.to_string(),
            state: SharedState::new(run_dir, Arc::new(Masker::default())),
            deadline: Instant::now() + timeout,
            stop: CancellationToken::new(),
        }
    }
}
