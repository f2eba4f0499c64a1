//! What a step is, decided once by the loader: every other layer matches on [`StepKind`]
//! instead of comparing action names.

/// The kind of a step: a registered action, or a built-in the engine treats itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// A registered action (`http.get`, `docker.stop`, `sleep`, ...), run by the registry.
    Action,
    /// `set:` (a registered action): its outputs become variables for later steps.
    Set,
    /// `assert:`: the engine evaluates the step's compiled `expect` expressions.
    Assert,
    /// `log:` (a registered action): its message goes to the run log.
    Log,
    /// `stop: <id>`: ends a background step (engine only, not in the registry).
    Stop,
    /// `wait: { any|all: [ids] }`: waits for background polls (engine only).
    Wait,
}

impl StepKind {
    /// The kind of the step whose action key is `action`.
    pub fn of(action: &str) -> StepKind {
        match action {
            "set" => StepKind::Set,
            "assert" => StepKind::Assert,
            "log" => StepKind::Log,
            "stop" => StepKind::Stop,
            "wait" => StepKind::Wait,
            _ => StepKind::Action,
        }
    }

    /// The step keys the engine itself implements (no registry entry).
    pub const ENGINE_ONLY: &'static [&'static str] = &["stop", "wait"];

    /// Whether the step ends background steps (`stop`, `wait`).
    pub fn ends_background(self) -> bool {
        matches!(self, StepKind::Stop | StepKind::Wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_are_typed_and_everything_else_is_an_action() {
        assert_eq!(StepKind::of("set"), StepKind::Set);
        assert_eq!(StepKind::of("stop"), StepKind::Stop);
        assert_eq!(StepKind::of("wait"), StepKind::Wait);
        assert_eq!(StepKind::of("docker.stop"), StepKind::Action);
        assert_eq!(StepKind::of("sleep"), StepKind::Action);
        assert!(StepKind::Wait.ends_background() && !StepKind::Assert.ends_background());
    }
}
