//! File actions: write (inside the run directory), read, sha256, grep.
use crate::params::{decode, schema};
use crate::{Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Outcome, OutputField};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

/// Resolves a path relative to the run directory, refusing absolute paths and `..`.
fn inside_run_dir(ctx: &ActionCtx, rel: &str) -> Result<PathBuf, ActionError> {
    let p = Path::new(rel);
    if p.is_absolute() || p.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(ActionError::new(format!("`{rel}` is outside the run directory"))
            .hint("file.write takes a path relative to the run directory, e.g. `work/config.json` or `evidence/x.txt`"));
    }
    Ok(ctx.state.run_dir.join(p))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WriteParams {
    /// Path relative to the run directory (`evidence/...` for evidence files).
    path: String,
    /// Text, or any value (written as pretty JSON).
    content: Value,
}

struct Write;

#[async_trait]
impl Action for Write {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "file.write",
            summary: "Write a file inside the run directory (configs for processes, evidence notes)",
            params: schema::<WriteParams>(),
            outputs: &[
                OutputField { name: "path", ty: "string", doc: "absolute path of the file" },
                OutputField { name: "bytes", ty: "int", doc: "bytes written" },
            ],
            example:
                "- file.write: { path: evidence/loss-timing.txt, content: \"loss_ms=${string(loss_ms)}\" }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: WriteParams = decode(params)?;
        let path = inside_run_dir(ctx, &p.path)?;
        let text = match &p.content {
            Value::String(s) => s.clone(),
            other => serde_json::to_string_pretty(other).unwrap_or_default() + "\n",
        };
        let text = ctx.state.masker.mask(&text).into_owned();
        use std::io::Write as _;
        crate::context::create_beneath(&ctx.state.run_dir, &p.path, false)?.write_all(text.as_bytes())?;
        Ok(Outcome::new().with("path", path.to_string_lossy().to_string()).with("bytes", text.len()))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReadParams {
    /// The file to read.
    path: String,
    /// Read at most this many bytes (default 1 MiB).
    max_bytes: Option<usize>,
}

struct Read;

#[async_trait]
impl Action for Read {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "file.read",
            summary: "Read a file (text, and JSON when it parses)",
            params: schema::<ReadParams>(),
            outputs: &[
                OutputField { name: "text", ty: "string", doc: "the content (lossy UTF-8)" },
                OutputField { name: "bytes", ty: "int", doc: "size of the file" },
                OutputField { name: "json", ty: "any", doc: "the content parsed as JSON, when it is JSON" },
            ],
            example: "- id: cfg\n  file.read: { path: /etc/hostname }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ReadParams = decode(params)?;
        let bytes =
            std::fs::read(&p.path).map_err(|e| ActionError::new(format!("cannot read {}: {e}", p.path)))?;
        let max = p.max_bytes.unwrap_or(1 << 20);
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned();
        let mut o = Outcome::new().with("bytes", bytes.len());
        if let Ok(j) = serde_json::from_str::<Value>(&text) {
            o = o.with("json", j);
        }
        Ok(o.with("text", text))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ShaParams {
    /// The file to hash.
    path: String,
}

struct Sha;

#[async_trait]
impl Action for Sha {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "file.sha256",
            summary: "SHA-256 of a file (e.g. to compare with a backup tool's own checksum)",
            params: schema::<ShaParams>(),
            outputs: &[
                OutputField { name: "sha256", ty: "string", doc: "hex digest" },
                OutputField { name: "bytes", ty: "int", doc: "size of the file" },
            ],
            example: "- id: digest\n  file.sha256: { path: \"${run.dir}/work/backup.dump\" }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ShaParams = decode(params)?;
        let path = p.path.clone();
        let (hash, n) = tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
            let mut f = std::fs::File::open(&path)?;
            let mut h = Sha256::new();
            let n = std::io::copy(&mut f, &mut h)?;
            Ok((hex::encode(h.finalize()), n))
        })
        .await
        .map_err(|e| ActionError::new(e.to_string()))?
        .map_err(|e| ActionError::new(format!("cannot hash {}: {e}", p.path)))?;
        Ok(Outcome::new().with("sha256", hash).with("bytes", n))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GrepParams {
    /// The file to search.
    path: String,
    /// A regular expression, matched per line.
    #[schemars(with = "crate::params::RegexText")]
    pattern: String,
    /// Keep at most this many matching lines in `matches` (default 100; `count` counts all).
    max_matches: Option<usize>,
}

struct Grep;

#[async_trait]
impl Action for Grep {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "file.grep",
            summary: "Count the lines of a file matching a regular expression (e.g. audit events in a log)",
            params: schema::<GrepParams>(),
            outputs: &[
                OutputField { name: "count", ty: "int", doc: "number of matching lines" },
                OutputField { name: "matches", ty: "list", doc: "the first matching lines" },
            ],
            example: "- id: lost_events\n  file.grep: { path: \"${run.dir}/work/audit/audit.jsonl\", pattern: \"ha\\\\.quorum\\\\.lost\" }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: GrepParams = decode(params)?;
        let re =
            regex::Regex::new(&p.pattern).map_err(|e| ActionError::new(format!("invalid pattern: {e}")))?;
        let text = std::fs::read_to_string(&p.path)
            .map_err(|e| ActionError::new(format!("cannot read {}: {e}", p.path)))?;
        let max = p.max_matches.unwrap_or(100);
        let all: Vec<&str> = text.lines().filter(|l| re.is_match(l)).collect();
        let kept: Vec<String> = all.iter().take(max).map(|s| s.to_string()).collect();
        Ok(Outcome::new().with("count", all.len()).with("matches", kept))
    }
}

