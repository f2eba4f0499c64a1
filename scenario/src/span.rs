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
    files: Vec<(Arc<str>, Arc<str>)>,
}

impl Sources {
    pub fn add(&mut self, path: Arc<str>, text: Arc<str>) {
        if !self.files.iter().any(|(p, _)| *p == path) {
            self.files.push((path, text));
        }
    }
    pub fn text(&self, path: &str) -> Option<&str> {
        self.files.iter().find(|(p, _)| &**p == path).map(|(_, t)| &**t)
    }
    pub fn line(&self, span: &Span) -> Option<&str> {
        if !span.is_known() {
            return None;
        }
        let text = self.text(&span.file)?;
        // An empty file still has a first line, to point at.
        text.lines().nth(span.line as usize - 1).or((span.line == 1 && text.is_empty()).then_some(""))
    }
}
