//! Messages in plain words: parser errors, runtime errors naming the null and the operator,
//! and a failed comparison's two sides.
use super::compile::bound_of;
use super::eval::from_cel;
use super::lex::lex;
use super::{Expr, Scope};
use serde_json::Value;

/// ANTLR's messages (`extraneous input '==' expecting {'[', '{', ...}`) in plain words.
pub(super) fn readable(msg: &str) -> String {
    let m = msg.strip_prefix("Syntax error: ").unwrap_or(msg).trim();
    // The parser's internal wordings (rule names, Rust debug output) never reach users.
    if m.contains("Recursion limit") {
        return "the expression nests too deeply".into();
    }
    if m.contains("Incomplete") || m.contains("Context") || m.contains("ParseError") || m.contains("Error(") {
        return "the expression is incomplete or malformed here".into();
    }
    let quoted = |s: &str| -> Option<String> {
        let s = s.trim();
        let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
        Some(inner.to_string())
    };
    let token = |t: String| -> String {
        if t == "<EOF>" {
            "the end of the expression".to_string()
        } else {
            format!("`{}`", shorten(&t))
        }
    };
    let before_expecting = |rest: &str| rest.split(" expecting").next().unwrap_or(rest).to_string();
    if let Some(rest) = m.strip_prefix("extraneous input ").or_else(|| m.strip_prefix("mismatched input ")) {
        if let Some(t) = quoted(&before_expecting(rest)) {
            return if t == "<EOF>" {
                "the expression ends too early".into()
            } else {
                format!("unexpected {}", token(t))
            };
        }
    }
    if let Some(rest) = m.strip_prefix("no viable alternative at input ") {
        if let Some(t) = quoted(rest) {
            return format!("cannot read {}", token(t));
        }
    }
    if let Some(rest) = m.strip_prefix("missing ") {
        if let Some((what, at)) = rest.split_once(" at ") {
            if let (Some(w), Some(a)) = (quoted(what), quoted(at)) {
                return format!("missing `{w}` before {}", token(a));
            }
        }
    }
    if let Some(rest) = m.strip_prefix("token recognition error at: ") {
        if let Some(t) = quoted(rest) {
            if t.starts_with('"') || t.starts_with('\'') {
                return "unclosed string: add the closing quote".into();
            }
            return format!("unexpected character {}", token(t));
        }
    }
    shorten(m)
}

pub(super) fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// A CEL runtime error in plain words: which operation, and which name had which value
/// (`cannot subtract: `kill.first_match_ms` is null (the step never matched)`).
pub(super) fn explain_error(err: &cel::ExecutionError, expr: &Expr, scope: &Scope) -> String {
    use cel::ExecutionError as X;
    let src = &expr.source;
    match err {
        X::UndeclaredReference(name) => {
            if let Some((root, b)) = bound_of(name) {
                return format!(
                    "`{root}.{b}` has no value: `{root}` carries no uncertainty interval (only a metric that reads a polled step's `first_match_ms` has one)"
                );
            }
            format!("`{name}` has no value yet (its step has not run, or it is not defined)")
        }
        X::UnsupportedBinaryOperator(op, l, r) => {
            let verb = match *op {
                "add" => "add",
                "sub" => "subtract",
                "mul" => "multiply",
                "div" => "divide",
                "rem" => "take the remainder",
                other => other,
            };
            operands(&format!("cannot {verb}"), &[kind(l), kind(r)], expr, scope)
        }
        X::ValuesNotComparable(l, r) => operands("cannot compare", &[kind(l), kind(r)], expr, scope),
        X::NoSuchOverload(o) => {
            let what = match o.function() {
                "_<_" | "_<=_" | "_>_" | "_>=_" | "_==_" | "_!=_" => "cannot compare".to_string(),
                "_+_" => "cannot add".into(),
                "_-_" => "cannot subtract".into(),
                "_*_" => "cannot multiply".into(),
                "_/_" => "cannot divide".into(),
                "_%_" => "cannot take the remainder".into(),
                "_&&_" | "_||_" => {
                    "cannot combine with `&&` / `||` (both sides must be true or false)".into()
                }
                "!_" => "cannot apply `!`".into(),
                "-_" => "cannot negate".into(),
                f => format!("cannot call `{}`", f.trim_matches('_')),
            };
            let kinds: Vec<String> = o
                .argument_types()
                .iter()
                .map(|t| match t.as_str() {
                    "null_type" => "null".to_string(),
                    "int" | "uint" | "double" => "a number".into(),
                    "string" => "a string".into(),
                    "bool" => "a bool".into(),
                    "list" => "a list".into(),
                    "map" => "a map".into(),
                    other => format!("a {other}"),
                })
                .collect();
            operands(&what, &kinds, expr, scope)
        }
        X::NoSuchKey(k) => format!("there is no field `{k}`, in `{src}`"),
        X::DivisionByZero(_) => format!("division by zero, in `{src}`"),
        X::RemainderByZero(_) => format!("remainder by zero, in `{src}`"),
        other => format!("{other} (in `{src}`)"),
    }
}

