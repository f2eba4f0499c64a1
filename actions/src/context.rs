use crate::memory::StepMemory;
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

/// Write-ahead notes about undo entries, for the engine's journal: an action announces the
/// inverse of a change *before* the change takes effect (or, for a child process, the moment
/// it exists), so a runner killed by SIGKILL leaves a record `testrunner cleanup` can replay.
#[derive(Debug, Clone)]
pub enum UndoNote {
    /// `undo` is about to be needed. Confirmed by the step's outcome listing the same key;
    /// dropped by the engine when the step fails without confirming it.
    Intend { step_id: String, undo: crate::Undo },
    /// The state `key` named is restored (an `exec` child's group is gone).
    Settled { key: String },
}

pub type UndoSink = Arc<dyn Fn(UndoNote) + Send + Sync>;

/// State shared by every step of one run (process table, clients). Cheap to clone.
#[derive(Clone)]
pub struct SharedState {
    pub run_dir: PathBuf,
    pub masker: Arc<Masker>,
    pub processes: Processes,
    /// Lazily built clients, so a scenario that never touches Docker never needs a daemon.
    pub docker: Arc<tokio::sync::OnceCell<bollard::Docker>>,
    pub http: reqwest::Client,
    /// Where write-ahead undo notes go (the engine's journal); None outside a run.
    pub undo_sink: Option<UndoSink>,
    /// The run clock's zero (the engine's `t0`): actions report times in run-clock ms.
    pub t0: Instant,
    /// What steps leave for later steps of this run (`sql.writers` → `sql.verify_no_loss`).
    pub memory: StepMemory,
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
            undo_sink: None,
            t0: Instant::now(),
            memory: StepMemory::default(),
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

/// Opens `rel` for writing beneath `root` (created if missing), creating the directories on
/// the way. Every file the actions write goes through here: no component may be a symbolic
/// link (a step could have planted `evidence/x -> /etc`), each directory is opened relative
/// to the one before (`openat` with `O_NOFOLLOW`), and the file must be a regular file with
/// no other hard link. `append` keeps the content, else the file is truncated.
pub fn create_beneath(root: &Path, rel: &str, append: bool) -> Result<std::fs::File, ActionError> {
    use nix::errno::Errno;
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::{fstat, mkdirat, Mode, SFlag};
    let p = Path::new(rel);
    let parts: Vec<&std::ffi::OsStr> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(Ok(n)),
            Component::CurDir => None,
            _ => Some(Err(())),
        })
        .collect::<Result<_, _>>()
        .map_err(|()| outside(rel))?;
    if p.is_absolute() || parts.is_empty() {
        return Err(outside(rel));
    }
    std::fs::create_dir_all(root)?;
    let cloexec = OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    let mut dir: std::os::fd::OwnedFd = std::fs::File::open(root)
        .map_err(|e| ActionError::new(format!("cannot open {}: {e}", root.display())))?
        .into();
    let symlink = |e: Errno| match e {
        Errno::ELOOP | Errno::ENOTDIR | Errno::ENXIO | Errno::EMLINK => ActionError::new(format!(
            "cannot write `{rel}`: a part of that path is a symbolic link or not a plain file/directory"
        ))
        .hint("files are written only inside the run directory; a link there is never followed"),
        e => ActionError::new(format!("cannot write `{rel}`: {}", e.desc())),
    };
    let (file, dirs) = parts.split_last().expect("not empty");
    for d in dirs {
        match mkdirat(&dir, *d, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(symlink(e)),
        }
        dir = openat(&dir, *d, OFlag::O_RDONLY | OFlag::O_DIRECTORY | cloexec, Mode::empty())
            .map_err(symlink)?;
    }
    // O_NONBLOCK: a FIFO planted there fails (ENXIO) instead of blocking the run.
    let fd = openat(
        &dir,
        *file,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_NONBLOCK | cloexec,
        Mode::from_bits_truncate(0o644),
    )
    .map_err(symlink)?;
    let st = fstat(&fd).map_err(symlink)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG || st.st_nlink > 1 {
        return Err(symlink(Errno::EMLINK));
    }
    let f = std::fs::File::from(fd);
    if append {
        use std::io::Seek;
        (&f).seek(std::io::SeekFrom::End(0))?;
    } else {
        f.set_len(0)?;
    }
    Ok(f)
}

