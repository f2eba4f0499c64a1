//! Running the runs of a suite: each `testrunner run` of one scenario in its own child
//! process (its own run id, undo stack and signal handling), up to `--jobs` at once.
//! Children get their own process group, so a terminal's Ctrl-C reaches this process
//! only; it forwards each signal once to every running child (the first makes them clean
//! up, a second abandons cleanup, as for a single run) and starts no further run.
use std::path::PathBuf;
use std::time::Instant;

/// One run to start: the child's command line and where its console goes.
pub struct Job {
    pub name: String,
    pub args: Vec<String>,
    /// Console file (stdout + stderr) when runs are parallel; None: inherit the terminal.
    pub console: Option<PathBuf>,
}

/// How a job ended.
#[derive(Debug, Clone, Default)]
pub struct Ended {
    /// None: never started.
    pub code: Option<i32>,
    pub not_run: Option<String>,
    pub problem: Option<String>,
    pub duration_ms: u64,
}

pub struct Outcome {
    pub ended: Vec<Ended>,
    pub interrupted: Option<String>,
}

pub fn run_all(jobs: Vec<Job>, parallel: usize, fail_fast: bool, quiet: bool) -> Outcome {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let problem = Some(format!("cannot start the runtime: {e}"));
            let ended =
                jobs.iter().map(|_| Ended { problem: problem.clone(), ..Default::default() }).collect();
            return Outcome { ended, interrupted: None };
        }
    };
    rt.block_on(run_async(jobs, parallel, fail_fast, quiet))
}

async fn run_async(jobs: Vec<Job>, parallel: usize, fail_fast: bool, quiet: bool) -> Outcome {
    use tokio::signal::unix::{signal, SignalKind};
    let mut ended: Vec<Ended> = jobs.iter().map(|_| Ended::default()).collect();
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        for e in &mut ended {
            e.problem = Some("cannot install the signal handlers".into());
        }
        return Outcome { ended, interrupted: None };
    };
    let total = jobs.len();
    let mut next = 0usize;
    let mut running: tokio::task::JoinSet<(usize, Result<std::process::ExitStatus, String>, u64)> =
        tokio::task::JoinSet::new();
    let mut pids: Vec<(usize, i32)> = vec![];
    let mut stop: Option<String> = None;
    let mut interrupted: Option<String> = None;
    loop {
        while stop.is_none() && running.len() < parallel && next < total {
            let i = next;
            next += 1;
            let job = &jobs[i];
            if !quiet {
                eprintln!("[{}/{total}] start {}", i + 1, job.name);
            }
            match spawn(job) {
                Ok(mut child) => {
                    if let Some(pid) = child.id() {
                        pids.push((i, pid as i32));
                    }
                    let t0 = Instant::now();
                    running.spawn(async move {
                        let status = child.wait().await.map_err(|e| e.to_string());
                        (i, status, t0.elapsed().as_millis() as u64)
                    });
                }
                Err(e) => ended[i].problem = Some(e),
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some(joined) = running.join_next() => {
                let Ok((i, status, ms)) = joined else { continue };
                pids.retain(|(j, _)| *j != i);
                let e = &mut ended[i];
                e.duration_ms = ms;
                match status {
                    Ok(s) => {
                        use std::os::unix::process::ExitStatusExt;
                        e.code = Some(s.code().unwrap_or(-1));
                        if let Some(sig) = s.signal() {
                            e.problem = Some(format!("the run was killed by signal {sig}"));
                        }
                    }
                    Err(err) => e.problem = Some(format!("cannot wait for the run: {err}")),
                }
                if !quiet {
                    let code = e.code.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
                    eprintln!("[{}/{total}] done  {} (exit {code}, {})", i + 1, jobs[i].name, secs(ms));
                }
                if fail_fast && stop.is_none() && e.code != Some(0) {
                    stop = Some(format!("--fail-fast: run {} did not pass", jobs[i].name));
                }
            }
            _ = int.recv() => forward("SIGINT", &pids, &mut stop, &mut interrupted),
            _ = term.recv() => forward("SIGTERM", &pids, &mut stop, &mut interrupted),
        }
    }
    for e in ended.iter_mut().skip(next.min(total)) {
        e.not_run = Some(stop.clone().unwrap_or_else(|| "not started".into()));
    }
    Outcome { ended, interrupted }
}

fn secs(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

/// Passes a signal on to every running child, once; the suite starts nothing more.
fn forward(name: &str, pids: &[(usize, i32)], stop: &mut Option<String>, interrupted: &mut Option<String>) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let sig = if name == "SIGTERM" { Signal::SIGTERM } else { Signal::SIGINT };
    eprintln!("\n{name}: passed on to {} running run(s); no further run starts", pids.len());
    for (_, pid) in pids {
        let _ = kill(Pid::from_raw(*pid), sig);
    }
    interrupted.get_or_insert_with(|| name.to_string());
    stop.get_or_insert_with(|| format!("interrupted by {name}"));
}

fn spawn(job: &Job) -> Result<tokio::process::Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find testrunner's own executable: {e}"))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(&job.args).stdin(std::process::Stdio::null()).process_group(0);
    if let Some(path) = &job.console {
        let file =
            std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        cmd.stdout(file).stderr(err);
    }
    cmd.spawn().map_err(|e| format!("cannot start the run: {e}"))
}
