//! Core actions: sleep, log, set, assert, fail, exec, and net.free_port.
use crate::params::{decode, schema};
use crate::process::{group_undo, GroupGuard, ProcGroup, KILL_GRACE};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Outcome, OutputField, Precondition,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Output text kept in step results; evidence files keep everything.
const MAX_OUTPUT: usize = 64 * 1024;

pub(crate) fn truncate(text: &str) -> String {
    if text.len() <= MAX_OUTPUT {
        return text.to_string();
    }
    let mut cut = MAX_OUTPUT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… [truncated: {} bytes total]", &text[..cut], text.len())
}

/// `0`, `[0, 1]` or `"any"`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ExpectExit {
    /// One exit code.
    Code(i32),
    /// Any of these exit codes.
    Codes(Vec<i32>),
    /// `"any"`: every exit code is accepted.
    Any(AnyWord),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnyWord {
    Any,
}

impl ExpectExit {
    pub fn accepts(&self, code: i32) -> bool {
        match self {
            ExpectExit::Code(c) => *c == code,
            ExpectExit::Codes(cs) => cs.contains(&code),
            ExpectExit::Any(_) => true,
        }
    }
    pub fn describe(&self) -> String {
        match self {
            ExpectExit::Code(c) => c.to_string(),
            ExpectExit::Codes(cs) => format!("{cs:?}"),
            ExpectExit::Any(_) => "any".into(),
        }
    }
}

// ---- sleep ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SleepParams {
    /// How long to wait. Ends early (with `interrupted: true`) when the run is interrupted.
    duration: crate::Dur,
}

struct Sleep;

#[async_trait]
impl Action for Sleep {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "sleep",
            summary: "Wait for a fixed time (a load window, a settle period) — never as synchronisation",
            params: schema::<SleepParams>(),
            outputs: &[OutputField {
                name: "interrupted",
                ty: "bool",
                doc: "true when the wait was cut short",
            }],
            example: "- id: settle\n  sleep: { duration: 5s }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: SleepParams = decode(params)?;
        tokio::select! {
            _ = tokio::time::sleep(p.duration.0) => Ok(Outcome::new().with("interrupted", false)),
            _ = ctx.stop.cancelled() => Ok(Outcome::new().with("interrupted", true)),
        }
    }
}

// ---- log ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LogParams {
    /// The message; shown in the terminal and the journal.
    message: String,
}

struct Log;

#[async_trait]
impl Action for Log {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "log",
            summary: "Write a message to the terminal and the journal",
            params: schema::<LogParams>(),
            outputs: &[OutputField { name: "message", ty: "string", doc: "the message" }],
            example: "- log: { message: \"leader is ${leader.json.holder_id}\" }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: LogParams = decode(params)?;
        Ok(Outcome::new().with("message", p.message))
    }
}

// ---- set ----

struct Set;

#[async_trait]
impl Action for Set {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "set",
            summary: "Compute named values (readable by name in later expressions)",
            params: json!({"type": "object", "additionalProperties": true,
                           "description": "any names, each with a value or a `${…}` expression"}),
            outputs: &[OutputField {
                name: "<name>",
                ty: "any",
                doc: "each value, also readable as a bare name",
            }],
            example: "- set:\n    leader_url: \"http://127.0.0.1:${string(n1_port.port)}\"\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        match params {
            Value::Object(m) => Ok(Outcome { output: m, ..Default::default() }),
            other => Err(ActionError::new(format!("`set` takes a map of names, not {other}"))),
        }
    }
}

// ---- assert ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AssertParams {
    /// A CEL expression, or a list of them; all must hold (e.g. `lost.json.count >= 1`).
    expect: Value,
    /// Prefix for the failure message.
    message: Option<String>,
}

struct Assert;

