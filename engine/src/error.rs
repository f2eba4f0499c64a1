//! The engine's one error type. An error about a step (or a var, or a phase) carries its
//! place in the scenario, so it renders like a load-time diagnostic: title, `file:line:col`,
//! source line and caret, hint.
use testrunner_scenario::{Diagnostic, Span};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// A step did not succeed (its action failed, its deadline passed, an expression of it
    /// could not be evaluated).
    #[error("step `{step}` failed: {message}")]
    Step { step: String, message: String, hint: Option<String>, span: Span },
    /// A value the scenario computes outside any step (a var, `repeat`, `for_each`).
    #[error("{what}: {message}")]
    Eval { what: String, message: String, span: Span },
    /// No baseline from these runs, or a baseline file that does not read.
    #[error("{0}")]
    Baseline(String),
}

impl EngineError {
    pub fn span(&self) -> Span {
        match self {
            EngineError::Step { span, .. } | EngineError::Eval { span, .. } => span.clone(),
            EngineError::Baseline(_) => Span::none(),
        }
    }

    /// The step it is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            EngineError::Step { step, .. } => Some(step),
            _ => None,
        }
    }

    /// The error without the step's name (the step's own record already names it).
    pub fn message(&self) -> String {
        match self {
            EngineError::Step { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The same error for the one renderer.
    pub fn diagnostic(&self) -> Diagnostic {
        let hint = match self {
            EngineError::Step { hint, .. } => hint.clone(),
            _ => None,
        };
        Diagnostic::error(self.to_string(), self.span()).hint_opt(hint)
    }
}

/// `file:line:col` for an event, when the place is known.
pub(crate) fn location(span: &Span) -> Option<String> {
    span.is_known().then(|| span.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use testrunner_scenario::Sources;

    #[test]
    fn a_step_error_renders_with_its_source_line_and_hint() {
        let mut sources = Sources::default();
        sources.add(Arc::from("s.yaml"), Arc::from("setup:\n  - sleep: 5s\n"));
        let e = EngineError::Step {
            step: "setup_1".into(),
            message: "deadline 1s exceeded".into(),
            hint: Some("raise `timeout:`".into()),
            span: Span::new(Arc::from("s.yaml"), 2, 5, 5),
        };
        assert_eq!(e.message(), "deadline 1s exceeded");
        let text = e.diagnostic().render(&sources, false);
        assert!(
            text.starts_with("error: step `setup_1` failed: deadline 1s exceeded\n --> s.yaml:2:5\n"),
            "{text}"
        );
        assert!(text.contains("2 |   - sleep: 5s\n  |     ^^^^^\n"), "{text}");
        assert!(text.contains("= hint: raise `timeout:`"), "{text}");
    }

    #[test]
    fn an_error_without_a_place_renders_no_source_line() {
        let text =
            EngineError::Baseline("no runs given".into()).diagnostic().render(&Sources::default(), false);
        assert_eq!(text, "error: no runs given\n");
    }
}
