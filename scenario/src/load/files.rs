//! Files: reading and parsing the scenario and its includes, bounded, with positions.
use super::*;

/// Reads a scenario file from disk, bounded: only a regular file (not a device, pipe or
/// directory) of at most [`MAX_FILE_BYTES`]. Reads no more than the size the file reports,
/// so pseudo files (`/proc/kmsg`, size 0) never block.
pub fn read_source(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let plain = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(plain)?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    // O_NONBLOCK: should the path be swapped for a pipe after the check, opening it does not hang.
    const O_NONBLOCK: i32 = 0o4000;
    let mut f = std::fs::OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(path).map_err(plain)?;
    let meta = f.metadata().map_err(plain)?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("the file is too large ({} bytes; at most {MAX_FILE_BYTES})", meta.len()));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    f.by_ref().take(meta.len()).read_to_end(&mut buf).map_err(plain)?;
    Ok(buf)
}

pub(super) fn not_regular(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_dir() {
        "a directory"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_fifo() {
        "a pipe"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    format!("it is {what}; only regular files are read")
}

impl Loader<'_> {
    /// Reads and parses one file. An included file's tree is shared with other loads in
    /// this process (see [`parse_shared`]).
    pub(super) fn parse_file(&mut self, path: &str, at: &Span, included: bool) -> Option<Arc<SNode>> {
        let bytes = match (self.read)(path) {
            Ok(t) => t,
            Err(e) => {
                self.err(
                    Diagnostic::error(format!("cannot read `{path}`: {e}"), at.clone())
                        .hint("check the path"),
                );
                return None;
            }
        };
        let file: Arc<str> = Arc::from(path);
        self.total_bytes += bytes.len();
        if bytes.len() as u64 > MAX_FILE_BYTES || self.total_bytes > MAX_TOTAL_BYTES {
            self.err(
                Diagnostic::error(format!("`{path}` is too large to load"), at.clone()).hint(format!(
                    "a file may hold at most {MAX_FILE_BYTES} bytes, and a scenario with its includes {MAX_TOTAL_BYTES}"
                )),
            );
            return None;
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                // Point at the bad byte: its line, and its column in characters.
                let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let good = std::str::from_utf8(good).unwrap_or_default();
                let line = good.matches('\n').count() as u32 + 1;
                let col = good.rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
                self.err(
                    Diagnostic::error(
                        format!("`{path}` is not valid UTF-8 text"),
                        Span::new(file, line, col, 1),
                    )
                    .hint("save the file as UTF-8; a scenario is YAML text"),
                );
                return None;
            }
        };
        self.sources.add(file.clone(), Arc::from(text.as_str()));
        let parsed =
            if included { parse_shared(&file, &text) } else { parse_yaml(&file, &text).map(Arc::new) };
        match parsed {
            Ok(n) => Some(n),
            Err(e) => {
                let (message, hint) = yaml_message(&e.message);
                self.err(
                    Diagnostic::error(format!("invalid YAML: {message}"), e.span).label("here").hint(hint),
                );
                None
            }
        }
    }

    /// An empty file (or one holding only comments) is not a map: say so with an example.
    pub(super) fn not_empty(&mut self, root: &SNode, path: &str, what: &str) -> bool {
        if !matches!(root.value, Node::Null) {
            return true;
        }
        let example = if what == "a scenario" {
            "a scenario needs at least `phases:`, e.g. `phases: [{ name: main, steps: [{ log: { message: hello } }] }]`"
        } else {
            "an included file holds `vars:`, `fragments:`, `secrets:` or `include:`"
        };
        self.err(
            Diagnostic::error(
                format!("`{path}` is empty: expected {what}"),
                Span::new(Arc::from(path), 1, 1, 1),
            )
            .label(format!("{what} (a map of keys) goes here"))
            .hint(example),
        );
        false
    }

    pub(super) fn includes(&mut self, from: &str, node: &SNode) {
        let items: Vec<SNode> = match &node.value {
            Node::Seq(items) => items.clone(),
            Node::Str(_) => vec![node.clone()],
            other => {
                self.err(Diagnostic::error(
                    format!("`include` must be a list of files, not {}", other.kind()),
                    node.span.clone(),
                ));
                return;
            }
        };
        for item in items {
            let Some(rel) = item.value.as_str().map(String::from) else {
                self.err(Diagnostic::error("an include must be a file path", item.span.clone()));
                continue;
            };
            let path = Path::new(from).parent().unwrap_or(Path::new("")).join(&rel);
            let path = normalize(&path);
            // Checked before anything is read: a scenario from elsewhere must not make us
            // read (and echo) arbitrary files.
            if !(rel.ends_with(".yaml") || rel.ends_with(".yml")) {
                self.err(
                    Diagnostic::error(
                        format!("`{rel}` is not a YAML file: includes end in .yaml or .yml"),
                        item.span.clone(),
                    )
                    .label("not read")
                    .hint("an included file holds `vars:`, `fragments:`, `secrets:` or `include:`"),
                );
                continue;
            }
            let real = real_path(Path::new(&path));
            if !self.roots.iter().any(|r| real.starts_with(r)) {
                self.err(
                    Diagnostic::error(
                        format!("`{rel}` is outside the scenario's directory"),
                        item.span.clone(),
                    )
                    .label("not read")
                    .note(format!(
                        "includes are read from: {}",
                        self.roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
                    ))
                    .hint("to allow another directory, pass `--include-root DIR`"),
                );
                continue;
            }
            if let Some(pos) = self.include_stack.iter().position(|p| *p == path) {
                let mut chain: Vec<String> = self.include_stack[pos..].to_vec();
                chain.push(path.clone());
                self.err(
                    Diagnostic::error(
                        format!("include cycle: `{rel}` is already being included"),
                        item.span.clone(),
                    )
                    .label("cycle closes here")
                    .note(format!("chain: {}", chain.join(" → ")))
                    .hint("remove one of the includes; fragments can be shared without including each other"),
                );
                continue;
            }
            // Includes recurse: a chain of distinct files must end before the stack does.
            if self.include_stack.len() >= MAX_INCLUDE_DEPTH {
                self.err(
                    Diagnostic::error(
                        format!("includes nest more than {MAX_INCLUDE_DEPTH} files deep"),
                        item.span.clone(),
                    )
                    .label("not read")
                    .hint("include the shared files from the scenario itself rather than from each other"),
                );
                continue;
            }
            // Included once (a diamond or a repeated include adds nothing new).
            if !self.included.insert(real) {
                continue;
            }
            let Some(root) = self.parse_file(&path, &item.span, true) else { continue };
            if !self.not_empty(&root, &path, "an included file") {
                continue;
            }
            let Some(f) = self.fields(&root, "an included file", INCLUDE_KEYS) else { continue };
            self.include_stack.push(path.clone());
            if let Some(inc) = f.get("include") {
                self.includes(&path, inc);
            }
            if let Some(frags) = f.get("fragments") {
                self.fragments_of(frags);
            }
            if let Some(v) = f.get("vars") {
                self.vars_of(v, false);
            }
            if let Some(s) = f.get("secrets") {
                self.secrets_of(s);
            }
            self.include_stack.pop();
        }
    }
}

