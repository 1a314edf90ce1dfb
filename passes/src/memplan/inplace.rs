//! In-place reuse: an elementwise node may write its output over an operand.
//!
//! The lowering contract (backends/src/lower/mod.rs) makes every elementwise kernel
//! read element `i` of its operands before writing element `i` of its output, and
//! touch no other output element. So when an operand has the output's layout
//! (same shape, not broadcast, same byte size) and nobody reads it afterwards, the
//! output can take its storage.

use std::collections::{BTreeMap, BTreeSet};

use nnc_ir::{Graph, Node, Op, ValueDef, ValueId};

use super::liveness::Lifetime;

/// Operand positions of `node` whose storage its output may overwrite, by the op's
/// access pattern alone (liveness is the caller's business), best first.
pub fn inplace_operands(graph: &Graph, node: &Node) -> Vec<usize> {
    let [output] = node.outputs[..] else {
        return Vec::new();
    };
    let out = &graph.value(output).ty;
    let same_layout = |k: usize| {
        node.inputs
            .get(k)
            .copied()
            .flatten()
            .is_some_and(|operand| {
                let ty = &graph.value(operand).ty;
                ty.shape == out.shape && ty.bytes() == out.bytes()
            })
    };
    let positions: &[usize] = match node.op {
        // One element in, one element out, in the same order.
        Op::Identity | Op::Unary(_) | Op::Clip | Op::Cast(_) => &[0],
        // A copy of the same bytes.
        Op::Reshape(_) => {
            let same_bytes = node
                .inputs
                .first()
                .copied()
                .flatten()
                .is_some_and(|operand| graph.value(operand).ty.bytes() == out.bytes());
            return if same_bytes { vec![0] } else { Vec::new() };
        }
        Op::Binary(_) => &[0, 1],
        // The condition is read too, but the selected operands are the natural hosts.
        Op::Where => &[1, 2],
        _ => &[],
    };
    positions
        .iter()
        .copied()
        .filter(|&k| same_layout(k))
        .collect()
}

/// The `(output, operand)` pairs where the output takes over the operand's slot: the
/// operand is an arena node output (not a graph output) that dies at this node, the
/// output is an arena value too, and no other output has claimed the operand.
pub(super) fn find_inplace(
    graph: &Graph,
    lifetimes: &BTreeMap<ValueId, Lifetime>,
) -> Vec<(ValueId, ValueId)> {
    let graph_outputs: BTreeSet<ValueId> = graph.outputs().iter().copied().collect();
    let hosts_in_arena = |value: ValueId| {
        lifetimes.contains_key(&value)
            && !graph_outputs.contains(&value)
            && matches!(graph.value(value).def, ValueDef::Node(..))
    };
    let mut claimed = BTreeSet::new();
    let mut pairs = Vec::new();
    for (id, node) in graph.nodes() {
        let [output] = node.outputs[..] else {
            continue;
        };
        if !hosts_in_arena(output) {
            continue;
        }
        let host = inplace_operands(graph, node).into_iter().find_map(|k| {
            let operand = node.inputs.get(k).copied().flatten()?;
            let dies_here = lifetimes
                .get(&operand)
                .is_some_and(|l| l.last == id.index());
            let free = hosts_in_arena(operand) && dies_here && !claimed.contains(&operand);
            free.then_some(operand)
        });
        if let Some(operand) = host {
            claimed.insert(operand);
            pairs.push((output, operand));
        }
    }
    pairs
}
