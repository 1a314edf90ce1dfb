//! Consecutive linear ops merged into one: a pointwise (1x1) convolution after a
//! convolution is one convolution with the product of their weights. Whether that
//! pays is the cost model's call: it saves a kernel and an intermediate tensor, but
//! can cost more multiply-adds (an expand 1x1 after a project 1x1 does).
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `pointwise-after-conv` | `Conv1x1(Conv(x, W1, B1), W2, B2)` | `Conv(x, W2·W1, W2·B1 + B2)` | `pointwise`, `sole_consumer` |

use egg::Id;
use nnc_ir::ops::Binary;
use nnc_ir::{DType, Op};

use super::super::analysis::IrEGraph;
use super::{NodeRule, add_op, binary, is_absent, is_constant, ops_in, reshape, ty};

pub const RULES: &[NodeRule] = &[NodeRule {
    name: "pointwise-after-conv",
    head: "Conv",
    apply: pointwise_after_conv,
}];

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
