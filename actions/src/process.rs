//! Process actions: spawn (with readiness), signal, wait. Spawned processes live in the
//! run's process table under their name; each registers a kill as its undo.
use crate::core::ExpectExit;
use crate::params::{decode, schema};
use crate::sync::lock;
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Dur, Outcome, OutputField,
    Precondition, SpawnedProcess, Undo,
};
use async_trait::async_trait;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(50);

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Ready {
    /// Ready when this TCP port accepts connections.
    port: Option<u16>,
    /// Host for `port` (default 127.0.0.1).
    host: Option<String>,
    /// Ready when the process's log has a line matching this regular expression.
    #[schemars(with = "Option<crate::params::RegexText>")]
    log_regex: Option<String>,
    /// Ready when this URL answers with a 2xx status.
    http: Option<String>,
    /// How long readiness may take (default: the step's deadline).
    timeout: Option<Dur>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SpawnParams {
    /// Name in the run's process table (used by process.signal / process.wait).
    name: String,
    /// Program and arguments (no shell).
    argv: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Working directory.
    cwd: Option<String>,
    /// When the process counts as started.
    ready: Option<Ready>,
    /// Evidence file for stdout+stderr (default `<name>.log`).
    log: Option<String>,
}

struct Spawn;

/// A process group the runner started: its id (the leader's pid), the leader's start time
/// (clock ticks since boot, `/proc/<pid>/stat` field 22) and its session. Together they
/// tell our group from an unrelated one that reuses the number after ours is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcGroup {
    pub pgid: i32,
    pub start: u64,
    pub session: i32,
}

/// (state, pgid, session, start time) of a pid, from `/proc/<pid>/stat`.
fn proc_stat(pid: i32) -> Option<(char, i32, i32, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
    Some((
        f.first()?.chars().next()?,
        f.get(2)?.parse().ok()?,
        f.get(3)?.parse().ok()?,
        f.get(19)?.parse().ok()?,
    ))
}

/// Default time between SIGTERM and SIGKILL when a group is killed.
pub const KILL_GRACE: Duration = Duration::from_millis(500);

impl ProcGroup {
    /// The group led by `pid` (a child started with its own process group).
    pub fn of_leader(pid: i32) -> Option<ProcGroup> {
        let (_, pgid, session, start) = proc_stat(pid)?;
        (pgid == pid).then_some(ProcGroup { pgid, start, session })
    }

    /// Live (non-zombie) members. Empty when the number now belongs to another process:
    /// a leader with another start time, or members started before our leader was.
    pub fn members(&self) -> Vec<i32> {
        if let Some((_, _, _, start)) = proc_stat(self.pgid) {
            if start != self.start {
                return vec![];
            }
        }
        let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| {
                proc_stat(pid).is_some_and(|(state, pgid, session, start)| {
                    pgid == self.pgid && session == self.session && start >= self.start && state != 'Z'
                })
            })
            .collect()
    }

    pub fn alive(&self) -> bool {
        !self.members().is_empty()
    }

    /// SIGTERM (and SIGCONT, so a stopped member can act on it) to the whole group, up to
    /// `grace` for it to exit, then SIGKILL; Ok only once no member is left (bounded wait).
    pub fn kill_blocking(&self, grace: Duration) -> Result<(), ActionError> {
        let pg = Pid::from_raw(self.pgid);
        if !self.alive() {
            return Ok(());
        }
        if !grace.is_zero() {
            let _ = signal::killpg(pg, Signal::SIGTERM);
            let _ = signal::killpg(pg, Signal::SIGCONT);
            let t = Instant::now();
            while t.elapsed() < grace && self.alive() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let t = Instant::now();
        loop {
            let left = self.members();
            if left.is_empty() {
                return Ok(());
            }
            if t.elapsed() > Duration::from_secs(5) {
                return Err(ActionError::new(format!(
                    "process group {} still has {} process(es) 5s after SIGKILL (pids {left:?})",
                    self.pgid,
                    left.len()
                )));
            }
            let _ = signal::killpg(pg, Signal::SIGKILL);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// [`kill_blocking`](Self::kill_blocking) off the async runtime's threads.
    pub async fn kill(self, grace: Duration) -> Result<(), ActionError> {
        tokio::task::spawn_blocking(move || self.kill_blocking(grace))
            .await
            .unwrap_or_else(|e| Err(ActionError::new(format!("killing process group {}: {e}", self.pgid))))
    }
}

/// Kills a group when dropped while armed: a step dropped at its deadline or on interrupt
/// takes its process group with it. The kill runs on its own thread (Drop cannot wait).
pub struct GroupGuard {
    pub group: ProcGroup,
    pub armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            let g = self.group;
            let _ = std::thread::Builder::new()
                .name("kill-group".into())
                .spawn(move || g.kill_blocking(KILL_GRACE));
        }
    }
}

