//! The consistency-model lattice (after Elle's `elle.consistency-model`): which
//! anomalies imply which, which models imply which, which anomalies each model
//! prohibits, and from a set of anomalies the weakest models ruled out (`not`) and
//! the stronger ones that fall with them (`also-not`).
//!
//! Models are handled under canonical names (Adya's `PL-*` where one exists) and
//! reported under friendly ones, as Elle does.

use std::collections::{BTreeSet, VecDeque};

/// Friendly model names and their canonical forms.
const CANONICAL: &[(&str, &str)] = &[
    ("consistent-view", "PL-2+"),
    ("conflict-serializable", "PL-3"),
    ("cursor-stability", "PL-CS"),
    ("forward-consistent-view", "PL-FCV"),
    ("monotonic-snapshot-read", "PL-MSR"),
    ("monotonic-view", "PL-2L"),
    ("read-committed", "PL-2"),
    ("read-uncommitted", "PL-1"),
    ("repeatable-read", "PL-2.99"),
    ("serializable", "PL-3"),
    ("snapshot-isolation", "PL-SI"),
    ("strict-serializable", "PL-SS"),
    ("strong-serializable", "PL-SS"),
    ("update-serializable", "PL-3U"),
    ("strong-session-read-uncommitted", "strong-session-PL-1"),
    ("strong-session-read-committed", "strong-session-PL-2"),
    ("strong-read-uncommitted", "strong-PL-1"),
    ("strong-read-committed", "strong-PL-2"),
];

/// Model → models it implies (a history satisfying the first satisfies these),
/// in friendly or canonical names.
const MODELS: &[(&str, &[&str])] = &[
    ("causal-cerone", &["read-atomic"]),
    ("consistent-view", &["cursor-stability", "monotonic-view"]),
    ("conflict-serializable", &["view-serializable"]),
    ("cursor-stability", &["read-committed", "PL-2"]),
    ("forward-consistent-view", &["consistent-view"]),
    ("PL-2", &["PL-1"]),
    ("PL-3", &["repeatable-read", "update-serializable"]),
    ("update-serializable", &["forward-consistent-view"]),
    ("monotonic-atomic-view", &["read-committed"]),
    ("monotonic-view", &["PL-2"]),
    ("monotonic-snapshot-read", &["PL-2"]),
    (
        "parallel-snapshot-isolation",
        &["causal-cerone", "update-atomic"],
    ),
    ("prefix", &["causal-cerone"]),
    ("read-atomic", &["monotonic-atomic-view"]),
    ("read-committed", &["read-uncommitted"]),
    (
        "repeatable-read",
        &["cursor-stability", "monotonic-atomic-view"],
    ),
    ("update-atomic", &["read-atomic"]),
    (
        "serializable",
        &["repeatable-read", "snapshot-isolation", "view-serializable"],
    ),
    ("session-serializable", &["1SR"]),
    (
        "snapshot-isolation",
        &[
            "forward-consistent-view",
            "monotonic-atomic-view",
            "monotonic-snapshot-read",
            "parallel-snapshot-isolation",
            "prefix",
        ],
    ),
    (
        "strict-serializable",
        &[
            "PL-3",
            "serializable",
            "linearizable",
            "snapshot-isolation",
            "strong-snapshot-isolation",
            "strong-session-serializable",
        ],
    ),
    ("strong-session-PL-1", &["PL-1"]),
    ("strong-session-PL-2", &["PL-2", "strong-session-PL-1"]),
    ("strong-PL-1", &["strong-session-PL-1"]),
    ("strong-PL-2", &["strong-session-PL-2", "strong-PL-1"]),
    (
        "strong-session-serializable",
        &["serializable", "strong-session-snapshot-isolation"],
    ),
    (
        "strong-session-snapshot-isolation",
        &["snapshot-isolation", "strong-session-PL-2"],
    ),
    ("strong-serializable", &["session-serializable"]),
    (
        "strong-snapshot-isolation",
        &["strong-session-snapshot-isolation", "strong-PL-2"],
    ),
    ("linearizable", &["sequential"]),
    ("sequential", &["causal"]),
    ("causal", &["writes-follow-reads", "PRAM"]),
    (
        "PRAM",
        &["monotonic-reads", "monotonic-writes", "read-your-writes"],
    ),
];

