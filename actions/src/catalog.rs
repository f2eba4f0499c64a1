//! The loader's view of the action registry: the one [`Catalog`] every command uses.
use crate::ActionSpec;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use testrunner_scenario::{Catalog, Output};

/// Parameter schemas, names and outputs of every registered action. The specs are computed
/// once per process: generating a schema is costly and every step asks for one (loading
/// 1,000 steps took seconds without this).
pub struct RegistryCatalog;

fn specs() -> &'static BTreeMap<&'static str, ActionSpec> {
    static SPECS: OnceLock<BTreeMap<&'static str, ActionSpec>> = OnceLock::new();
    SPECS.get_or_init(|| crate::all().into_iter().map(|a| a.spec()).map(|s| (s.name, s)).collect())
}

impl Catalog for RegistryCatalog {
    fn schema(&self, action: &str) -> Option<Value> {
        specs().get(action).map(|s| s.params.clone())
    }

    fn names(&self) -> Vec<String> {
        specs().keys().map(|n| n.to_string()).collect()
    }

    /// The declared outputs; None when some are named by the parameters (`set`'s `<name>`),
    /// so a reference to any field is accepted then.
    fn outputs(&self, action: &str) -> Option<Vec<Output>> {
        let spec = specs().get(action)?;
        if spec.outputs.iter().any(|o| o.name.starts_with('<')) {
            return None;
        }
        Some(spec.outputs.iter().map(|o| Output { name: o.name.to_string() }).collect())
    }
}