/// True when some live process still has `pgid` as its group.
fn group_in_use(pgid: i32) -> bool {
    pgid > 0
        && std::fs::read_dir("/proc").is_ok_and(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .any(|pid| proc_stat(pid).is_some_and(|(st, pg, _, _)| pg == pgid && st != 'Z'))
        })
}

/// The undo of a process group: TERM, grace, KILL, verified. Self-contained (pgid, start
/// time, session), so `testrunner cleanup` can replay it from the journal in another process.
pub fn group_undo(key: String, description: String, name: Option<&str>, g: &ProcGroup) -> Undo {
    let mut params = json!({"pgid": g.pgid, "start_time": g.start, "session": g.session});
    if let Some(n) = name {
        params["name"] = json!(n);
    }
    Undo { key, description, action: "process.kill_group", params }
}

fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// Exit status of a table entry, if it has exited (reaps it).
fn try_exit(ctx: &ActionCtx, name: &str) -> Option<std::process::ExitStatus> {
    let mut table = lock(&ctx.state.processes);
    let entry = table.get_mut(name)?;
    entry.child.as_mut()?.try_wait().ok().flatten()
}

fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

#[async_trait]
impl Action for Spawn {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "process.spawn",
            summary: "Start a process in the background (logs to evidence), wait until it is ready",
            params: schema::<SpawnParams>(),
            outputs: &[
                OutputField { name: "pid", ty: "int", doc: "process id" },
                OutputField { name: "name", ty: "string", doc: "name in the process table" },
                OutputField { name: "log", ty: "string", doc: "evidence path of its stdout+stderr" },
                OutputField { name: "ready_ms", ty: "int", doc: "time from start to ready" },
            ],
            example: "- id: web\n  process.spawn:\n    name: web\n    argv: [python3, -m, http.server, \"8080\", --bind, 127.0.0.1]\n    ready: { port: 8080, timeout: 10s }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: SpawnParams = decode(params)?;
        if p.argv.is_empty() {
            return Err(ActionError::new("`argv` is empty"));
        }
        {
            let table = lock(&ctx.state.processes);
            if let Some(e) = table.get(&p.name) {
                if pid_alive(e.pid) {
                    return Err(ActionError::new(format!(
                        "a process named `{}` is already running (pid {})",
                        p.name, e.pid
                    ))
                    .hint("give each spawned process its own name"));
                }
            }
        }
        let log_rel = p.log.clone().unwrap_or_else(|| format!("{}.log", p.name));
        let log_path = ctx.evidence_path(&log_rel)?;
        let log = ctx.create_evidence(&log_rel, true)?;
        let mut cmd = tokio::process::Command::new(&p.argv[0]);
        cmd.args(&p.argv[1..]).envs(&p.env).stdin(std::process::Stdio::null());
        // Through pipes, so secrets are masked before they reach the evidence file.
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        if let Some(d) = &p.cwd {
            cmd.current_dir(d);
        }
        // Own process group: a terminal Ctrl-C reaches only the runner, which cleans up.
        cmd.process_group(0).kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; it makes the child die with the runner,
        // even when the runner is SIGKILLed.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| {
            ActionError::new(format!("cannot start `{}`: {e}", p.argv[0]))
                .hint("is the program installed and on PATH?")
        })?;
        let drained = copy_logs_masked(&mut child, log, ctx.state.masker.clone());
        let pid = child.id().unwrap_or(0);
        // The child has exec'd (spawn returns after that), so its group is set. Recorded at
        // once: the write-ahead record exists before this action returns.
        let group =
            ProcGroup::of_leader(pid as i32).unwrap_or(ProcGroup { pgid: pid as i32, start: 0, session: 0 });
        let mut guard = GroupGuard { group, armed: true };
        lock(&ctx.state.processes).insert(
            p.name.clone(),
            SpawnedProcess { name: p.name.clone(), pid, child: Some(child), log: log_path.clone() },
        );
        let undo = group_undo(
            format!("process:{}", p.name),
            format!("kill process {} (pid {pid}) and its process group", p.name),
            Some(&p.name),
            &group,
        );
        ctx.intend(&undo);
        let evidence = format!("evidence/{log_rel}");
        if let Some(ready) = &p.ready {
            if let Err(e) = wait_ready(ctx, &p.name, ready, &log_path, started, &drained).await {
                guard.armed = false;
                let _ = group.kill(Duration::ZERO).await;
                let _ = kill_and_reap(ctx, &p.name, pid).await;
                return Err(e);
            }
        }
        guard.armed = false;
        Ok(Outcome::new()
            .with("pid", pid)
            .with("name", p.name.clone())
            .with("log", evidence)
            .with("ready_ms", started.elapsed().as_millis() as u64)
            .undo(undo))
    }

    async fn probe(&self, params: Value, _: &ActionCtx) -> Vec<Precondition> {
        program_probe(&params)
    }
}