#[async_trait]
impl Action for Assert {
    fn spec(&self) -> ActionSpec {
        let mut params = schema::<AssertParams>();
        params["properties"]["expect"] = json!({"type": ["string", "array"], "items": {"type": "string"},
            "description": "a CEL expression, or a list of them; all must hold"});
        ActionSpec {
            name: "assert",
            summary: "Fail the step (and its phase) unless every expression holds",
            params,
            outputs: &[],
            example: "- assert:\n    expect: [\"rows.row.n == 100\", \"lag.p95 < 50\"]\n    message: standby caught up\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    /// The engine evaluates the expressions itself (to explain failures); this handles
    /// already-evaluated booleans.
    async fn run(&self, params: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        let items = match params.get("expect") {
            Some(Value::Array(a)) => a.clone(),
            Some(v) => vec![v.clone()],
            None => vec![],
        };
        if items.iter().all(|v| *v == Value::Bool(true)) {
            Ok(Outcome::new())
        } else {
            let m = params.get("message").and_then(Value::as_str).unwrap_or("assertion failed");
            Err(ActionError::new(m))
        }
    }
}

// ---- fail ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FailParams {
    /// Why the step fails.
    message: String,
}

struct Fail;

#[async_trait]
impl Action for Fail {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "fail",
            summary: "Fail the step with a message (use with `when:`)",
            params: schema::<FailParams>(),
            outputs: &[],
            example: "- fail: { message: \"no standby found\" }\n  when: replication.row_count == 0\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: FailParams = decode(params)?;
        Err(ActionError::new(p.message))
    }
}

// ---- exec ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecParams {
    /// The program and its arguments, as a list; no shell is involved (unless `shell: true`).
    argv: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Working directory.
    cwd: Option<String>,
    /// Text written to the program's standard input.
    stdin: Option<String>,
    /// Run `argv[0]` with `/bin/sh -c`. Dangerous: never build the string from values;
    /// pass values through `env` instead. `argv` must then be exactly one string.
    #[serde(default)]
    shell: bool,
    /// Accepted exit code(s), or `"any"`. Default 0.
    expect_exit: Option<ExpectExit>,
    /// Also write the full stdout+stderr to this evidence file.
    save_output: Option<String>,
}

struct Exec;

