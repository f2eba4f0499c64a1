//! Shared by the kube_* tests: a private instance of the kubectl STUB (tests/stubs/kubectl;
//! there is no API server here). Each test gets its own state file and argv log through a
//! small wrapper that sets the stub's environment and execs it, so tests never race on the
//! process-wide environment.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use testrunner_actions::{find, ActionCtx, ActionError, Outcome};

pub fn stub_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/stubs/kubectl").canonicalize().unwrap()
}

pub struct Stub {
    pub dir: tempfile::TempDir,
    pub wrapper: PathBuf,
}

impl Stub {
    /// `objects`: `"<kind>/<namespace>/<name>" → object`; `env`: extra KUBECTL_STUB_* settings.
    pub fn new(objects: Value, env: &[(&str, &str)]) -> Stub {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        std::fs::write(&state, json!({"objects": objects, "pending": {}}).to_string()).unwrap();
        let mut vars = serde_json::Map::new();
        vars.insert("KUBECTL_STUB_STATE".into(), json!(state));
        vars.insert("KUBECTL_STUB_LOG".into(), json!(dir.path().join("argv.jsonl")));
        vars.insert("KUBECTL_STUB_PIDFILE".into(), json!(dir.path().join("pid")));
        for (k, v) in env {
            vars.insert(k.to_string(), json!(v));
        }
        let stub = stub_path();
        // JSON is valid Python literal syntax for strings and maps of strings.
        let script = format!(
            "#!/usr/bin/env python3\nimport os, sys\nos.environ.update({})\nos.execv({}, [{}] + sys.argv[1:])\n",
            Value::Object(vars),
            json!(stub),
            json!(stub)
        );
        let wrapper = dir.path().join("kubectl");
        std::fs::write(&wrapper, script).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Stub { dir, wrapper }
    }

    pub fn ctx(&self, timeout: Duration) -> ActionCtx {
        ActionCtx::standalone(self.dir.path().join("run"), "step", timeout)
    }

    /// Runs `action` with `params` plus `kubectl: <this stub>` and a 30 s step deadline.
    pub async fn run(&self, action: &str, params: Value) -> Result<Outcome, ActionError> {
        self.run_in(action, params, &self.ctx(Duration::from_secs(30))).await
    }

    pub async fn run_in(
        &self,
        action: &str,
        mut params: Value,
        ctx: &ActionCtx,
    ) -> Result<Outcome, ActionError> {
        params["kubectl"] = json!(self.wrapper);
        let a = find(action).unwrap_or_else(|| panic!("{action} is not registered"));
        a.run(params, ctx).await
    }

    /// Every argv the stub received, in order.
    pub fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.dir.path().join("argv.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn last_call(&self) -> Vec<String> {
        self.calls().pop().expect("kubectl was not called")
    }

    pub fn objects(&self) -> Value {
        let s: Value =
            serde_json::from_str(&std::fs::read_to_string(self.dir.path().join("state.json")).unwrap())
                .unwrap();
        s["objects"].clone()
    }

    pub fn pid(&self) -> u32 {
        std::fs::read_to_string(self.dir.path().join("pid")).unwrap().trim().parse().unwrap()
    }
}

/// `["a", "b"]` → `vec!["a".to_string(), "b".to_string()]`, for argv comparisons.
pub fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A process is gone when /proc has no entry; a zombie (killed, not yet reaped) is dead too.
pub fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

pub fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

pub fn deployment(name: &str, ns: &str, replicas: u64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
           "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
}

pub fn cnpg_cluster(name: &str, ns: &str, replica: bool) -> Value {
    json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"instances": 3, "replica": {"enabled": replica}}, "status": {}})
}
