use serde_json::Value;
use testrunner_scenario::Catalog;

/// The loader's view of the action registry.
pub struct RegistryCatalog;

impl Catalog for RegistryCatalog {
    fn schema(&self, action: &str) -> Option<Value> {
        testrunner_actions::find(action).map(|a| a.spec().params)
    }
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> =
            testrunner_actions::all().iter().map(|a| a.spec().name.to_string()).collect();
        // `stop` is the engine's own: it ends a background step.
        v.push("stop".into());
        v
    }
}
