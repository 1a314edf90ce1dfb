//! Equality saturation with bounds, so that compile time stays predictable on
//! large models: it stops at a node limit, an iteration limit or a time limit,
//! whichever comes first, and says which.

use std::collections::BTreeMap;
use std::time::Duration;

use egg::{Rewrite, Runner, SimpleScheduler, StopReason};

use super::analysis::{IrAnalysis, IrEGraph};
use super::language::Enode;

/// The bounds of one saturation run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub nodes: usize,
    pub iterations: usize,
    pub time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            nodes: 200_000,
            iterations: 30,
            time: Duration::from_secs(5),
        }
    }
}

/// What saturation did.
#[derive(Clone, Debug, Default)]
pub struct Saturation {
    /// Why it stopped: `saturated`, or the limit that was hit.
    pub stop: String,
    pub iterations: usize,
    pub nodes: usize,
    pub classes: usize,
    /// Rule name -> times it added something new.
    pub applied: BTreeMap<String, usize>,
}

impl Saturation {
    /// This run followed by `next` (a later phase over the same e-graph).
    pub fn then(mut self, next: Saturation) -> Saturation {
        for (rule, n) in next.applied {
            *self.applied.entry(rule).or_default() += n;
        }
        Saturation {
            stop: if self.stop == "saturated" {
                next.stop
            } else {
                self.stop
            },
            iterations: self.iterations + next.iterations,
            nodes: next.nodes,
            classes: next.classes,
            applied: self.applied,
        }
    }
}

/// Runs `rewrites` over `egraph` within `limits`.
pub fn saturate(
    egraph: IrEGraph,
    rewrites: &[Rewrite<Enode, IrAnalysis>],
    limits: Limits,
) -> (IrEGraph, Saturation) {
    // Every rule on every iteration: rule sets are small and a banned rule could
    // leave a branch unmerged.
    let runner = Runner::default()
        .with_egraph(egraph)
        .with_scheduler(SimpleScheduler)
        .with_node_limit(limits.nodes)
        .with_iter_limit(limits.iterations)
        .with_time_limit(limits.time)
        .run(rewrites);
    let mut applied = BTreeMap::new();
    for iteration in &runner.iterations {
        for (rule, &n) in &iteration.applied {
            if n > 0 {
                *applied.entry(rule.to_string()).or_default() += n;
            }
        }
    }
    let stop = match &runner.stop_reason {
        Some(StopReason::Saturated) | None => "saturated".to_string(),
        Some(StopReason::IterationLimit(n)) => format!("iteration limit ({n})"),
        Some(StopReason::NodeLimit(n)) => format!("node limit ({n})"),
        Some(StopReason::TimeLimit(s)) => format!("time limit ({s:.1} s)"),
        Some(StopReason::Other(why)) => why.clone(),
    };
    let saturation = Saturation {
        stop,
        iterations: runner.iterations.len(),
        nodes: runner.egraph.total_number_of_nodes(),
        classes: runner.egraph.number_of_classes(),
        applied,
    };
    (runner.egraph, saturation)
}
