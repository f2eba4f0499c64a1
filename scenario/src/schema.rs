//! Validates a step's parameters (a spanned YAML tree) against its action's JSON schema and
//! compiles `${…}` templates in place. Errors point at the offending key or value.
use crate::diag::{did_you_mean, Diagnostic};
use crate::expr::Template;
use crate::model::Param;
use crate::node::{Node, SNode};
use crate::span::{Sources, Span};
use serde_json::Value;

pub struct ParamCheck<'a> {
    pub action: &'a str,
    pub root: &'a Value,
    pub sources: &'a Sources,
    pub diags: Vec<Diagnostic>,
    /// Vars whose value is known at load time: `"${port}"` is checked as that value.
    pub known: Vec<(String, Value)>,
}

impl<'a> ParamCheck<'a> {
    pub fn new(action: &'a str, root: &'a Value, sources: &'a Sources) -> Self {
        ParamCheck { action, root, sources, diags: vec![], known: vec![] }
    }

    /// Brings a step's evaluated parameters to the types its action takes: each `${…}` value
    /// is converted like the loader converts a known one (a scalar in a text slot becomes
    /// its text) and checked against the schema. Errors point at the template.
    pub fn conform(&mut self, param: &Param, value: Value, schema: &Value, path: &str) -> Value {
        match (param, value) {
            (Param::Tmpl(t), v) => {
                let span = t.exprs().next().map(|e| e.span.clone()).unwrap_or_else(Span::none);
                let v = self.to_text_if_wanted(v, schema);
                self.check_value(&Node::from_json(&v, &span), schema, path);
                v
            }
            (Param::Seq(items), Value::Array(values)) if items.len() == values.len() => {
                let s = self.branch(schema, "array");
                let item = s.get("items").cloned().unwrap_or(Value::Bool(true));
                Value::Array(
                    items
                        .iter()
                        .zip(values)
                        .enumerate()
                        .map(|(i, (p, v))| self.conform(p, v, &item, &format!("{path}[{i}]")))
                        .collect(),
                )
            }
            (Param::Map(entries), Value::Object(mut values)) => {
                let s = self.branch(schema, "object").clone();
                let props = s.get("properties").and_then(Value::as_object);
                let additional = s.get("additionalProperties").cloned().unwrap_or(Value::Bool(true));
                for (k, p) in entries {
                    let Some(v) = values.remove(k) else { continue };
                    let sub = props.and_then(|ps| ps.get(k)).cloned().unwrap_or(additional.clone());
                    let child = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    let v = self.conform(p, v, &sub, &child);
                    values.insert(k.clone(), v);
                }
                Value::Object(values)
            }
            (_, v) => v,
        }
    }

