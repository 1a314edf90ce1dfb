//! Epilogue fusion: a Conv, MatMul or Gemm (f32) absorbs the elementwise ops that
//! follow it into one [`Fused`] node, so that its kernel applies them to the
//! accumulators before the one store of the output.
//!
//! Greedy, in graph order. From an anchor's output `v`, the chain grows while `v`
//! is not a graph output and either has one consumer that one of [`RULES`]
//! turns into a step, or has two consumers that start one of the multi-node
//! activations of [`MULTI_NODE_RULES`] (`Mul(v, Sigmoid(v))`, GELU written out
//! with Erf). The fused node takes the place of the chain's last node, where every
//! operand of the chain is defined, and keeps that node's output name (a graph
//! output keeps its ABI name).
//!
//! The e-graph optimiser produces the same op from its `fusion` rules, with the
//! cost model deciding; the pipeline runs this pass only as the fallback when the
//! e-graph optimiser is off (`--disable-rules all`) or its program was not used.

mod patterns;

use std::collections::{HashMap, HashSet};

use nnc_ir::ops::{Binary, Fused, Step};
use nnc_ir::{DType, Graph, IrError, Node, NodeId, Op, ValueId};

/// What a consumer of the running value may become, checked in order.
const RULES: &[(&str, Rule)] = &[
    ("activation", activation),
    ("clip-with-constant-bounds", clip),
    ("binary-with-readable-operand", binary),
];

/// A rule: the step `node` becomes when it consumes `v` (the chain so far).
type Rule = fn(&Chain, &Graph, &Node, ValueId) -> Option<(Step, Option<ValueId>)>;

/// Subgraphs that read `v` twice and compute one activation of it (see
/// [`patterns`]), tried when `v` has exactly two consumers.
const MULTI_NODE_RULES: &[(&str, patterns::Rule)] = &[
    ("silu", patterns::silu),
    ("gelu-erf-expanded", patterns::gelu_erf),
];

/// Fuses elementwise epilogues into their producing Conv / MatMul / Gemm.
pub fn fuse_epilogues(graph: &Graph) -> Result<Graph, IrError> {
    let uses = Uses::of(graph);
    let mut claimed: HashSet<NodeId> = HashSet::new();
    let mut chains: Vec<Chain> = Vec::new();
    for (id, node) in graph.nodes() {
        if claimed.contains(&id) || !is_anchor(graph, node) {
            continue;
        }
        let chain = grow(graph, &uses, &claimed, id);
        if !chain.steps.is_empty() {
            claimed.extend(chain.nodes.iter().copied());
            chains.push(chain);
        }
    }
    rebuild(graph, &chains)
}

/// Conv, MatMul (operands of rank >= 2, so that the last output dim is B's
/// columns) or Gemm computing f32, with one output.
fn is_anchor(graph: &Graph, node: &Node) -> bool {
    let [out] = node.outputs[..] else {
        return false;
    };
    let rank = |k: usize| {
        node.inputs
            .get(k)
            .copied()
            .flatten()
            .map_or(0, |v| graph.value(v).ty.shape.len())
    };
    let kind = match node.op {
        Op::Conv(_) | Op::Gemm(_) => true,
        Op::MatMul => rank(0) >= 2 && rank(1) >= 2,
        _ => false,
    };
    kind && graph.value(out).ty.dtype == DType::F32
}

/// An anchor and what it absorbed.
struct Chain {
    anchor: NodeId,
    /// The anchor, then the absorbed nodes in graph order.
    nodes: Vec<NodeId>,
    steps: Vec<Step>,
    extra: Vec<ValueId>,
    /// The value the chain produces so far.
    output: ValueId,
}

/// Consumers of each value and the graph outputs.
struct Uses {
    consumers: HashMap<ValueId, Vec<NodeId>>,
    outputs: HashSet<ValueId>,
}

