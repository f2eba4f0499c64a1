//! The availability chart of each step that declares `Chart::Availability` (`http.sample`): every probe on the run's clock
//! (latency of the accepted ones, red bands where probes failed), faults and heals marked,
//! and the sampler's figures (availability, percentiles, the longest outage with bounds).
//! Rendered by its own template; the page includes the result as one block.
use super::axis::{clock_ticks, compact, coord as f, nice_step, place_marks, CHAR_W};
use super::chart::YTick;
use super::timeline::Tick;
use crate::model::{display_value, secs, RunReport, StepRecord};
use askama::Template;
use serde_json::Value;

/// The HTML of every availability chart of the run (empty when it sampled nothing).
pub(super) fn render(r: &RunReport) -> String {
    let charts: Vec<Chart> = r
        .steps
        .iter()
        .filter(|s| s.traits.chart == Some(testrunner_events::Chart::Availability))
        .filter_map(|s| Chart::new(r, s))
        .collect();
    if charts.is_empty() {
        return String::new();
    }
    // Rendering only fails on a template bug; the message is escaped like everything else.
    Charts { charts }.render().unwrap_or_else(|e| {
        let msg = e.to_string().replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        format!("<p>availability chart failed: {msg}</p>")
    })
}

#[derive(Template)]
#[template(path = "availability.html")]
struct Charts {
    charts: Vec<Chart>,
}

struct Dot {
    x: String,
    y: String,
    title: String,
}

struct Band {
    x: String,
    w: String,
    title: String,
}

struct Mark {
    x: String,
    label_y: String,
    line_y: String,
    label: String,
    title: String,
    class: &'static str,
}

struct Chart {
    step: String,
    width: String,
    height: String,
    left: String,
    right: String,
    top: String,
    base: String,
    plot_h: String,
    window_x: String,
    window_w: String,
    axis_y: String,
    caption_y: String,
    ylabel_x: String,
    tick_y2: String,
    unit_y: String,
    dots: Vec<Dot>,
    bands: Vec<Band>,
    marks: Vec<Mark>,
    xticks: Vec<Tick>,
    yticks: Vec<YTick>,
    stats: String,
    outage: String,
}

impl Chart {
    const W: f64 = 1150.0;
    const H: f64 = 236.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = Self::W - 24.0;
    const TOP: f64 = 36.0;
    const BASE: f64 = 196.0;