    /// The branch of `schema` (an `anyOf`/`oneOf`, e.g. an optional list) that takes `kind`.
    fn branch<'s>(&self, schema: &'s Value, kind: &str) -> &'s Value
    where
        'a: 's,
    {
        let s = self.resolve(schema);
        if let Some(bs) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
            let probe = if kind == "array" { Node::Seq(vec![]) } else { Node::Map(vec![]) };
            if let Some(b) = bs.iter().map(|b| self.resolve(b)).find(|b| self.type_ok(&probe, b)) {
                return b;
            }
        }
        s
    }

    /// The JSON types `schema` accepts (`enum` values count by their type); None when any.
    fn accepted(&self, schema: &Value) -> Option<Vec<String>> {
        let s = self.resolve(schema);
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            return Some(e.iter().map(|v| json_type(v).to_string()).collect());
        }
        if let Some(bs) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
            let mut all = vec![];
            for b in bs {
                all.extend(self.accepted(b)?);
            }
            return Some(all);
        }
        match s.get("type") {
            Some(Value::String(t)) => Some(vec![t.clone()]),
            Some(Value::Array(ts)) => Some(ts.iter().filter_map(Value::as_str).map(String::from).collect()),
            _ => None,
        }
    }

    /// A number or boolean for a slot that takes text but not its own type becomes its text
    /// (`argv: [..., "${port}"]`).
    fn to_text_if_wanted(&self, v: Value, schema: &Value) -> Value {
        let own = json_type(&v);
        if !matches!(own, "integer" | "number" | "boolean") {
            return v;
        }
        let Some(types) = self.accepted(schema) else { return v };
        let fits = types.iter().any(|t| t == own || (own == "integer" && t == "number"));
        if fits || !types.iter().any(|t| t == "string") {
            return v;
        }
        Value::String(match &v {
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        })
    }

    /// A template whose type is known at load time: `"${port}"` naming a var with a literal
    /// value is checked as that value (converted as at run time); one mixing text and
    /// `${…}` is always a string.
    fn check_known_template(&mut self, t: &Template, node: &SNode, schema: &Value, path: &str) {
        let exprs: Vec<&crate::Expr> = t.exprs().collect();
        let whole = t.parts.len() == 1;
        if whole {
            let name = exprs.first().map(|e| e.source.trim()).unwrap_or_default();
            let Some(v) = self.known.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()) else {
                return;
            };
            let v = self.to_text_if_wanted(v, schema);
            let before = self.diags.len();
            self.check_value(&Node::from_json(&v, &node.span), schema, path);
            for d in &mut self.diags[before..] {
                d.hint = Some(format!(
                    "`{name}` is {}; a number or boolean var converts to text where text is expected, a list or map does not",
                    crate::expr::short(&v)
                ));
            }
        } else if !exprs.is_empty() {
            if let Some(types) = self.accepted(schema) {
                if !types.iter().any(|t| t == "string") {
                    let want = describe(schema, self.root);
                    self.diags.push(
                        Diagnostic::error(
                            format!("`{}` parameter `{path}` must be {want}, not a string", self.action),
                            node.span.clone(),
                        )
                        .label("text with `${…}` in it is always a string")
                        .hint("write the whole value as one `${…}`, e.g. `\"${port + 1}\"`"),
                    );
                }
            }
        }
    }

    /// Validates `node` against `schema` (a sub-schema of `root`), returning the compiled tree.
    pub fn check(&mut self, node: &SNode, schema: &Value, path: &str) -> Param {
        let outer = schema;
        // A template can produce any type; its type is checked when it is evaluated. One
        // without expressions (`$${…}` only) is a literal and is checked like one.
        if let Node::Str(s) = &node.value {
            if s.contains("${") {
                let p = compile_template(s, &node.span, self.sources, &mut self.diags);
                if let Param::Tmpl(t) = &p {
                    if t.is_literal() {
                        if let Ok(Value::String(text)) = t.eval(&crate::Scope::new()) {
                            let lit = crate::Spanned::new(Node::Str(text), node.span.clone());
                            self.check_value(&lit, outer, path);
                        }
                    } else {
                        self.check_known_template(t, node, outer, path);
                    }
                }
                return p;
            }
        }
        self.check_value(node, outer, path)
    }

    /// [`Self::check`] for a value that is not a template.
    fn check_value(&mut self, node: &SNode, outer: &Value, path: &str) -> Param {
        let schema = self.resolve(outer);
        if let Some(options) = self.options(schema) {
            return self.check_options(node, schema, &options, path);
        }
        if let Some(branches) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array)
        {
            return self.check_any(node, branches, path);
        }
        if !self.type_ok(&node.value, schema) {
            let want = describe(schema, self.root);
            self.diags.push(
                Diagnostic::error(
                    format!("`{}` parameter `{path}` must be {want}, not {}", self.action, node.value.kind()),
                    node.span.clone(),
                )
                .label(format!("expected {want}"))
                .hint_opt(doc_hint(outer).or_else(|| doc_hint(schema))),
            );
            return Param::Lit(node.value.to_json());
        }
        if schema.get("format").and_then(Value::as_str) == Some("duration") {
            let problem = match &node.value {
                Node::Str(s) => crate::parse_duration(s).err(),
                Node::Int(i) if *i < 0 => Some(format!("`{i}` is not a duration: it is negative")),
                _ => None,
            };
            if let Some(e) = problem {
                self.diags.push(
                    Diagnostic::error(
                        format!("`{}` parameter `{path}`: {e}", self.action),
                        node.span.clone(),
                    )
                    .label("not a duration")
                    .hint("e.g. 250ms, 30s, 2m, or integer milliseconds"),
                );
            }
        }
        if schema.get("format").and_then(Value::as_str) == Some("regex") {
            if let Node::Str(s) = &node.value {
                if let Err(e) = regex::Regex::new(s) {
                    // The regex crate's message is several lines with its own caret: keep the last.
                    let why = e.to_string();
                    let why = why.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
                    let why = why.strip_prefix("error: ").unwrap_or(why);
                    self.diags.push(
                        Diagnostic::error(
                            format!("`{}` parameter `{path}` is not a valid regular expression: {why}", self.action),
                            node.span.clone(),
                        )
                        .label("invalid regular expression")
                        .hint("Rust regex syntax: escape `(`, `[`, `{`, `.`, `*`, `+` and `?` with `\\` to match them literally"),
                    );
                }
            }
        }
        // Names that go into an API URL or a command line (docker-name, kube-name, ...).
        if let (Some(f), Node::Str(v)) = (schema.get("format").and_then(Value::as_str), &node.value) {
            if let Some(problem) = crate::names::check_format(f, v) {
                self.diags.push(
                    Diagnostic::error(
                        format!("`{}` parameter `{path}`: {problem}", self.action),
                        node.span.clone(),
                    )
                    .label("not a valid name"),
                );
            }
        }
        match &node.value {
            Node::Map(entries) => self.check_map(node, entries, schema, path),
            Node::Seq(items) => {
                let item_schema = schema.get("items").cloned().unwrap_or(Value::Bool(true));
                Param::Seq(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, it)| self.check(it, &item_schema, &format!("{path}[{i}]")))
                        .collect(),
                )
            }
            _ => Param::Lit(node.value.to_json()),
        }
    }

    fn check_map(
        &mut self,
        node: &SNode,
        entries: &[(crate::Spanned<String>, SNode)],
        schema: &Value,
        path: &str,
    ) -> Param {
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties").cloned().unwrap_or(Value::Bool(true));
        let mut out = Vec::new();
        for (k, v) in entries {
            let child_path = if path.is_empty() { k.value.clone() } else { format!("{path}.{}", k.value) };
            let sub = props.and_then(|p| p.get(&k.value)).cloned();
            match (sub, &additional) {
                (Some(s), _) => out.push((k.value.clone(), self.check(v, &s, &child_path))),
                (None, Value::Bool(false)) => {
                    let known: Vec<&str> =
                        props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                    let hint = did_you_mean(&k.value, known.iter().copied()).unwrap_or_else(|| {
                        let owner = if path.is_empty() { self.action.to_string() } else { path.to_string() };
                        format!(
                            "`{owner}` takes: {} (see `testrunner explain {}`)",
                            known.join(", "),
                            self.action
                        )
                    });
                    let place = if path.is_empty() { String::new() } else { format!(" in `{path}`") };
                    self.diags.push(
                        Diagnostic::error(
                            format!("unknown parameter `{}`{place} for `{}`", k.value, self.action),
                            k.span.clone(),
                        )
                        .label("unknown parameter")
                        .hint(hint),
                    );
                }
                (None, Value::Bool(true)) => {
                    out.push((k.value.clone(), self.check(v, &Value::Bool(true), &child_path)))
                }
                (None, s) => {
                    let s = s.clone();
                    out.push((k.value.clone(), self.check(v, &s, &child_path)))
                }
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                // A typo of this very name was already reported with a did-you-mean.
                let misspelt = entries.iter().any(|(k, _)| {
                    props.is_some_and(|p| !p.contains_key(&k.value)) && did_you_mean(&k.value, [r]).is_some()
                });
                if !misspelt && !entries.iter().any(|(k, _)| k.value == r) {
                    let place =
                        if path.is_empty() { format!("`{}`", self.action) } else { format!("`{path}`") };
                    self.diags.push(
                        Diagnostic::error(format!("missing parameter `{r}` for {place}"), node.span.clone())
                            .label(format!("`{r}` is required here"))
                            .hint_opt(props.and_then(|p| p.get(r)).and_then(doc_hint)),
                    );
                }
            }
        }
        Param::Map(out)
    }

    /// The allowed values when `schema` is an enumeration: `enum`, `const`, or a `oneOf`/`anyOf`
    /// whose every branch is one (schemars writes documented enum variants that way). A
    /// `null` branch (an optional parameter) is left out.
    fn options(&self, schema: &Value) -> Option<Vec<Value>> {
        let schema = self.resolve(schema);
        if let Some(e) = schema.get("enum").and_then(Value::as_array) {
            return Some(e.clone());
        }
        if let Some(c) = schema.get("const") {
            return Some(vec![c.clone()]);
        }
        let branches = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array)?;
        let mut out = vec![];
        for b in branches {
            let b = self.resolve(b);
            if b.get("type").and_then(Value::as_str) == Some("null")
                && b.as_object().is_some_and(|o| o.len() == 1)
            {
                continue;
            }
            out.extend(self.options(b)?);
        }
        (!out.is_empty()).then_some(out)
    }

    fn check_options(&mut self, node: &SNode, schema: &Value, options: &[Value], path: &str) -> Param {
        let v = node.value.to_json();
        if v.is_null() && self.nullable(schema) {
            return Param::Lit(v);
        }
        if !options.contains(&v) {
            let names: Vec<String> =
                options.iter().map(|o| o.as_str().map(String::from).unwrap_or(o.to_string())).collect();
            let exact_case = v.as_str().and_then(|s| names.iter().find(|n| n.eq_ignore_ascii_case(s)));
            let hint = match exact_case {
                Some(n) => format!("did you mean `{n}`? (values are case-sensitive)"),
                None => v
                    .as_str()
                    .and_then(|s| did_you_mean(s, names.iter().map(String::as_str)))
                    .unwrap_or_else(|| format!("one of: {}", list(&names))),
            };
            let shown = match &v {
                Value::String(s) => format!("`{s}`"),
                other => format!("`{other}`"),
            };
            self.diags.push(
                Diagnostic::error(
                    format!("`{}` parameter `{path}` cannot be {shown}", self.action),
                    node.span.clone(),
                )
                .label("not an allowed value")
                .hint(hint),
            );
        }
        Param::Lit(v)
    }

    /// Whether `null` is accepted (an optional parameter written as `~`).
    fn nullable(&self, schema: &Value) -> bool {
        let schema = self.resolve(schema);
        if self.type_ok(&Node::Null, schema) && schema.get("type").is_some() {
            return true;
        }
        schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array).is_some_and(|bs| {
            bs.iter().any(|b| self.resolve(b).get("type").and_then(Value::as_str) == Some("null"))
        })
    }

    fn check_any(&mut self, node: &SNode, branches: &[Value], path: &str) -> Param {
        // Try each branch quietly; keep the first that fits.
        for b in branches {
            let mut trial = ParamCheck::new(self.action, self.root, self.sources);
            trial.known = self.known.clone();
            let p = trial.check(node, b, path);
            if trial.diags.is_empty() {
                return p;
            }
        }
        // None fits: if exactly one branch has the node's type, report its (precise) errors.
        let fitting: Vec<&Value> =
            branches.iter().filter(|b| self.type_ok(&node.value, self.resolve(b))).collect();
        if fitting.len() == 1 {
            let b = fitting[0].clone();
            return self.check(node, &b, path);
        }
        let want: Vec<String> = branches.iter().map(|b| describe(self.resolve(b), self.root)).collect();
        self.diags.push(
            Diagnostic::error(
                format!(
                    "`{}` parameter `{path}` must be {}, not {}",
                    self.action,
                    want.join(" or "),
                    node.value.kind()
                ),
                node.span.clone(),
            )
            .label("unexpected value"),
        );
        Param::Lit(node.value.to_json())
    }

    fn resolve<'s>(&self, schema: &'s Value) -> &'s Value
    where
        'a: 's,
    {
        resolve_in(schema, self.root)
    }

    fn type_ok(&self, node: &Node, schema: &Value) -> bool {
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return true,
        };
        types.iter().any(|t| {
            matches!(
                (*t, node),
                ("null", Node::Null)
                    | ("boolean", Node::Bool(_))
                    | ("integer", Node::Int(_))
                    | ("number", Node::Int(_) | Node::Float(_))
                    | ("string", Node::Str(_))
                    | ("array", Node::Seq(_))
                    | ("object", Node::Map(_))
            )
        })
    }
}