fn outside(rel: &str) -> ActionError {
    ActionError::new(format!("path `{rel}` leaves the run directory"))
        .hint("use a relative file name such as `val17-01-baseline.json` (no `..`, no absolute path)")
}

impl ActionCtx {
    /// Resolves `rel` inside the run's evidence directory (text check only: open files with
    /// [`Self::create_evidence`], which also refuses symbolic links).
    pub fn evidence_path(&self, rel: &str) -> Result<PathBuf, ActionError> {
        let p = Path::new(rel);
        if p.is_absolute() || p.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(outside(rel));
        }
        Ok(self.state.evidence_dir().join(p))
    }

    /// Opens an evidence file for writing, confined to the run directory ([`create_beneath`]).
    pub fn create_evidence(&self, rel: &str, append: bool) -> Result<std::fs::File, ActionError> {
        self.evidence_path(rel)?;
        create_beneath(&self.state.run_dir, &format!("evidence/{rel}"), append)
    }

    /// Writes an evidence file with secrets masked; returns its path relative to the run dir.
    pub fn write_evidence(&self, rel: &str, bytes: &[u8]) -> Result<String, ActionError> {
        use std::io::Write;
        let text = String::from_utf8_lossy(bytes);
        let masked = self.state.masker.mask(&text);
        self.create_evidence(rel, false)?.write_all(masked.as_bytes())?;
        Ok(format!("evidence/{rel}"))
    }

    /// Announces `undo` before the change it reverts takes effect (write-ahead).
    pub fn intend(&self, undo: &crate::Undo) {
        if let Some(sink) = &self.state.undo_sink {
            sink(UndoNote::Intend { step_id: self.step_id.clone(), undo: undo.clone() });
        }
    }

    /// Says the state `key` names is restored (its write-ahead record is settled).
    pub fn settled(&self, key: &str) {
        if let Some(sink) = &self.state.undo_sink {
            sink(UndoNote::Settled { key: key.to_string() });
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    fn ctx() -> (tempfile::TempDir, ActionCtx) {
        let d = tempfile::tempdir().unwrap();
        let c = ActionCtx::standalone(d.path().join("run"), "t", Duration::from_secs(5));
        (d, c)
    }

    #[test]
    fn evidence_writes_never_follow_a_link_out_of_the_run_directory() {
        let (d, c) = ctx();
        let outside = d.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("f"), "untouched").unwrap();
        assert_eq!(c.write_evidence("a/b.txt", b"ok").unwrap(), "evidence/a/b.txt");
        let ev = c.state.evidence_dir();
        // A link as the file, as a directory on the way, and as `evidence` itself.
        symlink(outside.join("f"), ev.join("x")).unwrap();
        symlink(&outside, ev.join("dir")).unwrap();
        for rel in ["x", "dir/f", "dir/new.txt"] {
            let e = c.write_evidence(rel, b"pwned").unwrap_err();
            assert!(e.message.contains("symbolic link"), "{rel}: {}", e.message);
        }
        // A hard link to a file elsewhere, and a FIFO (which would block an open for writing).
        std::fs::hard_link(outside.join("f"), ev.join("h")).unwrap();
        assert!(c.write_evidence("h", b"pwned").is_err());
        nix::unistd::mkfifo(&ev.join("p"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        assert!(c.write_evidence("p", b"pwned").is_err());
        std::fs::rename(&ev, c.state.run_dir.join("moved")).unwrap();
        symlink(&outside, &ev).unwrap();
        assert!(c.write_evidence("f", b"pwned").is_err());
        assert!(c.create_evidence("new.log", true).is_err());
        assert_eq!(std::fs::read_to_string(outside.join("f")).unwrap(), "untouched");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1, "nothing created outside");
        // Text checks still apply.
        assert!(c.write_evidence("../x", b"no").is_err());
        assert!(c.write_evidence("/tmp/x", b"no").is_err());
    }

    #[test]
    fn append_keeps_and_write_replaces() {
        let (_d, c) = ctx();
        c.write_evidence("l.txt", b"one two three").unwrap();
        c.write_evidence("l.txt", b"1").unwrap();
        use std::io::Write;
        c.create_evidence("l.txt", true).unwrap().write_all(b"2").unwrap();
        assert_eq!(std::fs::read_to_string(c.state.evidence_dir().join("l.txt")).unwrap(), "12");
    }
}
