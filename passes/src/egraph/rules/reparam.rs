//! Reparameterization: training-time structure folded into fewer convolutions.
//!
//! Each rule builds weight-producing e-nodes over the old weights (e.g.
//! `W * reshape(scale / sqrt(var + eps))`); the conversion back to IR evaluates them
//! once into new weights. All rewrites are exact up to float rounding.
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `bn-to-scale-shift` | `BN(x)` | `x * S + T` | statistics constant |
//! | `mul-into-conv` | `Conv(x, W, B) * S` | `Conv(x, W*S, B*S)` | `per_output_channel` |
//! | `add-into-conv` | `Conv(x, W, B) + T` | `Conv(x, W, B+T)` | `per_output_channel` |
//! | `merge-parallel-convs` | `Conv(x, W1) + Conv(x, W2)` | `Conv(x, pad(W1) + pad(W2))` | `kernels_align` |
//! | `identity-into-conv` | `Conv(x, W) + x*S?` | `Conv(x, W + I*S)` | `identity_fits` |
//! | `add-constant-outward` | `a + (b + T)` | `(a + b) + T` | `moves_only_a_constant` |
//! | `pad-into-conv` | `Conv(Pad(x), W)` | `Conv(x, W)` with pads | `zero_spatial_pad` |

use egg::Id;
use nnc_ir::ops::{Binary, Conv, Pad, PadMode, Unary};
use nnc_ir::{DType, Op, Tensor};

use super::super::analysis::IrEGraph;
use super::super::language::{Enode, IdentityKernel};
use super::{
    NodeRule, absent, add_op, binary, both_orders, has_conv_over, is_absent, is_constant, literal,
    ops_in, per_channel, reshape, same, scalar, ty,
};

pub const RULES: &[NodeRule] = &[
    NodeRule {
        name: "bn-to-scale-shift",
        head: "BatchNormalization",
        apply: bn_to_scale_shift,
    },
    NodeRule {
        name: "mul-into-conv",
        head: "Mul",
        apply: mul_into_conv,
    },
    NodeRule {
        name: "add-into-conv",
        head: "Add",
        apply: add_into_conv,
    },
    NodeRule {
        name: "merge-parallel-convs",
        head: "Add",
        apply: merge_parallel_convs,
    },
    NodeRule {
        name: "identity-into-conv",
        head: "Add",
        apply: identity_into_conv,
    },
    NodeRule {
        name: "add-constant-outward",
        head: "Add",
        apply: add_constant_outward,
    },
    NodeRule {
        name: "pad-into-conv",
        head: "Conv",
        apply: pad_into_conv,
    },
];

/// A convolution found in a class: its attributes and operands.
struct ConvNode {
    attrs: Conv,
    x: Id,
    w: Id,
    b: Id,
}

fn convs_in(eg: &IrEGraph, id: Id) -> Vec<ConvNode> {
    ops_in(eg, id, |op| matches!(op, Op::Conv(_)))
        .into_iter()
        .filter_map(|(op, operands)| match (op, operands.as_slice()) {
            // Convs from the IR carry their absent bias as an operand, and rules
            // build them so; a two-operand conv is left alone.
            (Op::Conv(attrs), &[x, w, b]) => Some(ConvNode { attrs, x, w, b }),
            _ => None,
        })
        .collect()
}

/// Weights and bias are f32 constants, so new ones can be computed from them.
fn weights_constant(eg: &IrEGraph, c: &ConvNode) -> bool {
    is_constant(eg, c.w)
        && ty(eg, c.w).is_some_and(|t| t.dtype == DType::F32)
        && (is_absent(eg, c.b) || is_constant(eg, c.b))
}

/// `[n, 1, 1, ..]` of the given rank.
fn column(n: usize, rank: usize) -> Vec<usize> {
    let mut shape = vec![1; rank.max(1)];
    shape[0] = n;
    shape
}

fn bn_to_scale_shift(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::BatchNorm(bn) = op else { return None };
    let [x, scale, bias, mean, var] = *operands else {
        return None;
    };
    // Condition `statistics_constant`: all four per-channel tensors are known.
    if ![scale, bias, mean, var].iter().all(|&c| is_constant(eg, c)) {
        return None;
    }
    let xt = ty(eg, x)?.clone();
    if xt.dtype != DType::F32 || xt.rank() < 2 {
        return None;
    }
    let channels = xt.shape[1];
    let eps = literal(eg, Tensor::scalar(bn.epsilon));
    let var_eps = binary(eg, Binary::Add, var, eps);
    let std = add_op(eg, Op::Unary(Unary::Sqrt), vec![var_eps]);
    let inv = binary(eg, Binary::Div, scale, std);
    let mean_scaled = binary(eg, Binary::Mul, mean, inv);
    let shift = binary(eg, Binary::Sub, bias, mean_scaled);
    let s = reshape(eg, inv, column(channels, xt.rank() - 1));
    let t = reshape(eg, shift, column(channels, xt.rank() - 1));
    let scaled = binary(eg, Binary::Mul, x, s);
    Some(binary(eg, Binary::Add, scaled, t))
}

