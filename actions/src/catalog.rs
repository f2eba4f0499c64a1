//! The loader's view of the action registry: the one [`Catalog`] every command uses.
use crate::{spec, specs};
use serde_json::Value;
use testrunner_scenario::{Catalog, Output};

/// Parameter schemas, names and outputs of every registered action, read from the
/// registry's specs (computed once per process).
pub struct RegistryCatalog;

impl Catalog for RegistryCatalog {
    fn schema(&self, action: &str) -> Option<Value> {
        spec(action).map(|s| s.params.clone())
    }

    fn names(&self) -> Vec<String> {
        specs().map(|s| s.name.to_string()).collect()
    }

    /// The declared outputs; None when some are named by the parameters (`set`'s `<name>`),
    /// so a reference to any field is accepted then.
    fn outputs(&self, action: &str) -> Option<Vec<Output>> {
        let spec = spec(action)?;
        if spec.outputs.iter().any(|o| o.name.starts_with('<')) {
            return None;
        }
        Some(spec.outputs.iter().map(|o| Output { name: o.name.to_string() }).collect())
    }
}
