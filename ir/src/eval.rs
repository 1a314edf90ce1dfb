//! Reference evaluation of a whole graph: each node's reference implementation in
//! topological order. Plain, obviously correct, not fast.

use crate::{Graph, IrError, Tensor, ValueDef, ValueId};

/// Evaluates `graph` on `inputs` (one per graph input, in order) and returns the
/// graph's outputs. Intermediate values are dropped after their last use.
pub fn run(graph: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>, IrError> {
    if inputs.len() != graph.inputs().len() {
        return Err(IrError::Graph(format!(
            "the graph has {} inputs, {} were given",
            graph.inputs().len(),
            inputs.len()
        )));
    }
    let mut slots: Vec<Option<Tensor>> = vec![None; graph.value_count()];
    for (&id, tensor) in graph.inputs().iter().zip(inputs) {
        let value = graph.value(id);
        if tensor.dtype() != value.ty.dtype || tensor.shape() != value.ty.shape.as_slice() {
            return Err(IrError::Value {
                value: value.name.clone(),
                message: format!(
                    "input must be {} but is {}{:?}",
                    value.ty,
                    tensor.dtype(),
                    tensor.shape()
                ),
            });
        }
        slots[id.index()] = Some(tensor.clone());
    }
    let last_use = last_uses(graph);
    for (node_id, node) in graph.nodes() {
        let fail = |message: String| IrError::node(&node.name, node.op.name(), message);
        let mut operands: Vec<Option<&Tensor>> = Vec::with_capacity(node.inputs.len());
        for input in &node.inputs {
            operands.push(match input {
                None => None,
                Some(id) => {
                    Some(operand(graph, &slots, *id).ok_or_else(|| {
                        fail("an operand has no value (graph out of order?)".into())
                    })?)
                }
            });
        }
        let results = node
            .op
            .eval(&operands, node.outputs.len())
            .map_err(|e| fail(e.0))?;
        if results.len() != node.outputs.len() {
            return Err(fail(format!("evaluation gave {} outputs", results.len())));
        }
        for (&out, tensor) in node.outputs.iter().zip(results) {
            let ty = &graph.value(out).ty;
            if tensor.dtype() != ty.dtype || tensor.shape() != ty.shape.as_slice() {
                return Err(fail(format!(
                    "evaluation gave {}{:?} for output '{}' typed {ty}",
                    tensor.dtype(),
                    tensor.shape(),
                    graph.value(out).name
                )));
            }
            slots[out.index()] = Some(tensor);
        }
        for input in node.inputs.iter().flatten() {
            if last_use[input.index()] == Some(node_id.index()) && !graph.outputs().contains(input)
            {
                slots[input.index()] = None;
            }
        }
    }
    graph
        .outputs()
        .iter()
        .map(|&id| {
            operand(graph, &slots, id)
                .cloned()
                .ok_or_else(|| IrError::Value {
                    value: graph.value(id).name.clone(),
                    message: "graph output was never computed".into(),
                })
        })
        .collect()
}

fn operand<'a>(graph: &'a Graph, slots: &'a [Option<Tensor>], id: ValueId) -> Option<&'a Tensor> {
    match &graph.value(id).def {
        ValueDef::Const(t) => Some(t),
        _ => slots[id.index()].as_ref(),
    }
}

/// For every value, the index of the last node that reads it.
fn last_uses(graph: &Graph) -> Vec<Option<usize>> {
    let mut last = vec![None; graph.value_count()];
    for (node_id, node) in graph.nodes() {
        for input in node.inputs.iter().flatten() {
            last[input.index()] = Some(node_id.index());
        }
    }
    last
}
