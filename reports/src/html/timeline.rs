//! The timeline: steps, polls, faults, undo and harness errors on one clock.
use super::axis::{clock_ticks, coord, lanes, CHAR_W};
use super::steps::step_class;
use crate::model::{secs, RunReport};

const LABEL_W: f64 = 260.0;
const PLOT_W: f64 = 820.0;
/// Room right of the plot for the last step's duration and the last tick label.
const RIGHT_W: f64 = 70.0;
const ROW_H: f64 = 20.0;
/// Top of the phase bands (below the tick labels).
const BANDS_Y: f64 = 16.0;
const LANE_H: f64 = 13.0;

pub(super) struct Timeline {
    pub(super) width: String,
    pub(super) height: String,
    pub(super) bands_y: String,
    pub(super) plot_bottom: String,
    pub(super) band_h: String,
    pub(super) end: String,
    pub(super) axis: Vec<Tick>,
    pub(super) phases: Vec<Band>,
    pub(super) stripes: Vec<String>,
    pub(super) rows: Vec<Row>,
    pub(super) faults: Vec<Tick>,
    pub(super) marks_rows: Vec<MarkRow>,
}

pub(super) struct Tick {
    pub(super) x: String,
    pub(super) label: String,
}

pub(super) struct Band {
    pub(super) x: String,
    pub(super) w: String,
    pub(super) label: String,
    pub(super) label_y: String,
    pub(super) class: &'static str,
}

pub(super) struct Row {
    pub(super) y: String,
    pub(super) text_y: String,
    pub(super) label: String,
    /// The whole label when `label` had to be shortened to fit its column; else empty.
    pub(super) full_label: String,
    pub(super) x: String,
    pub(super) w: String,
    pub(super) class: &'static str,
    pub(super) fault: bool,
    pub(super) title: String,
    pub(super) polls: Vec<Mark>,
    pub(super) dur: String,
    pub(super) dur_x: String,
    pub(super) dur_anchor: &'static str,
}

pub(super) struct Mark {
    pub(super) x: String,
    pub(super) class: &'static str,
    pub(super) title: String,
}

/// A row of point events (undo, harness errors).
pub(super) struct MarkRow {
    pub(super) y: String,
    pub(super) text_y: String,
    pub(super) label: &'static str,
    pub(super) marks: Vec<Mark>,
}

