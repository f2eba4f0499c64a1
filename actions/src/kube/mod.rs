//! Kubernetes through the `kubectl` binary (not the `kube` crate: it costs minutes of build
//! and lags kubectl versions). Every action builds an argument vector, never a shell line,
//! runs it bounded by the step deadline with `--request-timeout`, and passes `--context`,
//! `--namespace` and `--kubeconfig` when given (KUBECONFIG is inherited). The binary is
//! `kubectl` from PATH, or the `kubectl` parameter, or $TESTRUNNER_KUBECTL — the project's
//! tests point it at `tests/stubs/kubectl`, a stub: there is no API server on the build machine.
//!
//! Undo: `kube.patch` with `undo_patch` registers `kube.patch:<kind>/<name>` (the inverse
//! patch, same type); `kube.scale` with `undo_replicas` registers `kube.scale:<kind>/<name>`.
//! `kube.apply` and `kube.delete` register nothing: whether an apply created or changed an
//! object, and what a deleted object looked like, is not knowable from their output.

/// Declares a parameter struct with the connection fields every kube action repeats
/// (`#[serde(flatten)]` does not work with `deny_unknown_fields`), and its `target()`.
macro_rules! kube_params {
    ($(#[$meta:meta])* struct $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $($(#[$fmeta])* $field: $ty,)*
            /// kubectl context (`--context`); absent or "" means the current context.
            context: Option<String>,
            /// Namespace (`--namespace`); absent means the context's default.
            #[schemars(with = "Option<crate::params::KubeNamespace>")]
            namespace: Option<String>,
            /// kubeconfig file (`--kubeconfig`); absent means $KUBECONFIG or ~/.kube/config.
            kubeconfig: Option<String>,
            /// The kubectl binary; absent means $TESTRUNNER_KUBECTL, else `kubectl` from PATH.
            kubectl: Option<String>,
            /// kubectl's `--request-timeout`; absent means what is left of the step's deadline.
            timeout: Option<crate::Dur>,
        }

        impl $name {
            fn target(&self) -> $crate::kube::cli::Target {
                $crate::kube::cli::Target {
                    context: self.context.clone(),
                    namespace: self.namespace.clone(),
                    kubeconfig: self.kubeconfig.clone(),
                    kubectl: self.kubectl.clone(),
                    timeout: self.timeout,
                }
            }
        }
    };
}

mod cli;
mod objects;
mod patch;

use crate::{ActionCtx, Outcome, Precondition};
use cli::Target;
use serde_json::Value;

/// kubectl's output as `text`, plus `json` when it parses.
fn parsed(stdout: &str) -> Outcome {
    let mut o = Outcome::new().with("text", stdout.trim().to_string());
    if let Ok(j) = serde_json::from_str::<Value>(stdout) {
        o = o.with("json", j);
    }
    o
}

/// Read-only precondition for `testrunner plan`: the object can be read (or, without a
/// resolved kind and name, the API server answers). Params are only partly evaluated, so
/// anything still holding `${…}` is not probed.
async fn probe(params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
    let text = |k: &str| params.get(k).and_then(Value::as_str).map(String::from);
    let fields = ["context", "namespace", "kubeconfig", "kubectl", "kind", "name"];
    if fields.iter().filter_map(|k| text(k)).any(|v| v.contains("${")) {
        return vec![];
    }
    let t = Target {
        context: text("context"),
        namespace: text("namespace"),
        kubeconfig: text("kubeconfig"),
        kubectl: text("kubectl"),
        timeout: None,
    };
    let verb: Vec<String> = match (text("kind"), text("name")) {
        (Some(kind), Some(name)) => vec!["get".into(), kind, name, "-o".into(), "name".into()],
        _ => vec!["version".into(), "-o".into(), "json".into()],
    };
    match cli::kubectl(&t, ctx, verb, None).await {
        Ok(_) => vec![],
        Err(e) if e.output.get("stderr").and_then(Value::as_str).is_some_and(|s| s.contains("NotFound")) => {
            // An earlier step may create it.
            vec![Precondition::warning(format!("the object does not exist yet: {}", e.message))]
        }
        Err(e) => vec![Precondition::blocker(format!("the Kubernetes context is not usable: {}", e.message))],
    }
}
