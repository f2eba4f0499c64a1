use serde_json::{Map, Value};

/// The inverse of a change an action made to the world, run by the engine's undo stack
/// (LIFO) after the phases unless a later step already restored it.
#[derive(Debug, Clone, PartialEq)]
pub struct Undo {
    /// Identifies the state this undo restores (`docker.paused:val17-pg`). A later step whose
    /// outcome lists the same key in `resolves` removes this entry: it is already satisfied.
    pub key: String,
    /// What a person reads in the report: "unpause container val17-pg".
    pub description: String,
    /// The registered action that restores it, and its parameters.
    pub action: &'static str,
    pub params: Value,
}

/// What one successful attempt produced.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// The action's own output fields, merged into the step result (`status`, `json`, ...).
    pub output: Map<String, Value>,
    pub undo: Vec<Undo>,
    /// Undo keys this step satisfied (e.g. `docker.start` resolves `docker.stopped:<name>`).
    pub resolves: Vec<String>,
}

impl Outcome {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.output.insert(key.to_string(), value.into());
        self
    }
    pub fn undo(mut self, undo: Undo) -> Self {
        self.undo.push(undo);
        self
    }
    pub fn resolves(mut self, key: impl Into<String>) -> Self {
        self.resolves.push(key.into());
        self
    }
}

/// A failed attempt: a message, an optional hint for the person reading it, and whatever
/// output was gathered before the failure (an `exec` exit code, an HTTP status...).
#[derive(Debug, Clone, Default)]
pub struct ActionError {
    pub message: String,
    pub hint: Option<String>,
    pub output: Map<String, Value>,
}

impl ActionError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), ..Default::default() }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.output.insert(key.to_string(), value.into());
        self
    }
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for ActionError {
    fn from(e: E) -> Self {
        // Keep the whole cause chain: "connect: connection refused" beats "connect".
        let mut msg = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            let s_msg = s.to_string();
            if !msg.contains(&s_msg) {
                msg.push_str(": ");
                msg.push_str(&s_msg);
            }
            src = s.source();
        }
        ActionError::new(msg)
    }
}