impl Timeline {
    pub(super) fn new(r: &RunReport) -> Self {
        let end = r.clock_end_ms().max(1);
        let x = |t: u64| LABEL_W + (t.min(end) as f64) * PLOT_W / end as f64;
        let right = LABEL_W + PLOT_W + RIGHT_W;

        // Phase bands, plus setup and teardown (not phases, but where the time went).
        let mut spans: Vec<(String, u64, u64, bool)> = r
            .phases
            .iter()
            .filter_map(|p| Some((p.name.clone(), p.started_ms?, p.finished_ms.unwrap_or(end), false)))
            .collect();
        for pseudo in ["setup", "teardown"] {
            if r.phases.iter().any(|p| p.name == pseudo) {
                continue;
            }
            let mine: Vec<_> = r.steps.iter().filter(|s| s.phase == pseudo).collect();
            if let Some(start) = mine.iter().map(|s| s.started_ms).min() {
                let stop = mine.iter().map(|s| s.finished_ms.unwrap_or(end)).max().unwrap_or(end);
                spans.push((pseudo.to_string(), start, stop, true));
            }
        }
        spans.sort_by_key(|s| s.1);
        let label_lanes = lanes(
            &spans
                .iter()
                .map(|(name, a, ..)| (x(*a), name.chars().count() as f64 * CHAR_W))
                .collect::<Vec<_>>(),
            3,
        );
        let lane_count = label_lanes.iter().max().map(|l| l + 1).unwrap_or(0);
        let mut odd = false;
        let phases = spans
            .iter()
            .zip(&label_lanes)
            .map(|((name, start, stop, pseudo), lane)| {
                let class = if *pseudo {
                    "band pseudo"
                } else {
                    odd = !odd;
                    if odd {
                        "band"
                    } else {
                        "band odd"
                    }
                };
                Band {
                    x: coord(x(*start)),
                    w: coord((x(*stop) - x(*start)).max(1.0)),
                    label: name.clone(),
                    label_y: coord(BANDS_Y + LANE_H * (*lane as f64 + 1.0) - 2.0),
                    class,
                }
            })
            .collect();

        let top = BANDS_Y + LANE_H * lane_count as f64 + 4.0;
        let mut y = top;
        let mut rows = vec![];
        let max_chars = ((LABEL_W - 12.0) / CHAR_W) as usize;
        for s in &r.steps {
            let stop = s.finished_ms.unwrap_or(end);
            let (x0, x1) = (x(s.started_ms), x(stop));
            let status = s.status_word();
            let span = match (s.finished_ms, s.elapsed_ms()) {
                (Some(f), Some(e)) => format!("{} → {} ({})", secs(s.started_ms), secs(f), secs(e)),
                _ => format!("{} → never finished", secs(s.started_ms)),
            };
            let mut title = format!("{} ({}) {status}: {span}", s.step, s.action);
            if let Some(e) = &s.error {
                title.push_str(&format!(" — {e}"));
            }
            let polls = s
                .polls
                .iter()
                .map(|p| Mark {
                    x: coord(x(p.finished_ms)),
                    class: if p.error.is_some() {
                        "perr"
                    } else if p.matched {
                        "hit"
                    } else {
                        "miss"
                    },
                    title: format!(
                        "attempt {} at {}: {}{}",
                        p.attempt,
                        secs(p.finished_ms),
                        if p.matched { "matched" } else { "not yet" },
                        p.error.as_deref().map(|e| format!(" — {e}")).unwrap_or_default()
                    ),
                })
                .collect();
            let iteration = s.iteration.map(|i| format!(" #{i}")).unwrap_or_default();
            let label =
                format!("{}{}{iteration} · {}", if s.is_fault() { "⚡ " } else { "" }, s.step, s.action);
            let (label, full_label) = if label.chars().count() > max_chars {
                (format!("{}…", label.chars().take(max_chars - 1).collect::<String>()), label)
            } else {
                (label, String::new())
            };
            let dur = match (s.skipped, s.elapsed_ms()) {
                (true, _) => "skipped".to_string(),
                (false, Some(e)) => secs(e),
                (false, None) => "unfinished".to_string(),
            };
            let w = (x1 - x0).max(2.0);
            let (dur_x, dur_anchor) = if x0 + w + 4.0 + dur.chars().count() as f64 * 6.1 <= right {
                (x0 + w + 4.0, "start")
            } else {
                (x0 - 4.0, "end")
            };
            rows.push(Row {
                y: coord(y + 3.0),
                text_y: coord(y + 14.0),
                label,
                full_label,
                x: coord(x0),
                w: coord(w),
                class: step_class(s),
                fault: s.is_fault(),
                title,
                polls,
                dur,
                dur_x: coord(dur_x),
                dur_anchor,
            });
            y += ROW_H;
        }
        let mut marks_rows = vec![];
        if !r.undo.is_empty() {
            let marks = r
                .undo
                .iter()
                .map(|u| Mark {
                    x: coord(x(u.t_ms)),
                    class: if u.ok { "hit" } else { "perr" },
                    title: format!(
                        "{} {} at {}{}",
                        if u.ok { "restored" } else { "NOT RESTORED" },
                        u.description,
                        secs(u.t_ms),
                        u.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                    ),
                })
                .collect();
            marks_rows.push(MarkRow { y: coord(y + 3.0), text_y: coord(y + 14.0), label: "undo", marks });
            y += ROW_H;
        }
        if !r.harness_errors.is_empty() {
            let marks = r
                .harness_errors
                .iter()
                .map(|h| Mark {
                    x: coord(x(h.t_ms)),
                    class: "perr",
                    title: format!("[{}] at {}: {}", h.stage, secs(h.t_ms), h.message),
                })
                .collect();
            marks_rows.push(MarkRow {
                y: coord(y + 3.0),
                text_y: coord(y + 14.0),
                label: "harness errors",
                marks,
            });
            y += ROW_H;
        }
        // Zebra stripes so a label can be followed across to its bar.
        let n_rows = rows.len() + marks_rows.len();
        let stripes = (0..n_rows).filter(|i| i % 2 == 1).map(|i| coord(top + i as f64 * ROW_H)).collect();
        let faults = r
            .steps
            .iter()
            .filter(|s| s.is_fault())
            .map(|s| Tick {
                x: coord(x(s.started_ms)),
                label: format!("{} at {}", s.step, secs(s.started_ms)),
            })
            .collect();
        let axis =
            clock_ticks(0, end, 8.0).into_iter().map(|(t, label)| Tick { x: coord(x(t)), label }).collect();
        Timeline {
            width: coord(right),
            height: coord(y + 6.0),
            bands_y: coord(BANDS_Y),
            plot_bottom: coord(y),
            band_h: coord(y - BANDS_Y),
            end: secs(end),
            axis,
            phases,
            stripes,
            rows,
            faults,
            marks_rows,
        }
    }
}
