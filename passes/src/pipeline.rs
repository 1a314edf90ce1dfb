//! Runs passes in order: times each, verifies the graph after each, and can dump it.

use std::time::Instant;

use nnc_ir::{Graph, IrError, verify};

/// A named graph transformation.
#[derive(Clone, Copy)]
pub struct Pass {
    pub name: &'static str,
    pub run: fn(&Graph) -> Result<Graph, IrError>,
}

/// The passes nnc runs, in order.
pub const PASSES: &[Pass] = &[
    Pass {
        name: "canonicalize",
        run: crate::canonicalize,
    },
    Pass {
        name: "egraph",
        run: crate::egraph::egraph,
    },
    // Folds what the e-graph pass left over constants (e.g. reshaped weights).
    Pass {
        name: "canonicalize",
        run: crate::canonicalize,
    },
    // Only when the e-graph did not run: fusion is otherwise its `fusion` rules'.
    Pass {
        name: "fuse-epilogues",
        run: crate::egraph::fuse_epilogues_fallback,
    },
    Pass {
        name: "sink-constants",
        run: crate::sink_constants,
    },
];

/// What one pass did: its time and the node counts around it.
#[derive(Clone, Debug)]
pub struct PassReport {
    pub name: &'static str,
    pub millis: f64,
    pub nodes_before: usize,
    pub nodes_after: usize,
}

/// Runs `passes` over `graph`. The verifier runs after every pass in debug builds
/// and whenever `always_verify` is set. `dump_after` names passes whose output is
/// handed to `dump` (the CLI prints it).
pub fn run_pipeline(
    graph: Graph,
    passes: &[Pass],
    always_verify: bool,
    dump_after: &[String],
    dump: &mut dyn FnMut(&str, &Graph),
) -> Result<(Graph, Vec<PassReport>), IrError> {
    let mut graph = graph;
    let mut reports = Vec::new();
    for pass in passes {
        let start = Instant::now();
        let next = (pass.run)(&graph).map_err(|e| in_pass(pass.name, e))?;
        let millis = start.elapsed().as_secs_f64() * 1e3;
        if always_verify || cfg!(debug_assertions) {
            verify(&next).map_err(|e| in_pass(pass.name, e))?;
        }
        if dump_after.iter().any(|d| d == pass.name || d == "all") {
            dump(pass.name, &next);
        }
        reports.push(PassReport {
            name: pass.name,
            millis,
            nodes_before: graph.node_count(),
            nodes_after: next.node_count(),
        });
        graph = next;
    }
    Ok((graph, reports))
}

fn in_pass(pass: &str, error: IrError) -> IrError {
    IrError::Graph(format!("after pass {pass}: {error}"))
}
