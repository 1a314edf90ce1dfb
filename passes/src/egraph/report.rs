//! What the e-graph pass reports: why saturation stopped, how big the e-graph got,
//! which rules fired, and the kernels and estimated cost before and after.

use std::collections::BTreeMap;
use std::fmt;

use nnc_ir::Graph;

/// The e-graph pass's account of one run.
#[derive(Clone, Debug, Default)]
pub struct EgraphReport {
    pub stop: String,
    pub iterations: usize,
    pub egraph_nodes: usize,
    pub egraph_classes: usize,
    /// Rule name -> times it added something new.
    pub rewrites: BTreeMap<String, usize>,
    /// Nodes per op name of the graph entering and leaving the pass.
    pub ops_before: BTreeMap<String, usize>,
    pub ops_after: BTreeMap<String, usize>,
    /// Nodes that compute at run time (not folded from constants).
    pub kernels_before: usize,
    pub kernels_after: usize,
    /// Estimated run time of the program before and after, in seconds.
    pub seconds_before: f64,
    pub seconds_after: f64,
    pub millis: f64,
    /// Of which: saturation, extraction (both runs) and building the graph with
    /// its new weights.
    pub saturate_millis: f64,
    pub extract_millis: f64,
    pub rebuild_millis: f64,
    /// Not counted in the three above: building the e-graph from the graph, and
    /// freeing it.
    pub convert_millis: f64,
    pub drop_millis: f64,
    /// Saturation's time by phase.
    pub phases: super::runner::Phases,
    /// E-classes saturation searched, over all iterations: its work, as a count
    /// (times vary with the machine's load; this does not).
    pub class_visits: usize,
    /// Whether the rewritten graph was kept (false when it was not cheaper, or
    /// could not be built).
    pub applied: bool,
    /// Why the extracted program could not be turned back into IR, if it could not.
    pub rebuild_error: Option<String>,
    /// The machine model the costs come from (the target's, when the driver
    /// knows it).
    pub roofline: super::Roofline,
}

/// Nodes per op name.
pub fn op_histogram(graph: &Graph) -> BTreeMap<String, usize> {
    let mut ops = BTreeMap::new();
    for (_, node) in graph.nodes() {
        // A fused kernel by what it computes (`Conv+Add+Relu`), not as `Fused`.
        let name = match &node.op {
            nnc_ir::Op::Fused(f) => f.label(),
            op => op.name().to_string(),
        };
        *ops.entry(name).or_default() += 1;
    }
    ops
}

/// Nodes whose outputs depend on a graph input (what becomes a kernel).
pub fn runtime_nodes(graph: &Graph) -> usize {
    let mut dynamic = vec![false; graph.value_count()];
    for &i in graph.inputs() {
        dynamic[i.index()] = true;
    }
    let mut count = 0;
    for (_, node) in graph.nodes() {
        if node.inputs.iter().flatten().any(|v| dynamic[v.index()]) {
            count += 1;
            for o in &node.outputs {
                dynamic[o.index()] = true;
            }
        }
    }
    count
}

impl fmt::Display for EgraphReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "egraph: {} after {} iterations, {} e-nodes in {} classes, {:.1} ms \
             (saturation {:.1}, extraction {:.1}, new weights and graph {:.1})",
            self.stop,
            self.iterations,
            self.egraph_nodes,
            self.egraph_classes,
            self.millis,
            self.saturate_millis,
            self.extract_millis,
            self.rebuild_millis
        )?;
        writeln!(
            f,
            "egraph: run-time nodes {} -> {}, estimated {:.3} ms -> {:.3} ms{}",
            self.kernels_before,
            self.kernels_after,
            self.seconds_before * 1e3,
            self.seconds_after * 1e3,
            if self.applied {
                ""
            } else {
                " (kept the input graph)"
            }
        )?;
        writeln!(
            f,
            "egraph: cost model {:.1} GFLOP/s, {:.1} GB/s, {:.1} us per kernel",
            self.roofline.peak_flops / 1e9,
            self.roofline.bandwidth / 1e9,
            self.roofline.launch * 1e6
        )?;
        if let Some(e) = &self.rebuild_error {
            writeln!(
                f,
                "egraph: kept the input graph, the extracted one failed: {e}"
            )?;
        }
        for (rule, n) in &self.rewrites {
            writeln!(f, "egraph:   {rule}: {n}")?;
        }
        Ok(())
    }
}
