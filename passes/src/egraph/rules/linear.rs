//! Per-column scales and shifts folded into the preceding MatMul / Gemm: the
//! fully-connected counterpart of BatchNorm folding into a convolution.
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `mul-into-matmul` | `MatMul(x, W) * S` | `MatMul(x, W * S)` | `per_column` |
//! | `mul-into-gemm` | `Gemm(A, B, C) * S` | `Gemm(A, B * S, C * S)` | `per_column` |
//! | `add-into-gemm` | `Gemm(A, B, C) + T` | `Gemm(A, B, C + T / beta)` | `per_column`, beta != 0 |

use egg::Id;
use nnc_ir::ops::Binary;
use nnc_ir::{DType, Op, Tensor};

use super::super::analysis::IrEGraph;
use super::{
    NodeRule, add_op, binary, both_orders, is_absent, is_constant, literal, ops_in, reshape, ty,
};

pub const RULES: &[NodeRule] = &[
    NodeRule {
        name: "mul-into-matmul",
        head: "Mul",
        apply: mul_into_matmul,
    },
    NodeRule {
        name: "mul-into-gemm",
        head: "Mul",
        apply: mul_into_gemm,
    },
    NodeRule {
        name: "add-into-gemm",
        head: "Add",
        apply: add_into_gemm,
    },
];

/// Condition `per_column`: `k` is an f32 constant that varies at most along the
/// last axis of the product (length 1 or `columns`) and does not grow it.
fn per_column(eg: &IrEGraph, product: Id, k: Id) -> Option<usize> {
    let out = ty(eg, product)?;
    let kt = ty(eg, k)?;
    if !is_constant(eg, k) || kt.dtype != DType::F32 || kt.rank() > out.rank() || out.rank() == 0 {
        return None;
    }
    let columns = *out.shape.last()?;
    let (last, leading) = kt.shape.split_last().map_or((1, &[][..]), |(l, r)| (*l, r));
    (leading.iter().all(|&d| d == 1) && (last == 1 || last == columns)).then_some(last)
}

/// A constant f32 weight operand of rank 2.
fn constant_matrix(eg: &IrEGraph, w: Id) -> bool {
    is_constant(eg, w) && ty(eg, w).is_some_and(|t| t.rank() == 2 && t.dtype == DType::F32)
}

fn mul_into_matmul(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    for (p, s) in both_orders(operands) {
        let Some(along) = per_column(eg, p, s) else {
            continue;
        };
        for (_, mm) in ops_in(eg, p, |op| *op == Op::MatMul) {
            let [x, w] = *mm.as_slice() else { continue };
            if !constant_matrix(eg, w) {
                continue;
            }
            let s_w = reshape(eg, s, vec![1, along]);
            let w = binary(eg, Binary::Mul, w, s_w);
            return Some(add_op(eg, Op::MatMul, vec![x, w]));
        }
    }
    None
}

/// The Gemm e-nodes of a class with constant B (and C, if present).
fn gemms_in(eg: &IrEGraph, id: Id) -> Vec<(nnc_ir::ops::Gemm, Vec<Id>)> {
    ops_in(eg, id, |op| matches!(op, Op::Gemm(_)))
        .into_iter()
        .filter_map(|(op, operands)| match op {
            Op::Gemm(g) if operands.len() == 3 => Some((g, operands)),
            _ => None,
        })
        .filter(|(_, o)| {
            constant_matrix(eg, o[1]) && (is_absent(eg, o[2]) || is_constant(eg, o[2]))
        })
        .collect()
}

fn mul_into_gemm(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    for (p, s) in both_orders(operands) {
        let Some(along) = per_column(eg, p, s) else {
            continue;
        };
        if let Some((g, o)) = gemms_in(eg, p).into_iter().next() {
            let s_b = reshape(
                eg,
                s,
                if g.trans_b {
                    vec![along, 1]
                } else {
                    vec![1, along]
                },
            );
            let b = binary(eg, Binary::Mul, o[1], s_b);
            let c = if is_absent(eg, o[2]) {
                o[2]
            } else {
                let s_c = reshape(eg, s, vec![along]);
                binary(eg, Binary::Mul, o[2], s_c)
            };
            return Some(add_op(eg, Op::Gemm(g), vec![o[0], b, c]));
        }
    }
    None
}

fn add_into_gemm(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    for (p, t) in both_orders(operands) {
        let Some(along) = per_column(eg, p, t) else {
            continue;
        };
        if let Some((g, o)) = gemms_in(eg, p).into_iter().next() {
            if g.beta == 0.0 {
                continue;
            }
            let t_c = reshape(eg, t, vec![along]);
            // C is scaled by beta inside the Gemm; what is added must be too.
            let t_c = if g.beta == 1.0 {
                t_c
            } else {
                let beta = literal(eg, Tensor::scalar(g.beta));
                binary(eg, Binary::Div, t_c, beta)
            };
            let c = if is_absent(eg, o[2]) {
                t_c
            } else {
                binary(eg, Binary::Add, o[2], t_c)
            };
            return Some(add_op(eg, Op::Gemm(g), vec![o[0], o[1], c]));
        }
    }
    None
}