#[async_trait]
impl Action for Exec {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "exec",
            summary: "Run a program (argument vector, no shell) and capture stdout, stderr and exit code",
            params: schema::<ExecParams>(),
            outputs: &[
                OutputField { name: "stdout", ty: "string", doc: "standard output (truncated past 64 KiB)" },
                OutputField { name: "stderr", ty: "string", doc: "standard error (truncated past 64 KiB)" },
                OutputField { name: "exit_code", ty: "int", doc: "exit code (-1 when killed by a signal)" },
                OutputField { name: "pid", ty: "int", doc: "process id (also its process group)" },
                OutputField { name: "json", ty: "any", doc: "stdout parsed as JSON, when it is JSON (first 1 MiB)" },
                OutputField { name: "stdout_bytes", ty: "int", doc: "length of the whole standard output" },
                OutputField { name: "stderr_bytes", ty: "int", doc: "length of the whole standard error" },
                OutputField { name: "stdout_file", ty: "string", doc: "evidence file with all of stdout, when it exceeded 1 MiB" },
                OutputField { name: "stderr_file", ty: "string", doc: "evidence file with all of stderr, when it exceeded 1 MiB" },
                OutputField { name: "stopped", ty: "bool", doc: "ended by `stop:` or its phase's end (a background step)" },
            ],
            example: "- id: backup\n  exec: { argv: [halab, backup, --pg-url, \"${pg_url}\", --out, \"${run.dir}/backup.dump\"] }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn probe(&self, params: Value, _: &ActionCtx) -> Vec<Precondition> {
        // With `shell: true` argv[0] is a script, not a program.
        if params.get("shell").and_then(Value::as_bool) == Some(true) {
            return vec![];
        }
        crate::process::program_probe(&params)
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ExecParams = decode(params)?;
        if p.argv.is_empty() {
            return Err(ActionError::new("`argv` is empty").hint("e.g. argv: [ls, -l]"));
        }
        let mut cmd = if p.shell {
            if p.argv.len() != 1 {
                return Err(ActionError::new("with `shell: true`, `argv` must be exactly one string"));
            }
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").arg(&p.argv[0]);
            c
        } else {
            let mut c = tokio::process::Command::new(&p.argv[0]);
            c.args(&p.argv[1..]);
            c
        };
        cmd.envs(&p.env).kill_on_drop(true).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if p.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        if let Some(dir) = &p.cwd {
            cmd.current_dir(dir);
        }
        // Its own process group, so a stop, a deadline or an interrupt kills the program's
        // children too; and it dies with a SIGKILLed runner.
        cmd.process_group(0);
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            ActionError::new(format!("cannot start `{}`: {e}", p.argv[0]))
                .hint("is the program installed and on PATH?")
        })?;
        let pid = child.id().unwrap_or(0);
        let group =
            ProcGroup::of_leader(pid as i32).unwrap_or(ProcGroup { pgid: pid as i32, start: 0, session: 0 });
        // Write-ahead: a runner killed now leaves a record `testrunner cleanup` can replay.
        let key = format!("exec:{}:{pid}", ctx.step_id);
        ctx.intend(&group_undo(
            key.clone(),
            format!("kill `{}` (pid {pid}) and its process group", p.argv[0]),
            None,
            &group,
        ));
        let mut guard = GroupGuard { group, armed: true };
        let stdin_input = p.stdin.clone();
        let stdin = child.stdin.take();
        let feed = async move {
            if let (Some(input), Some(mut stdin)) = (stdin_input, stdin) {
                // A program that exits without reading all of it is not an error here.
                let _ = stdin.write_all(input.as_bytes()).await;
            }
        };
        let tag = evidence_tag(&ctx.step_id, pid);
        let (out_pipe, err_pipe) = (child.stdout.take(), child.stderr.take());
        let work = async {
            let (o, e, ()) = tokio::join!(
                capture(out_pipe, ctx, format!("{tag}.stdout")),
                capture(err_pipe, ctx, format!("{tag}.stderr")),
                feed
            );
            (o, e, child.wait().await)
        };
        tokio::pin!(work);
        let mut stopped = false;
        let (out, err, status) = tokio::select! {
            r = &mut work => r,
            _ = ctx.stop.cancelled() => {
                // `stop:` or the end of its phase: the program is done, not failed.
                stopped = true;
                group.kill(KILL_GRACE).await?;
                match tokio::time::timeout(Duration::from_secs(1), &mut work).await {
                    Ok(r) => r,
                    Err(_) => return Err(ActionError::new(format!(
                        "`{}` was stopped, but its output stayed open (a process outside its group holds it)",
                        p.argv[0]
                    ))),
                }
            }
        };
        guard.armed = false;
        // Leftover members (a daemon it started) are left alone after a normal exit; the
        // write-ahead record is settled only when the group is gone.
        if !group.alive() {
            ctx.settled(&key);
        }
        let (out, err, status) = (out?, err?, status?);
        let stdout = String::from_utf8_lossy(&out.head).into_owned();
        let stderr = String::from_utf8_lossy(&err.head).into_owned();
        let code = status.code().unwrap_or(-1);
        if let Some(file) = &p.save_output {
            ctx.write_evidence(file, format!("{stdout}{stderr}").as_bytes())?;
        }
        let mut outcome = Outcome::new()
            .with("stdout", truncate(&stdout))
            .with("stderr", truncate(&stderr))
            .with("exit_code", code)
            .with("pid", pid)
            .with("stdout_bytes", out.total)
            .with("stderr_bytes", err.total);
        for (name, c) in [("stdout_file", &out), ("stderr_file", &err)] {
            if let Some(f) = &c.file {
                outcome = outcome.with(name, f.clone());
            }
        }
        if stopped {
            return Ok(outcome.with("stopped", true));
        }
        if let Ok(j) = serde_json::from_str::<Value>(stdout.trim()) {
            outcome = outcome.with("json", j);
        }
        let expect = p.expect_exit.unwrap_or(ExpectExit::Code(0));
        if expect.accepts(code) {
            return Ok(outcome.with("stopped", false));
        }
        let tail: String = stderr
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" | ");
        let tail = if tail.is_empty() { String::new() } else { format!(": {tail}") };
        let mut err = ActionError::new(format!(
            "`{}` exited with {code}, expected {}{tail}",
            p.argv[0],
            expect.describe()
        ));
        err.output = outcome.output;
        Err(err)
    }
}

/// In memory per stream (stdout, stderr) of an `exec`: the result's text and `json` come
/// from this much; the whole stream goes to an evidence file once it is longer.
pub const EXEC_CAPTURE: usize = 1024 * 1024;

