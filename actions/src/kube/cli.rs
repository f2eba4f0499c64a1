//! Running kubectl: one argument vector (never a shell line), the step's deadline as the
//! bound, kubectl's stderr and exit code in the error.
use crate::{ActionCtx, ActionError, Dur};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where and how to reach the cluster; the fields every kube action repeats.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub kubeconfig: Option<String>,
    pub kubectl: Option<String>,
    pub timeout: Option<Dur>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

impl Target {
    /// The binary: the `kubectl` param, else $TESTRUNNER_KUBECTL, else `kubectl` from PATH.
    pub fn binary(&self) -> String {
        given(&self.kubectl)
            .map(String::from)
            .or_else(|| std::env::var("TESTRUNNER_KUBECTL").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "kubectl".into())
    }

    /// Global flags, then the verb's own arguments. `--flag=value` keeps a value that starts
    /// with `-` from being read as a flag.
    pub fn argv(&self, remaining: Duration, verb: Vec<String>) -> Vec<String> {
        let mut a = vec![];
        if let Some(c) = given(&self.context) {
            a.push(format!("--context={c}"));
        }
        if let Some(n) = given(&self.namespace) {
            a.push(format!("--namespace={n}"));
        }
        if let Some(k) = given(&self.kubeconfig) {
            a.push(format!("--kubeconfig={k}"));
        }
        let limit = self.timeout.map(|d| d.0).unwrap_or(remaining);
        a.push(format!("--request-timeout={}", request_timeout(limit)));
        a.extend(verb);
        a
    }

    /// Copies the connection fields into an undo's parameters, so the inverse reaches the
    /// same cluster with the same binary.
    pub fn carry_into(&self, params: &mut Value) {
        for (k, v) in [
            ("context", &self.context),
            ("namespace", &self.namespace),
            ("kubeconfig", &self.kubeconfig),
            ("kubectl", &self.kubectl),
        ] {
            if let Some(v) = given(v) {
                params[k] = json!(v);
            }
        }
    }

    /// `kubectl --context X -n Y` as a person would type it, for hints.
    fn prefix(&self) -> String {
        let mut s = String::from("kubectl");
        if let Some(c) = given(&self.context) {
            s.push_str(&format!(" --context {}", quote(c)));
        }
        if let Some(n) = given(&self.namespace) {
            s.push_str(&format!(" -n {}", quote(n)));
        }
        s
    }
}

/// kubectl takes a Go duration; whole seconds when exact, else milliseconds (at least 1 ms:
/// `0` would mean "no timeout").
fn request_timeout(d: Duration) -> String {
    let ms = d.as_millis().max(1);
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Shell-style quoting for messages only (the command itself never goes through a shell).
fn quote(a: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !a.is_empty() && a.chars().all(safe) {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

fn display(bin: &str, argv: &[String]) -> String {
    std::iter::once(bin).chain(argv.iter().map(String::as_str)).map(quote).collect::<Vec<_>>().join(" ")
}

/// A hint matched to what kubectl said.
fn hint_for(stderr: &str, t: &Target, verb: &[String]) -> String {
    let s = stderr.to_ascii_lowercase();
    if s.contains("(notfound)") || (s.contains("not found") && !s.contains("context")) {
        let kind = verb.get(1).map(|k| k.split('/').next().unwrap_or(k)).unwrap_or("");
        return format!("check the kind, name and namespace: `{} get {}`", t.prefix(), quote(kind));
    }
    if s.contains("forbidden") {
        return format!("the credentials lack permission: `{} auth can-i --list`", t.prefix());
    }
    let ctx = given(&t.context).map(|c| format!(" --context {}", quote(c))).unwrap_or_default();
    format!("is the context reachable? `kubectl{ctx} cluster-info`")
}

/// Runs kubectl once. Ok(stdout) on exit 0; an error carrying the trimmed stderr and the exit
/// code otherwise. Ends at the step deadline: the child is killed and reaped, never left behind
/// (and `kill_on_drop` covers the engine dropping this future first).
pub(crate) async fn kubectl(
    t: &Target,
    ctx: &ActionCtx,
    verb: Vec<String>,
    stdin: Option<String>,
) -> Result<String, ActionError> {
    let bin = t.binary();
    let argv = t.argv(ctx.remaining(), verb.clone());
    let shown = display(&bin, &argv);
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(&argv).kill_on_drop(true).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().map_err(|e| {
        ActionError::new(format!("cannot run `{bin}`: {e}"))
            .hint("is kubectl installed and on PATH? (or set `kubectl:` / TESTRUNNER_KUBECTL)")
    })?;
    let pid = child.id();
    let (input, mut out, mut err) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let deadline = tokio::time::Instant::from_std(ctx.deadline);
    let finished = tokio::time::timeout_at(deadline, async {
        // Write, read both pipes and wait at once: a full pipe must never stall the others.
        let write = async {
            if let (Some(mut pipe), Some(text)) = (input, stdin) {
                // A kubectl that exits without reading reports why on stderr; EPIPE adds nothing.
                let _ = pipe.write_all(text.as_bytes()).await;
            } // dropping the pipe closes kubectl's stdin
        };
        let read_out = async {
            let mut b = vec![];
            if let Some(p) = out.as_mut() {
                p.read_to_end(&mut b).await?;
            }
            Ok::<_, std::io::Error>(b)
        };
        let read_err = async {
            let mut b = vec![];
            if let Some(p) = err.as_mut() {
                p.read_to_end(&mut b).await?;
            }
            Ok::<_, std::io::Error>(b)
        };
        let ((), o, e, status) = tokio::join!(write, read_out, read_err, child.wait());
        Ok::<_, std::io::Error>((o?, e?, status?))
    })
    .await;
    let (stdout, stderr, status) = match finished {
        Ok(r) => r?,
        Err(_) => {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            let mut e = ActionError::new(format!(
                "`{shown}` did not finish within the step deadline; killed it{}",
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
            ))
            .hint(
                "raise the step's `timeout:`, or check that the API server answers (`kubectl cluster-info`)",
            );
            if let Some(p) = pid {
                e = e.with("pid", p);
            }
            return Err(e);
        }
    };
    if status.success() {
        return Ok(String::from_utf8_lossy(&stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
    let code = status.code().unwrap_or(-1);
    // kubectl repeats client-side retries on stderr and ends with its own summary line;
    // the message carries that line, the `stderr` field all of it.
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    Err(ActionError::new(format!("`{shown}` exited with {code}: {last}"))
        .hint(hint_for(&stderr, t, &verb))
        .with("stderr", stderr)
        .with("exit_code", code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_flags_then_verb() {
        let t = Target {
            context: Some("prod".into()),
            namespace: Some("cnpg".into()),
            kubeconfig: Some("".into()),
            ..Default::default()
        };
        let a = t.argv(Duration::from_millis(2500), vec!["get".into(), "pod".into()]);
        assert_eq!(a, ["--context=prod", "--namespace=cnpg", "--request-timeout=2500ms", "get", "pod"]);
        let t = Target { timeout: Some(Dur::ms(30_000)), ..Default::default() };
        assert_eq!(t.argv(Duration::ZERO, vec![]), ["--request-timeout=30s"]);
        assert_eq!(request_timeout(Duration::ZERO), "1ms");
    }

    #[test]
    fn quoting_is_for_display_only() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("--type=merge"), "--type=merge");
    }
}
