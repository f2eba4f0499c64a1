//! The expression language: CEL (via the `cel` crate), bare in `until`/`expect`/`when`/
//! `metrics`, and inside strings as `${…}`. Values cross the boundary as JSON.
use crate::span::Span;
use cel::objects::{Key, Map};
use serde_json::{Number, Value};
use std::collections::HashMap;
use std::sync::Arc;

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

impl Expr {
    pub fn compile(source: &str, span: Span) -> Result<Expr, ExprError> {
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
        Ok(Expr { source: source.to_string(), span, program: Arc::new(program) })
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

/// Longest expression accepted, in characters.
pub const MAX_EXPR_CHARS: usize = 10_000;
/// Most operators (`+`, `&&`, `.`, `!`, …) in one expression, and deepest nesting of
/// brackets: the CEL parser and evaluator recurse once per level, so a longer chain would
/// overflow the stack instead of failing cleanly.
pub const MAX_EXPR_OPERATORS: usize = 500;
pub const MAX_EXPR_NESTING: usize = 32;

/// Refuses an expression too long or too deep to parse safely, before the parser sees it.
fn bounded(src: &str) -> Result<(), ExprError> {
    let too = |message: String, offset: usize| Err(ExprError { message, offset });
    let mut quote: Option<char> = None;
    let (mut depth, mut ops) = (0usize, 0usize);
    let mut prev = ' ';
    let mut escaped = false;
    if src.chars().count() > MAX_EXPR_CHARS {
        return too(format!("the expression is too long (more than {MAX_EXPR_CHARS} characters)"), 0);
    }
    for (i, c) in src.chars().enumerate() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            prev = c;
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_EXPR_NESTING {
                    return too(
                        format!(
                            "the expression nests brackets too deeply (more than {MAX_EXPR_NESTING} levels)"
                        ),
                        i,
                    );
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            // `1.5` is a number, not a field selection.
            '.' if !prev.is_ascii_digit() => ops += 1,
            '+' | '-' | '*' | '/' | '%' | '!' | '?' | '<' | '>' => ops += 1,
            // Two-character operators count once.
            '&' | '|' | '=' if prev != c => ops += 1,
            _ => {}
        }
        if ops > MAX_EXPR_OPERATORS {
            return too(
                format!("the expression is too complex (more than {MAX_EXPR_OPERATORS} operators and field selections)"),
                i,
            );
        }
        prev = c;
    }
    Ok(())
}

/// `loop` is a reserved word in CEL, but `loop.index` is what authors of repeated phases
/// expect to write; the identifier is renamed before compiling (strings are left alone).
const LOOP_ALIAS: &str = "__loop";

/// Renames `loop` to [`LOOP_ALIAS`]; also returns the character offsets (in the renamed
/// text) where a rename happened, so error positions can be mapped back.
fn rename_loop(src: &str) -> (String, Vec<usize>) {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut renames = vec![];
    let mut out_len = 0usize;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            out_len += 1;
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                out_len += 1;
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else if c == '"' || c == '\'' {
            quote = Some(c);
            out.push(c);
            out_len += 1;
        } else if chars[i..].starts_with(&['l', 'o', 'o', 'p'])
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == '.'))
            && chars.get(i + 4).is_none_or(|n| !(n.is_alphanumeric() || *n == '_'))
        {
            renames.push(out_len);
            out.push_str(LOOP_ALIAS);
            out_len += LOOP_ALIAS.chars().count();
            i += 4;
            continue;
        } else {
            out.push(c);
            out_len += 1;
        }
        i += 1;
    }
    (out, renames)
}

/// An offset in the renamed text, as an offset in the text as written.
fn original_offset(offset: usize, renames: &[usize]) -> usize {
    let extra = LOOP_ALIAS.chars().count() - "loop".len();
    let mut shift = 0;
    for &at in renames {
        if at + LOOP_ALIAS.chars().count() <= offset {
            shift += extra;
        } else if at < offset {
            // Inside the alias itself: point at the start of `loop`.
            shift += offset - at;
        }
    }
    offset - shift
}

