//! `readiness.txt` (and stdout): the layout of VAL26's "Final Report Format", line for
//! line. What this project adds (the evidence window's figures, the spec's `notes:`) comes
//! after the verdict, in a trailing `Notes:` section, so the seed's lines stay as they are.
use crate::Readiness;
use std::fmt::Write;

pub fn text(r: &Readiness) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", r.title);
    let _ = writeln!(o, "Generated: {}", r.generated);
    let _ = writeln!(o, "Evidence dir: {}", r.runs_dir);

    if !r.topology.trim().is_empty() || !r.note.trim().is_empty() {
        o.push_str("\nTested Topology:\n");
        for l in r.topology.trim_end().lines() {
            let _ = writeln!(o, "  {l}");
        }
        if !r.note.trim().is_empty() {
            if !r.topology.trim().is_empty() {
                o.push('\n');
            }
            for (i, l) in r.note.trim_end().lines().enumerate() {
                let _ = writeln!(o, "  {}{l}", if i == 0 { "Note: " } else { "      " });
            }
        }
    }

    o.push_str("\nScenario Coverage:\n");
    let idw = r.coverage.iter().map(|c| c.id.chars().count()).max().unwrap_or(0);
    let namew = r.coverage.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
    for c in &r.coverage {
        let _ = writeln!(o, "  {:<idw$}  {:<namew$}  {} ({})", c.id, c.name, c.status.as_str(), c.detail);
    }

    for s in &r.sections {
        let _ = writeln!(o, "\n{}:", s.title);
        for l in &s.lines {
            let _ = writeln!(o, "  {l}");
        }
    }

    let _ = writeln!(o, "\n{}-Check Matrix:", r.checks.len());
    let cw = r.checks.iter().map(|c| c.id.chars().count()).max().unwrap_or(0);
    for c in &r.checks {
        let _ = writeln!(o, "  {:<cw$} {}  {}", c.id, c.status(), c.summary);
        if !c.detail.is_empty() {
            let _ = writeln!(o, "  {:cw$}       {}", "", c.detail);
        }
    }
    let _ = writeln!(o, "\nOverall: PASS={} FAIL={}", r.pass, r.fail);

    if !r.risks.is_empty() {
        o.push_str("\nRisks and Open Gaps:\n");
        for risk in &r.risks {
            let _ = writeln!(o, "  - {risk}");
        }
    }

    o.push_str("\nReadiness Conclusion:\n");
    let mut previous: Option<&str> = None;
    for l in &r.levels {
        let _ = writeln!(o, "  {} {}", l.name, if l.reached { "✓" } else { "✗ (NOT YET)" });
        for c in &l.criteria {
            let _ = writeln!(o, "    {} {c}", if l.reached { "✓" } else { "-" });
        }
        if let Some(m) = &l.meaning {
            let _ = writeln!(o, "    Meaning: {m}");
        }
        for u in &l.unmet {
            let _ = writeln!(o, "    ✗ not met: {u}");
        }
        if !l.failed_checks.is_empty() {
            let _ = writeln!(o, "    ✗ failed: {}", l.failed_checks.join(", "));
        }
        if let (true, Some(p)) = (l.blocked_by_previous, previous) {
            let _ = writeln!(o, "    ✗ requires {p}");
        }
        previous = Some(&l.name);
    }
    let _ = writeln!(o, "\nVerdict: {}", r.verdict);

    o.push_str("\nNotes:\n");
    let _ = writeln!(o, "  {}", window_line(r));
    for n in &r.notes {
        let _ = writeln!(o, "  {n}");
    }
    o
}

/// `Evidence window: 0.75 h (… → …, 5 runs) [limit 6h] COHERENT`.
pub fn window_line(r: &Readiness) -> String {
    let w = &r.window;
    let range = match (&w.earliest, &w.latest) {
        (Some(a), Some(b)) => format!(" ({a} → {b}, {} runs)", w.runs),
        _ => " (no runs found)".into(),
    };
    let verdict = if w.ok { "COHERENT".to_string() } else { format!("NOT COHERENT ({})", w.note) };
    let missing = if w.missing.is_empty() {
        String::new()
    } else {
        format!("; not counted (MISSING): {}", w.missing.join(", "))
    };
    format!("Evidence window: {} h{range} [limit {}] {verdict}{missing}", w.span_hours, w.limit)
}