inventory::submit!(ActionEntry(&Write));
inventory::submit!(ActionEntry(&Read));
inventory::submit!(ActionEntry(&Sha));
inventory::submit!(ActionEntry(&Grep));

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[tokio::test]
    async fn write_stays_inside_and_grep_counts() {
        let d = tempfile::tempdir().unwrap();
        let c = ActionCtx::standalone(d.path().to_path_buf(), "t", Duration::from_secs(5));
        assert!(Write.run(json!({"path": "../x", "content": "no"}), &c).await.is_err());
        assert!(Write.run(json!({"path": "/tmp/x", "content": "no"}), &c).await.is_err());
        let o =
            Write.run(json!({"path": "w/log", "content": "a lost\nb restored\nc lost\n"}), &c).await.unwrap();
        let path = o.output["path"].as_str().unwrap().to_string();
        let g = Grep.run(json!({"path": path, "pattern": "lost$"}), &c).await.unwrap();
        assert_eq!(g.output["count"], 2);
        let s = Sha.run(json!({"path": path}), &c).await.unwrap();
        assert_eq!(s.output["sha256"].as_str().unwrap().len(), 64);
        let w = Write.run(json!({"path": "j.json", "content": {"a": 1}}), &c).await.unwrap();
        let r = Read.run(json!({"path": w.output["path"]}), &c).await.unwrap();
        assert_eq!(r.output["json"], json!({"a": 1}));
    }

    #[tokio::test]
    async fn write_does_not_follow_a_link_out_of_the_run_directory() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("f"), "untouched").unwrap();
        let c = ActionCtx::standalone(d.path().to_path_buf(), "t", Duration::from_secs(5));
        std::os::unix::fs::symlink(outside.path(), d.path().join("work")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), d.path().join("f")).unwrap();
        for path in ["work/f", "work/new", "f"] {
            let e = Write.run(json!({"path": path, "content": "pwned"}), &c).await.unwrap_err();
            assert!(e.message.contains("symbolic link"), "{path}: {}", e.message);
        }
        assert_eq!(std::fs::read_to_string(outside.path().join("f")).unwrap(), "untouched");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
    }
}
