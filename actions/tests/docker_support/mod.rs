//! Shared by the docker_* integration tests: the local image (scripts/build-image.sh),
//! unique container names, the host binds, and a `Lab` that removes every container it
//! named when it is dropped — also when the test panics.
#![allow(dead_code)]

use bollard::query_parameters::{InspectContainerOptions, RemoveContainerOptions};
use bollard::Docker;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;
use testrunner_actions::{find, ActionCtx, ActionError, Outcome, SharedState};
use testrunner_scenario::Masker;

pub const IMAGE: &str = "testrunner-hostfs:latest";

/// A shell script (fixed text, no interpolation) that announces readiness and then waits,
/// reporting the signals it gets: HUP is survived, INT exits 3, TERM exits 4. PID 1 in a
/// container only receives signals it has a handler for, so these traps are what make
/// `stop_signal` and `docker.kill` observable.
pub const SLEEPER: &str = r#"trap 'echo got-hup' HUP
trap 'echo got-int; exit 3' INT
trap 'echo got-term; exit 4' TERM
echo ready
sleep 600 & pid=$!
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
"#;

/// Builds the image once per test binary; the script is idempotent.
pub fn build_image() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-image.sh");
        let out = std::process::Command::new(&script).output().expect("run scripts/build-image.sh");
        assert!(
            out.status.success(),
            "build-image.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// `/usr /lib /lib64 /bin /etc` (and `/sbin` when it is a real directory), read-only.
pub fn host_binds() -> Vec<String> {
    let mut v = vec![];
    for d in ["/usr", "/lib", "/lib64", "/bin", "/etc"] {
        if Path::new(d).exists() {
            v.push(format!("{d}:{d}:ro"));
        }
    }
    if std::fs::symlink_metadata("/sbin").is_ok_and(|m| m.is_dir()) {
        v.push("/sbin:/sbin:ro".into());
    }
    v
}

pub fn unique_name() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("trtest-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

pub async fn docker() -> Docker {
    let d = Docker::connect_with_local_defaults().expect("docker client");
    d.negotiate_version().await.expect("Docker daemon reachable")
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub ctx: ActionCtx,
    names: Mutex<Vec<String>>,
}

impl Lab {
    pub fn new(step: &str) -> Lab {
        Self::with_secrets(step, vec![])
    }

    pub fn with_secrets(step: &str, secrets: Vec<String>) -> Lab {
        build_image();
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = ActionCtx::standalone(dir.path().to_path_buf(), step, Duration::from_secs(120));
        ctx.state = SharedState::new(dir.path().to_path_buf(), Arc::new(Masker::new(secrets)));
        Lab { dir, ctx, names: Mutex::new(vec![]) }
    }

    /// A fresh container name, removed when the lab is dropped.
    pub fn name(&self) -> String {
        let n = unique_name();
        self.names.lock().unwrap().push(n.clone());
        n
    }

    pub async fn run(&self, action: &str, params: Value) -> Result<Outcome, ActionError> {
        find(action).unwrap_or_else(|| panic!("{action} not registered")).run(params, &self.ctx).await
    }

    pub async fn ok(&self, action: &str, params: Value) -> Outcome {
        self.run(action, params.clone())
            .await
            .unwrap_or_else(|e| panic!("{action} {params}: {} (hint: {:?})", e.message, e.hint))
    }

    pub async fn err(&self, action: &str, params: Value) -> ActionError {
        match self.run(action, params.clone()).await {
            Ok(o) => panic!("{action} {params} should fail, gave {:?}", o.output),
            Err(e) => e,
        }
    }

    /// Runs the SLEEPER in a new container (host binds, host network), ready on its log line.
    pub async fn sleeper(&self, extra: Value) -> (String, Outcome) {
        let name = self.name();
        let mut params = json!({
            "image": IMAGE,
            "name": name,
            "command": ["/bin/sh", "-c", SLEEPER],
            "binds": host_binds(),
            "network_mode": "host",
            "ready": {"log_regex": "^ready$", "timeout": "20s"},
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            params[k] = v.clone();
        }
        let o = self.ok("docker.run", params).await;
        (name, o)
    }

    /// The Engine's own inspect document (bypassing the actions under test); None if gone.
    pub async fn engine_inspect(&self, c: &str) -> Option<Value> {
        let d = docker().await;
        d.inspect_container(c, None::<InspectContainerOptions>)
            .await
            .ok()
            .map(|i| serde_json::to_value(i).unwrap())
    }

    pub async fn engine_state(&self, c: &str) -> String {
        let i = self.engine_inspect(c).await.unwrap_or_else(|| panic!("container {c} is gone"));
        i["State"]["Status"].as_str().unwrap().to_string()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap_or_else(|p| p.into_inner()));
        if names.is_empty() {
            return;
        }
        // Drop may run inside the test's runtime (which cannot block): use a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let d = docker().await;
                for n in names {
                    let opts = RemoveContainerOptions { force: true, ..Default::default() };
                    let _ = d.remove_container(&n, Some(opts)).await;
                }
            });
        })
        .join();
    }
}
