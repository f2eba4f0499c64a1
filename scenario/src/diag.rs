//! The one diagnostic renderer: every error the tool reports — invalid YAML, an unknown
//! action, a mistyped parameter, a bad expression, a failed step — is a [`Diagnostic`]
//! rendered here, with a title, `file:line:col`, the source line, a caret and a hint.
use crate::span::{Sources, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub title: String,
    pub span: Span,
    /// Text printed after the caret.
    pub label: Option<String>,
    pub hint: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(title: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Error,
            title: title.into(),
            span,
            label: None,
            hint: None,
            notes: vec![],
        }
    }
    pub fn warning(title: impl Into<String>, span: Span) -> Self {
        Diagnostic { severity: Severity::Warning, ..Self::error(title, span) }
    }
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint.or(self.hint);
        self
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Renders in the style of rustc and Hurl. `color` adds ANSI colours for terminals.
    pub fn render(&self, sources: &Sources, color: bool) -> String {
        let paint =
            |code: &str, s: &str| if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() };
        let (word, code) = match self.severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
        };
        let mut out = format!("{}: {}\n", paint(code, word), paint("1", &self.title));
        let line_no = self.span.line.to_string();
        let pad = " ".repeat(line_no.len());
        if !self.span.file.is_empty() {
            out.push_str(&format!("{pad}{} {}\n", paint("1;34", "-->"), self.span));
        }
        if let Some(line) = sources.line(&self.span) {
            let bar = paint("1;34", "|");
            out.push_str(&format!("{pad} {bar}\n"));
            let (line, col) = snippet(line, self.span.col.max(1) as usize - 1);
            out.push_str(&format!("{} {bar} {}\n", paint("1;34", &line_no), line.replace('\t', " ")));
            let avail = line.chars().count().saturating_sub(col).max(1);
            let width = (self.span.len.max(1) as usize).min(avail);
            let caret = format!("{}{}", " ".repeat(col), "^".repeat(width));
            let label = self.label.as_deref().map(|l| format!(" {l}")).unwrap_or_default();
            out.push_str(&format!("{pad} {bar} {}\n", paint(code, &format!("{caret}{label}"))));
            if self.hint.is_some() || !self.notes.is_empty() {
                out.push_str(&format!("{pad} {bar}\n"));
            }
        } else if let Some(l) = &self.label {
            out.push_str(&format!("{pad}   {l}\n"));
        }
        for n in &self.notes {
            out.push_str(&format!("{pad} = note: {n}\n"));
        }
        if let Some(h) = &self.hint {
            out.push_str(&format!("{pad} = {}: {h}\n", paint("1;36", "hint")));
        }
        out
    }
}

/// Longest source line shown whole; a longer one is cut around the caret.
const MAX_SNIPPET: usize = 120;

/// The part of `line` to show, and the caret's column (0-based) in it: a long line (a
/// minified or generated file) is cut to a window around the caret, marked with `…`.
fn snippet(line: &str, col: usize) -> (String, usize) {
    let n = line.chars().count();
    if n <= MAX_SNIPPET {
        return (line.to_string(), col);
    }
    let start = col.saturating_sub(MAX_SNIPPET / 3).min(n.saturating_sub(MAX_SNIPPET));
    let end = (start + MAX_SNIPPET).min(n);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(line.chars().skip(start).take(end - start));
    if end < n {
        out.push('…');
    }
    (out, col - start + usize::from(start > 0))
}

