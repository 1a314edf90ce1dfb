//! `nnc inspect`: what a model is made of — declared inputs and outputs, the ONNX op
//! histogram, parameters, MACs, the graph nnc compiles, and every unsupported op.
//!
//! The report is printed even when the model cannot be compiled; the exit code is 2
//! then (unsupported ops, or a compile error that is printed after the report).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use nnc_frontend::{Inspection, IoInfo};
use nnc_ir::cost;
use serde_json::{Value as Json, json};

use crate::cli::CompileArgs;
use crate::compile::{Compiled, compile};
use crate::error::{Error, Result};

/// What nnc made of the model, when it compiles.
struct GraphFacts {
    nodes: usize,
    ops: BTreeMap<&'static str, usize>,
    parameters: u64,
    parameter_bytes: u64,
    macs: u64,
    inputs: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
    /// (pass, milliseconds)
    pass_times: Vec<(&'static str, f64)>,
}

pub fn inspect(model: &Path, json_output: bool, args: &CompileArgs) -> Result<ExitCode> {
    let inspection = nnc_frontend::inspect(model)?;
    let compiled = if inspection.unsupported.is_empty() {
        Some(compile(model, args).map(|c| graph_facts(&c)))
    } else {
        None
    };
    let (facts, compile_error) = match compiled {
        Some(Ok(facts)) => (Some(facts), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    if json_output {
        println!(
            "{:#}",
            to_json(model, &inspection, facts.as_ref(), compile_error.as_ref())
        );
    } else {
        print_report(model, &inspection, facts.as_ref());
    }
    match compile_error {
        Some(e) => Err(e),
        None if !inspection.unsupported.is_empty() => Ok(ExitCode::from(2)),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn graph_facts(compiled: &Compiled) -> GraphFacts {
    let graph = &compiled.graph;
    let mut ops = BTreeMap::new();
    for (_, node) in graph.nodes() {
        *ops.entry(node.op.name()).or_insert(0) += 1;
    }
    let (parameters, parameter_bytes) = cost::parameters(graph);
    let typed = |ids: &[nnc_ir::ValueId]| {
        ids.iter()
            .map(|&id| (graph.value(id).name.clone(), graph.value(id).ty.to_string()))
            .collect()
    };
    GraphFacts {
        nodes: graph.node_count(),
        ops,
        parameters,
        parameter_bytes,
        macs: cost::graph_macs(graph),
        inputs: typed(graph.inputs()),
        outputs: typed(graph.outputs()),
        pass_times: compiled.passes.iter().map(|p| (p.name, p.millis)).collect(),
    }
}

fn print_report(model: &Path, inspection: &Inspection, facts: Option<&GraphFacts>) {
    let info = &inspection.info;
    println!("model: {}", model.display());
    let opsets: Vec<String> = info
        .opset_imports
        .iter()
        .map(|(domain, v)| format!("{} {v}", if domain.is_empty() { "ai.onnx" } else { domain }))
        .collect();
    println!(
        "  producer: {} {}, IR version {}, opsets: {}",
        info.producer_name,
        info.producer_version,
        info.ir_version,
        opsets.join(", ")
    );
    print_values("inputs", &info.inputs, facts.map(|f| &f.inputs));
    print_values("outputs", &info.outputs, facts.map(|f| &f.outputs));
    let total: usize = info.op_histogram.values().sum();
    println!(
        "ONNX ops ({total} nodes): {}",
        histogram(info.op_histogram.iter().map(|(k, v)| (k.as_str(), *v)))
    );
    println!(
        "initializers: {} tensors, {}",
        info.initializer_count,
        human_bytes(info.initializer_bytes)
    );
    if let Some(f) = facts {
        println!(
            "parameters: {} ({})",
            human_count(f.parameters),
            human_bytes(f.parameter_bytes)
        );
        println!("MACs: {} per inference", human_count(f.macs));
        println!(
            "after canonicalize ({} nodes): {}",
            f.nodes,
            histogram(f.ops.iter().map(|(k, v)| (*k, *v)))
        );
        let times: Vec<String> = f
            .pass_times
            .iter()
            .map(|(p, ms)| format!("{p} {ms:.1} ms"))
            .collect();
        println!("passes: {}", times.join(", "));
    }
    if inspection.unsupported.is_empty() {
        println!("unsupported: none");
    } else {
        println!("unsupported ({} ops):", inspection.unsupported.len());
        for op in &inspection.unsupported {
            println!("  {op}");
        }
    }
}

/// Declared inputs/outputs, with the static type nnc resolved when it differs.
fn print_values(title: &str, declared: &[IoInfo], resolved: Option<&Vec<(String, String)>>) {
    println!("{title}:");
    for value in declared {
        let resolved = resolved
            .and_then(|r| r.iter().find(|(name, _)| *name == value.name))
            .map(|(_, ty)| format!("  -> {ty}"))
            .unwrap_or_default();
        println!("  {value}{resolved}");
    }
}

fn histogram<'a>(entries: impl Iterator<Item = (&'a str, usize)>) -> String {
    let mut entries: Vec<(&str, usize)> = entries.collect();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = entries.iter().map(|(op, n)| format!("{op} {n}")).collect();
    parts.join(", ")
}

fn human_count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1} K", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} M", n as f64 / 1e6),
        _ => format!("{:.2} G", n as f64 / 1e9),
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

fn to_json(
    model: &Path,
    inspection: &Inspection,
    facts: Option<&GraphFacts>,
    error: Option<&Error>,
) -> Json {
    let info = &inspection.info;
    let io = |values: &[IoInfo]| -> Vec<Json> {
        values
            .iter()
            .map(|v| {
                json!({
                    "name": v.name,
                    "dtype": v.dtype.map(|d| d.name()),
                    "onnx_type": v.type_name,
                    "dims": v.dims.as_ref().map(|dims| dims.iter().map(|d| d.to_string()).collect::<Vec<_>>()),
                })
            })
            .collect()
    };
    let unsupported: Vec<Json> = inspection
        .unsupported
        .iter()
        .map(|op| {
            json!({
                "domain": op.domain,
                "op_type": op.op_type,
                "opset": op.opset,
                "nodes": op.nodes,
                "reason": op.reason,
            })
        })
        .collect();
    json!({
        "model": model.display().to_string(),
        "ir_version": info.ir_version,
        "producer": format!("{} {}", info.producer_name, info.producer_version).trim(),
        "opsets": info.opset_imports,
        "inputs": io(&info.inputs),
        "outputs": io(&info.outputs),
        "onnx_ops": info.op_histogram,
        "initializers": { "count": info.initializer_count, "bytes": info.initializer_bytes },
        "compiled": facts.map(|f| json!({
            "nodes": f.nodes,
            "ops": f.ops,
            "parameters": f.parameters,
            "parameter_bytes": f.parameter_bytes,
            "macs": f.macs,
            "inputs": f.inputs.iter().map(|(n, t)| json!({"name": n, "type": t})).collect::<Vec<_>>(),
            "outputs": f.outputs.iter().map(|(n, t)| json!({"name": n, "type": t})).collect::<Vec<_>>(),
            "passes_ms": f.pass_times.iter().map(|(p, ms)| (p.to_string(), json!(ms))).collect::<serde_json::Map<_, _>>(),
        })),
        "unsupported": unsupported,
        "error": error.map(|e| e.to_string()),
    })
}
