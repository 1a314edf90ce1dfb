//! A depthwise branch merged into a dense sibling: DBB's average-pool branch
//! (`avgpool-as-conv` makes it a depthwise conv with 1/K taps) or any depthwise
//! conv, summed with a dense conv of the same input, is written as the dense
//! conv it also is — weight `W_dw[o, 0, k..] * I[o, i]`, block-diagonal — so
//! that `merge-parallel-convs` can add the two kernels into one.
//!
//! The dense form is a `Mul` of the depthwise weight by an identity literal,
//! folded to a constant when the program is rebuilt: new weights are computed
//! once, after extraction, only if the merged conv is chosen.
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `depthwise-as-dense` | `Conv_dw(x) + Conv(x)` | `Conv(x, W_dw * I) + Conv(x)` | `depthwise`, `dense_sibling` |

use egg::Id;
use nnc_ir::ops::{Binary, Conv};
use nnc_ir::{DType, Op, Tensor};

use super::super::analysis::IrEGraph;
use super::{
    NodeRule, add_op, binary, both_orders, is_absent, is_constant, literal, ops_in, same, ty,
};

pub const RULES: &[NodeRule] = &[NodeRule {
    name: "depthwise-as-dense",
    head: "Add",
    apply: depthwise_as_dense,
}];

/// Condition `depthwise`: a conv of `x` with one group per channel, as many
/// outputs as inputs, f32 constant weights. Returns its attributes and operands.
fn depthwise_convs(eg: &IrEGraph, id: Id) -> Vec<(Conv, [Id; 3])> {
    ops_in(eg, id, |op| matches!(op, Op::Conv(_)))
        .into_iter()
        .filter_map(|(op, operands)| match (op, operands.as_slice()) {
            (Op::Conv(c), &[x, w, b]) => Some((c, [x, w, b])),
            _ => None,
        })
        .filter(|(c, [x, w, b])| {
            let (Some(xt), Some(wt)) = (ty(eg, *x), ty(eg, *w)) else {
                return false;
            };
            let channels = xt.shape.get(1).copied().unwrap_or(0);
            c.group > 1
                && c.group == channels
                && wt.shape.first() == Some(&channels)
                && wt.shape.get(1) == Some(&1)
                && wt.dtype == DType::F32
                && is_constant(eg, *w)
                && (is_absent(eg, *b) || is_constant(eg, *b))
        })
        .collect()
}

/// Condition `dense_sibling`: class `id` holds a single-group conv of `x`.
fn dense_sibling(eg: &IrEGraph, id: Id, x: Id) -> bool {
    ops_in(eg, id, |op| matches!(op, Op::Conv(c) if c.group == 1))
        .iter()
        .any(|(_, operands)| operands.first().is_some_and(|&o| same(eg, o, x)))
}

fn depthwise_as_dense(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    for (dw_class, other) in both_orders(operands) {
        for (conv, [x, w, b]) in depthwise_convs(eg, dw_class) {
            if !dense_sibling(eg, other, x) {
                continue;
            }
            // Already written densely (a previous iteration).
            let dense_there = ops_in(eg, dw_class, |op| matches!(op, Op::Conv(c) if c.group == 1))
                .iter()
                .any(|(_, o)| same(eg, o[0], x));
            if dense_there {
                continue;
            }
            let channels = conv.group;
            let rank = ty(eg, w)?.rank();
            let mut shape = vec![channels, channels];
            shape.extend(vec![1; rank - 2]);
            let mut eye = vec![0f32; channels * channels];
            for c in 0..channels {
                eye[c * channels + c] = 1.0;
            }
            let eye = literal(eg, Tensor::from_vec(shape, eye).ok()?);
            let dense_w = binary(eg, Binary::Mul, w, eye);
            let dense = Conv { group: 1, ..conv };
            let new = add_op(eg, Op::Conv(dense), vec![x, dense_w, b]);
            // The sum over the dense form, for the Add's class (so the rule
            // counts as applied); the dense form joins the branch's class too.
            let sum = binary(eg, Binary::Add, new, other);
            eg.union(dw_class, new);
            return Some(sum);
        }
    }
    None
}
