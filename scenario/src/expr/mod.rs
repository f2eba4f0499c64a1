//! The expression language: CEL (via the `cel` crate), bare in `until`/`expect`/`when`/
//! `metrics`, and inside strings as `${…}`. Values cross the boundary as JSON.
mod compile;
mod eval;
pub(crate) mod lex;
mod messages;
mod scope;
mod template;
#[cfg(test)]
mod tests;

pub use compile::{bound_name, MAX_EXPR_CHARS, MAX_EXPR_NESTING, MAX_EXPR_OPERATORS};
pub use eval::{from_cel, function_exists, to_cel, FUNCTIONS};
pub use messages::short;
pub use scope::Scope;
pub use template::{Part, Template};

use crate::span::Span;
use compile::{
    bounded, collect_bound, offset_of, original_offset, rename_bounds, rename_loop, walk, LOOP_ALIAS,
};
use eval::context;
use messages::{explain_error, readable, split_comparison};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A compiled CEL expression with its source text and place.
#[derive(Clone)]
pub struct Expr {
    pub source: String,
    pub span: Span,
    program: Arc<cel::Program>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// A compile error: message and 0-based character offset within the expression.
#[derive(Debug, Clone)]
pub struct ExprError {
    pub message: String,
    pub offset: usize,
}

/// Most compiled programs [`program`] keeps, and the longest source it keeps one for (a
/// bound on its memory; a scenario's expressions are short).
const MAX_MEMO: usize = 4096;
const MAX_MEMO_CHARS: usize = 512;

/// The program for `source`, compiled once per process: scenarios repeat their
/// expressions (a fragment's steps for every `use:`, the same `${var}` in many steps), and
/// CEL's parser is much of what loading one costs. The result depends on the text alone,
/// errors too.
fn program(source: &str) -> Result<Arc<cel::Program>, ExprError> {
    type Programs = HashMap<String, Result<Arc<cel::Program>, ExprError>>;
    static PROGRAMS: OnceLock<Mutex<Programs>> = OnceLock::new();
    if source.len() > MAX_MEMO_CHARS {
        return Expr::compile_program(source);
    }
    let programs = PROGRAMS.get_or_init(Default::default);
    let lock = || programs.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(done) = lock().get(source).cloned() {
        return done;
    }
    let out = Expr::compile_program(source);
    let mut memo = lock();
    if memo.len() >= MAX_MEMO {
        memo.clear();
    }
    memo.insert(source.to_string(), out.clone());
    out
}

impl Expr {
    pub fn compile(source: &str, span: Span) -> Result<Expr, ExprError> {
        let program = program(source)?;
        Ok(Expr { source: source.to_string(), span, program })
    }

    /// Compiles `source` without the memo of [`program`].
    fn compile_program(source: &str) -> Result<Arc<cel::Program>, ExprError> {
        if source.trim().is_empty() {
            return Err(ExprError { message: "empty expression".into(), offset: 0 });
        }
        bounded(source)?;
        let (renamed, renames) = rename_loop(source);
        let program = cel::Program::compile(&renamed).map_err(|errs| {
            let first = errs.errors.first();
            let offset = first
                .map(|e| original_offset(offset_of(&renamed, e.pos.0, e.pos.1), &renames))
                .unwrap_or(0)
                .min(source.chars().count());
            let message = first.map(|e| readable(&e.msg)).unwrap_or_else(|| errs.to_string());
            ExprError { message, offset }
        })?;
        // `<name>.lo` / `<name>.hi` read a metric's uncertainty bounds, bound as hidden
        // names (a metric itself stays a plain number, so `loss_ms <= x` keeps working).
        let mut bound = vec![];
        collect_bound(program.expression(), &mut bound);
        let (aliased, changed) = rename_bounds(&renamed, &bound);
        let program = match changed.then(|| cel::Program::compile(&aliased)) {
            Some(Ok(p)) => p,
            _ => program,
        };
        Ok(Arc::new(program))
    }

