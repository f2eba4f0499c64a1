//! Templates: strings with `${…}` parts.
use super::lex::lex_chars;
use super::{Expr, Scope};
use crate::span::Span;
use serde_json::Value;

/// A string parameter with `${…}` parts. A string that is exactly one `${…}` keeps the
/// value's type; otherwise the parts are joined as text. `$${` is a literal `${`.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<Part>,
}

impl Template {
    /// Parses `text` whose first character is at `span`. Errors carry the column of the
    /// offending `${` (or of the CEL error inside it) within `text`.
    pub fn parse(text: &str, span: &Span) -> Result<Template, (String, usize)> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '$' && chars.get(i + 1) == Some(&'$') && chars.get(i + 2) == Some(&'{') {
                lit.push_str("${");
                i += 3;
                continue;
            }
            if chars[i] == '$' && chars.get(i + 1) == Some(&'{') {
                let start = i + 2;
                let end = find_close(&chars, start)
                    .ok_or(("unclosed `${`: add the matching `}`".to_string(), i))?;
                let src: String = chars[start..end].iter().collect();
                let mut espan = span.clone();
                espan.col += start as u32;
                espan.len = src.chars().count() as u32;
                let expr = Expr::compile(&src, espan).map_err(|e| (e.message, start + e.offset))?;
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Expr(expr));
                i = end + 1;
                continue;
            }
            lit.push(chars[i]);
            i += 1;
        }
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// The template as written, `${…}` included.
    pub fn source(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => s.replace("${", "$${"),
                Part::Expr(e) => format!("${{{}}}", e.source),
            })
            .collect()
    }

    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e),
            Part::Lit(_) => None,
        })
    }

    pub fn eval(&self, scope: &Scope) -> Result<Value, String> {
        if let [Part::Expr(e)] = self.parts.as_slice() {
            return e.eval(scope);
        }
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Expr(e) => match e.eval(scope)? {
                    Value::String(s) => out.push_str(&s),
                    Value::Null => out.push_str("null"),
                    other => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(Value::String(out))
    }
}

/// The `}` that closes a `${` whose expression starts at `start` (braces inside the
/// expression and inside its strings do not count).
fn find_close(chars: &[char], start: usize) -> Option<usize> {
    let lexed = lex_chars(chars[start..].to_vec());
    let mut depth = 0i32;
    for (k, (&c, &code)) in lexed.chars.iter().zip(&lexed.code).enumerate() {
        match c {
            _ if !code => {}
            '{' => depth += 1,
            '}' if depth == 0 => return Some(start + k),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}
