//! From check results and run facts to a verdict and an exit code — in one place.
use crate::ExitCode;
use testrunner_events::{CheckStatus, Verdict};
use testrunner_scenario::Scenario;

pub struct Facts<'a> {
    pub checks: &'a [(String, CheckStatus)],
    pub harness_error: bool,
    pub phase_failed: bool,
    pub interrupted: Option<&'a str>,
}

pub fn decide(sc: &Scenario, f: &Facts) -> (Verdict, ExitCode) {
    if let Some(sig) = f.interrupted {
        let code = if sig == "SIGTERM" { ExitCode::Terminated } else { ExitCode::Interrupted };
        return (Verdict::Interrupted, code);
    }
    if f.harness_error {
        return (Verdict::Error, ExitCode::HarnessError);
    }
    let failed = |id: &str| f.checks.iter().any(|(c, s)| c == id && *s != CheckStatus::Pass);
    let all_pass = f.checks.iter().all(|(_, s)| *s == CheckStatus::Pass);
    if all_pass && !f.phase_failed {
        return (Verdict::Pass, ExitCode::Pass);
    }
    let rule = sc.exit_codes.iter().find(|r| r.when_failed.iter().any(|id| failed(id)));
    let code = rule.map(|r| ExitCode::Scenario(r.code)).unwrap_or(ExitCode::CheckFailed);
    let p = &sc.outcome.partial_if_passed;
    if !p.is_empty() && p.iter().all(|id| !failed(id)) {
        return (Verdict::Partial, code);
    }
    (Verdict::Fail, code)
}