/// Anomaly → anomalies its presence implies.
const IMPLIED: &[(&str, &[&str])] = &[
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1a", &["G1"]),
    ("G1b", &["G1"]),
    ("G1c", &["G1", "G1c-process"]),
    ("G1c-process", &["G1c-realtime", "G1-process"]),
    ("G1c-realtime", &["G1-realtime"]),
    ("G1", &["G1-process"]),
    ("G1-process", &["G1-realtime"]),
    (
        "G-single-item",
        &["G-single", "G-single-item-process", "G-nonadjacent-item"],
    ),
    (
        "G-single-item-process",
        &[
            "G-single-process",
            "G-single-item-realtime",
            "G-nonadjacent-item-process",
        ],
    ),
    (
        "G-single-item-realtime",
        &["G-single-realtime", "G-nonadjacent-item-realtime"],
    ),
    ("G-single", &["G-nonadjacent", "GSIb", "G-single-process"]),
    (
        "G-single-process",
        &["G-nonadjacent-process", "G-single-realtime"],
    ),
    ("G-single-realtime", &["G-nonadjacent-realtime"]),
    (
        "G-nonadjacent-item",
        &["G-nonadjacent", "G2-item", "G-nonadjacent-item-process"],
    ),
    (
        "G-nonadjacent-item-process",
        &[
            "G-nonadjacent-process",
            "G2-item-process",
            "G-nonadjacent-item-realtime",
        ],
    ),
    (
        "G-nonadjacent-item-realtime",
        &["G2-item-realtime", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent", &["G2", "G-nonadjacent-process"]),
    (
        "G-nonadjacent-process",
        &["G2-process", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent-realtime", &["G2-realtime"]),
    ("G2", &["G2-process"]),
    ("G2-item", &["G2", "G2-item-process"]),
    ("G2-item-process", &["G2-process", "G2-item-realtime"]),
    ("G2-item-realtime", &["G2-realtime"]),
    ("G2-process", &["G2-realtime"]),
    ("GSIa", &["GSI"]),
    ("GSIb", &["GSI"]),
    ("incompatible-order", &["G1a"]),
    ("garbage-read", &["G1a"]),
    ("future-read", &["G1c"]),
    ("dirty-update", &["G1a"]),
    ("lost-update", &["write-skew", "G2-item"]),
    ("write-skew", &["G2"]),
];

/// Canonical model → anomalies it prohibits directly (over the models it implies).
const PROSCRIBED: &[(&str, &[&str])] = &[
    ("causal-cerone", &["internal", "G1a"]),
    ("cursor-stability", &["G1", "G-cursor", "lost-update"]),
    ("monotonic-view", &["G1", "G-monotonic"]),
    ("monotonic-snapshot-read", &["G1", "G-MSR"]),
    ("consistent-view", &["G1", "G-single"]),
    ("forward-consistent-view", &["G1", "G-SIb"]),
    ("parallel-snapshot-isolation", &["internal", "G1a"]),
    (
        "PL-3",
        &["G1", "G2", "predicate-read-miss", "PL-3-cycle-exists"],
    ),
    ("PL-2", &["G1", "PL-2-cycle-exists"]),
    (
        "PL-1",
        &[
            "G0",
            "duplicate-elements",
            "cyclic-versions",
            "PL-1-cycle-exists",
        ],
    ),
    ("prefix", &["internal", "G1a"]),
    ("serializable", &["internal"]),
    (
        "snapshot-isolation",
        &[
            "internal",
            "G1",
            "G-SI",
            "G-nonadjacent",
            "PL-SI-cycle-exists",
        ],
    ),
    ("read-atomic", &["internal", "G1a", "future-read"]),
    (
        "repeatable-read",
        &["G1", "G2-item", "PL-2.99-cycle-exists", "lost-update"],
    ),
    ("update-atomic", &["lost-update"]),
    (
        "strict-serializable",
        &["G1", "G1c-realtime", "G2-realtime", "PL-SS-cycle-exists"],
    ),
    (
        "strong-session-PL-1",
        &["strong-session-PL-1-cycle-exists", "G0-process"],
    ),
    (
        "strong-session-PL-2",
        &["strong-session-PL-2-cycle-exists", "G1c-process"],
    ),
    ("strong-PL-1", &["strong-PL-1-cycle-exists", "G0-realtime"]),
    ("strong-PL-2", &["strong-PL-2-cycle-exists", "G1c-realtime"]),
    (
        "strong-session-snapshot-isolation",
        &[
            "internal",
            "G1-process",
            "G-nonadjacent-process",
            "strong-session-snapshot-isolation-cycle-exists",
        ],
    ),
    (
        "strong-snapshot-isolation",
        &[
            "internal",
            "G1-realtime",
            "G-nonadjacent-realtime",
            "strong-snapshot-isolation-cycle-exists",
        ],
    ),
    (
        "strong-session-serializable",
        &[
            "G1-process",
            "G2-process",
            "strong-session-serializable-cycle-exists",
        ],
    ),
    ("update-serializable", &["G1", "G-update"]),
];

/// The canonical name of a model (itself when it has no other).
pub fn canonical(model: &str) -> &str {
    CANONICAL
        .iter()
        .find(|(friendly, _)| *friendly == model)
        .map_or(model, |(_, c)| c)
}

/// The friendly name of a canonical model (`PL-3` → `serializable`).
pub fn friendly(model: &str) -> &str {
    if model == "PL-3" {
        return "serializable";
    }
    CANONICAL
        .iter()
        .find(|(_, c)| *c == model)
        .map_or(model, |(f, _)| f)
}

/// Every model name accepted, sorted.
pub fn known_models() -> BTreeSet<&'static str> {
    let mut all = BTreeSet::new();
    for (a, bs) in MODELS {
        all.insert(*a);
        all.extend(bs.iter().copied());
    }
    for (f, c) in CANONICAL {
        all.insert(*f);
        all.insert(*c);
    }
    all
}

/// Edges of a graph given as (vertex, successors), in canonical model names when
/// `models` is set.
fn edges(
    table: &'static [(&'static str, &'static [&'static str])],
    models: bool,
) -> impl Iterator<Item = (&'static str, &'static str)> {
    table.iter().flat_map(move |(a, bs)| {
        bs.iter().map(move |b| {
            if models {
                (canonical(a), canonical(b))
            } else {
                (*a, *b)
            }
        })
    })
}

