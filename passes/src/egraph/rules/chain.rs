//! Consecutive linear ops merged into one: a pointwise (1x1) convolution after a
//! convolution is one convolution with the product of their weights. Whether that
//! pays is the cost model's call: it saves a kernel and an intermediate tensor, but
//! can cost more multiply-adds (an expand 1x1 after a project 1x1 does).
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `pointwise-after-conv` | `Conv1x1(Conv(x, W1, B1), W2, B2)` | `Conv(x, W2·W1, W2·B1 + B2)` | `pointwise`, `sole_consumer` |
//! | `matmul-after-matmul` | `MatMul(MatMul(x, W1), W2)` | `MatMul(x, W1·W2)` | `constant_matrix`, `sole_consumer` |
//! | `gemm-after-gemm` | `Gemm2(Gemm1(A, B1, C1), B2, C2)` | `Gemm(A, a1 a2 B1·B2, a2 b1 C1·B2 + b2 C2)` | `constant_matrix`, `row_bias`, `sole_consumer` |
//!
//! The same holds for fully-connected layers: two in a row with nothing between
//! are one, with the product of their weights. It pays when the middle width is
//! large against the outer ones (fewer multiply-adds) or the model is
//! launch-bound; a bottleneck (narrow middle) costs more merged, and stays.

use egg::Id;
use nnc_ir::ops::{Binary, Gemm, Transpose};
use nnc_ir::{DType, Op};

use super::super::analysis::IrEGraph;
use super::{
    NodeRule, absent, add_op, binary, is_absent, is_constant, literal, ops_in, reshape, ty,
};

pub const RULES: &[NodeRule] = &[
    NodeRule {
        name: "pointwise-after-conv",
        head: "Conv",
        apply: pointwise_after_conv,
    },
    NodeRule {
        name: "matmul-after-matmul",
        head: "MatMul",
        apply: matmul_after_matmul,
    },
    NodeRule {
        name: "gemm-after-gemm",
        head: "Gemm",
        apply: gemm_after_gemm,
    },
];

fn unit(values: &[usize]) -> bool {
    values.iter().all(|&v| v == 1)
}

/// Condition `pointwise`: a dense 1x1 convolution with unit strides and no padding
/// (so it is a matrix product over channels at every pixel).
fn pointwise(conv: &nnc_ir::ops::Conv, w_shape: &[usize]) -> bool {
    conv.group == 1
        && w_shape.iter().skip(2).all(|&k| k == 1)
        && unit(&conv.strides)
        && unit(&conv.dilations)
        && conv.pads.iter().all(|&p| p == 0)
}

/// Condition `sole_consumer`: nothing but `class` reads `value` (otherwise the
/// first conv stays anyway and merging only adds work).
fn sole_consumer(eg: &IrEGraph, value: Id, class: Id) -> bool {
    let class = eg.find(class);
    eg[value].parents().all(|p| eg.find(p) == class)
}

fn constant_f32(eg: &IrEGraph, id: Id) -> bool {
    is_constant(eg, id) && ty(eg, id).is_some_and(|t| t.dtype == DType::F32)
}

fn pointwise_after_conv(eg: &mut IrEGraph, class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::Conv(second) = op else { return None };
    let [y, w2, b2] = *operands else { return None };
    let w2_shape = ty(eg, w2)?.shape.clone();
    if !pointwise(second, &w2_shape) || !constant_f32(eg, w2) || !sole_consumer(eg, y, class) {
        return None;
    }
    if !is_absent(eg, b2) && !constant_f32(eg, b2) {
        return None;
    }
    for (first_op, first) in ops_in(eg, y, |op| matches!(op, Op::Conv(_))) {
        let Op::Conv(first_attrs) = first_op else {
            continue;
        };
        let [x, w1, b1] = *first.as_slice() else {
            continue;
        };
        if first_attrs.group != 1 || !constant_f32(eg, w1) {
            continue;
        }
        if !is_absent(eg, b1) && !constant_f32(eg, b1) {
            continue;
        }
        let w1_shape = ty(eg, w1)?.shape.clone();
        let (out, mid) = (w2_shape[0], w2_shape[1]);
        let per_mid: usize = w1_shape[1..].iter().product();
        // W[o, i, k..] = sum_m W2[o, m] W1[m, i, k..]
        let w2m = reshape(eg, w2, vec![out, mid]);
        let w1m = reshape(eg, w1, vec![mid, per_mid]);
        let product = add_op(eg, Op::MatMul, vec![w2m, w1m]);
        let mut shape = vec![out];
        shape.extend_from_slice(&w1_shape[1..]);
        let w = reshape(eg, product, shape);
        // B = W2 B1 + B2
        let bias = if is_absent(eg, b1) {
            b2
        } else {
            let b1c = reshape(eg, b1, vec![mid, 1]);
            let carried = add_op(eg, Op::MatMul, vec![w2m, b1c]);
            let carried = reshape(eg, carried, vec![out]);
            if is_absent(eg, b2) {
                carried
            } else {
                binary(eg, Binary::Add, carried, b2)
            }
        };
        return Some(add_op(eg, Op::Conv(first_attrs), vec![x, w, bias]));
    }
    None
}

