//! Algebra that lets fusion reach further: a scalar factor of a matrix product's
//! operand moves to its output, where it becomes a step of the product's epilogue
//! instead of a pass over memory of its own (attention's `q * s` and `k * s`).
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `scalar-out-of-matmul` | `MatMul(a * c, b)`, `MatMul(a, b * c)` | `MatMul(a, b) * c` | `scalar_constant` |

use egg::Id;
use nnc_ir::ops::Binary;
use nnc_ir::{DType, Op};

use super::super::analysis::IrEGraph;
use super::{NodeRule, add_op, binary, both_orders, is_constant, ops_in, ty};

pub const RULES: &[NodeRule] = &[NodeRule {
    name: "scalar-out-of-matmul",
    head: "MatMul",
    apply: scalar_out_of_matmul,
}];

/// Condition `scalar_constant`: `c` is a one-element f32 constant (it broadcasts
/// the same way before and after the product).
fn scalar_constant(eg: &IrEGraph, c: Id) -> bool {
    is_constant(eg, c) && ty(eg, c).is_some_and(|t| t.dtype == DType::F32 && t.len() == 1)
}

/// The `(a, c)` of the `a * c` e-nodes of class `id` with `c` a scalar constant
/// and `a` of the same type as the product (so dropping `c` changes no shape).
fn scaled(eg: &IrEGraph, id: Id) -> Vec<(Id, Id)> {
    ops_in(eg, id, |op| *op == Op::Binary(Binary::Mul))
        .into_iter()
        .flat_map(|(_, o)| both_orders(&o))
        .filter(|&(a, c)| scalar_constant(eg, c) && !is_constant(eg, a) && ty(eg, a) == ty(eg, id))
        .collect()
}

fn scalar_out_of_matmul(eg: &mut IrEGraph, class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    let [a, b] = *operands else { return None };
    if ty(eg, class).is_none_or(|t| t.dtype != DType::F32) {
        return None;
    }
    // Both operands' factors at once, so the product of the unscaled operands
    // (the anchor fusion wants) comes with one scale after it.
    let with_none = |v: Vec<(Id, Id)>, x: Id| {
        let mut v: Vec<(Id, Option<Id>)> = v.into_iter().map(|(i, c)| (i, Some(c))).collect();
        v.push((x, None));
        v
    };
    let (sa, sb) = (with_none(scaled(eg, a), a), with_none(scaled(eg, b), b));
    let mut added = Vec::new();
    for &(a2, ca) in &sa {
        for &(b2, cb) in &sb {
            let factor = match (ca, cb) {
                (None, None) => continue,
                (Some(c), None) | (None, Some(c)) => c,
                (Some(x), Some(y)) => binary(eg, Binary::Mul, x, y),
            };
            let product = add_op(eg, Op::MatMul, vec![a2, b2]);
            added.push(binary(eg, Binary::Mul, product, factor));
        }
    }
    for &other in added.iter().skip(1) {
        eg.union(class, other);
    }
    added.first().copied()
}