/// [`ParamCheck::conform`] for a step's whole parameters; Err is the first problem, as
/// `title (at file:line:col)`.
pub fn conform_params(
    action: &str,
    param: &Param,
    value: Value,
    schema: &Value,
    sources: &Sources,
) -> Result<Value, String> {
    // Literals were checked against this schema at load time; only `${…}` values are new.
    if !param.has_templates() {
        return Ok(value);
    }
    let mut pc = ParamCheck::new(action, schema, sources);
    let v = pc.conform(param, value, schema, "");
    match pc.diags.first() {
        None => Ok(v),
        Some(d) => Err(format!("{} (at {})", d.title, d.span)),
    }
}

/// Follows `$ref`s (and the single-branch `allOf` schemars wraps a documented `$ref` in)
/// to the schema that says what a value must be.
pub fn resolve_in<'s>(schema: &'s Value, root: &'s Value) -> &'s Value {
    let mut s = schema;
    for _ in 0..16 {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            match root.pointer(r.trim_start_matches('#')) {
                Some(t) => s = t,
                None => return s,
            }
            continue;
        }
        match s.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
            Some([only]) if s.get("type").is_none() => s = only,
            _ => return s,
        }
    }
    s
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn list(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// Compiles a string with `${…}` into a template, reporting errors at their column.
pub fn compile_template(s: &str, span: &Span, sources: &Sources, diags: &mut Vec<Diagnostic>) -> Param {
    let quoted = sources
        .line(span)
        .and_then(|l| l.chars().nth(span.col.saturating_sub(1) as usize))
        .is_some_and(|c| c == '"' || c == '\'');
    let mut base = span.clone();
    if quoted {
        base.col += 1;
    }
    match Template::parse(s, &base) {
        Ok(t) => Param::Tmpl(t),
        Err((msg, offset)) => {
            let mut at = base.clone();
            if !s.contains('\n') {
                at.col += offset as u32;
            }
            at.len = 1;
            diags.push(
                Diagnostic::error(format!("invalid expression: {msg}"), at)
                    .label("here")
                    .hint(cel_hint_for(&msg, s)),
            );
            Param::Lit(Value::String(s.to_string()))
        }
    }
}

fn describe(schema: &Value, root: &Value) -> String {
    let schema = resolve_in(schema, root);
    if schema.get("format").and_then(Value::as_str) == Some("duration") {
        return "a duration".into();
    }
    let one = |t: &str| match t {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "array" => "a list",
        "object" => "a map",
        "null" => "null",
        _ => "a value",
    };
    match schema.get("type") {
        Some(Value::String(t)) => one(t).to_string(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .map(one)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "a value".into(),
    }
}

fn doc_hint(schema: &Value) -> Option<String> {
    schema.get("description").and_then(Value::as_str).map(|d| d.lines().next().unwrap_or(d).to_string())
}

/// The hint for a CEL compile error of the expression `source`.
pub fn cel_hint_for(message: &str, source: &str) -> String {
    if newline_in_string(source) {
        return "a string in this expression holds a real line break: YAML turned `\\n` inside a double-quoted value into one. Write `\\\\n` there, or quote the YAML value with single quotes, so CEL sees `\\n`".into();
    }
    cel_hint(message)
}

/// Whether a quoted CEL string in `src` spans a line break (CEL refuses that).
fn newline_in_string(src: &str) -> bool {
    let lexed = crate::expr::lex::lex(src);
    // A triple-quoted string may span lines; any other may not.
    lexed.strings.iter().any(|&(a, z, triple)| !triple && lexed.chars[a..z].contains(&'\n'))
}

/// The hint for a CEL compile error.
pub fn cel_hint(message: &str) -> String {
    if message.contains("reserved identifier") {
        "CEL reserves some words (namespace, package, loop, in, as, ...): rename the var, e.g. `kube_namespace`".into()
    } else {
        "expressions are CEL: `a.b == \"x\"`, `x <= 30000`, `size(list) > 0`, `a && b`".into()
    }
}