/// `{what}: `a.b` is null (why)`, naming the names the expression read that are null;
/// else the kinds of the two operands.
pub(super) fn operands(what: &str, kinds: &[String], expr: &Expr, scope: &Scope) -> String {
    let src = &expr.source;
    let mut nulls: Vec<String> = vec![];
    if kinds.iter().any(|k| k == "null") {
        for (root, fields) in expr.paths() {
            let v = fields.iter().try_fold(scope.get(&root), |v, f| Some(v?.get(f.as_str())));
            if let Some(Some(Value::Null)) = v {
                let path = std::iter::once(root).chain(fields.iter().cloned()).collect::<Vec<_>>().join(".");
                let why = match fields.last().map(String::as_str) {
                    Some("first_match_ms" | "first_match_started_ms") => " (the step never matched)",
                    Some("last_miss_ms") => " (no attempt missed: the first one matched)",
                    Some("error") => " (the step did not fail)",
                    _ => "",
                };
                let line = format!("`{path}` is null{why}");
                if !nulls.contains(&line) {
                    nulls.push(line);
                }
            }
        }
    }
    if nulls.is_empty() {
        format!("{what} {}, in `{src}`", kinds.join(" and "))
    } else {
        format!("{what}: {}, in `{src}`", nulls.join(" and "))
    }
}

pub(super) fn kind(v: &cel::Value) -> String {
    match v {
        cel::Value::Null => "null".into(),
        cel::Value::Int(_) | cel::Value::UInt(_) | cel::Value::Float(_) => {
            format!("a number ({})", short(&from_cel(v)))
        }
        cel::Value::String(_) => format!("a string ({})", short(&from_cel(v))),
        cel::Value::Bool(b) => format!("a bool ({b})"),
        cel::Value::List(_) => "a list".into(),
        cel::Value::Map(_) => "a map".into(),
        _ => "a value".into(),
    }
}

/// Splits `a <= b` at its top-level comparison operator, ignoring operators inside strings,
/// parentheses and brackets. None when the expression is not a single comparison.
pub(super) fn split_comparison(src: &str) -> Option<(&str, &'static str, &str)> {
    let lexed = lex(src);
    let bytes: Vec<usize> = src.char_indices().map(|(b, _)| b).collect();
    let mut depth = 0i32;
    let mut found = None;
    let mut i = 0;
    while i < lexed.chars.len() {
        let c = lexed.chars[i];
        if lexed.code[i] {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                '&' | '|' if depth == 0 && lexed.chars.get(i + 1) == Some(&c) => return None,
                '?' if depth == 0 => return None,
                _ if depth == 0 => {
                    for op in ["<=", ">=", "==", "!=", "<", ">"] {
                        if src[bytes[i]..].starts_with(op) {
                            if found.is_some() {
                                return None;
                            }
                            found = Some((bytes[i], op));
                            // Operators are ASCII: one character per byte.
                            i += op.len() - 1;
                            break;
                        }
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    let (at, op) = found?;
    Some((&src[..at], op, &src[at + op.len()..]))
}

/// Short, single-line rendering of a value for messages.
pub fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}
