use crate::{ActionCtx, ActionError, ActionTraits, Outcome};
use async_trait::async_trait;
use serde_json::Value;

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

/// Every registered action, sorted by name.
pub fn all() -> Vec<&'static dyn Action> {
    let mut v: Vec<&'static dyn Action> = inventory::iter::<ActionEntry>.into_iter().map(|e| e.0).collect();
    v.sort_by_key(|a| a.spec().name);
    v
}

pub fn find(name: &str) -> Option<&'static dyn Action> {
    inventory::iter::<ActionEntry>.into_iter().map(|e| e.0).find(|a| a.spec().name == name)
}
