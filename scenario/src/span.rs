use std::sync::Arc;

/// Where something is in a source file: 1-based line and column, length in characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
    pub len: u32,
}

impl Span {
    pub fn new(file: Arc<str>, line: u32, col: u32, len: u32) -> Self {
        Span { file, line, col, len }
    }
    /// A span for things that have no place in a file (command-line flags, defaults).
    pub fn none() -> Self {
        Span::default()
    }
    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_known() {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        } else {
            write!(f, "{}", self.file)
        }
    }
}

/// A value with the place it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// The text of every file read while loading, for rendering diagnostics with source lines.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// (path, text, byte offset of each line's start): the index keeps `line` O(1), so
    /// rendering many diagnostics of a large file stays linear.
    files: Vec<SourceFile>,
}

/// (path, text, line starts).
type SourceFile = (Arc<str>, Arc<str>, Arc<[usize]>);

impl Sources {
    pub fn add(&mut self, path: Arc<str>, text: Arc<str>) {
        if !self.files.iter().any(|(p, _, _)| *p == path) {
            let starts = line_starts(&text);
            self.files.push((path, text, starts.into()));
        }
    }
    pub fn text(&self, path: &str) -> Option<&str> {
        self.files.iter().find(|(p, _, _)| &**p == path).map(|(_, t, _)| &**t)
    }
    pub fn line(&self, span: &Span) -> Option<&str> {
        if !span.is_known() {
            return None;
        }
        let (_, text, starts) = self.files.iter().find(|(p, _, _)| **p == *span.file)?;
        // An empty file still has a first line, to point at.
        if span.line == 1 && text.is_empty() {
            return Some("");
        }
        line_at(text, starts, span.line)
    }
}

/// The byte offset where each line of `text` starts.
pub fn line_starts(text: &str) -> Vec<usize> {
    let mut v = vec![0];
    v.extend(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1));
    v
}

/// Line `line` (1-based) of `text` without its line break, as `str::lines` gives it.
pub fn line_at<'t>(text: &'t str, starts: &[usize], line: u32) -> Option<&'t str> {
    let i = (line as usize).checked_sub(1)?;
    let start = *starts.get(i)?;
    if start >= text.len() {
        return None;
    }
    let end = starts.get(i + 1).map(|e| e - 1).unwrap_or(text.len());
    let l = &text[start..end];
    Some(l.strip_suffix('\r').unwrap_or(l))
}