/// Condition `per_output_channel`: `k` is a constant with one value per output
/// channel of the conv (or one for all); it then broadcasts without changing the
/// conv's output type.
fn per_output_channel(eg: &IrEGraph, conv_class: Id, k: Id) -> Option<usize> {
    let out = ty(eg, conv_class)?;
    if out.rank() < 2 {
        return None;
    }
    per_channel(eg, k, out.shape[1], out.rank())
}

fn mul_into_conv(eg: &mut IrEGraph, class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    for (c, s) in both_orders(operands) {
        let Some(along) = per_output_channel(eg, c, s) else {
            continue;
        };
        for conv in convs_in(eg, c) {
            if !weights_constant(eg, &conv) || has_conv_over(eg, class, conv.x) {
                continue;
            }
            let w_rank = ty(eg, conv.w)?.rank();
            let s_w = reshape(eg, s, column(along, w_rank));
            let w = binary(eg, Binary::Mul, conv.w, s_w);
            let b = if is_absent(eg, conv.b) {
                conv.b
            } else {
                let s_b = reshape(eg, s, vec![along]);
                binary(eg, Binary::Mul, conv.b, s_b)
            };
            return Some(add_op(eg, Op::Conv(conv.attrs), vec![conv.x, w, b]));
        }
    }
    None
}

fn add_into_conv(eg: &mut IrEGraph, class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    for (c, t) in both_orders(operands) {
        let Some(along) = per_output_channel(eg, c, t) else {
            continue;
        };
        let out_channels = ty(eg, c)?.shape[1];
        for conv in convs_in(eg, c) {
            if !weights_constant(eg, &conv) || has_conv_over(eg, class, conv.x) {
                continue;
            }
            let base = if is_absent(eg, conv.b) {
                literal(
                    eg,
                    Tensor::from_vec(vec![out_channels], vec![0f32; out_channels]).ok()?,
                )
            } else {
                conv.b
            };
            let t_b = reshape(eg, t, vec![along]);
            let b = binary(eg, Binary::Add, base, t_b);
            return Some(add_op(eg, Op::Conv(conv.attrs), vec![conv.x, conv.w, b]));
        }
    }
    None
}

/// Sum of two optional biases (absent = zero).
fn add_biases(eg: &mut IrEGraph, a: Id, b: Id) -> Id {
    match (is_absent(eg, a), is_absent(eg, b)) {
        (true, true) => absent(eg),
        (true, false) => b,
        (false, true) => a,
        (false, false) => binary(eg, Binary::Add, a, b),
    }
}

fn unit(values: &[usize]) -> bool {
    values.iter().all(|&v| v == 1)
}

/// Condition `kernels_align`: both convs read the same input with the same strides,
/// unit dilations and the same groups, and each kernel sits inside the larger
/// combined kernel at an offset that its own padding explains. Returns the
/// combined kernel, its pads, and per conv the offsets `(begin, end)` to pad its
/// weights with.
#[allow(clippy::type_complexity)]
fn kernels_align(
    eg: &IrEGraph,
    a: &ConvNode,
    b: &ConvNode,
) -> Option<(Vec<usize>, Vec<usize>, [(Vec<usize>, Vec<usize>); 2])> {
    let (wa, wb) = (ty(eg, a.w)?, ty(eg, b.w)?);
    let spatial = wa.rank().checked_sub(2)?;
    let aligned = same(eg, a.x, b.x)
        && wa.rank() == wb.rank()
        && wa.shape[..2] == wb.shape[..2]
        && a.attrs.group == b.attrs.group
        && a.attrs.strides == b.attrs.strides
        && unit(&a.attrs.dilations)
        && unit(&b.attrs.dilations)
        && a.attrs.pads.len() == 2 * spatial
        && b.attrs.pads.len() == 2 * spatial;
    if !aligned {
        return None;
    }
    let (ka, kb) = (&wa.shape[2..], &wb.shape[2..]);
    let kernel: Vec<usize> = ka.iter().zip(kb).map(|(&x, &y)| x.max(y)).collect();
    let begin: Vec<usize> = (0..spatial)
        .map(|d| a.attrs.pads[d].max(b.attrs.pads[d]))
        .collect();
    let end: Vec<usize> = (0..spatial)
        .map(|d| a.attrs.pads[spatial + d].max(b.attrs.pads[spatial + d]))
        .collect();
    let offsets = |conv: &ConvNode, k: &[usize]| -> Option<(Vec<usize>, Vec<usize>)> {
        let mut before = Vec::with_capacity(spatial);
        let mut after = Vec::with_capacity(spatial);
        for d in 0..spatial {
            let o = begin[d].checked_sub(conv.attrs.pads[d])?;
            let e = end[d].checked_sub(conv.attrs.pads[spatial + d])?;
            if o + k[d] + e != kernel[d] {
                return None;
            }
            before.push(o);
            after.push(e);
        }
        Some((before, after))
    };
    let oa = offsets(a, ka)?;
    let ob = offsets(b, kb)?;
    let mut pads = begin;
    pads.extend(end);
    Some((kernel, pads, [oa, ob]))
}