/// Everything reachable from `start` along `step` (start included).
fn closure<'a>(
    start: impl IntoIterator<Item = &'a str>,
    step: impl Fn(&str) -> Vec<&'a str>,
) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<&str> = start.into_iter().collect();
    while let Some(v) = queue.pop_front() {
        if seen.insert(v) {
            queue.extend(step(v));
        }
    }
    seen
}

fn out_of(
    table: &'static [(&'static str, &'static [&'static str])],
    models: bool,
    v: &str,
) -> Vec<&'static str> {
    edges(table, models)
        .filter(|(a, _)| *a == v)
        .map(|(_, b)| b)
        .collect()
}

fn into(
    table: &'static [(&'static str, &'static [&'static str])],
    models: bool,
    v: &str,
) -> Vec<&'static str> {
    edges(table, models)
        .filter(|(_, b)| *b == v)
        .map(|(a, _)| a)
        .collect()
}

/// The anomalies that must be absent for all of `models` to hold (including every
/// anomaly that would imply a prohibited one).
pub fn prohibited_by(models: &[String]) -> BTreeSet<String> {
    let implied = closure(models.iter().map(|m| canonical(m)), |m| {
        out_of(MODELS, true, m)
    });
    let direct: Vec<&str> = implied
        .iter()
        .flat_map(|m| out_of(PROSCRIBED, true, m))
        .collect();
    closure(direct, |a| into(IMPLIED, false, a))
        .into_iter()
        .map(String::from)
        .collect()
}

