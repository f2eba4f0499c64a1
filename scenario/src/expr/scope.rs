//! The names an expression reads, with their values.
use serde_json::Value;
use std::collections::BTreeMap;

/// The names an expression can read, with their current values.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    vars: BTreeMap<String, Value>,
}

impl Scope {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(&mut self, name: impl Into<String>, value: Value) {
        self.vars.insert(name.into(), value);
    }
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }
    pub fn remove(&mut self, name: &str) {
        self.vars.remove(name);
    }
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.vars.keys()
    }
}
