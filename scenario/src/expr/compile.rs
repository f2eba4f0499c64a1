//! Compiling an expression: size bounds, the `loop` and `.lo`/`.hi` renames, and the walk
//! over the compiled tree that finds the names and functions it reads.
use super::lex::lex;
use super::ExprError;

/// Longest expression accepted, in characters.
pub const MAX_EXPR_CHARS: usize = 10_000;
/// Most operators (`+`, `&&`, `.`, `!`, …) in one expression, and deepest nesting of
/// brackets: the CEL parser and evaluator recurse once per level, so a longer chain would
/// overflow the stack instead of failing cleanly.
pub const MAX_EXPR_OPERATORS: usize = 500;
pub const MAX_EXPR_NESTING: usize = 32;

/// Refuses an expression too long or too deep to parse safely, before the parser sees it.
pub(super) fn bounded(src: &str) -> Result<(), ExprError> {
    let too = |message: String, offset: usize| Err(ExprError { message, offset });
    if src.chars().count() > MAX_EXPR_CHARS {
        return too(format!("the expression is too long (more than {MAX_EXPR_CHARS} characters)"), 0);
    }
    let lexed = lex(src);
    let (mut depth, mut ops) = (0usize, 0usize);
    let mut prev = ' ';
    for (i, (&c, &code)) in lexed.chars.iter().zip(&lexed.code).enumerate() {
        if !code {
            prev = c;
            continue;
        }
        match c {
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
pub(super) const LOOP_ALIAS: &str = "__loop";

/// Renames `loop` to [`LOOP_ALIAS`]; also returns the character offsets (in the renamed
/// text) where a rename happened, so error positions can be mapped back.
pub(super) fn rename_loop(src: &str) -> (String, Vec<usize>) {
    let lexed = lex(src);
    let word: Vec<char> = "loop".chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut renames = vec![];
    let mut out_len = 0usize;
    let mut i = 0;
    while i < lexed.chars.len() {
        if lexed.name_at(i, &word) {
            renames.push(out_len);
            out.push_str(LOOP_ALIAS);
            out_len += LOOP_ALIAS.chars().count();
            i += word.len();
            continue;
        }
        out.push(lexed.chars[i]);
        out_len += 1;
        i += 1;
    }
    (out, renames)
}

/// An offset in the renamed text, as an offset in the text as written.
pub(super) fn original_offset(offset: usize, renames: &[usize]) -> usize {
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

pub(super) fn offset_of(source: &str, line: isize, col: isize) -> usize {
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

/// Collects the read paths and the called functions of `e`; `bound` are the names a macro
/// binds around it.
pub(super) fn walk(
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

/// The hidden name `<name>.lo` / `<name>.hi` is bound to (a metric's interval bounds).
pub fn bound_name(name: &str, bound: &str) -> String {
    format!("__{bound}__{name}")
}

/// `__lo__x` → `("x", "lo")`.
pub(super) fn bound_of(alias: &str) -> Option<(&str, &'static str)> {
    if let Some(r) = alias.strip_prefix("__lo__") {
        return Some((r, "lo"));
    }
    alias.strip_prefix("__hi__").map(|r| (r, "hi"))
}

/// Names bound by macros (`x` in `xs.all(x, …)`): their `.lo` is a field, not a bound.
pub(super) fn collect_bound(e: &cel::IdedExpr, out: &mut Vec<String>) {
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
pub(super) fn rename_bounds(src: &str, macro_bound: &[String]) -> (String, bool) {
    let lexed = lex(src);
    let chars = &lexed.chars;
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(src.len());
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts_name = lexed.code[i]
            && (c.is_ascii_alphabetic() || c == '_')
            && (i == 0 || !(is_word(chars[i - 1]) || chars[i - 1] == '.'));
        if starts_name {
            let mut j = i;
            while j < chars.len() && lexed.code[j] && is_word(chars[j]) {
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
