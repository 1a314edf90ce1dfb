//! Sinking constant-only nodes: a node whose operands are all constants (a
//! Dequantize of int8 weights, a Transpose of a weight that was not folded because
//! it grows the model) is moved to just before its first consumer.
//!
//! Exporters and canonicalisation leave such nodes at the top of the graph, which
//! makes every one of their outputs live from the first kernel to its use: in an
//! int8 QDQ model that is every dequantized weight at once. Sunk, each lives only
//! around the kernel that reads it, and the arena shrinks accordingly.

use std::collections::{HashMap, HashSet};

use nnc_ir::{Graph, IrError, NodeId, ValueDef, ValueId};

/// Reorders `graph` so that constant-only nodes (and nodes fed only by them) run
/// right before their first consumer. Everything else keeps its order.
pub fn sink_constants(graph: &Graph) -> Result<Graph, IrError> {
    let deferred = constant_only_nodes(graph);
    let producer: HashMap<ValueId, NodeId> = graph
        .nodes()
        .flat_map(|(id, node)| node.outputs.iter().map(move |&v| (v, id)))
        .collect();

    let mut order = Vec::with_capacity(graph.node_count());
    let mut placed = HashSet::new();
    for (id, _) in graph.nodes() {
        if !deferred.contains(&id) {
            place(graph, id, &deferred, &producer, &mut placed, &mut order);
        }
    }
    // Deferred nodes nobody reads (feeding graph outputs only) go last.
    for (id, _) in graph.nodes() {
        place(graph, id, &deferred, &producer, &mut placed, &mut order);
    }
    rebuild_in_order(graph, &order)
}

/// Nodes whose operands are all constants or outputs of such nodes.
fn constant_only_nodes(graph: &Graph) -> HashSet<NodeId> {
    let mut constant_values: HashSet<ValueId> = graph
        .values()
        .filter(|(_, v)| matches!(v.def, ValueDef::Const(_)))
        .map(|(id, _)| id)
        .collect();
    let mut nodes = HashSet::new();
    for (id, node) in graph.nodes() {
        let operands_constant = node
            .inputs
            .iter()
            .flatten()
            .all(|v| constant_values.contains(v));
        if operands_constant && node.inputs.iter().flatten().next().is_some() {
            nodes.insert(id);
            constant_values.extend(node.outputs.iter().copied());
        }
    }
    nodes
}

/// Appends `id` to `order` after the deferred producers of its operands.
fn place(
    graph: &Graph,
    id: NodeId,
    deferred: &HashSet<NodeId>,
    producer: &HashMap<ValueId, NodeId>,
    placed: &mut HashSet<NodeId>,
    order: &mut Vec<NodeId>,
) {
    if placed.contains(&id) {
        return;
    }
    for operand in graph.node(id).inputs.iter().flatten() {
        if let Some(&p) = producer.get(operand).filter(|p| deferred.contains(p)) {
            place(graph, p, deferred, producer, placed, order);
        }
    }
    placed.insert(id);
    order.push(id);
}

/// The same graph with its nodes added in `order` (a topological order).
fn rebuild_in_order(graph: &Graph, order: &[NodeId]) -> Result<Graph, IrError> {
    let mut out = Graph::new(graph.name.clone());
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    for &input in graph.inputs() {
        let v = graph.value(input);
        map.insert(input, out.add_input(v.name.clone(), v.ty.clone())?);
    }
    for &id in order {
        let node = graph.node(id);
        let inputs = node
            .inputs
            .iter()
            .map(|i| i.map(|v| operand(graph, &mut out, &mut map, v)).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        let names = node
            .outputs
            .iter()
            .map(|&o| graph.value(o).name.clone())
            .collect();
        let new = out.add_node(node.name.clone(), node.op.clone(), inputs, names)?;
        map.extend(node.outputs.iter().copied().zip(new));
    }
    let outputs = graph
        .outputs()
        .iter()
        .map(|&o| operand(graph, &mut out, &mut map, o))
        .collect::<Result<Vec<_>, _>>()?;
    out.set_outputs(outputs);
    Ok(out)
}

/// The rebuilt value of `id` (see [`crate::rebuild`]).
fn operand(
    graph: &Graph,
    out: &mut Graph,
    map: &mut HashMap<ValueId, ValueId>,
    id: ValueId,
) -> Result<ValueId, IrError> {
    crate::rebuild::rebuilt_operand("sink_constants", graph, out, map, id)
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::{Binary, Dequantize, Unary};
    use nnc_ir::{DType, Op, Tensor, TensorType, eval};

    use super::*;

    /// Two layers whose int8 weights are dequantized up front, as QDQ exports are.
    fn qdq_like() -> Graph {
        let mut g = Graph::new("qdq");
        let x = g
            .add_input("x", TensorType::new(DType::F32, vec![4]))
            .unwrap();
        let scale = g.add_const("scale", Tensor::scalar(0.5f32)).unwrap();
        let mut weights = Vec::new();
        for k in 0..2 {
            let w = g
                .add_const(
                    format!("w{k}"),
                    Tensor::from_vec(vec![4], vec![1i8, -2, 3, k]).unwrap(),
                )
                .unwrap();
            let dq = Op::Dequantize(Dequantize {
                axis: 0,
                block_size: 0,
            });
            weights.push(
                g.add_node(
                    format!("dq{k}"),
                    dq,
                    vec![Some(w), Some(scale)],
                    vec![format!("wf{k}")],
                )
                .unwrap()[0],
            );
        }
        let mut h = x;
        for (k, w) in weights.into_iter().enumerate() {
            h = g
                .add_node(
                    format!("mul{k}"),
                    Op::Binary(Binary::Mul),
                    vec![Some(h), Some(w)],
                    vec![format!("h{k}")],
                )
                .unwrap()[0];
            h = g
                .add_node(
                    format!("relu{k}"),
                    Op::Unary(Unary::Relu),
                    vec![Some(h)],
                    vec![format!("r{k}")],
                )
                .unwrap()[0];
        }
        g.set_outputs(vec![h]);
        g
    }

    #[test]
    fn constant_only_nodes_run_just_before_their_consumer() {
        let g = qdq_like();
        let sunk = sink_constants(&g).unwrap();
        nnc_ir::verify(&sunk).unwrap();
        let order: Vec<&str> = sunk.nodes().map(|(_, n)| n.name.as_str()).collect();
        assert_eq!(order, ["dq0", "mul0", "relu0", "dq1", "mul1", "relu1"]);
        let x = Tensor::from_vec(vec![4], vec![1.0f32, -1.0, 2.0, 0.5]).unwrap();
        assert_eq!(
            eval::run(&g, std::slice::from_ref(&x)).unwrap(),
            eval::run(&sunk, &[x]).unwrap()
        );
    }

    #[test]
    fn graphs_without_constant_only_nodes_keep_their_order() {
        let mut g = Graph::new("plain");
        let x = g
            .add_input("x", TensorType::new(DType::F32, vec![2]))
            .unwrap();
        let a = g
            .add_node("a", Op::Unary(Unary::Relu), vec![Some(x)], vec!["a".into()])
            .unwrap()[0];
        let b = g
            .add_node("b", Op::Unary(Unary::Neg), vec![Some(a)], vec!["b".into()])
            .unwrap()[0];
        g.set_outputs(vec![b]);
        let sunk = sink_constants(&g).unwrap();
        let order: Vec<&str> = sunk.nodes().map(|(_, n)| n.name.as_str()).collect();
        assert_eq!(order, ["a", "b"]);
    }
}
