//! What an action declares about itself: recorded on its steps' start events, read by reports.
use serde::{Deserialize, Serialize};

/// What an action declares about itself in its spec, so reports and the engine need no
/// lists of action names. Recorded on the step's start event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTraits {
    /// Injects a fault (stops, kills, pauses, deletes, partitions): marked on timelines and charts.
    #[serde(default, skip_serializing_if = "is_false")]
    pub fault: bool,
    /// Triggers a failover (promotes a standby): marked as a promotion on charts.
    #[serde(default, skip_serializing_if = "is_false")]
    pub failover: bool,
    /// Ends a fault (heals a partition, reconnects, starts or unpauses): marked green on charts.
    #[serde(default, skip_serializing_if = "is_false")]
    pub heal: bool,
    /// Its result carries a time series the HTML report draws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<Chart>,
}

/// A time series chart the HTML report knows how to draw from a step's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chart {
    /// `series: [[second, rows/s], ...]` plus `acknowledged`, `failed`, `unknown`, `errors`:
    /// a writer pool's acknowledged rows per second.
    WriteRate,
    /// `series: [[t_ms, latency_ms, up], ...]` plus availability figures: an HTTP sampler's
    /// probes on the run clock.
    Availability,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ActionTraits {
    /// An action that only observes or sets up.
    pub const NONE: ActionTraits = ActionTraits { fault: false, failover: false, heal: false, chart: None };
    /// An action that injects a fault.
    pub const FAULT: ActionTraits = ActionTraits { fault: true, failover: false, heal: false, chart: None };
    /// An action that triggers a failover.
    pub const FAILOVER: ActionTraits =
        ActionTraits { fault: false, failover: true, heal: false, chart: None };
    /// An action that ends a fault.
    pub const HEAL: ActionTraits = ActionTraits { fault: false, failover: false, heal: true, chart: None };

    /// True when nothing is declared (the journal then records nothing).
    pub fn is_none(&self) -> bool {
        *self == ActionTraits::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traits_are_left_out_of_the_journal_when_none_are_declared() {
        assert_eq!(serde_json::to_string(&ActionTraits::NONE).unwrap(), "{}");
        let t = ActionTraits { chart: Some(Chart::WriteRate), ..ActionTraits::FAULT };
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(text, r#"{"fault":true,"chart":"write_rate"}"#);
        assert_eq!(serde_json::from_str::<ActionTraits>(&text).unwrap(), t);
        assert_eq!(serde_json::from_str::<ActionTraits>("{}").unwrap(), ActionTraits::NONE);
    }
}
