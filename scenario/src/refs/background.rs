//! Background steps: every `stop:`/`wait:` ends one that is running where it stands.
use super::*;

/// Every `stop:` / `wait:` names a background step (a `wait` one with `until`) that is
/// running where it stands: started before it, in the same block or an earlier one (a
/// background step lives until its `stop:` or `wait:`, across phases), not re-started by a
/// repeated phase while it runs, ended once, and not in `teardown` unless started there
/// (the others are ended before teardown runs).
pub(super) fn background_lifetimes(sc: &Scenario, out: &mut Vec<Diagnostic>) {
    let mut blocks: Vec<(String, bool, &[Step])> = vec![("setup".into(), false, &sc.setup[..])];
    blocks.extend(sc.phases.iter().map(|p| (format!("phase `{}`", p.name), p.is_repeated(), &p.steps[..])));
    blocks.push(("teardown".into(), false, &sc.teardown[..]));
    let teardown = blocks.len() - 1;
    // id → (block, position, step)
    let mut at: HashMap<&str, (usize, usize, &Step)> = HashMap::new();
    for (b, (_, _, steps)) in blocks.iter().enumerate() {
        for (i, s) in steps.iter().enumerate() {
            at.insert(s.id.as_str(), (b, i, s));
        }
    }
    let bg: Vec<&str> = at.values().filter(|(_, _, s)| s.background).map(|(_, _, s)| s.id.as_str()).collect();
    let mut ended: HashMap<&str, &Step> = HashMap::new();
    for (eb, (ename, erep, steps)) in blocks.iter().enumerate() {
        for (ei, e) in steps.iter().enumerate() {
            let verb = if e.kind == StepKind::Wait { "wait" } else { "stop" };
            for target in e.ends() {
                let here = e.action_span.clone();
                let Some(&(bb, bi, b)) = at.get(target).filter(|(_, _, t)| t.background) else {
                    out.push(
                        Diagnostic::error(format!("`{verb}: {target}` names no background step"), here).hint(
                            did_you_mean(target, bg.iter().copied()).unwrap_or_else(|| {
                                format!("`{verb}` ends a step that has `background: true`")
                            }),
                        ),
                    );
                    continue;
                };
                let (bname, brep, _) = &blocks[bb];
                let problem = if e.kind == StepKind::Wait && b.until.is_none() {
                    Some((
                        format!("`wait` names `{target}`, which has no `until`"),
                        "`wait` waits for background polls (`background: true` with `until:`); end other background steps with `stop:`".to_string(),
                    ))
                } else if (bb, bi) >= (eb, ei) {
                    Some((
                        format!("`{verb}` names `{target}` before it starts"),
                        format!("move this step after `{target}`"),
                    ))
                } else if eb == teardown && bb != teardown {
                    Some((
                        format!("`{verb}: {target}` in teardown: `{target}` has already been stopped"),
                        "background steps still running are stopped at the end of the run, before the undo stack and teardown".into(),
                    ))
                } else if *brep && bb != eb {
                    Some((
                        format!("`{target}` is started again in every iteration of {bname}, but this step runs in {ename}"),
                        format!("end it in {bname}, or start it in a phase that is not repeated"),
                    ))
                } else if *erep && bb != eb {
                    Some((
                        format!("this step runs in every iteration of {ename}, but `{target}` is started once, in {bname}"),
                        format!("end `{target}` in a phase that is not repeated"),
                    ))
                } else {
                    ended.insert(target, e).map(|first| {
                        (
                            format!("`{target}` is already ended at {}", first.span),
                            "a background step is ended once: by one `stop:` or `wait:`".into(),
                        )
                    })
                };
                if let Some((title, hint)) = problem {
                    out.push(
                        Diagnostic::error(title, here)
                            .note(format!("`{target}` starts at {}", b.span))
                            .hint(hint),
                    );
                }
            }
        }
    }
}
