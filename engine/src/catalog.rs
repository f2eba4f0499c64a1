use serde_json::Value;
use testrunner_scenario::Catalog;

/// The loader's view of the action registry.
pub struct RegistryCatalog;

impl Catalog for RegistryCatalog {
    fn schema(&self, action: &str) -> Option<Value> {
        testrunner_actions::spec(action).map(|s| s.params.clone())
    }
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = testrunner_actions::specs().map(|s| s.name.to_string()).collect();
        // `stop` is the engine's own: it ends a background step.
        v.push("stop".into());
        v
    }
}