/// `w` zero-padded by `(begin, end)` on its spatial dims.
fn pad_weight(eg: &mut IrEGraph, w: Id, (begin, end): &(Vec<usize>, Vec<usize>)) -> Id {
    if begin.iter().chain(end).all(|&p| p == 0) {
        return w;
    }
    let mut pads: Vec<i64> = vec![0, 0];
    pads.extend(begin.iter().map(|&p| p as i64));
    pads.extend([0, 0]);
    pads.extend(end.iter().map(|&p| p as i64));
    let pad = Pad {
        mode: PadMode::Constant,
        pads,
    };
    add_op(eg, Op::Pad(pad), vec![w])
}

fn merge_parallel_convs(eg: &mut IrEGraph, class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    let [ca, cb] = *operands else { return None };
    let result_ty = ty(eg, ca)?.clone();
    if ty(eg, cb) != Some(&result_ty) {
        return None;
    }
    for a in convs_in(eg, ca) {
        for b in convs_in(eg, cb) {
            if !weights_constant(eg, &a)
                || !weights_constant(eg, &b)
                || has_conv_over(eg, class, a.x)
            {
                continue;
            }
            let Some((kernel, pads, [oa, ob])) = kernels_align(eg, &a, &b) else {
                continue;
            };
            let wa = pad_weight(eg, a.w, &oa);
            let wb = pad_weight(eg, b.w, &ob);
            let w = binary(eg, Binary::Add, wa, wb);
            let bias = add_biases(eg, a.b, b.b);
            let attrs = Conv {
                kernel_shape: kernel,
                pads,
                ..a.attrs.clone()
            };
            return Some(add_op(eg, Op::Conv(attrs), vec![a.x, w, bias]));
        }
    }
    None
}

/// The scale of an identity branch on `x`: `Some(None)` if `branch` is `x` itself,
/// `Some(Some(s))` if it holds `x * s` with `s` per channel.
fn identity_scale(eg: &IrEGraph, branch: Id, x: Id) -> Option<Option<(Id, usize)>> {
    if same(eg, branch, x) {
        return Some(None);
    }
    let xt = ty(eg, x)?;
    for (_, operands) in ops_in(eg, branch, |op| *op == Op::Binary(Binary::Mul)) {
        for (v, s) in both_orders(&operands) {
            if same(eg, v, x)
                && let Some(along) = per_channel(eg, s, xt.shape[1], xt.rank())
                && ty(eg, branch) == Some(xt)
            {
                return Some(Some((s, along)));
            }
        }
    }
    None
}

/// Condition `identity_fits`: the conv maps x to a tensor of x's own type with unit
/// strides and dilations, so an identity kernel tapping at the top-left padding
/// offset passes x through.
fn identity_fits(eg: &IrEGraph, conv: &ConvNode, result: Id) -> Option<Vec<usize>> {
    let (xt, wt) = (ty(eg, conv.x)?, ty(eg, conv.w)?);
    let spatial = wt.rank().checked_sub(2)?;
    let fits = xt.dtype == DType::F32
        && ty(eg, result) == Some(xt)
        && wt.shape[0] == xt.shape[1]
        && unit(&conv.attrs.strides)
        && unit(&conv.attrs.dilations)
        && conv.attrs.pads.len() == 2 * spatial
        && (0..spatial).all(|d| conv.attrs.pads[d] < wt.shape[2 + d]);
    fits.then(|| conv.attrs.pads[..spatial].to_vec())
}

