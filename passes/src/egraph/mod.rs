//! The graph optimiser on e-graphs (egg): instead of greedy passes in a fixed
//! order, every rule applies to an e-graph of the program, and a cost model of the
//! target extracts the cheapest equivalent program.
//!
//! - [`language`]: the e-nodes (IR ops with their attributes; weights by id).
//! - [`analysis`]: types, constness and small values of every e-class.
//! - [`convert`]: IR -> e-graph -> IR; new weights are computed on the way out.
//! - [`rules`]: reparameterization and pattern rules, each with named conditions.
//! - [`runner`]: bounded saturation. [`cost`] and [`extract`]: the roofline cost
//!   model and the (swappable) extraction; [`dag_extract`]: the DAG-aware one.
//!   [`report`]: what happened.

pub mod analysis;
pub mod convert;
pub mod cost;
pub mod dag_extract;
pub mod extract;
pub mod language;
pub mod report;
pub mod rules;
pub mod runner;
#[cfg(test)]
mod tests;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nnc_ir::{Graph, IrError};

pub use cost::Roofline;
pub use dag_extract::DagGreedy;
pub use extract::{Extraction, Greedy};
pub use report::EgraphReport;
pub use runner::Limits;

/// How the optimiser runs.
#[derive(Clone, Debug, Default)]
pub struct EgraphOptions {
    pub limits: Limits,
    /// Rule names not to apply.
    pub disabled_rules: Vec<String>,
    pub roofline: Roofline,
    /// Skip the pass altogether.
    pub disabled: bool,
}

/// Optimises `graph`; returns it unchanged (with a report saying so) when the
/// extracted program is not estimated cheaper.
pub fn optimize(graph: &Graph, options: &EgraphOptions) -> Result<(Graph, EgraphReport), IrError> {
    let start = Instant::now();
    let kernels_before = report::runtime_nodes(graph);
    if options.disabled {
        let report = EgraphReport {
            stop: "disabled".into(),
            ops_before: report::op_histogram(graph),
            ops_after: report::op_histogram(graph),
            kernels_before,
            kernels_after: kernels_before,
            roofline: options.roofline,
            ..EgraphReport::default()
        };
        return Ok((graph.clone(), report));
    }
    let t = Instant::now();
    let encoded = convert::to_egraph(graph);
    let convert_millis = t.elapsed().as_secs_f64() * 1e3;
    let extraction = DagGreedy::new(options.roofline);
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let before = extraction.choose(&encoded.egraph, &encoded.roots).seconds;
    let mut extract_millis = ms(t);
    // Fusion runs once the algebra and reparameterization rules are done: fused
    // forms of every intermediate variant would otherwise feed the other rules
    // and grow the e-graph combinatorially.
    let (fusion, rewrites): (Vec<_>, Vec<_>) = rules::rewrites(&options.disabled_rules)
        .into_iter()
        .partition(|r| {
            let name = r.name.as_str();
            rules::fusion::in_group(name) || rules::elementwise::in_group(name)
        });
    let mut encoded = encoded;
    let t = Instant::now();
    let (egraph, saturation) = runner::saturate(
        std::mem::take(&mut encoded.egraph),
        &rewrites,
        options.limits,
    );
    // The fusion phase gets what is left of the time limit, but at least a
    // second, and its own node budget: a model the other rules took all the time
    // or nodes on still gets fused.
    let left = Limits {
        nodes: egraph.total_number_of_nodes() + options.limits.nodes,
        time: options
            .limits
            .time
            .saturating_sub(t.elapsed())
            .max(std::time::Duration::from_secs(1)),
        ..options.limits
    };
    let (egraph, fused) = runner::saturate(egraph, &fusion, left);
    let saturation = saturation.then(fused);
    encoded.egraph = egraph;
    let saturate_millis = ms(t);
    let t = Instant::now();
    let choices = extraction.choose(&encoded.egraph, &encoded.roots);
    extract_millis += ms(t);
    let t = Instant::now();
    let cheaper = choices.seconds < before;
    // A program the rules got wrong (it fails to type-check on the way back) is a
    // bug in a rule, not in the model: the model still compiles, unoptimised, and
    // the report says why.
    let (out, rebuild_error) = match cheaper.then(|| convert::to_graph(graph, &encoded, &choices)) {
        Some(Ok(out)) => (out, None),
        Some(Err(e)) => (graph.clone(), Some(e.to_string())),
        None => (graph.clone(), None),
    };
    let applied = cheaper && rebuild_error.is_none();
    let rebuild_millis = ms(t);
    let t = Instant::now();
    drop(encoded);
    let drop_millis = ms(t);
    let report = EgraphReport {
        stop: saturation.stop,
        iterations: saturation.iterations,
        egraph_nodes: saturation.nodes,
        egraph_classes: saturation.classes,
        rewrites: saturation.applied,
        ops_before: report::op_histogram(graph),
        ops_after: report::op_histogram(&out),
        kernels_before,
        kernels_after: report::runtime_nodes(&out),
        seconds_before: before,
        seconds_after: if applied { choices.seconds } else { before },
        millis: ms(start),
        saturate_millis,
        extract_millis,
        rebuild_millis,
        convert_millis,
        drop_millis,
        phases: saturation.phases,
        class_visits: saturation.visited.iter().sum(),
        applied,
        rebuild_error,
        roofline: options.roofline,
    };
    Ok((out, report))
}

/// Options the pipeline's `egraph` pass uses, and the report of its last run. The
/// pipeline's passes are plain functions of a graph, so the driver sets these
/// around the run instead.
static OPTIONS: Mutex<Option<EgraphOptions>> = Mutex::new(None);
static LAST_REPORT: Mutex<Option<EgraphReport>> = Mutex::new(None);

/// Whether the greedy epilogue fusion runs after the e-graph: only when the
/// e-graph optimiser was skipped (`--disable-rules all`) or its program could not
/// be used; otherwise fusion is the e-graph's decision (`fusion` rules).
static GREEDY_EPILOGUES: AtomicBool = AtomicBool::new(true);

/// The pipeline's `fuse-epilogues` pass: the greedy [`crate::fuse_epilogues`] as
/// the fallback of the e-graph's fusion rules (see [`GREEDY_EPILOGUES`]).
pub fn fuse_epilogues_fallback(graph: &Graph) -> Result<Graph, IrError> {
    if GREEDY_EPILOGUES.load(Ordering::Relaxed) {
        crate::fuse_epilogues(graph)
    } else {
        Ok(graph.clone())
    }
}

/// Sets the options of later `egraph` passes in this process.
pub fn configure(options: EgraphOptions) {
    *OPTIONS.lock().unwrap_or_else(|e| e.into_inner()) = Some(options);
}

/// The report of the last `egraph` pass run, if any.
pub fn take_last_report() -> Option<EgraphReport> {
    LAST_REPORT.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// The pipeline's `egraph` pass: [`optimize`] with the configured options.
pub fn egraph(graph: &Graph) -> Result<Graph, IrError> {
    let options = OPTIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default();
    let (out, report) = optimize(graph, &options)?;
    let fusion_off = options
        .disabled_rules
        .iter()
        .any(|d| d == rules::fusion::GROUP);
    let greedy = options.disabled || (!report.applied && !fusion_off);
    GREEDY_EPILOGUES.store(greedy, Ordering::Relaxed);
    *LAST_REPORT.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
    Ok(out)
}
