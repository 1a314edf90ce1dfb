//! The verifier: the invariants every graph must hold after every pass.

use std::collections::HashSet;

use crate::{Fact, Graph, IrError, ValueDef, ValueId};

/// Checks that the graph is well formed: operands defined before use (topological
/// order), each value's definition consistent with the node that claims it, types
/// equal to what shape inference says, outputs defined, names unique.
pub fn verify(graph: &Graph) -> Result<(), IrError> {
    let mut defined: HashSet<ValueId> = HashSet::new();
    let mut names = HashSet::new();
    for (id, value) in graph.values() {
        if !names.insert(value.name.as_str()) {
            return Err(IrError::Value {
                value: value.name.clone(),
                message: "name is used twice".into(),
            });
        }
        match &value.def {
            ValueDef::Input(k) => {
                if graph.inputs().get(*k) != Some(&id) {
                    return Err(IrError::Value {
                        value: value.name.clone(),
                        message: format!("claims to be graph input {k} but is not"),
                    });
                }
                defined.insert(id);
            }
            ValueDef::Const(t) => {
                if t.dtype() != value.ty.dtype || t.shape() != value.ty.shape.as_slice() {
                    return Err(IrError::Value {
                        value: value.name.clone(),
                        message: format!("constant of {:?} does not match type {}", t, value.ty),
                    });
                }
                defined.insert(id);
            }
            ValueDef::Node(..) => {}
        }
    }
    for (node_id, node) in graph.nodes() {
        let fail = |message: String| IrError::node(&node.name, node.op.name(), message);
        for input in node.inputs.iter().flatten() {
            if input.index() >= graph.value_count() || !defined.contains(input) {
                return Err(fail(format!(
                    "operand {input:?} is used before it is defined"
                )));
            }
        }
        let facts: Vec<Option<Fact>> = node
            .inputs
            .iter()
            .map(|i| {
                i.map(|id| Fact {
                    ty: &graph.value(id).ty,
                    value: graph.known_value(id),
                })
            })
            .collect();
        let types = node
            .op
            .infer(&facts, node.outputs.len())
            .map_err(|e| fail(e.0))?;
        for (k, (&out, ty)) in node.outputs.iter().zip(&types).enumerate() {
            let value = graph.value(out);
            if value.def != ValueDef::Node(node_id, k) {
                return Err(fail(format!(
                    "output {k} '{}' is claimed by another definition",
                    value.name
                )));
            }
            if &value.ty != ty {
                return Err(fail(format!(
                    "output '{}' has type {} but inference gives {ty}",
                    value.name, value.ty
                )));
            }
            defined.insert(out);
        }
        if types.len() != node.outputs.len() {
            return Err(fail("output count differs from inference".into()));
        }
    }
    for &out in graph.outputs() {
        if !defined.contains(&out) {
            return Err(IrError::Value {
                value: graph.value(out).name.clone(),
                message: "is a graph output but is never defined".into(),
            });
        }
    }
    Ok(())
}
