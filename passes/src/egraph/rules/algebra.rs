//! Algebra that lets fusion reach further: a scalar factor of a matrix product's
//! operand moves to its output, where it becomes a step of the product's epilogue
//! instead of a pass over memory of its own (attention's `q * s` and `k * s`).
//!
//! Transposes sink through elementwise ops to meet (and cancel) the transpose on
//! the other side, and identities disappear.
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `scalar-out-of-matmul` | `MatMul(a * c, b)`, `MatMul(a, b * c)` | `MatMul(a, b) * c` | `scalar_constant` |
//! | `transpose-through-elementwise` | `Transpose(f(Transpose(x, p)), q)` | `Transpose(f(x), p∘q)` or `f(x)` | `pointwise` |
//! | `identity` | `Identity(x)` | `x` | — |

use egg::Id;
use nnc_ir::ops::{Binary, Transpose};
use nnc_ir::{DType, Op};

use super::super::analysis::IrEGraph;
use super::{NodeRule, add_op, binary, both_orders, is_constant, ops_in, ty};

pub const RULES: &[NodeRule] = &[
    NodeRule {
        name: "scalar-out-of-matmul",
        head: "MatMul",
        apply: scalar_out_of_matmul,
    },
    NodeRule {
        name: "transpose-through-elementwise",
        head: "Transpose",
        apply: transpose_through_elementwise,
    },
    NodeRule {
        name: "identity",
        head: "Identity",
        apply: identity,
    },
];

fn identity(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    operands.first().map(|&x| eg.find(x))
}

/// Condition `pointwise`: the e-nodes of class `id` that apply an op to one
/// running operand element by element (a unary op, or a binary op with a scalar
/// constant): the op, the operands and which slot is the running one.
fn pointwise(eg: &IrEGraph, id: Id) -> Vec<(Op, Vec<Id>, usize)> {
    let mut found = Vec::new();
    for (op, o) in ops_in(eg, id, |op| matches!(op, Op::Unary(_) | Op::Binary(_))) {
        match (&op, o.as_slice()) {
            (Op::Unary(_), [_]) => found.push((op, o, 0)),
            (Op::Binary(_), [a, b]) => {
                let same_type = |x: Id| ty(eg, x) == ty(eg, id);
                if scalar_constant(eg, *b) && same_type(*a) {
                    found.push((op, o, 0));
                } else if scalar_constant(eg, *a) && same_type(*b) {
                    found.push((op, o, 1));
                }
            }
            _ => {}
        }
    }
    found
}

fn transpose_through_elementwise(
    eg: &mut IrEGraph,
    _class: Id,
    op: &Op,
    operands: &[Id],
) -> Option<Id> {
    let Op::Transpose(outer) = op else {
        return None;
    };
    for (f, mut o, slot) in pointwise(eg, operands[0]) {
        for (inner_op, inner) in ops_in(eg, o[slot], |op| matches!(op, Op::Transpose(_))) {
            let Op::Transpose(first) = inner_op else {
                continue;
            };
            if first.perm.len() != outer.perm.len() {
                continue;
            }
            o[slot] = inner[0];
            let applied = add_op(eg, f, o);
            let perm: Vec<usize> = outer.perm.iter().map(|&i| first.perm[i]).collect();
            if perm.iter().enumerate().all(|(i, &p)| i == p) {
                return Some(applied);
            }
            return Some(add_op(eg, Op::Transpose(Transpose { perm }), vec![applied]));
        }
    }
    None
}

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
