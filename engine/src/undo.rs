use std::sync::{Arc, Mutex};
use testrunner_actions::{lock, Undo};

/// Inverses of every change the run made, run LIFO after the phases. Shared with the CLI
/// so a second Ctrl-C can print what was left undone.
#[derive(Clone, Default)]
pub struct UndoStack {
    entries: Arc<Mutex<Vec<Undo>>>,
    /// Announced by a running step (write-ahead), not yet confirmed by its outcome.
    intents: Arc<Mutex<Vec<(String, Undo)>>>,
}

impl UndoStack {
    pub fn push(&self, undo: Undo) {
        let mut e = lock(&self.entries);
        // Re-registering the same state (stop twice) keeps one inverse; a new process under
        // an old name (other pgid) gets its own.
        if !e.iter().any(|x| x.key == undo.key && x.params == undo.params) {
            e.push(undo);
        }
    }

    /// A later step restored this state itself: its inverse must not run again.
    /// True when there was such an entry.
    pub fn resolve(&self, key: &str) -> bool {
        let mut e = lock(&self.entries);
        let before = e.len();
        e.retain(|u| u.key != key);
        e.len() != before
    }

    /// `step` is about to make the change `undo` reverts.
    pub fn intend(&self, step: &str, undo: Undo) {
        lock(&self.intents).push((step.to_string(), undo));
    }

    /// An announced change is over (the program ended); true when it was announced.
    pub fn settle_intent(&self, key: &str) -> bool {
        let mut i = lock(&self.intents);
        let before = i.len();
        i.retain(|(_, u)| u.key != key);
        i.len() != before
    }

    /// Removes and returns what `step` announced and has not settled.
    pub fn take_intents(&self, step: &str) -> Vec<Undo> {
        let mut i = lock(&self.intents);
        let (mine, rest): (Vec<_>, Vec<_>) = i.drain(..).partition(|(s, _)| s == step);
        *i = rest;
        mine.into_iter().map(|(_, u)| u).collect()
    }

    /// Everything that would still need undoing now: announced by running steps, then the
    /// stack (LIFO).
    pub fn live(&self) -> Vec<Undo> {
        let mut v: Vec<Undo> = lock(&self.intents).iter().rev().map(|(_, u)| u.clone()).collect();
        v.extend(self.pending());
        v
    }

    pub fn pop(&self) -> Option<Undo> {
        lock(&self.entries).pop()
    }

    pub fn pending(&self) -> Vec<Undo> {
        lock(&self.entries).iter().rev().cloned().collect()
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