impl Uses {
    fn of(graph: &Graph) -> Uses {
        let mut consumers: HashMap<ValueId, Vec<NodeId>> = HashMap::new();
        for (id, node) in graph.nodes() {
            for &v in node.inputs.iter().flatten() {
                consumers.entry(v).or_default().push(id);
            }
        }
        Uses {
            consumers,
            outputs: graph.outputs().iter().copied().collect(),
        }
    }

    /// The nodes reading `v`, once per operand slot.
    fn of_value(&self, v: ValueId) -> &[NodeId] {
        self.consumers.get(&v).map_or(&[], Vec::as_slice)
    }
}

/// Absorbs consumers of the anchor's output while a rule applies.
fn grow(graph: &Graph, uses: &Uses, claimed: &HashSet<NodeId>, anchor: NodeId) -> Chain {
    let mut chain = Chain {
        anchor,
        nodes: vec![anchor],
        steps: Vec::new(),
        extra: Vec::new(),
        output: graph.node(anchor).outputs[0],
    };
    loop {
        let v = chain.output;
        if uses.outputs.contains(&v) {
            break;
        }
        let free = |id: &NodeId| !claimed.contains(id);
        let absorbed = match uses.of_value(v) {
            [one] if free(one) => single_consumer(&chain, graph, *one, v),
            [a, b] if free(a) && free(b) => MULTI_NODE_RULES
                .iter()
                .find_map(|(_, rule)| rule(graph, uses, [*a, *b], v)),
            _ => None,
        };
        let Some((step, extra, nodes, output)) = absorbed else {
            break;
        };
        if graph.value(output).ty != graph.value(v).ty {
            break;
        }
        let step = match (step, extra) {
            (Step::Binary { op, swapped, .. }, Some(e)) => {
                chain.extra.push(e);
                Step::Binary {
                    op,
                    operand: chain.extra.len() - 1,
                    swapped,
                }
            }
            (step, _) => step,
        };
        chain.steps.push(step);
        chain.nodes.extend(nodes);
        chain.output = output;
    }
    chain
}

/// A step, its extra operand, the nodes it replaces and the value it produces.
type Absorbed = (Step, Option<ValueId>, Vec<NodeId>, ValueId);

/// The step the single consumer `id` of `v` becomes, by the first rule that applies.
fn single_consumer(chain: &Chain, graph: &Graph, id: NodeId, v: ValueId) -> Option<Absorbed> {
    let node = graph.node(id);
    let [output] = node.outputs[..] else {
        return None;
    };
    RULES.iter().find_map(|(_, rule)| {
        let (step, extra) = rule(chain, graph, node, v)?;
        Some((step, extra, vec![id], output))
    })
}

/// Activations whose f32 lowering is a short expression (no step changes the type).
fn activation(_: &Chain, _: &Graph, node: &Node, _: ValueId) -> Option<(Step, Option<ValueId>)> {
    let Op::Unary(u) = node.op else {
        return None;
    };
    let fusable = Step::fusable_activation(u);
    fusable.then_some((Step::Unary(u), None))
}

/// Clip (ReLU6 and kin) whose bounds are known f32 scalars.
fn clip(_: &Chain, graph: &Graph, node: &Node, v: ValueId) -> Option<(Step, Option<ValueId>)> {
    if node.op != Op::Clip || node.inputs.first() != Some(&Some(v)) {
        return None;
    }
    let bound = |k: usize| -> Option<Option<f32>> {
        match node.inputs.get(k).copied().flatten() {
            None => Some(None),
            Some(b) => {
                let t = graph.known_value(b)?;
                (t.dtype() == DType::F32 && t.len() == 1).then(|| Some(t.to_f64_vec()[0] as f32))
            }
        }
    };
    Some((
        Step::Clip {
            min: bound(1)?,
            max: bound(2)?,
        },
        None,
    ))
}