/// "did you mean `container`?" for a near miss among `candidates`.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(word, c);
        let close =
            score > 0.82 || strsim::levenshtein(word, c) <= word.len().min(c.len()) / 3 + 1 && score > 0.6;
        if close && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn renders_title_position_line_caret_hint() {
        let mut sources = Sources::default();
        sources.add(Arc::from("s.yaml"), Arc::from("steps:\n  - docker.stop: { contaner: pg }\n"));
        let d = Diagnostic::error(
            "unknown parameter `contaner` for `docker.stop`",
            Span::new(Arc::from("s.yaml"), 2, 20, 8),
        )
        .label("unknown parameter")
        .hint("did you mean `container`?");
        let text = d.render(&sources, false);
        assert_eq!(
            text,
            "error: unknown parameter `contaner` for `docker.stop`\n \
             --> s.yaml:2:20\n  |\n2 |   - docker.stop: { contaner: pg }\n  |                    ^^^^^^^^ unknown parameter\n  |\n  = hint: did you mean `container`?\n"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let mut sources = Sources::default();
        let line = format!("x: [{}oops{}]", "1, ".repeat(100_000), ", 2".repeat(100_000));
        sources.add(Arc::from("s.yaml"), Arc::from(line.as_str()));
        let d = Diagnostic::error("bad", Span::new(Arc::from("s.yaml"), 1, 300_005, 4)).label("here");
        let text = d.render(&sources, false);
        assert!(text.len() < 600, "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let (src, caret) = (lines[3], lines[4]);
        let at = caret.find('^').unwrap();
        assert_eq!(src.chars().skip(at).take(4).collect::<String>(), "oops", "{text}");
        assert!(src.contains('…'));
    }

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(
            did_you_mean("contaner", ["container", "grace"]),
            Some("did you mean `container`?".into())
        );
        assert_eq!(
            did_you_mean("http.gte", ["http.get", "http.request"]),
            Some("did you mean `http.get`?".into())
        );
        assert_eq!(did_you_mean("zzz", ["container", "grace"]), None);
    }
}

/// The same diagnostic for machines: `check --format json` and GitHub Actions annotations.
impl Diagnostic {
    pub fn to_json(&self) -> serde_json::Value {
        let known = self.span.is_known();
        serde_json::json!({
            "severity": match self.severity { Severity::Error => "error", Severity::Warning => "warning" },
            "title": self.title,
            "file": known.then(|| self.span.file.to_string()),
            "line": known.then_some(self.span.line),
            "col": known.then_some(self.span.col),
            "len": known.then_some(self.span.len),
            "label": self.label,
            "hint": self.hint,
            "notes": self.notes,
        })
    }

    /// `::error file=…,line=…,col=…,endColumn=…,title=…::message` (workflow command syntax:
    /// `%`, CR, LF escaped everywhere, `:` and `,` in properties too).
    pub fn github(&self) -> String {
        let data = |s: &str| s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
        let prop = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
        let word = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = vec![];
        if self.span.is_known() {
            props.push(format!("file={}", prop(&self.span.file)));
            props.push(format!("line={}", self.span.line));
            props.push(format!("col={}", self.span.col));
            props.push(format!("endColumn={}", self.span.col + self.span.len.max(1)));
        }
        props.push(format!("title={}", prop(&self.title)));
        let mut msg = self.title.clone();
        if let Some(h) = &self.hint {
            msg.push_str(&format!("\nhint: {h}"));
        }
        format!("::{word} {}::{}", props.join(","), data(&msg))
    }
}

#[cfg(test)]
mod machine_tests {
    use super::*;

    #[test]
    fn github_annotations_escape_their_syntax() {
        let d = Diagnostic::error("unknown parameter `a,b:c`", Span::new("s.yaml".into(), 12, 24, 8))
            .hint("did you mean `container`?\n100%");
        assert_eq!(
            d.github(),
            "::error file=s.yaml,line=12,col=24,endColumn=32,title=unknown parameter `a%2Cb%3Ac`::unknown parameter `a,b:c`%0Ahint: did you mean `container`?%0A100%25"
        );
        let j = d.to_json();
        assert_eq!((j["line"].as_u64(), j["col"].as_u64()), (Some(12), Some(24)));
        let none = Diagnostic::error("bad flag", Span::none());
        assert_eq!(none.github(), "::error title=bad flag::bad flag");
        assert!(none.to_json()["file"].is_null());
    }
}