/// One output stream of an `exec`: the first [`EXEC_CAPTURE`] bytes, the total length, and
/// the evidence file holding all of it (only when it was longer).
#[derive(Default)]
struct Captured {
    head: Vec<u8>,
    total: u64,
    file: Option<String>,
}

/// A file-name-safe tag for one program run: step id and pid.
fn evidence_tag(step: &str, pid: u32) -> String {
    let safe: String =
        step.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    format!("exec-{safe}-{pid}")
}

/// Reads a pipe to its end in bounded memory. Past the cap, everything (from the first
/// byte) is streamed to `evidence/<rel>`, masked line by line (a line longer than 64 KiB
/// is masked in pieces).
async fn capture<R: tokio::io::AsyncRead + Unpin>(
    pipe: Option<R>,
    ctx: &ActionCtx,
    rel: String,
) -> Result<Captured, ActionError> {
    use std::io::Write;
    use tokio::io::AsyncReadExt;
    let mut c = Captured::default();
    let Some(mut pipe) = pipe else { return Ok(c) };
    let mut buf = vec![0u8; 64 * 1024];
    let mut file: Option<std::fs::File> = None;
    let mut carry: Vec<u8> = vec![];
    let masker = ctx.state.masker.clone();
    let flush = |f: &mut std::fs::File, bytes: &[u8]| -> std::io::Result<()> {
        f.write_all(masker.mask(&String::from_utf8_lossy(bytes)).as_bytes())
    };
    loop {
        let n = pipe.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        c.total += n as u64;
        let room = EXEC_CAPTURE - c.head.len();
        if file.is_none() && chunk.len() <= room {
            c.head.extend_from_slice(chunk);
            continue;
        }
        if file.is_none() {
            // Confined like every evidence write: never through a link a step planted.
            file = Some(ctx.create_evidence(&rel, false)?);
            carry = c.head.clone();
            c.head.extend_from_slice(&chunk[..room]);
            c.file = Some(format!("evidence/{rel}"));
        }
        carry.extend_from_slice(chunk);
        let f = file.as_mut().expect("opened above");
        match carry.iter().rposition(|b| *b == b'\n') {
            Some(i) => {
                flush(f, &carry[..=i])?;
                carry.drain(..=i);
            }
            None if carry.len() > 64 * 1024 => {
                flush(f, &carry)?;
                carry.clear();
            }
            None => {}
        }
    }
    if let Some(f) = file.as_mut() {
        flush(f, &carry)?;
    }
    Ok(c)
}

// ---- net.free_port ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FreePortParams {
    /// Address to find a free port on (default 127.0.0.1).
    host: Option<String>,
}

struct FreePort;

#[async_trait]
impl Action for FreePort {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "net.free_port",
            summary: "Pick a free TCP port on a loopback address (scenarios never hard-code ports)",
            params: schema::<FreePortParams>(),
            outputs: &[OutputField { name: "port", ty: "int", doc: "a port that was free a moment ago" }],
            example: "- id: pg_port\n  net.free_port: {}\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }
    async fn run(&self, params: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: FreePortParams = decode(params)?;
        let host = p.host.unwrap_or_else(|| "127.0.0.1".into());
        let l = std::net::TcpListener::bind((host.as_str(), 0))?;
        Ok(Outcome::new().with("port", l.local_addr()?.port()))
    }
}