fn identity_into_conv(eg: &mut IrEGraph, class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    for (c, branch) in both_orders(operands) {
        for conv in convs_in(eg, c) {
            if !weights_constant(eg, &conv) || has_conv_over(eg, class, conv.x) {
                continue;
            }
            let Some(tap) = identity_fits(eg, &conv, c) else {
                continue;
            };
            let Some(scale) = identity_scale(eg, branch, conv.x) else {
                continue;
            };
            let wt = ty(eg, conv.w)?.clone();
            let identity = eg.add(Enode::IdentityKernel(IdentityKernel {
                channels: wt.shape[0],
                group: conv.attrs.group,
                kernel: wt.shape[2..].to_vec(),
                tap,
            }));
            let identity = match scale {
                None => identity,
                Some((s, along)) => {
                    let s_w = reshape(eg, s, column(along, wt.rank()));
                    binary(eg, Binary::Mul, identity, s_w)
                }
            };
            let w = binary(eg, Binary::Add, conv.w, identity);
            return Some(add_op(eg, Op::Conv(conv.attrs), vec![conv.x, w, conv.b]));
        }
    }
    None
}

/// Condition `moves_only_a_constant`: `a + (b + t)` with `t` constant and `a`, `b`
/// computed values of the result's type, so `(a + b)` needs no broadcasting; and
/// one of them is a convolution with constant weights, so the new sum can merge
/// (moving constants around a residual stream gains nothing and makes extraction
/// duplicate sums).
fn add_constant_outward(eg: &mut IrEGraph, class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    // Already one convolution: nothing left to merge into.
    if !convs_in(eg, class).is_empty() {
        return None;
    }
    let result = ty(eg, operands.first().copied()?)?.clone();
    let computed = |eg: &IrEGraph, v: Id| !is_constant(eg, v) && ty(eg, v) == Some(&result);
    let mergeable = |eg: &IrEGraph, v: Id| convs_in(eg, v).iter().any(|c| weights_constant(eg, c));
    for (a, inner) in both_orders(operands) {
        if !computed(eg, a) {
            continue;
        }
        for (_, inner_ops) in ops_in(eg, inner, |op| *op == Op::Binary(Binary::Add)) {
            for (b, t) in both_orders(&inner_ops) {
                if is_constant(eg, t) && computed(eg, b) && (mergeable(eg, a) || mergeable(eg, b)) {
                    let sum = binary(eg, Binary::Add, a, b);
                    return Some(binary(eg, Binary::Add, sum, t));
                }
            }
        }
    }
    None
}

/// Condition `zero_spatial_pad`: constant-mode padding with zeros (absent value or
/// 0), nothing on the batch and channel dims, nothing negative.
fn zero_spatial_pad(eg: &IrEGraph, pad: &Pad, operands: &[Id]) -> bool {
    let n = pad.pads.len() / 2;
    let zero_value = match operands {
        [_] => true,
        [_, v] => is_absent(eg, *v) || scalar(eg, *v) == Some(0.0),
        _ => false,
    };
    pad.mode == PadMode::Constant
        && zero_value
        && n >= 2
        && pad.pads.iter().all(|&p| p >= 0)
        && pad.pads[0] == 0
        && pad.pads[1] == 0
        && pad.pads[n] == 0
        && pad.pads[n + 1] == 0
}

fn pad_into_conv(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::Conv(attrs) = op else { return None };
    let (&x, rest) = operands.split_first()?;
    let spatial = ty(eg, x)?.rank().checked_sub(2)?;
    if attrs.pads.len() != 2 * spatial {
        return None;
    }
    for (pad_op, pad_operands) in ops_in(eg, x, |op| matches!(op, Op::Pad(_))) {
        let Op::Pad(pad) = pad_op else { continue };
        if pad.pads.len() != 2 * (spatial + 2) || !zero_spatial_pad(eg, &pad, &pad_operands) {
            continue;
        }
        let n = spatial + 2;
        let mut pads = attrs.pads.clone();
        for d in 0..spatial {
            pads[d] += pad.pads[2 + d] as usize;
            pads[spatial + d] += pad.pads[n + 2 + d] as usize;
        }
        let new = Conv {
            pads,
            ..attrs.clone()
        };
        let mut new_operands = vec![pad_operands[0]];
        new_operands.extend_from_slice(rest);
        return Some(add_op(eg, Op::Conv(new), new_operands));
    }
    None
}
