//! Reading, applying and deleting objects: `kube.get`, `kube.apply`, `kube.delete`.
use super::{cli::kubectl, parsed, probe};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Outcome, OutputField, Precondition,
};
use async_trait::async_trait;
use serde_json::{json, Value};

kube_params! {
    struct GetParams {
        /// Resource kind, e.g. `cluster.postgresql.cnpg.io`, `pod`.
        #[schemars(with = "crate::params::KubeKind")]
        kind: String,
        /// Object name; absent lists every object of the kind (narrowed by `selector`).
        #[schemars(with = "Option<crate::params::KubeName>")]
        name: Option<String>,
        /// Label selector, e.g. `app=ha,role=primary` (with no `name`).
        selector: Option<String>,
        /// A kubectl jsonpath, e.g. `{.status.currentPrimary}`: the output is its `text`
        /// (and `json` when that parses) instead of the whole object.
        jsonpath: Option<String>,
    }
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
                OutputField {
                    name: "json",
                    ty: "any",
                    doc: "the object (a List without `name`), or the jsonpath value when it parses as JSON",
                },
                OutputField { name: "text", ty: "string", doc: "raw output, trimmed (the jsonpath value)" },
            ],
            example: "- id: rto\n  kube.get: { kind: cluster.postgresql.cnpg.io, name: pg-replica, jsonpath: \"{.status.currentPrimary}\" }\n  until: size(rto.text) > 0\n  timeout: 90s\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: GetParams = decode(params)?;
        if p.name.is_some() && p.selector.is_some() {
            return Err(ActionError::new("give `name` or `selector`, not both"));
        }
        let mut verb = vec!["get".into(), p.kind.clone()];
        verb.extend(p.name.clone());
        verb.extend(p.selector.as_ref().map(|s| format!("--selector={s}")));
        verb.push(match &p.jsonpath {
            Some(jp) => format!("-o=jsonpath={jp}"),
            None => "-o=json".into(),
        });
        Ok(parsed(&kubectl(&p.target(), ctx, verb, None).await?))
    }

    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe(params, ctx).await
    }
}

kube_params! {
    struct ApplyParams {
        /// The manifest: a map, or a list of maps (sent as one `List`), serialized to JSON and
        /// fed on stdin (`-f -`); a string is sent as it is (YAML text).
        manifest: Option<Value>,
        /// Or a manifest file (`-f <file>`).
        file: Option<String>,
        /// Server-side apply (`--server-side`).
        #[serde(default)]
        server_side: bool,
    }
}

struct Apply;

#[async_trait]
impl Action for Apply {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "kube.apply",
            summary: "kubectl apply a manifest (inline map / list / YAML text, or a file); no undo",
            params: schema::<ApplyParams>(),
            outputs: &[
                OutputField { name: "json", ty: "map", doc: "the applied object(s) (`-o json`)" },
                OutputField { name: "text", ty: "string", doc: "kubectl's raw output" },
            ],
            example: "- kube.apply:\n    namespace: cnpg\n    manifest: { apiVersion: v1, kind: ConfigMap, metadata: { name: d31 }, data: { run: \"${run.id}\" } }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ApplyParams = decode(params)?;
        let mut verb = vec!["apply".to_string()];
        if p.server_side {
            verb.push("--server-side".into());
        }
        let stdin = match (&p.manifest, &p.file) {
            (Some(m), None) => {
                verb.extend(["-f".into(), "-".into()]);
                Some(match m {
                    Value::String(yaml) => yaml.clone(),
                    Value::Array(items) => {
                        json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
                    }
                    other => other.to_string(),
                })
            }
            (None, Some(f)) => {
                verb.extend(["-f".into(), f.clone()]);
                None
            }
            _ => return Err(ActionError::new("give exactly one of `manifest` or `file`")),
        };
        verb.extend(["-o".into(), "json".into()]);
        Ok(parsed(&kubectl(&p.target(), ctx, verb, stdin).await?))
    }

    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe(params, ctx).await
    }
}

kube_params! {
    struct DeleteParams {
        /// Resource kind.
        #[schemars(with = "crate::params::KubeKind")]
        kind: String,
        /// Object name.
        #[schemars(with = "crate::params::KubeName")]
        name: String,
        /// A missing object is not an error (default true).
        ignore_not_found: Option<bool>,
        /// Wait until the object is gone (default false: return once the API accepted it;
        /// poll with `kube.get` + `until` to time the disappearance).
        #[serde(default)]
        wait: bool,
    }
}

struct Delete;

#[async_trait]
impl Action for Delete {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "kube.delete",
            summary: "kubectl delete an object (no undo: a deleted object cannot be put back as it was)",
            params: schema::<DeleteParams>(),
            outputs: &[OutputField { name: "text", ty: "string", doc: "kubectl's output" }],
            example: "- kube.delete: { kind: pod, name: pg-primary-1, namespace: cnpg }\n",
            background: false,
            traits: ActionTraits::FAULT,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: DeleteParams = decode(params)?;
        let verb = vec![
            "delete".into(),
            p.kind.clone(),
            p.name.clone(),
            format!("--ignore-not-found={}", p.ignore_not_found.unwrap_or(true)),
            format!("--wait={}", p.wait),
        ];
        Ok(parsed(&kubectl(&p.target(), ctx, verb, None).await?))
    }
}

inventory::submit!(ActionEntry(&Get));
inventory::submit!(ActionEntry(&Apply));
inventory::submit!(ActionEntry(&Delete));
