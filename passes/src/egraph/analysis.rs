//! What every e-class knows: the types of its value(s), whether it is a
//! compile-time constant, and — for small tensors — the value itself.
//!
//! Types come from the ops' own shape inference, so a rule's output is type-checked
//! the moment it is added. Values are kept only up to [`SMALL_VALUE_LIMIT`] elements:
//! enough for rule conditions (an epsilon, GELU's 0.5 and sqrt 2), never a weight.

use std::collections::HashMap;
use std::sync::Arc;

use egg::{Analysis, DidMerge, EGraph, Id};
use nnc_ir::{Fact, Tensor, TensorType, ValueId};

use super::language::Enode;

/// Known values up to this many elements are computed and kept in the e-graph.
pub const SMALL_VALUE_LIMIT: usize = 64;

pub type IrEGraph = EGraph<Enode, IrAnalysis>;

/// The facts of one e-class.
#[derive(Clone, Debug, Default)]
pub struct ClassFacts {
    /// One type per output (empty for an absent operand, or if inference failed,
    /// which the conversion back to IR reports).
    pub types: Vec<TensorType>,
    /// Computable at compile time from weights and literals alone.
    pub constant: bool,
    /// The value, when constant and small.
    pub value: Option<Arc<Tensor>>,
}

impl ClassFacts {
    /// The type of a single-output class.
    pub fn ty(&self) -> Option<&TensorType> {
        match self.types.as_slice() {
            [ty] => Some(ty),
            _ => None,
        }
    }
}

/// The source graph's inputs and weights, as the leaves of the e-graph see them.
#[derive(Default)]
pub struct IrAnalysis {
    pub leaves: HashMap<ValueId, ClassFacts>,
}

impl Analysis<Enode> for IrAnalysis {
    type Data = ClassFacts;

    fn make(egraph: &mut IrEGraph, enode: &Enode, _id: Id) -> ClassFacts {
        match enode {
            Enode::Input(v) | Enode::Weight(v) => {
                egraph.analysis.leaves.get(v).cloned().unwrap_or_default()
            }
            Enode::Literal(l) => ClassFacts {
                types: vec![TensorType::new(
                    l.tensor().dtype(),
                    l.tensor().shape().to_vec(),
                )],
                constant: true,
                value: Some(Arc::new(l.tensor().clone())),
            },
            Enode::IdentityKernel(k) => ClassFacts {
                types: vec![TensorType::new(nnc_ir::DType::F32, k.shape())],
                constant: true,
                value: None,
            },
            Enode::Absent => ClassFacts {
                types: vec![],
                constant: true,
                value: None,
            },
            Enode::Output(k, [tuple]) => {
                let tuple = &egraph[*tuple].data;
                ClassFacts {
                    types: tuple.types.get(*k).cloned().into_iter().collect(),
                    constant: tuple.constant,
                    value: None,
                }
            }
            Enode::Op(key, operands) => op_facts(egraph, key.op(), key.outputs(), operands),
        }
    }

    fn merge(&mut self, a: &mut ClassFacts, b: ClassFacts) -> DidMerge {
        let mut changed_a = false;
        if a.types.is_empty() && !b.types.is_empty() {
            a.types = b.types.clone();
            changed_a = true;
        }
        if !a.constant && b.constant {
            a.constant = true;
            changed_a = true;
        }
        if a.value.is_none() && b.value.is_some() {
            a.value = b.value.clone();
            changed_a = true;
        }
        let changed_b = (b.types.is_empty() && !a.types.is_empty())
            || (!b.constant && a.constant)
            || (b.value.is_none() && a.value.is_some());
        DidMerge(changed_a, changed_b)
    }
}

fn op_facts(egraph: &IrEGraph, op: &nnc_ir::Op, outputs: usize, operands: &[Id]) -> ClassFacts {
    let data: Vec<&ClassFacts> = operands.iter().map(|&id| &egraph[id].data).collect();
    let absent = |d: &ClassFacts| d.types.is_empty() && d.constant;
    let facts: Vec<Option<Fact>> = data
        .iter()
        .map(|d| {
            d.ty().map(|ty| Fact {
                ty,
                value: d.value.as_deref(),
            })
        })
        .collect();
    // An operand whose type is unknown (not absent) makes the whole node unknown.
    if data
        .iter()
        .zip(&facts)
        .any(|(d, f)| f.is_none() && !absent(d))
    {
        return ClassFacts::default();
    }
    let Ok(types) = op.infer(&facts, outputs) else {
        return ClassFacts::default();
    };
    let constant = data.iter().all(|d| d.constant);
    let small = types.len() == 1 && types[0].len() <= SMALL_VALUE_LIMIT;
    let value = if constant && small {
        let values: Option<Vec<Option<&Tensor>>> = data
            .iter()
            .map(|d| {
                if absent(d) {
                    Some(None)
                } else {
                    d.value.as_deref().map(Some)
                }
            })
            .collect();
        values
            .and_then(|v| op.eval(&v, 1).ok())
            .and_then(|mut v| v.pop())
            .map(Arc::new)
    } else {
        None
    };
    ClassFacts {
        types,
        constant,
        value,
    }
}
