//! The kube actions that change an object in place and can register their own inverse:
//! `kube.patch` (with `undo_patch`) and `kube.scale` (with `undo_replicas`).
use super::{
    cli::{kubectl, Target},
    parsed, probe,
};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Outcome, OutputField,
    Precondition, Undo,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

/// kubectl's `--type`. Its schema is inlined as a plain string `enum`: a `$ref` next to the
/// field's description becomes an `allOf`, which neither the loader nor `explain` reads.
#[derive(Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
enum PatchType {
    #[default]
    Merge,
    Json,
    Strategic,
}

impl JsonSchema for PatchType {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PatchType".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "enum": ["merge", "json", "strategic"]})
    }
}

impl PatchType {
    fn flag(self) -> &'static str {
        match self {
            PatchType::Merge => "merge",
            PatchType::Json => "json",
            PatchType::Strategic => "strategic",
        }
    }
}

kube_params! {
    struct PatchParams {
        /// Resource kind, e.g. `cluster.postgresql.cnpg.io` or `deployment`.
        #[schemars(with = "crate::params::KubeKind")]
        kind: String,
        /// Object name.
        #[schemars(with = "crate::params::KubeName")]
        name: String,
        /// The patch: a map (merge, strategic) or a list of operations (json); sent as JSON.
        patch: Value,
        /// `merge` (default; RFC 7386, `null` removes a key), `json` (RFC 6902 operations) or
        /// `strategic` (built-in kinds only; custom resources need `merge`).
        #[serde(rename = "type", default)]
        patch_type: PatchType,
        /// The patch that puts the object back (same `type`), run by the undo stack after the
        /// phases: e.g. `{ spec: { instances: 3 } }` after scaling a Cluster to 0.
        undo_patch: Option<Value>,
    }
}

struct Patch;

#[async_trait]
impl Action for Patch {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "kube.patch",
            summary: "kubectl patch (merge / json / strategic); `undo_patch` restores the object after the run",
            params: schema::<PatchParams>(),
            outputs: &[
                OutputField { name: "json", ty: "map", doc: "the patched object (`-o json`)" },
                OutputField { name: "text", ty: "string", doc: "kubectl's raw output" },
            ],
            example: "- id: region_kill\n  kube.patch:\n    kind: cluster.postgresql.cnpg.io\n    name: pg-primary\n    namespace: cnpg\n    patch: { spec: { instances: 0 } }\n    undo_patch: { spec: { instances: 3 } }\n",
            background: false,
            traits: ActionTraits::FAULT,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: PatchParams = decode(params)?;
        let t = p.target();
        let ty = p.patch_type;
        let verb = vec![
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
        let undo = p.undo_patch.map(|undo| {
            let mut params = json!({"kind": p.kind, "name": p.name, "patch": undo, "type": ty.flag()});
            t.carry_into(&mut params);
            Undo {
                key: format!("kube.patch:{}/{}", p.kind, p.name),
                description: format!("patch {} {} back (undo_patch)", p.kind, p.name),
                action: "kube.patch",
                params,
            }
        });
        change(&t, ctx, verb, undo).await
    }

    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe(params, ctx).await
    }
}

kube_params! {
    struct ScaleParams {
        /// Resource kind, e.g. `deployment` or `statefulset`.
        #[schemars(with = "crate::params::KubeKind")]
        kind: String,
        /// Object name.
        #[schemars(with = "crate::params::KubeName")]
        name: String,
        /// Desired replicas.
        replicas: u32,
        /// Replicas to restore after the run, registered as this step's undo.
        undo_replicas: Option<u32>,
    }
}

struct Scale;

#[async_trait]
impl Action for Scale {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "kube.scale",
            summary: "kubectl scale; `undo_replicas` restores the count after the run",
            params: schema::<ScaleParams>(),
            outputs: &[OutputField { name: "text", ty: "string", doc: "kubectl's output" }],
            example: "- kube.scale: { kind: deployment, name: ha-server, replicas: 0, undo_replicas: 2 }\n",
            background: false,
            traits: ActionTraits::FAULT,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ScaleParams = decode(params)?;
        let t = p.target();
        let verb =
            vec!["scale".into(), format!("{}/{}", p.kind, p.name), format!("--replicas={}", p.replicas)];
        let undo = p.undo_replicas.map(|n| {
            let mut params = json!({"kind": p.kind, "name": p.name, "replicas": n});
            t.carry_into(&mut params);
            Undo {
                key: format!("kube.scale:{}/{}", p.kind, p.name),
                description: format!("scale {} {} back to {n}", p.kind, p.name),
                action: "kube.scale",
                params,
            }
        });
        change(&t, ctx, verb, undo).await
    }

    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe(params, ctx).await
    }
}

/// Runs a changing kubectl verb with its inverse, if any, as the step's undo.
async fn change(
    t: &Target,
    ctx: &ActionCtx,
    verb: Vec<String>,
    undo: Option<Undo>,
) -> Result<Outcome, ActionError> {
    // Write-ahead: recorded before the change, so `testrunner cleanup` knows it after a SIGKILL.
    if let Some(u) = &undo {
        ctx.intend(u);
    }
    let mut o = parsed(&kubectl(t, ctx, verb, None).await?);
    if let Some(u) = undo {
        o = o.undo(u);
    }
    Ok(o)
}

inventory::submit!(ActionEntry(&Patch));
inventory::submit!(ActionEntry(&Scale));