/// Most included files kept parsed, and the largest kept (a bound on the memory).
const MAX_SHARED_FILES: usize = 64;
const MAX_SHARED_BYTES: usize = 256 * 1024;

/// [`parse_yaml`] of an included file, kept by path and text: `check` of a directory loads
/// many scenarios that include the same fragment files, and parsing YAML is most of what
/// loading costs. A file whose text changed is parsed again; errors are not kept.
fn parse_shared(file: &Arc<str>, text: &str) -> Result<Arc<SNode>, crate::node::YamlError> {
    type Parsed = HashMap<Arc<str>, (Arc<str>, Arc<SNode>)>;
    static PARSED: std::sync::OnceLock<std::sync::Mutex<Parsed>> = std::sync::OnceLock::new();
    if text.len() > MAX_SHARED_BYTES {
        return parse_yaml(file, text).map(Arc::new);
    }
    let parsed = PARSED.get_or_init(Default::default);
    let lock = || parsed.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((t, tree)) = lock().get(file) {
        if **t == *text {
            return Ok(tree.clone());
        }
    }
    let tree = Arc::new(parse_yaml(file, text)?);
    let mut memo = lock();
    if memo.len() >= MAX_SHARED_FILES {
        memo.clear();
    }
    memo.insert(file.clone(), (Arc::from(text), tree.clone()));
    Ok(tree)
}

/// `p` with symlinks resolved when it exists, else made absolute lexically (paths a test
/// reader serves need not exist on disk).
pub(super) fn real_path(p: &Path) -> std::path::PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        let abs = std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf());
        std::path::PathBuf::from(normalize(&abs))
    })
}

pub(super) fn normalize(p: &Path) -> String {
    let mut parts: Vec<&std::ffi::OsStr> = vec![];
    for c in p.components() {
        match c {
            std::path::Component::ParentDir if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            other => parts.push(other.as_os_str()),
        }
    }
    let pb: std::path::PathBuf = parts.iter().collect();
    pb.to_string_lossy().replace("//", "/")
}

/// A serde-saphyr message without its `error: line N column M:` prefix (the position is in
/// the diagnostic already), with a hint for the common mistakes.
pub(super) fn yaml_message(raw: &str) -> (String, String) {
    let mut m = raw.trim();
    m = m.strip_prefix("error:").unwrap_or(m).trim_start();
    if let Some(rest) = m.strip_prefix("line ") {
        if let Some((_, after)) = rest.split_once(": ") {
            if rest.split(':').next().is_some_and(|pos| pos.contains("column")) {
                m = after;
            }
        }
    }
    let general = "check indentation, quotes and brackets on this line and the one before";
    if let Some(rest) = m.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(", set DuplicateKeyPolicy").next().unwrap_or(rest);
        return (
            format!("duplicate key `{key}`"),
            "a key may appear once per map: remove or rename one of them".into(),
        );
    }
    let hint = if m.contains("quote") || m.contains("quoted scalar") {
        "a quoted value must end with the same quote, and nothing but `,` `}` `]` or a comment may follow it"
    } else if m.contains("mapping values are not allowed") || m.contains("':' indicator") {
        "quote a value that contains `: ` (e.g. `message: \"a: b\"`), or close the `[` or `{` before it"
    } else if m.contains("did not find expected key") || m.contains("indentation") {
        "keys of one map must start in the same column: check the indentation"
    } else if m.contains("flow sequence") || m.contains("flow mapping") {
        "a `[` or `{` was not closed, or an item lacks its `,`"
    } else {
        general
    };
    (m.to_string(), hint.to_string())
}