inventory::submit!(ActionEntry(&Sleep));
inventory::submit!(ActionEntry(&Log));
inventory::submit!(ActionEntry(&Set));
inventory::submit!(ActionEntry(&Assert));
inventory::submit!(ActionEntry(&Fail));
inventory::submit!(ActionEntry(&Exec));
inventory::submit!(ActionEntry(&FreePort));

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ctx() -> (tempfile::TempDir, ActionCtx) {
        let d = tempfile::tempdir().unwrap();
        let c = ActionCtx::standalone(d.path().to_path_buf(), "t", Duration::from_secs(10));
        (d, c)
    }

    #[tokio::test]
    async fn exec_captures_and_checks_exit_codes() {
        let (_d, c) = ctx();
        let ok = Exec.run(json!({"argv": ["sh", "-c", "echo '{\"a\":1}'; echo err >&2"]}), &c).await.unwrap();
        assert_eq!(ok.output["json"], json!({"a": 1}));
        assert_eq!(ok.output["stderr"], "err\n");
        let e = Exec.run(json!({"argv": ["sh", "-c", "echo out; exit 3"]}), &c).await.unwrap_err();
        assert!(e.message.contains("exited with 3, expected 0"), "{}", e.message);
        assert_eq!(e.output["stdout"], "out\n");
        assert_eq!(e.output["exit_code"], 3);
        let any = Exec.run(json!({"argv": ["false"], "expect_exit": "any"}), &c).await.unwrap();
        assert_eq!(any.output["exit_code"], 1);
    }

    #[tokio::test]
    async fn save_output_does_not_follow_a_link_planted_by_a_step() {
        let (d, c) = ctx();
        let outside = d.path().join("outside");
        std::fs::write(&outside, "untouched").unwrap();
        std::fs::create_dir_all(c.state.evidence_dir()).unwrap();
        let link = c.state.evidence_dir().join("x");
        Exec.run(json!({"argv": ["ln", "-s", outside.to_str().unwrap(), link.to_str().unwrap()]}), &c)
            .await
            .unwrap();
        let e = Exec.run(json!({"argv": ["echo", "pwned"], "save_output": "x"}), &c).await.unwrap_err();
        assert!(e.message.contains("symbolic link"), "{}", e.message);
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
    }

    #[tokio::test]
    async fn exec_is_killed_at_the_deadline() {
        let (d, c) = ctx();
        let pidfile = d.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 60", pidfile.display());
        let r = tokio::time::timeout(
            Duration::from_millis(500),
            Exec.run(json!({"argv": ["sh", "-c", script]}), &c),
        )
        .await;
        assert!(r.is_err(), "the deadline must end it");
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_string();
        let t = std::time::Instant::now();
        loop {
            let gone = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.split_whitespace().nth(2) == Some("Z"))
                .unwrap_or(true);
            if gone {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(5), "child {pid} survived the deadline");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn exec_output_is_bounded_in_memory_and_kept_whole_in_evidence() {
        let (d, c) = ctx();
        let total: u64 = 200_000_000;
        let o = Exec
            .run(json!({"argv": ["sh", "-c", format!("head -c {total} /dev/zero | tr '\\0' x; echo; echo done >&2")]}), &c)
            .await
            .unwrap();
        assert_eq!(o.output["stdout_bytes"], total + 1);
        assert_eq!(o.output["stderr_bytes"], 5);
        assert_eq!(o.output["stderr"], "done\n");
        // The result keeps a bounded prefix; the evidence file has every byte.
        assert!(o.output["stdout"].as_str().unwrap().len() < MAX_OUTPUT + 100);
        let file = o.output["stdout_file"].as_str().unwrap();
        assert_eq!(std::fs::metadata(d.path().join(file)).unwrap().len(), total + 1);
        assert!(o.output.get("stderr_file").is_none());
    }

    #[tokio::test]
    async fn exec_stop_kills_the_group_and_is_ok() {
        let (d, c) = ctx();
        let pidfile = d.path().join("gc");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let stop = c.stop.clone();
        let p2 = pidfile.clone();
        tokio::spawn(async move {
            while !std::fs::read_to_string(&p2).is_ok_and(|s| s.ends_with('\n')) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            stop.cancel();
        });
        let t = std::time::Instant::now();
        let o = Exec.run(json!({"argv": ["sh", "-c", script]}), &c).await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(3), "took {:?}", t.elapsed());
        assert_eq!(o.output["stopped"], true);
        let gc: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        let zombie_or_gone = std::fs::read_to_string(format!("/proc/{gc}/stat"))
            .map(|s| s.rsplit(')').next().unwrap().split_whitespace().next() == Some("Z"))
            .unwrap_or(true);
        assert!(zombie_or_gone, "grandchild {gc} survived the stop");
    }

    #[tokio::test]
    async fn free_port_is_bindable() {
        let (_d, c) = ctx();
        let o = FreePort.run(json!({}), &c).await.unwrap();
        let port = o.output["port"].as_u64().unwrap() as u16;
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }

    #[tokio::test]
    async fn sleep_honours_stop() {
        let (_d, c) = ctx();
        c.stop.cancel();
        let o = Sleep.run(json!({"duration": "60s"}), &c).await.unwrap();
        assert_eq!(o.output["interrupted"], true);
    }
}
