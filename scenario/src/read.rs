//! Typed reads of a spanned YAML tree that report every mistake as a diagnostic and go on,
//! so one pass finds them all. Shared by the scenario loader and other spec loaders
//! (the readiness spec): one wording and one position rule for every file we read.
use crate::diag::{did_you_mean, Diagnostic};
use crate::expr::Expr;
use crate::node::{Node, SNode};
use crate::span::{Sources, Span, Spanned};

/// The entries of a YAML map, in file order.
pub type Entries = [(Spanned<String>, SNode)];

/// The value of `key` in a map's entries.
pub fn get<'n>(entries: &'n Entries, key: &str) -> Option<&'n SNode> {
    entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v)
}

pub trait NodeReader {
    /// The files read so far (to find the source line of a span).
    fn sources(&self) -> &Sources;
    /// Records a problem; reading goes on.
    fn err(&mut self, d: Diagnostic);

    /// A map whose keys must all be in `allowed`; every other key is reported with a
    /// did-you-mean, and the map is still returned so its known keys are checked too.
    fn map<'n>(&mut self, node: &'n SNode, what: &str, allowed: &[&str]) -> Option<&'n Entries> {
        let Node::Map(entries) = &node.value else {
            self.err(Diagnostic::error(
                format!("{what} must be a map, not {}", node.value.kind()),
                node.span.clone(),
            ));
            return None;
        };
        for (k, _) in entries {
            if !allowed.contains(&k.value.as_str()) {
                let hint = did_you_mean(&k.value, allowed.iter().copied())
                    .unwrap_or_else(|| format!("{what} takes: {}", allowed.join(", ")));
                self.err(
                    Diagnostic::error(format!("unknown key `{}` in {what}", k.value), k.span.clone())
                        .label("unknown key")
                        .hint(hint),
                );
            }
        }
        Some(entries)
    }

    fn list<'n>(&mut self, node: &'n SNode, what: &str) -> Option<&'n [SNode]> {
        match &node.value {
            Node::Seq(items) => Some(items),
            other => {
                self.err(Diagnostic::error(
                    format!("{what} must be a list, not {}", other.kind()),
                    node.span.clone(),
                ));
                None
            }
        }
    }

    /// A scalar as text (numbers are accepted where a string is expected).
    fn string(&mut self, node: &SNode, what: &str) -> Option<String> {
        match &node.value {
            Node::Str(s) => Some(s.clone()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            other => {
                self.err(Diagnostic::error(
                    format!("{what} must be a string, not {}", other.kind()),
                    node.span.clone(),
                ));
                None
            }
        }
    }

    /// A list of strings; a single string is a list of one.
    fn string_list(&mut self, node: &SNode, what: &str) -> Vec<String> {
        match &node.value {
            Node::Seq(items) => items.iter().filter_map(|i| self.string(i, what)).collect(),
            Node::Str(s) => vec![s.clone()],
            other => {
                self.err(Diagnostic::error(
                    format!("{what} must be a list, not {}", other.kind()),
                    node.span.clone(),
                ));
                vec![]
            }
        }
    }

    fn boolean(&mut self, node: &SNode) -> bool {
        match node.value {
            Node::Bool(b) => b,
            _ => {
                self.err(Diagnostic::error(
                    format!("expected true or false, not {}", node.value.kind()),
                    node.span.clone(),
                ));
                false
            }
        }
    }

    /// The span of a string's first character (after an opening quote), so positions
    /// inside the string can be added to it.
    fn text_span(&self, node: &SNode) -> Span {
        let quoted = self
            .sources()
            .line(&node.span)
            .and_then(|l| l.chars().nth(node.span.col.saturating_sub(1) as usize))
            .is_some_and(|c| c == '"' || c == '\'');
        let mut span = node.span.clone();
        if quoted {
            span.col += 1;
            span.len = span.len.saturating_sub(2).max(1);
        }
        span
    }

    /// A CEL expression: a string or a bool. `${…}` around a bare expression is accepted
    /// and unwrapped. A syntax error points at its column on one-line expressions.
    fn expr(&mut self, node: &SNode) -> Option<Expr> {
        let src = match &node.value {
            Node::Str(s) => s.clone(),
            Node::Bool(b) => b.to_string(),
            other => {
                self.err(Diagnostic::error(
                    format!("expected an expression, not {}", other.kind()),
                    node.span.clone(),
                ));
                return None;
            }
        };
        let bare = src.trim();
        let inner = if bare.starts_with("${") && bare.ends_with('}') && bare.matches("${").count() == 1 {
            &bare[2..bare.len() - 1]
        } else {
            bare
        };
        let span = self.text_span(node);
        match Expr::compile(inner, span.clone()) {
            Ok(e) => Some(e),
            Err(e) => {
                let mut at = span;
                if !src.contains('\n') {
                    at.col += (e.offset + src.find(inner).unwrap_or(0)) as u32;
                    at.len = 1;
                }
                self.err(
                    Diagnostic::error(format!("invalid expression: {}", e.message), at)
                        .label("here")
                        .hint(crate::schema::cel_hint_for(&e.message, inner)),
                );
                None
            }
        }
    }
}
