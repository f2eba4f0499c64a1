//! The write-rate chart: a writer pool's acknowledged rows per second, faults and promotions marked.
use super::axis::{clock_ticks, compact, coord, nice_step, place_marks, CHAR_W};
use super::timeline::Tick;
use crate::model::{display_value, secs, RunReport, StepRecord};
use serde_json::Value;
use testrunner_events::Chart;

pub(super) struct RateBar {
    pub(super) x: String,
    pub(super) y: String,
    pub(super) w: String,
    pub(super) h: String,
    pub(super) title: String,
}

pub(super) struct RateMark {
    pub(super) x: String,
    pub(super) label_y: String,
    pub(super) line_y: String,
    pub(super) label: String,
    pub(super) class: &'static str,
}

pub(super) struct YTick {
    pub(super) y: String,
    pub(super) label: String,
}

pub(super) struct WriteRate {
    pub(super) step: String,
    pub(super) width: String,
    pub(super) height: String,
    pub(super) left: String,
    pub(super) right: String,
    pub(super) top: String,
    pub(super) base: String,
    pub(super) plot_h: String,
    /// The writers' active window (x, width): no bar in it means zero rows acknowledged.
    pub(super) window_x: String,
    pub(super) window_w: String,
    pub(super) axis_y: String,
    pub(super) caption_y: String,
    pub(super) ylabel_x: String,
    pub(super) tick_y2: String,
    pub(super) unit_y: String,
    pub(super) bucket: String,
    pub(super) peak: String,
    pub(super) bars: Vec<RateBar>,
    pub(super) marks: Vec<RateMark>,
    pub(super) xticks: Vec<Tick>,
    pub(super) yticks: Vec<YTick>,
    pub(super) stats: String,
    pub(super) errors: Vec<String>,
    pub(super) rto: String,
}

impl WriteRate {
    const W: f64 = 1150.0;
    const H: f64 = 236.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = Self::W - 24.0;
    const TOP: f64 = 36.0;
    const BASE: f64 = 196.0;

    /// One chart per step whose action declares a write-rate chart and whose result carries a `series` of [second, rows/s].
    pub(super) fn all(r: &RunReport) -> Vec<WriteRate> {
        r.steps
            .iter()
            .filter(|s| s.traits.chart == Some(Chart::WriteRate))
            .filter_map(|s| Self::new(r, s))
            .collect()
    }

