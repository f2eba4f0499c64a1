//! Kubernetes through the `kubectl` binary: an argument vector (never a shell), a deadline,
//! `--context` / `--namespace` / `--kubeconfig`, stderr in the error. The binary is
//! `kubectl` from PATH, or `kubectl:` / TESTRUNNER_KUBECTL (tests point it at a stub:
//! there is no API server on the build machine).
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, Dur, Outcome, OutputField, Precondition, Undo,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// Connection flags every kube action takes.
#[derive(Deserialize, JsonSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
struct Target {
    /// kubectl context ("" or absent: the current context).
    context: Option<String>,
    /// Namespace.
    namespace: Option<String>,
    /// kubeconfig file (default: $KUBECONFIG or ~/.kube/config).
    kubeconfig: Option<String>,
    /// The kubectl binary (default: $TESTRUNNER_KUBECTL or `kubectl`).
    kubectl: Option<String>,
    /// --request-timeout (default: what is left of the step's deadline).
    timeout: Option<Dur>,
}

fn base_args(t: &Target, ctx: &ActionCtx) -> (String, Vec<String>) {
    let bin = t
        .kubectl
        .clone()
        .or_else(|| std::env::var("TESTRUNNER_KUBECTL").ok())
        .unwrap_or_else(|| "kubectl".into());
    let mut a = vec![];
    if let Some(c) = t.context.as_ref().filter(|c| !c.is_empty()) {
        a.push(format!("--context={c}"));
    }
    if let Some(n) = t.namespace.as_ref().filter(|n| !n.is_empty()) {
        a.push(format!("--namespace={n}"));
    }
    if let Some(k) = t.kubeconfig.as_ref().filter(|k| !k.is_empty()) {
        a.push(format!("--kubeconfig={k}"));
    }
    let limit = t.timeout.map(|d| d.0).unwrap_or_else(|| ctx.remaining());
    a.push(format!("--request-timeout={}s", limit.as_secs().max(1)));
    (bin, a)
}