/// Canonical models that cannot hold given `anomalies`.
fn impossible(anomalies: &[&str]) -> BTreeSet<&'static str> {
    let implied = closure(anomalies.iter().copied(), |a| out_of(IMPLIED, false, a));
    let direct: Vec<&str> = implied
        .iter()
        .flat_map(|a| into(PROSCRIBED, true, a))
        .collect();
    closure(direct, |m| into(MODELS, true, m))
        .into_iter()
        .filter_map(|m| known_models().get(m).copied())
        .collect()
}

/// From the anomalies found: (`not`: the weakest models ruled out, `also-not`: the
/// other ruled-out models), in friendly names, sorted.
pub fn boundary(anomalies: &[&str]) -> (Vec<String>, Vec<String>) {
    let ruled_out = impossible(anomalies);
    let mut weakest: BTreeSet<&str> = ruled_out.clone();
    for m in &ruled_out {
        let below = closure(out_of(MODELS, true, m), |x| out_of(MODELS, true, x));
        if below.iter().any(|b| *b != *m && weakest.contains(b)) {
            weakest.remove(m);
        }
    }
    let friendly_set = |set: &BTreeSet<&str>| -> Vec<String> {
        let names: BTreeSet<String> = set.iter().map(|m| friendly(m).to_string()).collect();
        names.into_iter().collect()
    };
    let rest: BTreeSet<&str> = ruled_out.difference(&weakest).copied().collect();
    (friendly_set(&weakest), friendly_set(&rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn read_uncommitted_prohibits_g0_but_not_g1() {
        let p = prohibited_by(&s(&["read-uncommitted"]));
        assert!(p.contains("G0") && p.contains("duplicate-elements"));
        assert!(p.contains("cyclic-versions"));
        assert!(!p.contains("G1a") && !p.contains("G1c") && !p.contains("G-single"));
    }

    #[test]
    fn each_stronger_model_adds_its_anomalies() {
        let rc = prohibited_by(&s(&["read-committed"]));
        assert!(rc.contains("G1a") && rc.contains("G1b") && rc.contains("G1c"));
        assert!(rc.contains("G0") && rc.contains("incompatible-order"));
        assert!(!rc.contains("G-single") && !rc.contains("internal"));
        let ser = prohibited_by(&s(&["serializable"]));
        assert!(ser.contains("G-single") && ser.contains("G2-item") && ser.contains("internal"));
        assert!(!ser.contains("G-single-realtime") && !ser.contains("G0-process"));
        let strict = prohibited_by(&s(&["strict-serializable"]));
        assert!(strict.contains("G-single-realtime") && strict.contains("G0-realtime"));
        assert!(strict.contains("G2-item-process"));
        let si = prohibited_by(&s(&["snapshot-isolation"]));
        assert!(si.contains("G-single") && !si.contains("G2-item"));
    }

    #[test]
    fn boundary_names_the_weakest_models_ruled_out() {
        let (not, also) = boundary(&["G1c"]);
        assert_eq!(not, s(&["read-committed"]));
        assert!(also.contains(&"serializable".to_string()));
        assert!(also.contains(&"strict-serializable".to_string()));
        let (not, also) = boundary(&["G0"]);
        assert_eq!(not, s(&["read-uncommitted"]));
        assert!(also.contains(&"read-committed".to_string()));
        let (not, _) = boundary(&["G-single-realtime"]);
        assert!(
            not.contains(&"strong-snapshot-isolation".to_string()),
            "{not:?}"
        );
        assert!(!not.contains(&"serializable".to_string()));
        let (not, also) = boundary(&["G2-item"]);
        assert_eq!(not, s(&["repeatable-read"]));
        assert!(also.contains(&"serializable".to_string()));
    }

    #[test]
    fn friendly_and_canonical_names_round_trip() {
        assert_eq!(canonical("serializable"), "PL-3");
        assert_eq!(friendly("PL-3"), "serializable");
        assert_eq!(friendly(canonical("read-committed")), "read-committed");
        assert!(known_models().contains("snapshot-isolation"));
    }
}
