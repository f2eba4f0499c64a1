//! The names an expression reads, with their values.
use serde_json::Value;

/// The names an expression can read, with their current values. A persistent map: a
/// clone (each step's scope, each `until` attempt) shares every earlier result instead of
/// copying it, and `set` copies only a path of the tree, so a run of N distinct steps is
/// not quadratic.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    vars: rpds::RedBlackTreeMapSync<String, Value>,
}

impl Scope {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(&mut self, name: impl Into<String>, value: Value) {
        self.vars.insert_mut(name.into(), value);
    }
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }
    pub fn remove(&mut self, name: &str) {
        self.vars.remove_mut(name);
    }
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.vars.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cloned_scope_shares_values_but_not_later_changes() {
        let mut run = Scope::new();
        for i in 0..1000 {
            run.set(format!("s{i}"), json!({"ok": true, "i": i}));
        }
        let step = run.clone();
        // The clone reads the same allocation: nothing was copied.
        assert!(std::ptr::eq(run.get("s7").unwrap(), step.get("s7").unwrap()));
        run.set("s7", json!("replaced"));
        run.remove("s8");
        run.set("later", json!(1));
        assert_eq!(step.get("s7"), Some(&json!({"ok": true, "i": 7})));
        assert!(step.get("s8").is_some() && step.get("later").is_none());
        assert_eq!(run.get("s7"), Some(&json!("replaced")));
        assert!(run.get("s8").is_none());
        assert_eq!(run.names().count(), 1000);
    }
}