/// Add, Sub, Mul, Div, Max, Min of `v` and another operand the fused kernel can
/// read (same shape, per channel, or scalar; see [`Fused::operand_form`]) and that
/// is not `v` itself.
fn binary(
    chain: &Chain,
    graph: &Graph,
    node: &Node,
    v: ValueId,
) -> Option<(Step, Option<ValueId>)> {
    let Op::Binary(op) = node.op else {
        return None;
    };
    if !matches!(
        op,
        Binary::Add | Binary::Sub | Binary::Mul | Binary::Div | Binary::Max | Binary::Min
    ) {
        return None;
    }
    let [Some(a), Some(b)] = node.inputs[..] else {
        return None;
    };
    let (other, swapped) = match (a == v, b == v) {
        (true, false) => (b, false),
        (false, true) => (a, true),
        _ => return None,
    };
    let anchor = &graph.node(chain.anchor).op;
    let out = &graph.value(v).ty;
    let ty = &graph.value(other).ty;
    let readable =
        ty.dtype == DType::F32 && Fused::operand_form(anchor, &out.shape, &ty.shape).is_some();
    readable.then_some((
        Step::Binary {
            op,
            operand: 0,
            swapped,
        },
        Some(other),
    ))
}

/// The graph with each chain replaced by one Fused node at its last node's place.
fn rebuild(graph: &Graph, chains: &[Chain]) -> Result<Graph, IrError> {
    let mut skipped: HashSet<NodeId> = HashSet::new();
    let mut at_last: HashMap<NodeId, &Chain> = HashMap::new();
    for chain in chains {
        let last = *chain
            .nodes
            .iter()
            .max_by_key(|n| n.index())
            .expect("anchor");
        skipped.extend(chain.nodes.iter().copied().filter(|&n| n != last));
        at_last.insert(last, chain);
    }
    let mut out = Graph::new(graph.name.clone());
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    for &input in graph.inputs() {
        let v = graph.value(input);
        map.insert(input, out.add_input(v.name.clone(), v.ty.clone())?);
    }
    for (id, node) in graph.nodes() {
        if skipped.contains(&id) {
            continue;
        }
        let (name, op, operands, outputs) = match at_last.get(&id) {
            Some(chain) => fused_node(graph, chain),
            None => (
                node.name.clone(),
                node.op.clone(),
                node.inputs.clone(),
                node.outputs.clone(),
            ),
        };
        let inputs = operands
            .iter()
            .map(|i| i.map(|v| operand(graph, &mut out, &mut map, v)).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        let names = outputs
            .iter()
            .map(|&o| graph.value(o).name.clone())
            .collect();
        let new = out.add_node(name, op, inputs, names)?;
        map.extend(outputs.iter().copied().zip(new));
    }
    let outputs = graph
        .outputs()
        .iter()
        .map(|&o| operand(graph, &mut out, &mut map, o))
        .collect::<Result<Vec<_>, _>>()?;
    out.set_outputs(outputs);
    Ok(out)
}

type NodeParts = (String, Op, Vec<Option<ValueId>>, Vec<ValueId>);

/// The Fused node of `chain`: the anchor's name, operands and extras, the chain's
/// output.
fn fused_node(graph: &Graph, chain: &Chain) -> NodeParts {
    let anchor = graph.node(chain.anchor);
    let anchor_operands = match anchor.op {
        Op::MatMul => 2,
        _ => 3,
    }
    .max(anchor.inputs.len());
    let mut inputs = anchor.inputs.clone();
    inputs.resize(anchor_operands, None);
    inputs.extend(chain.extra.iter().map(|&e| Some(e)));
    let op = Op::Fused(Fused {
        anchor: Box::new(anchor.op.clone()),
        anchor_operands,
        steps: chain.steps.clone(),
    });
    (anchor.name.clone(), op, inputs, vec![chain.output])
}

/// The rebuilt value of `id` (see [`crate::rebuild`]).
fn operand(
    graph: &Graph,
    out: &mut Graph,
    map: &mut HashMap<ValueId, ValueId>,
    id: ValueId,
) -> Result<ValueId, IrError> {
    crate::rebuild::rebuilt_operand("fuse_epilogues", graph, out, map, id)
}

#[cfg(test)]
mod tests;