/// Runs kubectl; Ok(stdout) on exit 0, an error with stderr and the exit code otherwise.
async fn kubectl(
    t: &Target,
    ctx: &ActionCtx,
    args: Vec<String>,
    stdin: Option<String>,
) -> Result<String, ActionError> {
    let (bin, mut all) = base_args(t, ctx);
    all.extend(args);
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(&all).kill_on_drop(true).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().map_err(|e| {
        ActionError::new(format!("cannot run `{bin}`: {e}")).hint("is kubectl installed and on PATH?")
    })?;
    if let (Some(input), Some(mut si)) = (stdin, child.stdin.take()) {
        si.write_all(input.as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let ctxname = t.context.clone().unwrap_or_default();
    Err(ActionError::new(format!(
        "kubectl {} exited with {}: {stderr}",
        all.join(" "),
        out.status.code().unwrap_or(-1)
    ))
    .hint(format!("is the context reachable? `kubectl --context {ctxname} cluster-info`"))
    .with("stderr", stderr)
    .with("exit_code", out.status.code().unwrap_or(-1)))
}

fn parsed(stdout: &str) -> Outcome {
    let mut o = Outcome::new().with("text", stdout.trim().to_string());
    if let Ok(j) = serde_json::from_str::<Value>(stdout) {
        o = o.with("json", j);
    }
    o
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum PatchType {
    Merge,
    Json,
    Strategic,
}

impl PatchType {
    fn flag(&self) -> &'static str {
        match self {
            PatchType::Merge => "merge",
            PatchType::Json => "json",
            PatchType::Strategic => "strategic",
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PatchParams {
    /// Resource kind, e.g. `cluster.postgresql.cnpg.io` or `deployment`.
    kind: String,
    /// Object name.
    name: String,
    /// The patch (a map; a list of operations for `type: json`).
    patch: Value,
    /// merge (default), json or strategic.
    #[serde(rename = "type")]
    patch_type: Option<PatchType>,
    /// A patch that restores the object; registered as this step's undo.
    undo_patch: Option<Value>,
    context: Option<String>,
    namespace: Option<String>,
    kubeconfig: Option<String>,
    kubectl: Option<String>,
    timeout: Option<Dur>,
}

macro_rules! target {
    ($p:expr) => {
        Target {
            context: $p.context.clone(),
            namespace: $p.namespace.clone(),
            kubeconfig: $p.kubeconfig.clone(),
            kubectl: $p.kubectl.clone(),
            timeout: $p.timeout,
        }
    };
}

struct Patch;

#[async_trait]
impl Action for Patch {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "kube.patch",
            summary: "kubectl patch (merge / json / strategic); optional undo_patch restores it after the run",
            params: schema::<PatchParams>(),
            outputs: &[OutputField { name: "json", ty: "map", doc: "the patched object" }],
            example: "- id: region_kill\n  kube.patch:\n    kind: cluster.postgresql.cnpg.io\n    name: pg-primary\n    namespace: cnpg\n    patch: { spec: { instances: 0 } }\n    undo_patch: { spec: { instances: 3 } }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: PatchParams = decode(params)?;
        let t = target!(p);
        let ty = p.patch_type.unwrap_or(PatchType::Merge);
        let args = vec![
            "patch".into(),
            p.kind.clone(),
            p.name.clone(),
            "--type".into(),
            ty.flag().into(),
            "-p".into(),
            p.patch.to_string(),
            "-o".into(),
            "json".into(),
        ];
        let mut o = parsed(&kubectl(&t, ctx, args, None).await?);
        if let Some(undo) = p.undo_patch {
            let mut up = json!({"kind": p.kind, "name": p.name, "patch": undo, "type": ty.flag()});
            for (k, v) in [
                ("context", &p.context),
                ("namespace", &p.namespace),
                ("kubeconfig", &p.kubeconfig),
                ("kubectl", &p.kubectl),
            ] {
                if let Some(v) = v {
                    up[k] = json!(v);
                }
            }
            o = o.undo(Undo {
                key: format!("kube.patch:{}/{}", p.kind, p.name),
                description: format!("restore {} {} (undo_patch)", p.kind, p.name),
                action: "kube.patch",
                params: up,
            });
        }
        Ok(o)
    }
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        let t: Target = Target {
            context: params.get("context").and_then(Value::as_str).map(String::from),
            kubectl: params.get("kubectl").and_then(Value::as_str).map(String::from),
            kubeconfig: params.get("kubeconfig").and_then(Value::as_str).map(String::from),
            ..Default::default()
        };
        match kubectl(&t, ctx, vec!["version".into(), "-o".into(), "json".into()], None).await {
            Ok(_) => vec![],
            Err(e) => {
                vec![Precondition::blocker(format!("the Kubernetes context is not reachable: {}", e.message))]
            }
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetParams {
    /// Resource kind.
    kind: String,
    /// Object name (or use `selector`).
    name: Option<String>,
    /// Label selector.
    selector: Option<String>,
    /// A jsonpath, e.g. `{.status.currentPrimary}`: output `text` instead of the object.
    jsonpath: Option<String>,
    context: Option<String>,
    namespace: Option<String>,
    kubeconfig: Option<String>,
    kubectl: Option<String>,
    timeout: Option<Dur>,
}

struct Get;

#[async_trait]
impl Action for Get {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "kube.get",
            summary: "kubectl get: the object as JSON, or a jsonpath as text (poll it with `until`)",
            params: schema::<GetParams>(),
            outputs: &[
                OutputField { name: "json", ty: "any", doc: "the object (or the jsonpath value when it is JSON)" },
                OutputField { name: "text", ty: "string", doc: "raw output (the jsonpath value)" },
            ],
            example: "- id: rto\n  kube.get: { kind: cluster.postgresql.cnpg.io, name: pg-replica, jsonpath: \"{.status.currentPrimary}\" }\n  until: size(rto.text) > 0\n  timeout: 90s\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: GetParams = decode(params)?;
        let t = target!(p);
        let mut args = vec!["get".into(), p.kind.clone()];
        if let Some(n) = &p.name {
            args.push(n.clone());
        }
        if let Some(s) = &p.selector {
            args.push(format!("--selector={s}"));
        }
        match &p.jsonpath {
            Some(jp) => args.push(format!("-o=jsonpath={jp}")),
            None => args.push("-o=json".into()),
        }
        Ok(parsed(&kubectl(&t, ctx, args, None).await?))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ApplyParams {
    /// The manifest: a map, or a list of maps (sent on stdin as JSON).
    manifest: Option<Value>,
    /// Or a manifest file.
    file: Option<String>,
    /// Server-side apply.
    #[serde(default)]
    server_side: bool,
    context: Option<String>,
    namespace: Option<String>,
    kubeconfig: Option<String>,
    kubectl: Option<String>,
    timeout: Option<Dur>,
}

struct Apply;

#[async_trait]
impl Action for Apply {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "kube.apply",
            summary: "kubectl apply a manifest (inline map/list, or a file)",
            params: schema::<ApplyParams>(),
            outputs: &[OutputField { name: "text", ty: "string", doc: "kubectl's output" }],
            example: "- kube.apply:\n    namespace: cnpg\n    manifest: { apiVersion: v1, kind: ConfigMap, metadata: { name: d31 }, data: { run: \"${run.id}\" } }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ApplyParams = decode(params)?;
        let t = target!(p);
        let mut args = vec!["apply".to_string()];
        if p.server_side {
            args.push("--server-side".into());
        }
        let stdin = match (&p.manifest, &p.file) {
            (Some(m), None) => {
                let doc = match m {
                    Value::Array(items) => json!({"apiVersion": "v1", "kind": "List", "items": items}),
                    other => other.clone(),
                };
                args.extend(["-f".into(), "-".into()]);
                Some(doc.to_string())
            }
            (None, Some(f)) => {
                args.extend(["-f".into(), f.clone()]);
                None
            }
            _ => return Err(ActionError::new("give exactly one of `manifest` or `file`")),
        };
        Ok(parsed(&kubectl(&t, ctx, args, stdin).await?))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeleteParams {
    /// Resource kind.
    kind: String,
    /// Object name.
    name: String,
    /// A missing object is not an error (default true).
    ignore_not_found: Option<bool>,
    /// Wait for the deletion to finish.
    #[serde(default)]
    wait: bool,
    context: Option<String>,
    namespace: Option<String>,
    kubeconfig: Option<String>,
    kubectl: Option<String>,
    timeout: Option<Dur>,
}

struct Delete;

#[async_trait]
impl Action for Delete {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "kube.delete",
            summary: "kubectl delete an object",
            params: schema::<DeleteParams>(),
            outputs: &[OutputField { name: "text", ty: "string", doc: "kubectl's output" }],
            example: "- kube.delete: { kind: pod, name: pg-primary-1, namespace: cnpg }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: DeleteParams = decode(params)?;
        let t = target!(p);
        let args = vec![
            "delete".into(),
            p.kind.clone(),
            p.name.clone(),
            format!("--ignore-not-found={}", p.ignore_not_found.unwrap_or(true)),
            format!("--wait={}", p.wait),
        ];
        Ok(parsed(&kubectl(&t, ctx, args, None).await?))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScaleParams {
    /// Resource kind, e.g. `deployment` or `statefulset`.
    kind: String,
    /// Object name.
    name: String,
    /// Desired replicas.
    replicas: u32,
    /// Replicas to restore after the run (registered as this step's undo).
    undo_replicas: Option<u32>,
    context: Option<String>,
    namespace: Option<String>,
    kubeconfig: Option<String>,
    kubectl: Option<String>,
    timeout: Option<Dur>,
}

struct Scale;

#[async_trait]
impl Action for Scale {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "kube.scale",
            summary: "kubectl scale; optional undo_replicas restores the count after the run",
            params: schema::<ScaleParams>(),
            outputs: &[OutputField { name: "text", ty: "string", doc: "kubectl's output" }],
            example: "- kube.scale: { kind: deployment, name: ha-server, replicas: 0, undo_replicas: 2 }\n",
            background: false,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ScaleParams = decode(params)?;
        let t = target!(p);
        let args =
            vec!["scale".into(), format!("{}/{}", p.kind, p.name), format!("--replicas={}", p.replicas)];
        let mut o = parsed(&kubectl(&t, ctx, args, None).await?);
        if let Some(n) = p.undo_replicas {
            let mut up = json!({"kind": p.kind, "name": p.name, "replicas": n});
            for (k, v) in [
                ("context", &p.context),
                ("namespace", &p.namespace),
                ("kubeconfig", &p.kubeconfig),
                ("kubectl", &p.kubectl),
            ] {
                if let Some(v) = v {
                    up[k] = json!(v);
                }
            }
            o = o.undo(Undo {
                key: format!("kube.scale:{}/{}", p.kind, p.name),
                description: format!("scale {} {} back to {n}", p.kind, p.name),
                action: "kube.scale",
                params: up,
            });
        }
        Ok(o)
    }
}

inventory::submit!(ActionEntry(&Patch));
inventory::submit!(ActionEntry(&Get));
inventory::submit!(ActionEntry(&Apply));
inventory::submit!(ActionEntry(&Delete));
inventory::submit!(ActionEntry(&Scale));
