//! The pipeline the commands share: ONNX model -> IR graph -> passes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use nnc_frontend::ImportOptions;
use nnc_ir::{Graph, Target};
use nnc_passes::egraph::{self, EgraphOptions, EgraphReport, Limits, Roofline};
use nnc_passes::{PassReport, pipeline};

use crate::cli::CompileArgs;
use crate::error::{Error, Result};

/// A model after the graph passes, with what the build reports need.
pub struct Compiled {
    pub graph: Graph,
    pub passes: Vec<PassReport>,
    /// The ONNX op histogram of the model as read.
    pub onnx_ops: BTreeMap<String, usize>,
    /// What the e-graph optimiser did, if it ran.
    pub egraph: Option<EgraphReport>,
}

/// The e-graph optimiser's options from the command line; its cost model is
/// `target`'s roofline when the command builds for a target.
pub fn egraph_options(args: &CompileArgs, target: Option<&Target>) -> EgraphOptions {
    let defaults = Limits::default();
    EgraphOptions {
        limits: Limits {
            nodes: args.egraph_node_limit.unwrap_or(defaults.nodes),
            iterations: args.egraph_iter_limit.unwrap_or(defaults.iterations),
            time: args
                .egraph_time_limit
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map_or(defaults.time, Duration::from_secs_f64),
        },
        disabled: args.disable_rules.iter().any(|r| r == "all"),
        disabled_rules: args.disable_rules.clone(),
        roofline: target.map_or_else(Roofline::default, Roofline::for_target),
    }
}

/// Parses the `--input-shape NAME=1x3x224x224` flags.
pub fn import_options(args: &CompileArgs) -> Result<ImportOptions> {
    let mut input_shapes = HashMap::new();
    for spec in &args.input_shapes {
        let (name, dims) = spec.rsplit_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--input-shape '{spec}': expected NAME=DIMS, e.g. input=1x3x224x224"
            ))
        })?;
        let dims = dims
            .split(['x', ','])
            .map(|d| d.trim().parse::<usize>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| {
                Error::Usage(format!(
                    "--input-shape '{spec}': dims must be positive integers joined by 'x'"
                ))
            })?;
        input_shapes.insert(name.to_string(), dims);
    }
    Ok(ImportOptions { input_shapes })
}

/// Loads `model` and runs the graph passes over it, with no target in mind.
pub fn compile(model: &Path, args: &CompileArgs) -> Result<Compiled> {
    compile_for(model, args, None)
}

/// Loads `model` and runs the graph passes over it, costing rewrites on `target`.
pub fn compile_for(model: &Path, args: &CompileArgs, target: Option<&Target>) -> Result<Compiled> {
    let options = import_options(args)?;
    let imported = nnc_frontend::load(model, &options)?;
    let onnx_ops = imported.info.op_histogram.clone();
    let wants_dump = |pass: &str| args.dump_after.iter().any(|d| d == pass || d == "all");
    if wants_dump("frontend") {
        println!("// after frontend\n{}", imported.graph);
    }
    let mut dump = |pass: &str, graph: &Graph| println!("// after {pass}\n{graph}");
    egraph::configure(egraph_options(args, target));
    let (graph, passes) = pipeline::run_pipeline(
        imported.graph,
        pipeline::PASSES,
        true,
        &args.dump_after,
        &mut dump,
    )?;
    Ok(Compiled {
        graph,
        passes,
        onnx_ops,
        egraph: egraph::take_last_report(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Building for a target costs rewrites with that target's roofline.
    #[test]
    fn the_egraph_cost_model_is_the_targets() {
        let args = CompileArgs::default();
        for name in ["x86_64", "aarch64", "wasm32"] {
            let target = nnc_backends::target::parse_target(name, &[]).unwrap();
            let roofline = egraph_options(&args, Some(&target)).roofline;
            let want = Roofline::for_target(&target);
            assert_eq!(roofline.peak_flops, want.peak_flops, "{name}");
        }
        let x86 = nnc_backends::target::parse_target("x86_64", &[]).unwrap();
        let arm = nnc_backends::target::parse_target("aarch64", &[]).unwrap();
        // x86_64's baseline has no FMA: half of aarch64's peak.
        assert_eq!(
            2.0 * egraph_options(&args, Some(&x86)).roofline.peak_flops,
            egraph_options(&args, Some(&arm)).roofline.peak_flops
        );
    }
}