/// Condition `constant_matrix`: an f32 constant of rank 2.
fn constant_matrix(eg: &IrEGraph, id: Id) -> bool {
    constant_f32(eg, id) && ty(eg, id).is_some_and(|t| t.rank() == 2)
}

fn matmul_after_matmul(eg: &mut IrEGraph, class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    let [y, w2] = *operands else { return None };
    if !constant_matrix(eg, w2) || !sole_consumer(eg, y, class) {
        return None;
    }
    for (_, first) in ops_in(eg, y, |op| *op == Op::MatMul) {
        let [x, w1] = *first.as_slice() else { continue };
        if !constant_matrix(eg, w1) || is_constant(eg, x) {
            continue;
        }
        let w = add_op(eg, Op::MatMul, vec![w1, w2]);
        return Some(add_op(eg, Op::MatMul, vec![x, w]));
    }
    None
}

/// A Gemm's B as the `[K, N]` matrix it multiplies by.
fn plain_b(eg: &mut IrEGraph, g: &Gemm, b: Id) -> Id {
    if g.trans_b {
        add_op(eg, Op::Transpose(Transpose { perm: vec![1, 0] }), vec![b])
    } else {
        b
    }
}

/// Condition `row_bias`: C absent, or a constant f32 vector of `n` values (one per
/// output column).
fn row_bias(eg: &IrEGraph, c: Id, n: usize) -> bool {
    is_absent(eg, c) || (constant_f32(eg, c) && ty(eg, c).is_some_and(|t| t.shape == [n]))
}

/// `k * v`, without the product when `k` is 1.
fn scaled(eg: &mut IrEGraph, v: Id, k: f32) -> Id {
    if k == 1.0 {
        return v;
    }
    let k = literal(eg, nnc_ir::Tensor::scalar(k));
    binary(eg, Binary::Mul, v, k)
}

fn gemm_after_gemm(eg: &mut IrEGraph, class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::Gemm(g2) = op else { return None };
    let [y, b2, c2] = *operands else { return None };
    let n2 = *ty(eg, class)?.shape.last()?;
    if g2.trans_a
        || !constant_matrix(eg, b2)
        || !row_bias(eg, c2, n2)
        || !sole_consumer(eg, y, class)
    {
        return None;
    }
    for (first_op, first) in ops_in(eg, y, |op| matches!(op, Op::Gemm(_))) {
        let Op::Gemm(g1) = first_op else { continue };
        let [a, b1, c1] = *first.as_slice() else {
            continue;
        };
        let n1 = *ty(eg, y)?.shape.last()?;
        if !constant_matrix(eg, b1) || !row_bias(eg, c1, n1) || is_constant(eg, a) {
            continue;
        }
        let (b1, b2) = (plain_b(eg, &g1, b1), plain_b(eg, g2, b2));
        // alpha2 (alpha1 A B1 + beta1 C1) B2 + beta2 C2
        let product = add_op(eg, Op::MatMul, vec![b1, b2]);
        let b = scaled(eg, product, g1.alpha * g2.alpha);
        let carried = if is_absent(eg, c1) {
            None
        } else {
            let row = reshape(eg, c1, vec![1, n1]);
            let row = add_op(eg, Op::MatMul, vec![row, b2]);
            let row = reshape(eg, row, vec![n2]);
            Some(scaled(eg, row, g2.alpha * g1.beta))
        };
        let own = (!is_absent(eg, c2)).then(|| scaled(eg, c2, g2.beta));
        let c = match (carried, own) {
            (Some(x), Some(y)) => binary(eg, Binary::Add, x, y),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => absent(eg),
        };
        let gemm = Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: g1.trans_a,
            trans_b: false,
        };
        return Some(add_op(eg, Op::Gemm(gemm), vec![a, b, c]));
    }
    None
}
