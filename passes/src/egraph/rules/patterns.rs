//! Patterns exporters decompose, recognised as the IR op they stand for, and
//! movement chains collapsed.
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `gelu-erf` | `x * 0.5 * (1 + erf(x / sqrt 2))`, any association | `Gelu(x)` | constants within f32 rounding |
//! | `transpose-transpose` | `Transpose(Transpose(x, p), q)` | `Transpose(x, p∘q)` or `x` | — |
//! | `reshape-reshape` | `Reshape(Reshape(x))` | `Reshape(x)` or `x` | — |

use egg::Id;
use nnc_ir::Op;
use nnc_ir::ops::{Binary, Reshape, Transpose, Unary};

use super::super::analysis::IrEGraph;
use super::{NodeRule, add_op, both_orders, is_scalar, ops_in, same, ty};

pub const RULES: &[NodeRule] = &[
    NodeRule {
        name: "gelu-erf",
        head: "Mul",
        apply: gelu_erf,
    },
    NodeRule {
        name: "transpose-transpose",
        head: "Transpose",
        apply: transpose_transpose,
    },
    NodeRule {
        name: "reshape-reshape",
        head: "Reshape",
        apply: reshape_reshape,
    },
];

fn binaries(eg: &IrEGraph, id: Id, b: Binary) -> Vec<(Id, Id)> {
    ops_in(eg, id, |op| *op == Op::Binary(b))
        .into_iter()
        .flat_map(|(_, operands)| both_orders(&operands))
        .collect()
}

/// The `x` of a class holding `1 + erf(x / sqrt 2)` (or `x * (1 / sqrt 2)`).
fn erf_term(eg: &IrEGraph, id: Id) -> Option<Id> {
    let sqrt2 = std::f64::consts::SQRT_2;
    for (r, one) in binaries(eg, id, Binary::Add) {
        if !is_scalar(eg, one, 1.0) {
            continue;
        }
        for (_, erf) in ops_in(eg, r, |op| *op == Op::Unary(Unary::Erf)) {
            let d = erf[0];
            let div = ops_in(eg, d, |op| *op == Op::Binary(Binary::Div));
            if let Some((_, o)) = div.iter().find(|(_, o)| is_scalar(eg, o[1], sqrt2)) {
                return Some(o[0]);
            }
            if let Some((x, _)) = binaries(eg, d, Binary::Mul)
                .into_iter()
                .find(|&(_, c)| is_scalar(eg, c, 1.0 / sqrt2))
            {
                return Some(x);
            }
        }
    }
    None
}

fn gelu_erf(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    let float = |eg: &IrEGraph, x: Id| ty(eg, x).is_some_and(|t| t.dtype.is_float());
    let mut found = None;
    for (p, q) in both_orders(operands) {
        // x * (0.5 * e), x * (e * 0.5)
        for (h, e) in binaries(eg, q, Binary::Mul) {
            if is_scalar(eg, h, 0.5) && erf_term(eg, e).is_some_and(|x| same(eg, x, p)) {
                found = Some(p);
            }
        }
        // 0.5 * (x * e)
        if is_scalar(eg, p, 0.5) {
            for (x, e) in binaries(eg, q, Binary::Mul) {
                if erf_term(eg, e).is_some_and(|x2| same(eg, x, x2)) {
                    found = Some(x);
                }
            }
        }
        // e * (x * 0.5)
        if let Some(x) = erf_term(eg, p) {
            for (x2, h) in binaries(eg, q, Binary::Mul) {
                if is_scalar(eg, h, 0.5) && same(eg, x, x2) {
                    found = Some(x);
                }
            }
        }
    }
    let x = found.filter(|&x| float(eg, x))?;
    let gelu = Op::Unary(Unary::Gelu {
        tanh_approximation: false,
    });
    Some(add_op(eg, gelu, vec![x]))
}

fn transpose_transpose(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::Transpose(outer) = op else {
        return None;
    };
    for (inner_op, inner) in ops_in(eg, operands[0], |op| matches!(op, Op::Transpose(_))) {
        let Op::Transpose(first) = inner_op else {
            continue;
        };
        if first.perm.len() != outer.perm.len() {
            continue;
        }
        // Output dim i of the outer is its input dim outer[i] = x's dim first[outer[i]].
        let perm: Vec<usize> = outer.perm.iter().map(|&i| first.perm[i]).collect();
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Some(eg.find(inner[0]));
        }
        return Some(add_op(
            eg,
            Op::Transpose(Transpose { perm }),
            vec![inner[0]],
        ));
    }
    None
}

fn reshape_reshape(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::Reshape(outer) = op else { return None };
    let (_, inner) = ops_in(eg, operands[0], |op| matches!(op, Op::Reshape(_)))
        .into_iter()
        .next()?;
    let x = inner[0];
    if ty(eg, x).is_some_and(|t| t.shape == outer.shape) {
        return Some(eg.find(x));
    }
    let reshaped = Reshape {
        shape: outer.shape.clone(),
    };
    Some(add_op(eg, Op::Reshape(reshaped), vec![x]))
}
