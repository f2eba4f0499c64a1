use std::sync::{Arc, Mutex};
use testrunner_actions::Undo;

/// Inverses of every change the run made, run LIFO after the phases. Shared with the CLI
/// so a second Ctrl-C can print what was left undone.
#[derive(Clone, Default)]
pub struct UndoStack {
    entries: Arc<Mutex<Vec<Undo>>>,
}

impl UndoStack {
    pub fn push(&self, undo: Undo) {
        let mut e = self.entries.lock().unwrap();
        // Re-registering the same state (stop twice) keeps one inverse.
        if !e.iter().any(|x| x.key == undo.key) {
            e.push(undo);
        }
    }

    /// A later step restored this state itself: its inverse must not run again.
    pub fn resolve(&self, key: &str) {
        self.entries.lock().unwrap().retain(|u| u.key != key);
    }

    pub fn pop(&self) -> Option<Undo> {
        self.entries.lock().unwrap().pop()
    }

    pub fn pending(&self) -> Vec<Undo> {
        self.entries.lock().unwrap().iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn u(key: &str) -> Undo {
        Undo { key: key.into(), description: key.into(), action: "log", params: serde_json::json!({}) }
    }
    #[test]
    fn lifo_dedup_and_resolve() {
        let s = UndoStack::default();
        s.push(u("a"));
        s.push(u("b"));
        s.push(u("a"));
        s.push(u("c"));
        s.resolve("b");
        assert_eq!(s.pop().unwrap().key, "c");
        assert_eq!(s.pop().unwrap().key, "a");
        assert!(s.pop().is_none());
    }
}