    fn new(r: &RunReport, s: &StepRecord) -> Option<WriteRate> {
        let result = s.result.value();
        let series: Vec<(f64, f64)> = result
            .get("series")?
            .as_array()?
            .iter()
            .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
            .collect();
        if series.is_empty() {
            return None;
        }
        // The bucket width: the smallest gap between samples (0.1 s, 1 s, ...).
        let bucket = series.windows(2).map(|w| w[1].0 - w[0].0).filter(|d| *d > 0.0).fold(f64::MAX, f64::min);
        let bucket = if bucket == f64::MAX { 1.0 } else { bucket.max(0.001) };
        let last = series.iter().map(|p| p.0).fold(0.0, f64::max);
        let start_ms = s.started_ms as f64;
        let series_end = start_ms + (last + bucket) * 1000.0;
        let end_ms = s.finished_ms.map(|f| f as f64).unwrap_or(series_end).max(series_end);
        let span_ms = (end_ms - start_ms).max(1.0);
        let plot_w = Self::RIGHT - Self::LEFT;
        let sx = |ms: f64| Self::LEFT + (ms - start_ms).clamp(0.0, span_ms) / span_ms * plot_w;
        let plot_h = Self::BASE - Self::TOP;
        let peak = series.iter().map(|p| p.1).fold(0.0, f64::max);
        let ystep = nice_step(peak.max(1.0), 4.0);
        let ymax = ((peak / ystep).ceil() * ystep).max(ystep);
        let sy = |v: f64| Self::BASE - v / ymax * plot_h;
        let bw = bucket * 1000.0 / span_ms * plot_w;
        let bars = series
            .iter()
            .map(|(sec, n)| {
                let t = start_ms + sec * 1000.0;
                RateBar {
                    x: coord(sx(t)),
                    y: coord(sy(*n)),
                    w: coord(if bw > 3.0 { bw - 1.0 } else { bw.max(1.0) }),
                    h: coord(Self::BASE - sy(*n)),
                    title: format!(
                        "{} → {}: {} rows/s acknowledged",
                        secs(t.round() as u64),
                        secs((t + bucket * 1000.0).round() as u64),
                        display_value(&serde_json::json!(n))
                    ),
                }
            })
            .collect();
        let marked: Vec<(&StepRecord, bool)> = r
            .steps
            .iter()
            .filter(|o| o.started_ms as f64 >= start_ms && (o.started_ms as f64) <= end_ms)
            .filter_map(|o| {
                // A failover action, or a step named for one (a `kube.patch` that promotes).
                let promote = o.traits.failover || o.step.contains("promot");
                (o.is_fault() || promote).then_some((o, promote))
            })
            .collect();
        let word = |promote: bool| if promote { "promote" } else { "kill" };
        let placed = place_marks(
            &marked
                .iter()
                .map(|(o, p)| (sx(o.started_ms as f64), word(*p).len() as f64 * CHAR_W))
                .collect::<Vec<_>>(),
        );
        let marks = marked
            .iter()
            .zip(placed)
            .map(|((o, promote), at)| RateMark {
                x: at.x,
                label_y: at.label_y,
                line_y: at.line_y,
                label: format!("{} ({}) at {}", o.step, o.action, secs(o.started_ms)),
                class: word(*promote),
            })
            .collect();
        let xticks = clock_ticks(start_ms as u64, end_ms as u64, 10.0)
            .into_iter()
            .map(|(t, label)| Tick { x: coord(sx(t as f64)), label })
            .collect();
        let yticks = (0..)
            .map(|i| i as f64 * ystep)
            .take_while(|v| *v <= ymax + ystep / 1000.0)
            .map(|v| YTick { y: coord(sy(v)), label: compact(v) })
            .collect();
        let rto = match r.metrics.iter().find(|m| m.name == "rto_ms") {
            Some(m) if !m.value.is_null() => match m.interval {
                Some([lo, hi]) => format!(
                    "RTO {} ms, measured to the first poll that saw the new primary; the promotion completed in [{}, {}] ms.",
                    display_value(&m.value),
                    compact(lo),
                    compact(hi)
                ),
                None => format!("RTO {} ms", display_value(&m.value)),
            },
            _ => String::new(),
        };
        let res = |k: &str| result.get(k).filter(|v| !v.is_null()).map(display_value);
        let stats = [
            ("acknowledged", "acknowledged"),
            ("failed", "failed"),
            ("unknown", "unknown (in doubt)"),
            ("attempted", "attempted"),
            ("rows_per_s", "mean rows/s"),
            ("workers", "workers"),
        ]
        .iter()
        .filter_map(|(k, label)| res(k).map(|v| format!("{label} {v}")))
        .collect::<Vec<_>>()
        .join(" · ");
        let errors = result
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| a.iter().take(20).map(display_value).collect())
            .unwrap_or_default();
        Some(WriteRate {
            step: s.step.clone(),
            width: coord(Self::W),
            height: coord(Self::H),
            left: coord(Self::LEFT),
            right: coord(Self::RIGHT),
            top: coord(Self::TOP),
            base: coord(Self::BASE),
            plot_h: coord(plot_h),
            window_x: coord(sx(start_ms)),
            window_w: coord(sx(s.finished_ms.map(|f| f as f64).unwrap_or(end_ms)) - sx(start_ms)),
            axis_y: coord(Self::BASE + 16.0),
            caption_y: coord(Self::BASE + 34.0),
            ylabel_x: coord(Self::LEFT - 6.0),
            tick_y2: coord(Self::BASE + 4.0),
            unit_y: coord(Self::TOP - 8.0),
            bucket: format!("{} s", display_value(&serde_json::json!(bucket))),
            peak: format!("{} rows/s", display_value(&serde_json::json!(peak))),
            bars,
            marks,
            xticks,
            yticks,
            stats,
            errors,
            rto,
        })
    }
}
