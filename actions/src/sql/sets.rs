//! The id sets of a writer pool: in memory (kept in the run's step memory for the verifier)
//! and as a compact ranges text file (so the verifier also works from another process).
use super::idset::IdSet;
use crate::ActionError;

/// Every id the pool received from the sequence, by outcome, plus the grouping of the
/// unknown ones into batches (a transaction is atomic: an unknown batch must be wholly
/// present or wholly absent).
#[derive(Default, Debug)]
pub struct WriterSets {
    pub acked: IdSet,
    pub failed: IdSet,
    pub unknown: IdSet,
    pub unknown_batches: Vec<Vec<i64>>,
    /// Every batch's ids as runs, with its number and outcome. A row is the pool's only if
    /// its `batch` column matches: a promoted standby's sequence may hand out again ids the
    /// dead primary gave to batches whose WAL never reached it. (Empty for an ids file
    /// written by hand: then rows are judged by id alone.)
    pub runs: Vec<Run>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Run {
    pub first: i64,
    pub last: i64,
    pub batch: i64,
    pub class: Class,
}

impl WriterSets {
    /// Records a batch's ids under its number and outcome.
    pub fn record(&mut self, class: Class, batch: i64, ids: &[i64]) {
        for (first, last) in runs_of(ids) {
            self.runs.push(Run { first, last, batch, class });
        }
        self.record_ids(class, ids);
    }

    /// Records ids without a batch number (hand-written ids files, tests).
    pub fn record_ids(&mut self, class: Class, ids: &[i64]) {
        let set = match class {
            Class::Acked => &mut self.acked,
            Class::Failed => &mut self.failed,
            Class::Unknown => &mut self.unknown,
        };
        for id in ids {
            set.insert(*id);
        }
        if class == Class::Unknown {
            self.unknown_batches.push(ids.to_vec());
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Class {
    Acked,
    Failed,
    Unknown,
}

pub fn ids_file_name(step: &str) -> String {
    format!("writers-{step}.ids")
}

fn runs_of(ids: &[i64]) -> Vec<(i64, i64)> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = vec![];
    for id in v {
        match out.last_mut() {
            Some((_, e)) if *e + 1 == id => *e = id,
            _ => out.push((id, id)),
        }
    }
    out
}

fn ranges_of(ids: &[i64]) -> String {
    runs_of(ids).iter().map(|(a, b)| format!("{a}-{b}")).collect::<Vec<_>>().join(",")
}

fn class_label(c: Class) -> &'static str {
    match c {
        Class::Acked => "acked",
        Class::Failed => "failed",
        Class::Unknown => "unknown",
    }
}

/// `acked 1-5000` ... one line per run of ids and outcome; `ubatch 7-9,12-13` per unknown batch.
pub fn render_ids(sets: &WriterSets) -> String {
    let mut out = String::from("# testrunner sql.writers ids v1\n");
    for (label, set) in [("acked", &sets.acked), ("unknown", &sets.unknown), ("failed", &sets.failed)] {
        for (a, b) in set.ranges() {
            out.push_str(&format!("{label} {a}-{b}\n"));
        }
    }
    for b in &sets.unknown_batches {
        out.push_str(&format!("ubatch {}\n", ranges_of(b)));
    }
    for r in &sets.runs {
        out.push_str(&format!("batch {} {} {}-{}\n", r.batch, class_label(r.class), r.first, r.last));
    }
    out
}

fn parse_range(r: &str) -> Option<(i64, i64)> {
    let (a, b) = r.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

pub fn parse_ids(text: &str) -> Result<WriterSets, ActionError> {
    let mut s = WriterSets::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || ActionError::new(format!("ids file line {}: `{line}`", n + 1));
        let (label, rest) = line.split_once(' ').ok_or_else(bad)?;
        if label == "batch" {
            let mut f = rest.split(' ');
            let batch = f.next().and_then(|b| b.parse().ok()).ok_or_else(bad)?;
            let class = match f.next() {
                Some("acked") => Class::Acked,
                Some("failed") => Class::Failed,
                Some("unknown") => Class::Unknown,
                _ => return Err(bad()),
            };
            let (first, last) = f.next().and_then(parse_range).ok_or_else(bad)?;
            s.runs.push(Run { first, last, batch, class });
            continue;
        }
        if label == "ubatch" {
            let mut batch = vec![];
            for r in rest.split(',') {
                let (a, b) = parse_range(r).ok_or_else(bad)?;
                batch.extend(a..=b);
            }
            s.unknown_batches.push(batch);
            continue;
        }
        let (a, b) = parse_range(rest).ok_or_else(bad)?;
        let set = match label {
            "acked" => &mut s.acked,
            "unknown" => &mut s.unknown,
            "failed" => &mut s.failed,
            _ => return Err(ActionError::new(format!("ids file line {}: unknown label `{label}`", n + 1))),
        };
        for id in a..=b {
            set.insert(id);
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ids_file_round_trips() {
        let mut s = WriterSets::default();
        s.record(Class::Acked, 0, &(1..=100).collect::<Vec<_>>());
        s.record(Class::Unknown, 1, &[101, 102, 105]);
        s.record(Class::Failed, 2, &[103, 104]);
        let text = render_ids(&s);
        assert!(text.contains("acked 1-100\n") && text.contains("ubatch 101-102,105-105\n"), "{text}");
        let back = parse_ids(&text).unwrap();
        assert_eq!(back.acked, s.acked);
        assert_eq!(back.failed, s.failed);
        assert_eq!(back.unknown, s.unknown);
        assert_eq!(back.unknown_batches, vec![vec![101, 102, 105]]);
        assert_eq!(back.runs, s.runs);
        assert!(text.contains("batch 1 unknown 105-105\n"), "{text}");
        assert!(parse_ids("acked 5").is_err() && parse_ids("lost 1-2").is_err());
    }
}
