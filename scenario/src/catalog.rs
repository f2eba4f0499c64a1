//! What the loader needs to know about the actions: the seam between the scenario model and
//! the action registry (implemented once, by `testrunner_actions::RegistryCatalog`).
use serde_json::Value;

/// What the loader needs to know about actions: their parameter schemas and outputs.
pub trait Catalog {
    fn schema(&self, action: &str) -> Option<Value>;
    fn names(&self) -> Vec<String>;
    /// The output fields the action declares, when they are all known: a reference to any
    /// other field (besides the engine's, see [`RESULT_FIELDS`]) is an error. None when the
    /// action's outputs are open or unknown; nothing is checked then.
    fn outputs(&self, _action: &str) -> Option<Vec<Output>> {
        None
    }
}

/// One declared output field of an action. Any path beneath it is accepted (a `json`
/// output is whatever the server sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
}

/// Names every expression may read besides vars, step ids and metrics.
pub const BUILTIN_NAMES: &[&str] = &["loop", "run"];