    /// The top-level names the expression reads (`lost` in `lost.json.x == 1`). Names bound
    /// by a macro (`x` in `xs.all(x, x > 0)`) are not among them.
    pub fn roots(&self) -> Vec<String> {
        let mut v: Vec<String> = self.paths().into_iter().map(|(root, _)| root).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every name the expression reads with the fields selected on it, outermost first:
    /// `lost.json.count > 1` gives `("lost", ["json", "count"])`. An index (`a["x"]`) or a
    /// call ends the path.
    pub fn paths(&self) -> Vec<(String, Vec<String>)> {
        let mut out = vec![];
        walk(self.program.expression(), &mut vec![], &mut out, &mut vec![]);
        out
    }

    /// The functions the expression calls (operators and macros left out), in source order.
    pub fn functions(&self) -> Vec<String> {
        let mut calls = vec![];
        walk(self.program.expression(), &mut vec![], &mut vec![], &mut calls);
        let mut seen = vec![];
        for c in calls {
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
        seen
    }

    /// The functions the expression calls that do not exist (neither CEL's nor ours).
    pub fn unknown_functions(&self) -> Vec<String> {
        self.functions().into_iter().filter(|f| !function_exists(f)).collect()
    }

    pub fn eval(&self, scope: &Scope) -> Result<Value, String> {
        let mut ctx = context();
        for (name, fields) in self.paths() {
            if let Some(b @ ("lo" | "hi")) = fields.first().map(String::as_str) {
                let alias = bound_name(&name, b);
                // A metric's interval, else a field of that name (a step output `lo`).
                let v = scope.get(&alias).or_else(|| scope.get(&name).and_then(|v| v.get(b)));
                if let Some(v) = v {
                    ctx.add_variable_from_value(alias, to_cel(v));
                }
            }
            if let Some(v) = scope.get(&name) {
                let as_named = if name == "loop" { LOOP_ALIAS.to_string() } else { name };
                ctx.add_variable_from_value(as_named, to_cel(v));
            }
        }
        let out = self.program.execute(&ctx).map_err(|e| explain_error(&e, self, scope))?;
        Ok(from_cel(&out))
    }

    pub fn eval_bool(&self, scope: &Scope) -> Result<bool, String> {
        match self.eval(scope)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("`{}` must be true or false, but it is {}", self.source, short(&other))),
        }
    }

    /// For a failed `a OP b` comparison, the two sides' values; otherwise the values of the
    /// names it reads. This is what a failed check shows as "actual".
    pub fn explain(&self, scope: &Scope) -> Vec<String> {
        if let Some((lhs, op, rhs)) = split_comparison(&self.source) {
            let eval_side = |s: &str| {
                Expr::compile(s, self.span.clone())
                    .ok()
                    .and_then(|e| e.eval(scope).ok())
                    .map(|v| short(&v))
                    .unwrap_or_else(|| "<unavailable>".into())
            };
            let (lt, rt) = (lhs.trim(), rhs.trim());
            let literal = |t: &str| {
                t.parse::<f64>().is_ok()
                    || matches!(t, "true" | "false" | "null")
                    || t.starts_with(['"', '\''])
            };
            // `exit_code == '0'` is false for every exit code: say why, not only "wanted".
            let value = |s: &str| Expr::compile(s, self.span.clone()).ok().and_then(|e| e.eval(scope).ok());
            let kind = |v: &Value| match v {
                Value::Number(_) => Some("a number"),
                Value::String(_) => Some("a string"),
                Value::Bool(_) => Some("a bool"),
                _ => None,
            };
            let mismatch = match (value(lhs).as_ref().and_then(kind), value(rhs).as_ref().and_then(kind)) {
                (Some(a), Some(b)) if a != b => {
                    Some(format!("{lt} is {a} and {rt} is {b}: they never compare equal (convert one, e.g. string(x) or int(x))"))
                }
                _ => None,
            };
            let mut lines = match (literal(lt), literal(rt)) {
                (false, true) => vec![format!("{lt} = {}", eval_side(lhs)), format!("wanted {op} {rt}")],
                (true, false) => vec![format!("{rt} = {}", eval_side(rhs)), format!("wanted {lt} {op} it")],
                _ => vec![
                    format!("{lt} = {}", eval_side(lhs)),
                    format!("{rt} = {}", eval_side(rhs)),
                    format!("wanted {op}"),
                ],
            };
            lines.extend(mismatch);
            return lines;
        }
        // The values the expression really read (`probe.text`, not all of `probe`).
        let mut seen = vec![];
        let mut out = vec![];
        for (root, fields) in self.paths() {
            let path = std::iter::once(root.as_str())
                .chain(fields.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(".");
            if seen.contains(&path) {
                continue;
            }
            seen.push(path.clone());
            let value = fields.iter().try_fold(scope.get(&root), |v, f| Some(v?.get(f.as_str())));
            if let Some(Some(v)) = value {
                out.push(format!("{path} = {}", short(v)));
            }
        }
        out
    }
}