fn offset_of(source: &str, line: isize, col: isize) -> usize {
    // cel reports 1-based lines and 1-based columns.
    let mut off = 0usize;
    for (i, l) in source.split('\n').enumerate() {
        if i as isize + 1 == line.max(1) {
            return off + (col - 1).max(0) as usize;
        }
        off += l.chars().count() + 1;
    }
    0
}

/// ANTLR's messages (`extraneous input '==' expecting {'[', '{', ...}`) in plain words.
fn readable(msg: &str) -> String {
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

fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Collects the read paths and the called functions of `e`; `bound` are the names a macro
/// binds around it.
fn walk(
    e: &cel::IdedExpr,
    bound: &mut Vec<String>,
    paths: &mut Vec<(String, Vec<String>)>,
    calls: &mut Vec<String>,
) {
    use cel::common::ast::{EntryExpr, Expr as E};
    let name = |n: &str| if n == LOOP_ALIAS { "loop".to_string() } else { n.to_string() };
    // `__lo__x` is `x.lo` as written.
    let unalias = |n: &str, mut fields: Vec<String>| match bound_of(n) {
        Some((root, b)) => {
            fields.insert(0, b.to_string());
            (name(root), fields)
        }
        None => (name(n), fields),
    };
    match &e.expr {
        E::Ident(n) => {
            if !n.starts_with('@') && !bound.iter().any(|b| b == n) {
                paths.push(unalias(n, vec![]));
            }
        }
        E::Select(_) => {
            // Follow the chain down to its root.
            let mut fields = vec![];
            let mut cur = e;
            while let E::Select(s) = &cur.expr {
                fields.push(s.field.clone());
                cur = &s.operand;
            }
            match &cur.expr {
                E::Ident(n) if !n.starts_with('@') && !bound.iter().any(|b| b == n) => {
                    fields.reverse();
                    paths.push(unalias(n, fields));
                }
                _ => walk(cur, bound, paths, calls),
            }
        }
        E::Call(c) => {
            let f = &c.func_name;
            let is_name = f.chars().next().is_some_and(|ch| ch.is_ascii_alphabetic())
                && f.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.');
            if is_name {
                calls.push(f.clone());
            }
            if let Some(t) = &c.target {
                walk(t, bound, paths, calls);
            }
            for a in &c.args {
                walk(a, bound, paths, calls);
            }
        }
        E::Comprehension(c) => {
            walk(&c.iter_range, bound, paths, calls);
            walk(&c.accu_init, bound, paths, calls);
            let n = bound.len();
            bound.push(c.iter_var.clone());
            if let Some(v) = &c.iter_var2 {
                bound.push(v.clone());
            }
            bound.push(c.accu_var.clone());
            walk(&c.loop_cond, bound, paths, calls);
            walk(&c.loop_step, bound, paths, calls);
            walk(&c.result, bound, paths, calls);
            bound.truncate(n);
        }
        E::List(l) => {
            for x in &l.elements {
                walk(x, bound, paths, calls);
            }
        }
        E::Map(m) => {
            for entry in &m.entries {
                match &entry.expr {
                    EntryExpr::StructField(f) => walk(&f.value, bound, paths, calls),
                    EntryExpr::MapEntry(me) => {
                        walk(&me.key, bound, paths, calls);
                        walk(&me.value, bound, paths, calls);
                    }
                }
            }
        }
        E::Struct(st) => {
            for entry in &st.entries {
                match &entry.expr {
                    EntryExpr::StructField(f) => walk(&f.value, bound, paths, calls),
                    EntryExpr::MapEntry(me) => {
                        walk(&me.key, bound, paths, calls);
                        walk(&me.value, bound, paths, calls);
                    }
                }
            }
        }
        E::Literal(_) | E::Unspecified => {}
    }
}

/// The functions expressions can call, for hints: ours first, then CEL's.
pub const FUNCTIONS: &[&str] = &[
    "duration_ms",
    "max",
    "min",
    "sum",
    "avg",
    "percentile",
    "first_ack_after",
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "bytes",
    "type",
    "dyn",
    "duration",
    "timestamp",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "has",
    "all",
    "exists",
    "exists_one",
    "map",
    "filter",
    "getFullYear",
    "getMonth",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getDate",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "replace",
    "split",
    "join",
    "lower",
    "upper",
    "trim",
];

/// Whether `name` is a function an expression can call, globally (`size(x)`) or as a
/// method (`x.contains(y)`). Asks the CEL runtime itself, once per name.
pub fn function_exists(name: &str) -> bool {
    use std::sync::{Mutex, OnceLock};
    static KNOWN: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    let cache = KNOWN.get_or_init(Default::default);
    if let Some(k) = cache.lock().unwrap().get(name) {
        return *k;
    }
    let ctx = context();
    let undeclared = |probe: String| match cel::Program::compile(&probe) {
        Ok(p) => match p.execute(&ctx) {
            Err(cel::ExecutionError::UndeclaredReference(n)) => n.as_str() == name,
            _ => false,
        },
        Err(_) => true,
    };
    let exists = !undeclared(format!("{name}()")) || !undeclared(format!("null.{name}()"));
    cache.lock().unwrap().insert(name.to_string(), exists);
    exists
}

/// A CEL runtime error in plain words: which operation, and which name had which value
/// (`cannot subtract: `kill.first_match_ms` is null (the step never matched)`).
fn explain_error(err: &cel::ExecutionError, expr: &Expr, scope: &Scope) -> String {
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
fn operands(what: &str, kinds: &[String], expr: &Expr, scope: &Scope) -> String {
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

fn kind(v: &cel::Value) -> String {
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

/// The hidden name `<name>.lo` / `<name>.hi` is bound to (a metric's interval bounds).
pub fn bound_name(name: &str, bound: &str) -> String {
    format!("__{bound}__{name}")
}

/// `__lo__x` → `("x", "lo")`.
fn bound_of(alias: &str) -> Option<(&str, &'static str)> {
    if let Some(r) = alias.strip_prefix("__lo__") {
        return Some((r, "lo"));
    }
    alias.strip_prefix("__hi__").map(|r| (r, "hi"))
}

/// Names bound by macros (`x` in `xs.all(x, …)`): their `.lo` is a field, not a bound.
fn collect_bound(e: &cel::IdedExpr, out: &mut Vec<String>) {
    use cel::common::ast::{EntryExpr, Expr as E};
    match &e.expr {
        E::Select(s) => collect_bound(&s.operand, out),
        E::Call(c) => {
            c.target.iter().for_each(|t| collect_bound(t, out));
            c.args.iter().for_each(|a| collect_bound(a, out));
        }
        E::Comprehension(c) => {
            out.push(c.iter_var.clone());
            out.extend(c.iter_var2.clone());
            out.push(c.accu_var.clone());
            for x in [&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
                collect_bound(x, out);
            }
        }
        E::List(l) => l.elements.iter().for_each(|x| collect_bound(x, out)),
        E::Map(m) => m.entries.iter().for_each(|en| match &en.expr {
            EntryExpr::StructField(f) => collect_bound(&f.value, out),
            EntryExpr::MapEntry(me) => {
                collect_bound(&me.key, out);
                collect_bound(&me.value, out);
            }
        }),
        _ => {}
    }
}

/// Rewrites `name.lo` / `name.hi` (a name read at the top level, not a field, not a call,
/// not in a string) to its hidden binding. Returns whether anything changed.
fn rename_bounds(src: &str, macro_bound: &[String]) -> (String, bool) {
    let chars: Vec<char> = src.chars().collect();
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(src.len());
    let mut changed = false;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
            out.push(c);
            i += 1;
            continue;
        }
        let starts_name = (c.is_ascii_alphabetic() || c == '_')
            && (i == 0 || !(is_word(chars[i - 1]) || chars[i - 1] == '.'));
        if starts_name {
            let mut j = i;
            while j < chars.len() && is_word(chars[j]) {
                j += 1;
            }
            let name: String = chars[i..j].iter().collect();
            let b = [('l', 'o'), ('h', 'i')].into_iter().find(|(a, z)| {
                chars.get(j) == Some(&'.') && chars.get(j + 1) == Some(a) && chars.get(j + 2) == Some(z)
            });
            let after_ok = chars.get(j + 3).is_none_or(|n| !is_word(*n) && *n != '(');
            if let (Some((a, z)), true) = (b, after_ok) {
                if !macro_bound.contains(&name) {
                    out.push_str(&bound_name(&name, &format!("{a}{z}")));
                    changed = true;
                    i = j + 3;
                    continue;
                }
            }
            out.push_str(&name);
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    (out, changed)
}

/// Splits `a <= b` at its top-level comparison operator, ignoring operators inside strings,
/// parentheses and brackets. None when the expression is not a single comparison.
fn split_comparison(src: &str) -> Option<(&str, &'static str, &str)> {
    let b = src.as_bytes();
    let (mut depth, mut quote) = (0i32, None::<u8>);
    let mut found = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                b'"' | b'\'' => quote = Some(c),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                b'&' | b'|' if depth == 0 && b.get(i + 1) == Some(&c) => return None,
                b'?' if depth == 0 => return None,
                _ if depth == 0 => {
                    for op in ["<=", ">=", "==", "!=", "<", ">"] {
                        if src[i..].starts_with(op) {
                            if found.is_some() {
                                return None;
                            }
                            found = Some((i, op));
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

/// A context with CEL's standard library, its strings extension (`replace`, `split`, `join`,
/// `trim`, `lowerAscii`, ...) and our functions.
fn context() -> cel::Context<'static, 'static> {
    use std::sync::OnceLock;
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    let env = ENV.get_or_init(|| {
        let mut env = cel::Env::stdlib();
        env.add_extension(cel::extensions::strings).expect("the strings extension registers");
        Arc::new(env)
    });
    let mut ctx = cel::Context::with_env(env.clone());
    register_functions(&mut ctx);
    ctx
}

fn register_functions(ctx: &mut cel::Context) {
    // Unicode-aware `lower`/`upper`, the names users reach for (`lowerAscii` is CEL's).
    let _ = ctx.add_function("lower", |cel::extractors::This(s): cel::extractors::This<Arc<String>>| {
        s.to_lowercase()
    });
    let _ = ctx.add_function("upper", |cel::extractors::This(s): cel::extractors::This<Arc<String>>| {
        s.to_uppercase()
    });
    // Aggregates over lists of numbers, for series metrics. `max`/`min` take a list or arguments.
    // `duration_ms("90s") == 90000`: compare measured milliseconds with duration vars.
    let _ = ctx.add_function("duration_ms", |d: Arc<String>| -> i64 {
        crate::parse_duration(&d).map(|d| d.as_millis() as i64).unwrap_or(-1)
    });
    let _ = ctx.add_function("max", cel::functions::max);
    let _ = ctx.add_function("min", cel::functions::min);
    let _ =
        ctx.add_function("sum", |list: Arc<Vec<cel::Value>>| -> f64 { list.iter().filter_map(num).sum() });
    let _ = ctx.add_function("avg", |list: Arc<Vec<cel::Value>>| -> f64 {
        let v: Vec<f64> = list.iter().filter_map(num).collect();
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    });
    let _ = ctx.add_function("percentile", |list: Arc<Vec<cel::Value>>, p: f64| -> f64 {
        let v: Vec<f64> = list.iter().filter_map(num).collect();
        crate::stats::percentile(&v, p)
    });
    // `pool.first_ack_after(t)`: over a sql.writers result's `acks` ([COMMIT sent, returned]
    // in run-clock ms), when the first COMMIT sent at or after `t` returned acknowledged;
    // null if none did. Sent after `t`, so a commit already in flight at `t` does not count.
    let _ = ctx.add_function(
        "first_ack_after",
        |cel::extractors::This(this): cel::extractors::This<cel::Value>, t: cel::Value| {
            let (cel::Value::Map(m), Some(t)) = (this, num(&t)) else { return cel::Value::Null };
            let Some(cel::Value::List(acks)) = m.get(&cel::objects::Key::from("acks")) else {
                return cel::Value::Null;
            };
            acks.iter()
                .filter_map(|a| match a {
                    cel::Value::List(p) if p.len() == 2 => Some((num(&p[0])?, num(&p[1])?)),
                    _ => None,
                })
                .filter(|(sent, _)| *sent >= t)
                .map(|(_, ack)| ack)
                .min_by(f64::total_cmp)
                .map(|ack| cel::Value::Int(ack as i64))
                .unwrap_or(cel::Value::Null)
        },
    );
}

fn num(v: &cel::Value) -> Option<f64> {
    match v {
        cel::Value::Int(i) => Some(*i as f64),
        cel::Value::UInt(u) => Some(*u as f64),
        cel::Value::Float(f) => Some(*f),
        _ => None,
    }
}

pub fn to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(m) => {
            let map: HashMap<Key, cel::Value> =
                m.iter().map(|(k, v)| (Key::from(k.as_str()), to_cel(v))).collect();
            cel::Value::Map(Map::from(map))
        }
    }
}

pub fn from_cel(v: &cel::Value) -> Value {
    match v {
        cel::Value::Null => Value::Null,
        cel::Value::Bool(b) => Value::Bool(*b),
        cel::Value::Int(i) => Value::from(*i),
        cel::Value::UInt(u) => Value::from(*u),
        cel::Value::Float(f) => Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        cel::Value::String(s) => Value::String(s.to_string()),
        cel::Value::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        cel::Value::List(items) => Value::Array(items.iter().map(from_cel).collect()),
        cel::Value::Map(m) => Value::Object(
            m.map
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Key::String(s) => s.to_string(),
                        Key::Int(i) => i.to_string(),
                        Key::Uint(u) => u.to_string(),
                        Key::Bool(b) => b.to_string(),
                    };
                    (key, from_cel(v))
                })
                .collect(),
        ),
        other => Value::String(format!("{other:?}")),
    }
}

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

fn find_close(chars: &[char], start: usize) -> Option<usize> {
    let (mut depth, mut quote) = (0i32, None::<char>);
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                '"' | '\'' => quote = Some(c),
                '{' => depth += 1,
                '}' if depth == 0 => return Some(i),
                '}' => depth -= 1,
                _ => {}
            }
        }
        i += 1;
    }
    None
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

    fn scope() -> Scope {
        let mut s = Scope::new();
        s.set(
            "lost",
            json!({"ok": true, "json": {"quorum_health": "lost", "count": 2}, "finished_ms": 1500}),
        );
        s.set("stop_pg", json!({"started_ms": 1000}));
        s.set("threshold_ms", json!(30000));
        s.set("ratio", json!(0.5));
        s
    }

    #[test]
    fn evaluates_and_compares_mixed_numbers() {
        let s = scope();
        let e = Expr::compile("lost.finished_ms - stop_pg.started_ms", Span::none()).unwrap();
        assert_eq!(e.eval(&s).unwrap(), json!(500));
        let e = Expr::compile("lost.json.quorum_health == \"lost\" && ratio < 1", Span::none()).unwrap();
        assert_eq!(e.eval(&s).unwrap(), json!(true));
        assert_eq!(e.roots(), vec!["lost", "ratio"]);
    }

    #[test]
    fn explains_failed_comparison() {
        let s = scope();
        let e = Expr::compile("lost.json.count >= threshold_ms", Span::none()).unwrap();
        assert!(!e.eval_bool(&s).unwrap());
        assert_eq!(e.explain(&s), vec!["lost.json.count = 2", "threshold_ms = 30000", "wanted >="]);
        // A number against a string is never equal: the explanation says so.
        let e = Expr::compile("lost.json.count == '2'", Span::none()).unwrap();
        assert!(!e.eval_bool(&s).unwrap());
        let lines = e.explain(&s);
        assert_eq!(lines[..2], ["lost.json.count = 2".to_string(), "wanted == '2'".to_string()]);
        assert!(lines[2].starts_with("lost.json.count is a number and '2' is a string"), "{lines:?}");
    }

    #[test]
    fn string_functions_users_reach_for() {
        let s = scope();
        let ev = |src: &str| Expr::compile(src, Span::none()).unwrap().eval(&s).unwrap();
        assert_eq!(ev("'a-b-c'.replace('-', '+')"), json!("a+b+c"));
        assert_eq!(ev("'a,b,c'.split(',')"), json!(["a", "b", "c"]));
        assert_eq!(ev("['a', 'b'].join('/')"), json!("a/b"));
        assert_eq!(ev("'Ünïcode PG'.lower()"), json!("ünïcode pg"));
        assert_eq!(ev("'primary'.upper()"), json!("PRIMARY"));
        assert_eq!(ev("' x\\t'.trim()"), json!("x"));
        assert_eq!(ev("lost.json.quorum_health.upper() == 'LOST'"), json!(true));
        for f in ["replace", "split", "join", "lower", "upper", "trim"] {
            assert!(function_exists(f), "{f}");
            assert!(FUNCTIONS.contains(&f), "{f}");
        }
        assert!(!function_exists("lowercase"));
    }

    #[test]
    fn template_keeps_type_or_joins() {
        let s = scope();
        let t = Template::parse("${threshold_ms}", &Span::none()).unwrap();
        assert_eq!(t.eval(&s).unwrap(), json!(30000));
        let t = Template::parse("http://x:${threshold_ms}/q $${lit}", &Span::none()).unwrap();
        assert_eq!(t.eval(&s).unwrap(), json!("http://x:30000/q ${lit}"));
        let t = Template::parse("${ {'a': 1}.a }", &Span::none()).unwrap();
        assert_eq!(t.eval(&s).unwrap(), json!(1));
    }

    #[test]
    fn compile_errors_have_offsets() {
        let err = Template::parse("x ${a +} y", &Span::none()).unwrap_err();
        assert!(err.1 >= 4, "{err:?}");
        assert!(Template::parse("x ${a", &Span::none()).is_err());
    }

    #[test]
    fn syntax_errors_point_at_the_offending_token_in_plain_words() {
        let err = |src: &str| Expr::compile(src, Span::none()).unwrap_err();
        let e = err("first.exit_code == == 0");
        assert_eq!((e.message.as_str(), e.offset), ("unexpected `==`", 19));
        let e = err("a ==");
        assert_eq!((e.message.as_str(), e.offset), ("the expression ends too early", 4));
        let e = err("(a");
        assert_eq!((e.message.as_str(), e.offset), ("missing `)` before the end of the expression", 2));
        let e = err("a b");
        assert_eq!((e.message.as_str(), e.offset), ("unexpected `b`", 2));
        let e = err("\"abc");
        assert_eq!((e.message.as_str(), e.offset), ("unclosed string: add the closing quote", 0));
        // `loop` is renamed before compiling; positions are still those of the text as written.
        let e = err("loop.index == == 1");
        assert_eq!(e.offset, 14);
        let t = Template::parse("x ${a == == 1} y", &Span::none()).unwrap_err();
        assert_eq!(t, ("unexpected `==`".to_string(), 9));
    }

    #[test]
    fn paths_and_functions_leave_out_macro_variables() {
        let e = Expr::compile(
            "b.json.x.y > 1 && xs.all(x, x.ok) && has(c.d) && size(b.stdout) > 0 && foo(1) && m[\"k\"] == 1",
            Span::none(),
        )
        .unwrap();
        assert_eq!(e.roots(), vec!["b", "c", "m", "xs"]);
        let paths = e.paths();
        assert!(paths.contains(&("b".into(), vec!["json".into(), "x".into(), "y".into()])), "{paths:?}");
        assert!(paths.contains(&("c".into(), vec!["d".into()])), "{paths:?}");
        assert!(paths.contains(&("m".into(), vec![])), "{paths:?}");
        assert_eq!(e.functions(), vec!["size", "foo"]);
        assert_eq!(e.unknown_functions(), vec!["foo"]);
    }

    #[test]
    fn every_listed_function_exists() {
        let macros = ["has", "all", "exists", "exists_one", "map", "filter"];
        for f in FUNCTIONS.iter().filter(|f| !macros.contains(f)) {
            assert!(function_exists(f), "{f} is listed but does not exist");
        }
        assert!(!function_exists("foo"));
        // The strings extension is registered (`lowerAscii`); made-up names are not functions.
        assert!(function_exists("lowerAscii"));
        assert!(!function_exists("toLower"));
    }

    #[test]
    fn first_ack_after_reads_a_writer_pools_acks() {
        let mut s = Scope::new();
        // [COMMIT sent, returned]: the one in flight at 1000 (sent 990) does not count.
        s.set("pool", json!({"acks": [[100, 120], [990, 1500], [1200, 1250], [1100, 1300]], "ok": true}));
        s.set("kill", json!({"started_ms": 1000}));
        let e = Expr::compile("pool.first_ack_after(kill.started_ms)", Span::none()).unwrap();
        assert_eq!(e.eval(&s).unwrap(), json!(1250));
        let e = Expr::compile("pool.first_ack_after(1201) == null", Span::none()).unwrap();
        assert_eq!(e.eval(&s).unwrap(), json!(true));
    }

    #[test]
    fn missing_name_is_explained() {
        let e = Expr::compile("nope.ok", Span::none()).unwrap();
        let err = e.eval(&Scope::new()).unwrap_err();
        assert!(err.contains("`nope` has no value yet"), "{err}");
    }

    #[test]
    fn runtime_errors_name_the_null_and_the_operator() {
        let mut s = Scope::new();
        s.set("kill", json!({"first_match_ms": null, "started_ms": 245}));
        let e = Expr::compile("kill.first_match_ms - kill.started_ms", Span::none()).unwrap();
        let err = e.eval(&s).unwrap_err();
        assert_eq!(
            err,
            "cannot subtract: `kill.first_match_ms` is null (the step never matched), in `kill.first_match_ms - kill.started_ms`"
        );
        assert!(!err.contains("Int(") && !err.contains("Null"), "{err}");
        let e = Expr::compile("kill.first_match_ms < 5", Span::none()).unwrap();
        let err = e.eval(&s).unwrap_err();
        assert!(err.starts_with("cannot compare: `kill.first_match_ms` is null"), "{err}");
        s.set("name", json!("x"));
        let e = Expr::compile("name * 2", Span::none()).unwrap();
        assert_eq!(
            e.eval(&s).unwrap_err(),
            "cannot multiply a string (\"x\") and a number (2), in `name * 2`"
        );
    }

    #[test]
    fn lo_and_hi_read_hidden_bounds_and_the_value_stays_a_number() {
        let mut s = Scope::new();
        s.set("loss_ms", json!(9900));
        s.set(bound_name("loss_ms", "lo"), json!(9820));
        s.set(bound_name("loss_ms", "hi"), json!(9900));
        let e = Expr::compile(
            "loss_ms <= 10000 && loss_ms.lo == 9820 && loss_ms.hi - loss_ms.lo == 80",
            Span::none(),
        )
        .unwrap();
        assert_eq!(e.eval(&s).unwrap(), json!(true));
        assert!(e.paths().contains(&("loss_ms".into(), vec!["lo".into()])), "{:?}", e.paths());
        assert_eq!(e.roots(), vec!["loss_ms"]);
        // A step output named `lo`, a macro variable's `lo` and a string are left alone.
        s.set("p", json!({"lo": 3}));
        s.set("xs", json!([{"lo": 1}]));
        let e =
            Expr::compile("p.lo == 3 && xs.all(x, x.lo == 1) && 'a.lo' == \"a.lo\"", Span::none()).unwrap();
        assert_eq!(e.eval(&s).unwrap(), json!(true));
        // A metric without an interval: said in words.
        s.set("plain", json!(1));
        let err = Expr::compile("plain.hi > 0", Span::none()).unwrap().eval(&s).unwrap_err();
        assert!(err.contains("`plain.hi` has no value: `plain` carries no uncertainty interval"), "{err}");
    }

    #[test]
    fn loop_is_usable_despite_being_reserved() {
        let mut s = Scope::new();
        s.set("loop", json!({"index": 2}));
        let e = Expr::compile("loop.index + 1 == 3 && 'loop' == \"loop\"", Span::none()).unwrap();
        assert_eq!(e.roots(), vec!["loop"]);
        assert_eq!(e.eval(&s).unwrap(), json!(true));
    }

    #[test]
    fn aggregates() {
        let mut s = Scope::new();
        s.set("xs", json!([1, 2, 3, 4]));
        let e = Expr::compile("sum(xs) == 10.0 && max(xs) == 4 && percentile(xs, 50.0) == 2.5", Span::none())
            .unwrap();
        assert_eq!(e.eval(&s).unwrap(), json!(true));
    }
}
