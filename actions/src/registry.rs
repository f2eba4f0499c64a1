use crate::{ActionCtx, ActionError, ActionTraits, Outcome};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One documented output field of an action (`status`, `json`, `rows`, ...).
#[derive(Debug, Clone, Copy)]
pub struct OutputField {
    pub name: &'static str,
    /// A short type label for humans: `int`, `string`, `bool`, `map`, `list`, `any`.
    pub ty: &'static str,
    pub doc: &'static str,
}

/// Everything the loader, `actions` and `explain` need to know about an action.
#[derive(Debug, Clone)]
pub struct ActionSpec {
    /// `domain.verb`, the key a scenario step uses.
    pub name: &'static str,
    pub summary: &'static str,
    /// JSON schema (draft-07, from schemars) of the parameters.
    pub params: Value,
    pub outputs: &'static [OutputField],
    /// A YAML snippet of one step using the action.
    pub example: &'static str,
    /// True when the action is meant to run with `background: true` and honours `ctx.stop`.
    pub background: bool,
    /// What reports need to know about the action: injects a fault, draws a chart.
    pub traits: ActionTraits,
}

#[async_trait]
pub trait Action: Send + Sync + 'static {
    fn spec(&self) -> ActionSpec;
    /// Runs one attempt. `params` is the step's parameters after `${…}` evaluation;
    /// decode them with [`crate::params::decode`]. The engine enforces the deadline by
    /// dropping this future, so hold no state that must survive cancellation without a guard
    /// (spawned children use `kill_on_drop`).
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError>;

    /// Read-only preconditions for `testrunner plan`: is the daemon reachable, does the
    /// image exist, does the URL answer? Must not change anything. `params` holds what
    /// could be resolved before the run (unresolved `${…}` stay as text).
    async fn probe(&self, _params: Value, _ctx: &ActionCtx) -> Vec<Precondition> {
        vec![]
    }
}

/// One finding of a read-only precondition probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Precondition {
    /// A blocker means the run would certainly fail; a warning means it might.
    pub blocker: bool,
    pub message: String,
}

impl Precondition {
    pub fn blocker(message: impl Into<String>) -> Self {
        Precondition { blocker: true, message: message.into() }
    }
    pub fn warning(message: impl Into<String>) -> Self {
        Precondition { blocker: false, message: message.into() }
    }
}

/// Registry entry; every action module submits one per action with `inventory::submit!`.
pub struct ActionEntry(pub &'static dyn Action);
inventory::collect!(ActionEntry);

/// The registry, built once: every action with its spec (schemars generates a parameter
/// schema on each `spec()` call, so it is computed once here), sorted by name, and an
/// index by name.
struct Registry {
    sorted: Vec<(&'static dyn Action, ActionSpec)>,
    by_name: HashMap<&'static str, usize>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut sorted: Vec<(&'static dyn Action, ActionSpec)> =
            inventory::iter::<ActionEntry>.into_iter().map(|e| (e.0, e.0.spec())).collect();
        sorted.sort_by_key(|(_, spec)| spec.name);
        let by_name = sorted.iter().enumerate().map(|(i, (_, spec))| (spec.name, i)).collect();
        Registry { sorted, by_name }
    })
}

/// Every registered action, sorted by name.
pub fn all() -> Vec<&'static dyn Action> {
    registry().sorted.iter().map(|(a, _)| *a).collect()
}

/// Every registered action's spec, sorted by name (computed once).
pub fn specs() -> impl Iterator<Item = &'static ActionSpec> {
    registry().sorted.iter().map(|(_, spec)| spec)
}

pub fn find(name: &str) -> Option<&'static dyn Action> {
    registry().by_name.get(name).map(|&i| registry().sorted[i].0)
}

/// The spec of the action `name` (computed once, not per call as `Action::spec` does).
pub fn spec(name: &str) -> Option<&'static ActionSpec> {
    registry().by_name.get(name).map(|&i| &registry().sorted[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_agree_with_the_actions_own_specs() {
        let names: Vec<&str> = specs().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(names.len() > 20, "{names:?}");
        for name in names {
            let a = find(name).unwrap();
            assert_eq!(a.spec().name, name);
            assert_eq!(spec(name).unwrap().params, a.spec().params, "{name}");
            // The same allocation every time: cached, not rebuilt.
            assert!(std::ptr::eq(spec(name).unwrap(), spec(name).unwrap()));
        }
        // Negative control: an unknown name is not found.
        assert!(find("http.gett").is_none() && spec("").is_none());
    }
}