    fn new(r: &RunReport, s: &StepRecord) -> Option<Chart> {
        // [t_ms, latency_ms, ok] per probe, t on the run clock.
        let result = s.result.value();
        let pts: Vec<(f64, f64, bool)> = result
            .get("series")?
            .as_array()?
            .iter()
            .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?, p.get(2)?.as_bool()?)))
            .collect();
        if pts.is_empty() {
            return None;
        }
        // The run's whole clock, so the chart lines up with the timeline above it.
        let end_ms = (r.clock_end_ms() as f64).max(pts.iter().map(|p| p.0).fold(1.0, f64::max));
        let plot_w = Self::RIGHT - Self::LEFT;
        let sx = |ms: f64| Self::LEFT + ms.clamp(0.0, end_ms) / end_ms * plot_w;
        let plot_h = Self::BASE - Self::TOP;
        let peak = pts.iter().filter(|p| p.2).map(|p| p.1).fold(0.0, f64::max);
        let ystep = nice_step(peak.max(1.0), 4.0);
        let ymax = ((peak / ystep).ceil() * ystep).max(ystep);
        let sy = |v: f64| Self::BASE - v.min(ymax) / ymax * plot_h;
        let dots = pts
            .iter()
            .filter(|p| p.2)
            .map(|&(t, ms, _)| Dot {
                x: f(sx(t)),
                y: f(sy(ms)),
                title: format!("{}: up, {} ms", secs(t as u64), compact(ms)),
            })
            .collect();
        // A red band from each failed probe to the next probe (or the sampler's end).
        let stop = s.finished_ms.map(|t| t as f64).unwrap_or(end_ms);
        let mut bands: Vec<Band> = vec![];
        let mut i = 0;
        while i < pts.len() {
            if pts[i].2 {
                i += 1;
                continue;
            }
            let first = i;
            while i < pts.len() && !pts[i].2 {
                i += 1;
            }
            let (a, b) = (pts[first].0, pts.get(i).map(|p| p.0).unwrap_or(stop));
            bands.push(Band {
                x: f(sx(a)),
                w: f((sx(b) - sx(a)).max(1.5)),
                title: format!(
                    "down: {} probe(s) failed from {} to {}",
                    i - first,
                    secs(a as u64),
                    secs(b as u64)
                ),
            });
        }
        let marked: Vec<(&StepRecord, bool)> = r
            .steps
            .iter()
            .filter_map(|o| {
                let heal = o.traits.heal;
                (o.is_fault() || heal).then_some((o, heal))
            })
            .collect();
        let word = |heal: bool| if heal { "heal" } else { "fault" };
        let placed = place_marks(
            &marked
                .iter()
                .map(|(o, _)| (sx(o.started_ms as f64), o.step.chars().count() as f64 * CHAR_W))
                .collect::<Vec<_>>(),
        );
        let marks = marked
            .iter()
            .zip(placed)
            .map(|((o, heal), at)| Mark {
                x: at.x,
                label_y: at.label_y,
                line_y: at.line_y,
                label: o.step.clone(),
                title: format!("{} {} ({}) at {}", word(*heal), o.step, o.action, secs(o.started_ms)),
                class: word(*heal),
            })
            .collect();
        let xticks = clock_ticks(0, end_ms as u64, 10.0)
            .into_iter()
            .map(|(t, label)| Tick { x: f(sx(t as f64)), label })
            .collect();
        let yticks = (0..)
            .map(|i| i as f64 * ystep)
            .take_while(|v| *v <= ymax + ystep / 1000.0)
            .map(|v| YTick { y: f(sy(v)), label: compact(v) })
            .collect();
        let res = |k: &str| result.get(k).filter(|v| !v.is_null()).map(display_value);
        let stats = [
            ("availability", "availability", "%"),
            ("samples", "probes", ""),
            ("down", "down", ""),
            ("latency_p50_ms", "p50", " ms"),
            ("latency_p95_ms", "p95", " ms"),
            ("latency_p99_ms", "p99", " ms"),
            ("latency_max_ms", "max", " ms"),
        ]
        .iter()
        .filter_map(|(k, label, unit)| res(k).map(|v| format!("{label} {v}{unit}")))
        .collect::<Vec<_>>()
        .join(" · ");
        Some(Chart {
            step: s.step.clone(),
            width: f(Self::W),
            height: f(Self::H),
            left: f(Self::LEFT),
            right: f(Self::RIGHT),
            top: f(Self::TOP),
            base: f(Self::BASE),
            plot_h: f(plot_h),
            window_x: f(sx(s.started_ms as f64)),
            window_w: f(sx(stop) - sx(s.started_ms as f64)),
            axis_y: f(Self::BASE + 16.0),
            caption_y: f(Self::BASE + 34.0),
            ylabel_x: f(Self::LEFT - 6.0),
            tick_y2: f(Self::BASE + 4.0),
            unit_y: f(Self::TOP - 8.0),
            dots,
            bands,
            marks,
            xticks,
            yticks,
            stats,
            outage: outage_text(&result),
        })
    }
}

/// "Longest outage 2.1 s (at least 1.9 s, at most 2.3 s), from 4.512 s to 6.601 s."
fn outage_text(res: &Value) -> String {
    let n = |k: &str| res.get(k).and_then(Value::as_u64);
    let Some(start) = n("outage_start_ms") else {
        return "No probe failed.".into();
    };
    let ms = n("outage_ms").unwrap_or(0);
    let sec = |ms: u64| format!("{} s", display_value(&serde_json::json!(ms as f64 / 1000.0)));
    let hi = n("outage_hi_ms").map(|h| format!(", at most {}", sec(h))).unwrap_or_default();
    let lo = sec(n("outage_lo_ms").unwrap_or(0));
    let began = n("outage_start_lo_ms").map(|a| format!("began between {} and {}", secs(a), secs(start)));
    let ended = match (n("outage_end_lo_ms"), n("outage_end_ms")) {
        (Some(a), Some(b)) => format!("ended between {} and {}", secs(a), secs(b)),
        _ => "had not ended when sampling stopped".into(),
    };
    format!(
        "Longest outage {} (at least {lo}{hi}): it {}, and {ended}. {} outage(s) in all.",
        sec(ms),
        began.unwrap_or_default(),
        n("outages").unwrap_or(0)
    )
}
