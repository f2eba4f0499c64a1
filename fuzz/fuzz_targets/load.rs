//! Any bytes as a scenario file (and as the files it includes): the loader returns a
//! scenario or diagnostics, never panics, and stays within its bounds.
#![no_main]
use libfuzzer_sys::fuzz_target;
use testrunner_scenario::{load_with, Catalog, LoadOptions, Overrides};

struct AnyCatalog;

impl Catalog for AnyCatalog {
    fn schema(&self, _action: &str) -> Option<serde_json::Value> {
        Some(serde_json::json!({"type": "object"}))
    }
    fn names(&self) -> Vec<String> {
        vec!["log".into(), "set".into(), "exec".into()]
    }
}

fuzz_target!(|data: &[u8]| {
    // Every path reads the same bytes: includes of any name exercise the include paths.
    let read = |_: &str| Ok(data.to_vec());
    if let Err(f) = load_with("s.yaml", &read, &AnyCatalog, &Overrides::default(), &LoadOptions::default()) {
        let _ = f.render(false);
    }
});
