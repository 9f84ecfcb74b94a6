//! Fault periods: when the nemesis had a fault switched on, from its history entries.

use straum_workloads::{Op, Process};

/// One span of time during which a fault was active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPeriod {
    /// The fault: what follows `start-`/`stop-` in the nemesis op's `f`, e.g.
    /// `partition`, `drop`, `latency`, `duplicate`.
    pub kind: String,
    /// When it started, ns since the main phase began.
    pub start_ns: u64,
    /// When it stopped (or the history's last time, if it never did).
    pub end_ns: u64,
}

/// The fault periods of a history, ordered by start. Each `start-X` nemesis op opens a
/// period of kind `X` (the second record of the same start, its completion, is absorbed)
/// and the next `stop-X` closes it; a period never stopped ends at the history's last
/// op time.
pub fn fault_periods(history: &[Op]) -> Vec<FaultPeriod> {
    let last = history.iter().map(|op| op.time).max().unwrap_or(0);
    let mut open: Vec<(String, u64)> = Vec::new();
    let mut periods = Vec::new();
    for op in history.iter().filter(|op| op.process == Process::Nemesis) {
        if let Some(kind) = op.f.strip_prefix("start-") {
            if !open.iter().any(|(k, _)| k == kind) {
                open.push((kind.to_string(), op.time));
            }
        } else if let Some(kind) = op.f.strip_prefix("stop-") {
            if let Some(i) = open.iter().position(|(k, _)| k == kind) {
                let (kind, start_ns) = open.remove(i);
                periods.push(FaultPeriod {
                    kind,
                    start_ns,
                    end_ns: op.time.max(start_ns),
                });
            }
        }
    }
    for (kind, start_ns) in open {
        periods.push(FaultPeriod {
            kind,
            start_ns,
            end_ns: last.max(start_ns),
        });
    }
    periods.sort_by(|a, b| (a.start_ns, &a.kind).cmp(&(b.start_ns, &b.kind)));
    periods
}

/// The distinct fault kinds of `periods`, in first-start order.
pub fn kinds(periods: &[FaultPeriod]) -> Vec<&str> {
    let mut kinds: Vec<&str> = Vec::new();
    for p in periods {
        if !kinds.contains(&p.kind.as_str()) {
            kinds.push(&p.kind);
        }
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testing::{client, nemesis};
    use straum_workloads::OpType;

    #[test]
    fn starts_and_stops_pair_up_by_kind() {
        let history = vec![
            nemesis(0, 100, "start-partition"),
            nemesis(1, 100, "start-partition"),
            nemesis(2, 150, "start-drop"),
            nemesis(3, 150, "start-drop"),
            nemesis(4, 300, "stop-partition"),
            nemesis(5, 300, "stop-partition"),
            client(6, 900, OpType::Invoke, 0, "read"),
        ];
        let periods = fault_periods(&history);
        assert_eq!(
            periods,
            vec![
                FaultPeriod {
                    kind: "partition".into(),
                    start_ns: 100,
                    end_ns: 300
                },
                FaultPeriod {
                    kind: "drop".into(),
                    start_ns: 150,
                    end_ns: 900
                },
            ]
        );
        assert_eq!(kinds(&periods), vec!["partition", "drop"]);
        assert!(fault_periods(&[]).is_empty());
    }
}
