//! Counting what a graph computes and stores: multiply-accumulates per node and
//! parameter bytes. Used by `nnc inspect` and, later, by the cost model.

use crate::{Graph, Node, Op, ValueDef};

/// Multiply-accumulate operations of one node (0 for ops that do no products).
pub fn node_macs(graph: &Graph, node: &Node) -> u64 {
    let input_shape = |k: usize| {
        node.inputs
            .get(k)
            .copied()
            .flatten()
            .map(|id| graph.value(id).ty.shape.clone())
            .unwrap_or_default()
    };
    let output_len = |k: usize| {
        node.outputs
            .get(k)
            .map(|&id| graph.value(id).ty.len() as u64)
            .unwrap_or(0)
    };
    match &node.op {
        Op::Conv(_) => {
            // Each output element sums over (C_in/group x kernel) = dims 1.. of W.
            let w = input_shape(1);
            let per_output: u64 = w.iter().skip(1).map(|&d| d as u64).product();
            output_len(0) * per_output
        }
        Op::ConvTranspose(_) => {
            // Every input element is multiplied by a whole (C_out/group x kernel) slice.
            let x: u64 = input_shape(0).iter().map(|&d| d as u64).product();
            let w = input_shape(1);
            let per_input: u64 = w.iter().skip(1).map(|&d| d as u64).product();
            x * per_input
        }
        Op::MatMul => {
            let a = input_shape(0);
            let k = a.last().copied().unwrap_or(1) as u64;
            output_len(0) * k
        }
        Op::Gemm(g) => {
            let a = input_shape(0);
            let k = if g.trans_a { a.first() } else { a.last() }
                .copied()
                .unwrap_or(1) as u64;
            output_len(0) * k
        }
        // The anchor's products; the steps are elementwise.
        Op::Fused(f) => {
            let anchor = Node {
                op: (*f.anchor).clone(),
                ..node.clone()
            };
            node_macs(graph, &anchor)
        }
        _ => 0,
    }
}

/// Multiply-accumulates of the whole graph.
pub fn graph_macs(graph: &Graph) -> u64 {
    graph.nodes().map(|(_, n)| node_macs(graph, n)).sum()
}

/// Number of constant elements and their bytes.
pub fn parameters(graph: &Graph) -> (u64, u64) {
    graph
        .values()
        .filter_map(|(_, v)| match &v.def {
            ValueDef::Const(t) => Some((t.len() as u64, t.bytes().len() as u64)),
            _ => None,
        })
        .fold((0, 0), |(n, b), (tn, tb)| (n + tn, b + tb))
}
