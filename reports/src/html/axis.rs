//! Scales shared by the timeline and the charts: round ticks, label lanes, compact numbers.

/// Approximate advance of one character of the 11 px monospace chart font.
pub(super) const CHAR_W: f64 = 6.7;

/// An SVG coordinate or length, one decimal.
pub(super) fn coord(v: f64) -> String {
    format!("{:.1}", v)
}

/// A round step (1, 2 or 5 × 10^k) that cuts `span` into about `target` pieces.
pub(super) fn nice_step(span: f64, target: f64) -> f64 {
    let raw = (span / target).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let n = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * mag
}

/// A run-clock tick label with as many decimals as the tick step needs: `0.5 s`, `2 s`.
pub(super) fn tick_label(ms: u64, step_ms: u64) -> String {
    let decimals = if step_ms.is_multiple_of(1000) {
        0
    } else if step_ms.is_multiple_of(100) {
        1
    } else if step_ms.is_multiple_of(10) {
        2
    } else {
        3
    };
    format!("{:.*} s", decimals, ms as f64 / 1000.0)
}

/// Ticks on the run clock between `from` and `to` (ms), about `target` of them.
pub(super) fn clock_ticks(from: u64, to: u64, target: f64) -> Vec<(u64, String)> {
    let step = (nice_step(to.saturating_sub(from).max(1) as f64, target).round() as u64).max(1);
    let first = from.div_ceil(step) * step;
    (0..).map(|i| first + i * step).take_while(|t| *t <= to).map(|t| (t, tick_label(t, step))).collect()
}

/// Puts labels (x = left edge, width) on the first lane where they do not overlap the
/// previous label; more labels than lanes can hold share the last lane.
pub(super) fn lanes(items: &[(f64, f64)], max_lanes: usize) -> Vec<usize> {
    let mut ends: Vec<f64> = vec![];
    items
        .iter()
        .map(|(x, w)| {
            let lane = ends.iter().position(|e| *e + 6.0 <= *x).unwrap_or_else(|| {
                if ends.len() < max_lanes {
                    ends.push(f64::MIN);
                    ends.len() - 1
                } else {
                    max_lanes - 1
                }
            });
            ends[lane] = x + w;
            lane
        })
        .collect()
}

/// Where a step's mark stands on a time axis: its x, and the y of its label and of the top
/// of its line, on the first of two label lanes where the label does not overlap another.
pub(super) struct Placed {
    pub x: String,
    pub label_y: String,
    pub line_y: String,
}

/// Places marks at `x` with labels `width` wide, centred on their x.
pub(super) fn place_marks(marks: &[(f64, f64)]) -> Vec<Placed> {
    let edges: Vec<(f64, f64)> = marks.iter().map(|(x, w)| (x - w / 2.0, *w)).collect();
    marks
        .iter()
        .zip(lanes(&edges, 2))
        .map(|((x, _), lane)| Placed {
            x: coord(*x),
            label_y: coord(12.0 + 13.0 * lane as f64),
            line_y: coord(15.0 + 13.0 * lane as f64),
        })
        .collect()
}

/// `110000` → `110k`, `2500000` → `2.5M`.
pub(super) fn compact(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if v.abs() >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if v.abs() >= 1e3 {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else {
        trim(format!("{v:.2}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_labels_fit_the_step() {
        let t: Vec<String> = clock_ticks(0, 1510, 8.0).into_iter().map(|t| t.1).collect();
        assert_eq!(t, ["0.0 s", "0.2 s", "0.4 s", "0.6 s", "0.8 s", "1.0 s", "1.2 s", "1.4 s"]);
        let t: Vec<String> = clock_ticks(0, 5106, 8.0).into_iter().map(|t| t.1).collect();
        assert_eq!(t, ["0 s", "1 s", "2 s", "3 s", "4 s", "5 s"]);
        let t: Vec<u64> = clock_ticks(2412, 4710, 10.0).into_iter().map(|t| t.0).collect();
        assert_eq!(t.first(), Some(&2500));
        assert_eq!(t.last(), Some(&4500));
    }

    #[test]
    fn labels_that_would_overlap_go_to_another_lane() {
        assert_eq!(lanes(&[(0.0, 50.0), (20.0, 30.0), (100.0, 10.0), (101.0, 10.0)], 3), [0, 1, 0, 1]);
        assert_eq!(lanes(&[(0.0, 50.0), (1.0, 50.0), (2.0, 50.0)], 2), [0, 1, 1]);
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(110000.0), "110k");
        assert_eq!(compact(2_500_000.0), "2.5M");
        assert_eq!(compact(25000.0), "25k");
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(12.5), "12.5");
    }
}