/// The program `argv[0]` names exists: on PATH, or at its absolute path. (Relative paths
/// and `${…}` depend on the run and are not judged.) Shared by `process.spawn` and `exec`.
pub(crate) fn program_probe(params: &Value) -> Vec<Precondition> {
    let Some(prog) = params.get("argv").and_then(|a| a.get(0)).and_then(Value::as_str) else {
        return vec![];
    };
    if prog.contains("${") || (prog.contains('/') && !prog.starts_with('/')) {
        return vec![];
    }
    let found = if prog.starts_with('/') {
        std::path::Path::new(prog).is_file()
    } else {
        std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .any(|d| std::path::Path::new(d).join(prog).is_file())
    };
    if found {
        vec![]
    } else if prog.starts_with('/') {
        vec![Precondition::blocker(format!("`{prog}` does not exist"))]
    } else {
        vec![Precondition::blocker(format!("`{prog}` is not on PATH"))]
    }
}

/// Copies the child's stdout and stderr into its log with secrets masked, chunk by chunk
/// (only a possible start of a secret waits for more input). The token fires when both
/// streams have ended.
fn copy_logs_masked(
    child: &mut tokio::process::Child,
    log: std::fs::File,
    masker: std::sync::Arc<testrunner_scenario::Masker>,
) -> tokio_util::sync::CancellationToken {
    use tokio::io::{AsyncRead, AsyncReadExt};
    async fn copy(mut r: impl AsyncRead + Unpin, log: &std::fs::File, m: &testrunner_scenario::Masker) {
        use std::io::Write;
        let (mut pending, mut buf) = (Vec::<u8>::new(), vec![0u8; 64 * 1024]);
        loop {
            let n = r.read(&mut buf).await.unwrap_or(0);
            pending.extend_from_slice(&buf[..n]);
            // An incomplete UTF-8 sequence at the end waits for its other bytes.
            let cut = match std::str::from_utf8(&pending) {
                Err(e) if n > 0 && e.error_len().is_none() => e.valid_up_to(),
                _ => pending.len(),
            };
            let text = String::from_utf8_lossy(&pending[..cut]).into_owned();
            let hold = if n == 0 { 0 } else { m.holdback(&text) };
            let _ = (&*log).write_all(m.mask(&text[..text.len() - hold]).as_bytes());
            let mut rest = text.as_bytes()[text.len() - hold..].to_vec();
            rest.extend_from_slice(&pending[cut..]);
            pending = rest;
            if n == 0 {
                return;
            }
        }
    }
    let done = tokio_util::sync::CancellationToken::new();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let fired = done.clone();
    tokio::spawn(async move {
        let m = &*masker;
        let log = &log;
        let a = async {
            if let Some(o) = out {
                copy(o, log, m).await
            }
        };
        let b = async {
            if let Some(e) = err {
                copy(e, log, m).await
            }
        };
        tokio::join!(a, b);
        fired.cancel();
    });
    done
}

