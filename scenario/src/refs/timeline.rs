//! When every name gets its value, as an ordinal of the run's timeline.
use super::*;

/// The ordinals of everything that gets a value during a run.
pub(super) struct Timeline {
    /// Step ids, `set` names and metrics → when their value exists (the first time).
    pub(super) names: HashMap<String, Avail>,
    /// Step id → when the step starts.
    pub(super) step_at: HashMap<String, usize>,
    pub(super) phases: Vec<PhaseTimes>,
    pub(super) final_metrics: usize,
    pub(super) final_checks: usize,
    /// Background steps (id, end of their block, what, span) until their ender is known.
    pub(super) pending_bg: Vec<(String, usize, String, crate::Span)>,
}

pub(super) struct PhaseTimes {
    pub(super) start: usize,
    pub(super) metrics: usize,
    pub(super) checks: usize,
}

impl Timeline {
    pub(super) fn build(sc: &Scenario) -> Timeline {
        let mut t = Timeline {
            names: HashMap::new(),
            step_at: HashMap::new(),
            phases: vec![],
            final_metrics: 0,
            final_checks: 0,
            pending_bg: vec![],
        };
        // A var has its value from the start, also when a `set` step later changes it.
        for v in &sc.vars {
            t.define(&v.name, 0, format!("var `{}`", v.name), &v.span, false);
        }
        let mut now = 1;
        t.block(&sc.setup, "in `setup`", &mut now);
        for p in &sc.phases {
            let start = now;
            now += 1;
            t.block(&p.steps, &format!("in phase `{}`", p.name), &mut now);
            let metrics = now;
            for m in &p.metrics {
                t.define(
                    &m.name,
                    now,
                    format!("metric `{}` is computed at the end of phase `{}`", m.name, p.name),
                    &m.span,
                    false,
                );
                now += 1;
            }
            t.phases.push(PhaseTimes { start, metrics, checks: now });
            now += 1;
        }
        t.final_metrics = now;
        for m in &sc.final_metrics {
            t.define(
                &m.name,
                now,
                format!("metric `{}` is computed after the last phase", m.name),
                &m.span,
                false,
            );
            now += 1;
        }
        t.final_checks = now;
        now += 1;
        t.block(&sc.teardown, "in `teardown` (after every check)", &mut now);
        let all = sc.setup.iter().chain(sc.phases.iter().flat_map(|p| &p.steps)).chain(&sc.teardown);
        let enders: Vec<(usize, Vec<&str>)> = all.map(|s| (t.step_at[&s.id], s.ends())).collect();
        for (id, end, what, span) in std::mem::take(&mut t.pending_bg) {
            let start = t.step_at[&id];
            let at = enders
                .iter()
                .filter(|(at, ids)| *at > start && ids.contains(&id.as_str()))
                .map(|(at, _)| *at)
                .min()
                .unwrap_or(end);
            t.define(&id, at, what, &span, true);
        }
        t
    }

    pub(super) fn block(&mut self, steps: &[Step], place: &str, now: &mut usize) {
        let end = *now + steps.len();
        for s in steps {
            self.step_at.insert(s.id.clone(), *now);
            let what = format!("step `{}` runs {place}", s.id);
            if s.background {
                // A background step's result exists once its `stop:` or `wait:` ends it
                // (placed by `Timeline::build`), else at the end of its block.
                let what = format!("{what} in the background; its result exists once it is stopped");
                self.pending_bg.push((s.id.clone(), end, what, s.span.clone()));
            } else {
                self.define(&s.id, *now, what.clone(), &s.span, false);
            }
            if s.kind == StepKind::Set {
                if let Param::Map(entries) = &s.params {
                    for (k, _) in entries {
                        self.define(
                            k,
                            *now,
                            format!("`{k}` is set by step `{}`, which runs {place}", s.id),
                            &s.span,
                            false,
                        );
                    }
                }
            }
            *now += 1;
        }
    }

    pub(super) fn define(
        &mut self,
        name: &str,
        at: usize,
        what: String,
        span: &crate::Span,
        background: bool,
    ) {
        let a = Avail { at, what, span: span.clone(), background };
        match self.names.get(name) {
            Some(prev) if prev.at <= at => {}
            _ => {
                self.names.insert(name.to_string(), a);
            }
        }
    }
}