async fn wait_ready(
    ctx: &ActionCtx,
    name: &str,
    r: &Ready,
    log: &std::path::Path,
    started: Instant,
    drained: &tokio_util::sync::CancellationToken,
) -> Result<(), ActionError> {
    let limit = r.timeout.map(|d| d.0).unwrap_or_else(|| ctx.remaining());
    let re = match &r.log_regex {
        Some(s) => {
            Some(regex::Regex::new(s).map_err(|e| ActionError::new(format!("invalid log_regex: {e}")))?)
        }
        None => None,
    };
    let host = r.host.clone().unwrap_or_else(|| "127.0.0.1".into());
    loop {
        if let Some(status) = try_exit(ctx, name) {
            // Its last words may still be on their way to the log (bounded wait).
            let _ = tokio::time::timeout(Duration::from_secs(1), drained.cancelled()).await;
            return Err(ActionError::new(format!(
                "`{name}` exited ({status}) before it was ready; log: {}",
                log_tail(log)
            ))
            .hint(format!("see evidence/{}", log.file_name().unwrap_or_default().to_string_lossy())));
        }
        let mut ready = true;
        if let Some(port) = r.port {
            ready &= tokio::time::timeout(POLL, tokio::net::TcpStream::connect((host.as_str(), port)))
                .await
                .is_ok_and(|c| c.is_ok());
        }
        if let (true, Some(re)) = (ready, &re) {
            ready &= std::fs::read_to_string(log).is_ok_and(|t| t.lines().any(|l| re.is_match(l)));
        }
        if let (true, Some(url)) = (ready, &r.http) {
            let resp = tokio::time::timeout(Duration::from_secs(1), ctx.state.http.get(url).send()).await;
            ready &= matches!(resp, Ok(Ok(ref x)) if x.status().is_success());
        }
        if ready {
            return Ok(());
        }
        if started.elapsed() >= limit {
            return Err(ActionError::new(format!(
                "`{name}` was not ready within {}; log: {}",
                testrunner_scenario::format_duration(limit),
                log_tail(log)
            ))
            .hint("raise ready.timeout, or check the readiness condition (port, log_regex, http)"));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn kill_and_reap(ctx: &ActionCtx, name: &str, pid: u32) -> Result<(), ActionError> {
    match signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => return Err(ActionError::new(format!("kill {pid}: {e}"))),
    }
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if try_exit(ctx, name).is_some() || !pid_alive(pid) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(ActionError::new(format!("pid {pid} did not die within 5s of SIGKILL")))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SignalParams {
    /// A process started by process.spawn.
    name: Option<String>,
    /// Or a pid.
    pid: Option<i32>,
    /// Or a file holding a pid.
    pidfile: Option<String>,
    /// TERM, KILL, STOP, CONT, INT, HUP, QUIT, USR1, USR2 (with or without SIG).
    #[schemars(with = "crate::params::SignalName")]
    signal: String,
    /// Signal the whole process group.
    #[serde(default)]
    group: bool,
}

struct SignalAction;

fn parse_signal(s: &str) -> Result<Signal, ActionError> {
    let up = s.trim().to_uppercase();
    let full = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    full.parse::<Signal>().map_err(|_| {
        ActionError::new(format!("unknown signal `{s}`"))
            .hint("TERM, KILL, STOP, CONT, INT, HUP, QUIT, USR1, USR2")
    })
}

#[async_trait]
impl Action for SignalAction {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "process.signal",
            summary:
                "Send a signal to a process (by spawned name, pid or pidfile); SIGSTOP is undone with SIGCONT",
            params: schema::<SignalParams>(),
            outputs: &[
                OutputField { name: "pid", ty: "int", doc: "the process signalled" },
                OutputField { name: "signal", ty: "string", doc: "the signal sent" },
            ],
            example: "- id: kill_leader\n  process.signal: { name: node1, signal: KILL }\n",
            background: false,
            traits: ActionTraits::FAULT,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: SignalParams = decode(params)?;
        let sig = parse_signal(&p.signal)?;
        let (pid, label) = match (&p.name, p.pid, &p.pidfile) {
            (Some(n), None, None) => {
                let table = lock(&ctx.state.processes);
                let e = table.get(n).ok_or_else(|| {
                    ActionError::new(format!("no spawned process named `{n}`"))
                        .hint("process.spawn it first, or give `pid`")
                })?;
                (e.pid as i32, n.clone())
            }
            (None, Some(pid), None) => (pid, pid.to_string()),
            (None, None, Some(f)) => {
                let text = std::fs::read_to_string(f)
                    .map_err(|e| ActionError::new(format!("cannot read pidfile {f}: {e}")))?;
                let pid: i32 = text
                    .trim()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .parse()
                    .map_err(|_| ActionError::new(format!("{f} holds no pid")))?;
                (pid, pid.to_string())
            }
            _ => return Err(ActionError::new("give exactly one of `name`, `pid`, `pidfile`")),
        };
        let target = Pid::from_raw(pid);
        if sig == Signal::SIGSTOP {
            // Write-ahead, by pid: replayable by `testrunner cleanup` in another process.
            ctx.intend(&Undo {
                key: format!("process.stopped:{label}"),
                description: format!("resume process {label} (SIGCONT)"),
                action: "process.signal",
                params: json!({"pid": pid, "signal": "CONT"}),
            });
        }
        let sent = if p.group { signal::killpg(target, sig) } else { signal::kill(target, sig) };
        let mut out = Outcome::new().with("pid", pid).with("signal", sig.as_str());
        match sent {
            Ok(()) => {}
            // Killing what is already gone is what the caller wanted.
            Err(nix::errno::Errno::ESRCH) if sig == Signal::SIGKILL => {}
            Err(e) => return Err(ActionError::new(format!("{} to {label} (pid {pid}): {e}", sig.as_str()))),
        }
        match sig {
            Signal::SIGSTOP => {
                out = out.undo(Undo {
                    key: format!("process.stopped:{label}"),
                    description: format!("resume process {label} (SIGCONT)"),
                    action: "process.signal",
                    params: if p.name.is_some() {
                        json!({"name": label, "signal": "CONT"})
                    } else {
                        json!({"pid": pid, "signal": "CONT"})
                    },
                });
            }
            Signal::SIGCONT => out = out.resolves(format!("process.stopped:{label}")),
            Signal::SIGKILL => {
                if let Some(n) = &p.name {
                    kill_and_reap(ctx, n, pid as u32).await?;
                    out = out.resolves(format!("process.stopped:{n}"));
                    // Its children may live on in its group: the undo still has to kill them.
                    if !group_in_use(pid) {
                        out = out.resolves(format!("process:{n}"));
                    }
                }
            }
            _ => {}
        }
        Ok(out)
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WaitParams {
    /// A process started by process.spawn.
    name: String,
    /// How long to wait (default: the step's deadline).
    timeout: Option<Dur>,
    /// Accepted exit code(s) or "any" (default 0; a process killed by a signal only matches "any").
    expect_exit: Option<ExpectExit>,
}

struct Wait;

#[async_trait]
impl Action for Wait {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "process.wait",
            summary: "Wait (bounded) for a spawned process to exit; exit code or signal out",
            params: schema::<WaitParams>(),
            outputs: &[
                OutputField {
                    name: "exit_code",
                    ty: "int",
                    doc: "exit code, or null when killed by a signal",
                },
                OutputField { name: "signal", ty: "string", doc: "the signal that killed it, if any" },
                OutputField { name: "waited_ms", ty: "int", doc: "how long the wait took" },
            ],
            example: "- process.wait: { name: node1, timeout: 10s, expect_exit: 0 }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: WaitParams = decode(params)?;
        if !lock(&ctx.state.processes).contains_key(&p.name) {
            return Err(ActionError::new(format!("no spawned process named `{}`", p.name)));
        }
        let limit = p.timeout.map(|d| d.0).unwrap_or_else(|| ctx.remaining());
        let t = Instant::now();
        let status = loop {
            if let Some(s) = try_exit(ctx, &p.name) {
                break s;
            }
            if t.elapsed() >= limit {
                return Err(ActionError::new(format!(
                    "`{}` still running after {}",
                    p.name,
                    testrunner_scenario::format_duration(limit)
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        use std::os::unix::process::ExitStatusExt;
        let sig = status.signal().and_then(|s| Signal::try_from(s).ok()).map(|s| s.as_str().to_string());
        let mut out = Outcome::new()
            .with("exit_code", status.code().map(Value::from).unwrap_or(Value::Null))
            .with("signal", sig.clone().map(Value::from).unwrap_or(Value::Null))
            .with("waited_ms", t.elapsed().as_millis() as u64)
            .resolves(format!("process.stopped:{}", p.name));
        let pid = lock(&ctx.state.processes).get(&p.name).map(|e| e.pid as i32).unwrap_or(0);
        if !group_in_use(pid) {
            out = out.resolves(format!("process:{}", p.name));
        }
        let expect = p.expect_exit.unwrap_or(ExpectExit::Code(0));
        let ok = match status.code() {
            Some(c) => expect.accepts(c),
            None => matches!(expect, ExpectExit::Any(_)),
        };
        if ok {
            return Ok(out);
        }
        let how = status
            .code()
            .map(|c| format!("exit code {c}"))
            .unwrap_or_else(|| format!("signal {}", sig.unwrap_or_default()));
        let mut e =
            ActionError::new(format!("`{}` ended with {how}, expected {}", p.name, expect.describe()));
        e.output = std::mem::take(&mut out.output);
        Err(e)
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct KillGroupParams {
    /// The process group id (the pid of its leader).
    pgid: i32,
    /// Start time of the leader (clock ticks since boot, /proc/<pid>/stat field 22) when the
    /// group was recorded; a group whose number now belongs to another process is left alone.
    /// Default: the current leader's.
    start_time: Option<u64>,
    /// Session the group was in (default: the current leader's).
    session: Option<i32>,
    /// Its name in the run's process table (reaped there once it is gone).
    name: Option<String>,
    /// Time between SIGTERM and SIGKILL (default 500ms).
    grace: Option<Dur>,
}

struct KillGroup;

#[async_trait]
impl Action for KillGroup {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "process.kill_group",
            summary: "Kill a whole process group (TERM, grace, KILL) and wait until it is gone; the undo of process.spawn and exec",
            params: schema::<KillGroupParams>(),
            outputs: &[
                OutputField { name: "pgid", ty: "int", doc: "the process group" },
                OutputField { name: "killed", ty: "int", doc: "how many processes it still had" },
            ],
            example: "- process.kill_group: { pgid: \"${web.pid}\" }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: KillGroupParams = decode(params)?;
        if p.pgid <= 1 {
            return Err(ActionError::new(format!("{} is not a process group a run started", p.pgid)));
        }
        let current = proc_stat(p.pgid);
        let group = ProcGroup {
            pgid: p.pgid,
            start: p.start_time.or(current.map(|c| c.3)).unwrap_or(0),
            session: p.session.or(current.map(|c| c.2)).unwrap_or(0),
        };
        let members = group.members().len();
        group.kill(p.grace.map(|d| d.0).unwrap_or(KILL_GRACE)).await?;
        let mut out = Outcome::new().with("pgid", p.pgid).with("killed", members as u64);
        if let Some(n) = &p.name {
            // Reap the leader (it is our child): it must not linger as a zombie.
            let _ = try_exit(ctx, n);
            out = out.resolves(format!("process:{n}")).resolves(format!("process.stopped:{n}"));
        }
        Ok(out)
    }
}

inventory::submit!(ActionEntry(&KillGroup));
inventory::submit!(ActionEntry(&Spawn));
inventory::submit!(ActionEntry(&SignalAction));
inventory::submit!(ActionEntry(&Wait));

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> (tempfile::TempDir, ActionCtx) {
        let d = tempfile::tempdir().unwrap();
        let c = ActionCtx::standalone(d.path().to_path_buf(), "t", Duration::from_secs(20));
        (d, c)
    }

    fn state(pid: i64) -> String {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        s.rsplit(')').next().and_then(|r| r.split_whitespace().next()).unwrap_or("gone").to_string()
    }

    /// Signal delivery is asynchronous: wait (bounded) for the state to show.
    async fn wait_state(pid: i64, want: &str, negate: bool) {
        let t = Instant::now();
        while (state(pid) == want) == negate {
            assert!(t.elapsed() < Duration::from_secs(5), "pid {pid} state {}", state(pid));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn spawn_log_masks_secrets_in_output_and_env_echo() {
        let d = tempfile::tempdir().unwrap();
        let secret = r#"Hu nter"42\/x:y"#;
        let masker = std::sync::Arc::new(testrunner_scenario::Masker::new(vec![secret.to_string()]));
        let c = ActionCtx {
            step_id: "t".into(),
            state: crate::SharedState::new(d.path().to_path_buf(), masker),
            deadline: Instant::now() + Duration::from_secs(20),
            stop: tokio_util::sync::CancellationToken::new(),
        };
        // The secret whole, split across two writes, and in the environment dump.
        let script = r#"echo "pw=$PW"; printf 'a=Hu nt'; sleep 0.2; printf 'er"42\/x:y\n'; env; echo done; exec sleep 60"#;
        let o = Spawn
            .run(
                json!({"name": "m", "argv": ["sh", "-c", script], "env": {"PW": secret},
                       "ready": {"log_regex": "^done$", "timeout": "10s"}}),
                &c,
            )
            .await
            .unwrap();
        let log = std::fs::read_to_string(d.path().join(o.output["log"].as_str().unwrap())).unwrap();
        kill_and_reap(&c, "m", o.output["pid"].as_u64().unwrap() as u32).await.unwrap();
        assert!(!log.contains("Hu nt") && !log.contains("er\"42"), "{log}");
        assert!(log.contains("pw=****\n") && log.contains("a=****\n") && log.contains("PW=****\n"), "{log}");
    }

    #[tokio::test]
    async fn spawn_ready_by_log_then_stop_cont_kill_wait() {
        let (_d, c) = ctx();
        let o = Spawn
            .run(json!({"name": "s", "argv": ["sh", "-c", "echo booted; exec sleep 60"], "ready": {"log_regex": "boot", "timeout": "5s"}}), &c)
            .await
            .unwrap();
        let pid = o.output["pid"].as_i64().unwrap();
        assert_eq!(o.undo[0].key, "process:s");
        let stop = SignalAction.run(json!({"name": "s", "signal": "STOP"}), &c).await.unwrap();
        wait_state(pid, "T", false).await;
        assert_eq!(stop.undo[0].key, "process.stopped:s");
        let cont = SignalAction.run(json!({"name": "s", "signal": "SIGCONT"}), &c).await.unwrap();
        assert_eq!(cont.resolves, vec!["process.stopped:s"]);
        wait_state(pid, "T", true).await;
        let k = SignalAction.run(json!({"name": "s", "signal": "KILL"}), &c).await.unwrap();
        assert!(k.resolves.contains(&"process:s".to_string()));
        assert!(!pid_alive(pid as u32));
        // Killing again (as the undo stack would) is fine.
        SignalAction.run(json!({"name": "s", "signal": "KILL"}), &c).await.unwrap();
    }

    #[tokio::test]
    async fn readiness_fails_when_the_process_exits_early() {
        let (_d, c) = ctx();
        let e = Spawn
            .run(json!({"name": "x", "argv": ["sh", "-c", "echo oops; exit 7"], "ready": {"port": 1, "timeout": "5s"}}), &c)
            .await
            .unwrap_err();
        assert!(e.message.contains("exited (exit status: 7) before it was ready"), "{}", e.message);
        assert!(e.message.contains("oops"));
    }

    #[tokio::test]
    async fn ready_by_port_and_wait_reports_the_signal() {
        let (_d, c) = ctx();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let argv = json!(["python3", "-c", format!("import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); s.listen(); time.sleep(60)")]);
        Spawn
            .run(json!({"name": "p", "argv": argv, "ready": {"port": port, "timeout": "10s"}}), &c)
            .await
            .unwrap();
        SignalAction.run(json!({"name": "p", "signal": "TERM"}), &c).await.unwrap();
        let w = Wait.run(json!({"name": "p", "timeout": "5s", "expect_exit": "any"}), &c).await.unwrap();
        assert_eq!(w.output["signal"], "SIGTERM");
        let e = Wait.run(json!({"name": "p", "timeout": "1s"}), &c).await.unwrap_err();
        assert!(e.message.contains("expected 0"), "{}", e.message);
    }

    #[tokio::test]
    async fn undo_of_spawn_kills_the_grandchild_and_spares_a_reused_number() {
        let (_d, c) = ctx();
        let o = Spawn
            .run(json!({"name": "g", "argv": ["sh", "-c", "sleep 300 & echo gc=$!; wait"], "ready": {"log_regex": "gc=", "timeout": "5s"}}), &c)
            .await
            .unwrap();
        let log = std::fs::read_to_string(c.state.evidence_dir().join("g.log")).unwrap();
        let gc: i64 = log.trim().strip_prefix("gc=").unwrap().parse().unwrap();
        let undo = &o.undo[0];
        assert_eq!(undo.action, "process.kill_group");
        // A record whose start time does not match is someone else's group: left alone.
        let mut stale = undo.params.clone();
        stale["start_time"] = json!(stale["start_time"].as_u64().unwrap() + 1);
        stale.as_object_mut().unwrap().remove("name");
        KillGroup.run(stale, &c).await.unwrap();
        assert_eq!(state(gc), "S");
        let r = KillGroup.run(undo.params.clone(), &c).await.unwrap();
        assert_eq!(r.output["killed"], 2);
        assert!(matches!(state(gc).as_str(), "gone" | "Z"), "grandchild {gc}: {}", state(gc));
        // Idempotent.
        KillGroup.run(undo.params.clone(), &c).await.unwrap();
    }

    #[tokio::test]
    async fn duplicate_running_name_is_refused() {
        let (_d, c) = ctx();
        Spawn.run(json!({"name": "d", "argv": ["sleep", "30"]}), &c).await.unwrap();
        let e = Spawn.run(json!({"name": "d", "argv": ["sleep", "30"]}), &c).await.unwrap_err();
        assert!(e.message.contains("already running"));
        SignalAction.run(json!({"name": "d", "signal": "KILL"}), &c).await.unwrap();
    }
}
