//! Per-channel scales and shifts (a BatchNorm after `bn-to-scale-shift`) folded
//! into the linear op that FOLLOWS them: the input side of a convolution, MatMul
//! or Gemm. The counterpart of `mul-into-conv` / `mul-into-matmul`, which fold
//! into the op before.
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `mul-into-following-conv` | `Conv(x * S, W, B)` | `Conv(x, W * S[in], B)` | `per_input_channel` |
//! | `add-into-following-conv` | `Conv(x + T, W, B)` | `Conv(x, W, B + sum(W * T[in]))` | `per_input_channel`, `unpadded` |
//! | `mul-into-following-matmul` | `MatMul(x * S, W)` | `MatMul(x, S[k] * W)` | `per_row_of_weight` |
//! | `add-into-following-matmul` | `MatMul(x + T, W)` | `MatMul(x, W) + T W` | `per_row_of_weight` |
//! | `mul-into-following-gemm` | `Gemm(A * S, B, C)` | `Gemm(A, S[k] * B, C)` | `per_row_of_weight`, A not transposed |
//! | `add-into-following-gemm` | `Gemm(A + T, B, C)` | `Gemm(A, B, alpha T B + beta C)`, beta 1 | `per_row_of_weight`, `row_bias` |
//!
//! A scale commutes with zero padding (0 * s = 0), so it folds into any conv; a
//! shift does not (the padded border would miss it), hence `unpadded`. Groups are
//! respected: weight `[o, i, ..]` reads input channel `(o / (O / G)) * (C / G) + i`.

use egg::Id;
use nnc_ir::ops::{Binary, Conv, Gemm, Reduce, ReduceKind, Transpose};
use nnc_ir::{DType, Op, Tensor};

use super::super::analysis::IrEGraph;
use super::{
    NodeRule, add_op, binary, both_orders, is_absent, is_constant, literal, ops_in, per_channel,
    reshape, ty,
};

pub const RULES: &[NodeRule] = &[
    NodeRule {
        name: "mul-into-following-conv",
        head: "Conv",
        apply: mul_into_following_conv,
    },
    NodeRule {
        name: "add-into-following-conv",
        head: "Conv",
        apply: add_into_following_conv,
    },
    NodeRule {
        name: "mul-into-following-matmul",
        head: "MatMul",
        apply: mul_into_following_matmul,
    },
    NodeRule {
        name: "add-into-following-matmul",
        head: "MatMul",
        apply: add_into_following_matmul,
    },
    NodeRule {
        name: "mul-into-following-gemm",
        head: "Gemm",
        apply: mul_into_following_gemm,
    },
    NodeRule {
        name: "add-into-following-gemm",
        head: "Gemm",
        apply: add_into_following_gemm,
    },
];

/// The `(value, constant)` operand pairs of `op` e-nodes in `class` where the
/// constant is per channel (axis 1) of the class's value: `(x, k, along)`.
fn affine_inputs(eg: &IrEGraph, class: Id, op: Binary) -> Vec<(Id, Id, usize)> {
    let Some(t) = ty(eg, class) else {
        return vec![];
    };
    if t.rank() < 2 || t.dtype != DType::F32 {
        return vec![];
    }
    let (channels, rank) = (t.shape[1], t.rank());
    let mut found = vec![];
    for (_, operands) in ops_in(eg, class, |o| *o == Op::Binary(op)) {
        for (x, k) in both_orders(&operands) {
            if !is_constant(eg, x)
                && ty(eg, x) == Some(t)
                && let Some(along) = per_channel(eg, k, channels, rank)
            {
                found.push((x, k, along));
            }
        }
    }
    found
}

/// Condition `per_input_channel`: a dense-or-grouped conv with constant f32 weights
/// and bias; returns `(out channels, in channels, group, weight rank)`.
fn conv_weights(eg: &IrEGraph, attrs: &Conv, w: Id, b: Id) -> Option<(usize, usize, usize, usize)> {
    let wt = ty(eg, w)?;
    let constant = is_constant(eg, w) && wt.dtype == DType::F32;
    let bias_ok = is_absent(eg, b) || is_constant(eg, b);
    let (out, per_group) = (*wt.shape.first()?, *wt.shape.get(1)?);
    (constant && bias_ok && attrs.group > 0 && out % attrs.group == 0).then_some((
        out,
        per_group * attrs.group,
        attrs.group,
        wt.rank(),
    ))
}

/// A per-input-channel constant `k` (`along` values) laid out against a conv weight
/// `[out, in / group, 1, ..]`, so that `W * it` scales each tap by its input
/// channel's value.
fn against_weight(
    eg: &mut IrEGraph,
    k: Id,
    along: usize,
    dims: (usize, usize, usize, usize),
) -> Option<Id> {
    let (out, inputs, group, rank) = dims;
    let mut shape = vec![1; rank];
    if along == 1 {
        return Some(reshape(eg, k, shape));
    }
    if group == 1 {
        shape[1] = inputs;
        return Some(reshape(eg, k, shape));
    }
    // [G, 1, C/G] * ones [G, O/G, 1] -> [O, C/G, 1..].
    let per_group = inputs / group;
    let grouped = reshape(eg, k, vec![group, 1, per_group]);
    let ones = Tensor::from_vec(vec![group, out / group, 1], vec![1f32; out]).ok()?;
    let ones = literal(eg, ones);
    let spread = binary(eg, Binary::Mul, grouped, ones);
    shape[0] = out;
    shape[1] = per_group;
    Some(reshape(eg, spread, shape))
}

fn mul_into_following_conv(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::Conv(attrs) = op else { return None };
    let [input, w, b] = *operands else {
        return None;
    };
    let dims = conv_weights(eg, attrs, w, b)?;
    let (x, s, along) = affine_inputs(eg, input, Binary::Mul).into_iter().next()?;
    let s_w = against_weight(eg, s, along, dims)?;
    let w = binary(eg, Binary::Mul, w, s_w);
    Some(add_op(eg, op.clone(), vec![x, w, b]))
}

fn add_into_following_conv(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::Conv(attrs) = op else { return None };
    let [input, w, b] = *operands else {
        return None;
    };
    // Condition `unpadded`.
    if attrs.pads.iter().any(|&p| p != 0) {
        return None;
    }
    let dims = conv_weights(eg, attrs, w, b)?;
    let (x, t, along) = affine_inputs(eg, input, Binary::Add).into_iter().next()?;
    let t_w = against_weight(eg, t, along, dims)?;
    let weighted = binary(eg, Binary::Mul, w, t_w);
    let sum = Reduce {
        kind: ReduceKind::Sum,
        axes: (1..dims.3).collect(),
        keepdims: false,
    };
    let carried = add_op(eg, Op::Reduce(sum), vec![weighted]);
    let bias = if is_absent(eg, b) {
        carried
    } else {
        binary(eg, Binary::Add, b, carried)
    };
    Some(add_op(eg, op.clone(), vec![x, w, bias]))
}

/// Condition `per_row_of_weight`: `MatMul(v, W)` with W a constant f32 matrix
/// `[K, N]` and `k` constant along v's last axis (K values, or one); returns the
/// `(x, k, along, K)` of the first such `v = x op k`.
fn matmul_affine(eg: &IrEGraph, operands: &[Id], op: Binary) -> Option<(Id, Id, usize, usize)> {
    let [v, w] = *operands else { return None };
    let depth = ty(eg, w).filter(|t| t.rank() == 2)?.shape[0];
    affine_rows(eg, v, w, depth, op)
}

/// `per_row_of_weight` for any weight layout: `w` a constant f32 matrix whose
/// product runs over `depth` rows, `v = x op k` with `k` along v's last axis.
fn affine_rows(
    eg: &IrEGraph,
    v: Id,
    w: Id,
    depth: usize,
    op: Binary,
) -> Option<(Id, Id, usize, usize)> {
    let wt = ty(eg, w)?;
    if !is_constant(eg, w) || wt.rank() != 2 || wt.dtype != DType::F32 {
        return None;
    }
    let vt = ty(eg, v)?;
    // A vector operand would turn the [1, N] shift into a new rank.
    if vt.rank() < 2 {
        return None;
    }
    for (_, inner) in ops_in(eg, v, |o| *o == Op::Binary(op)) {
        for (x, k) in both_orders(&inner) {
            let Some(kt) = ty(eg, k) else { continue };
            if is_constant(eg, x)
                || !is_constant(eg, k)
                || ty(eg, x) != Some(vt)
                || kt.dtype != DType::F32
            {
                continue;
            }
            let (last, leading) = kt.shape.split_last().map_or((1, &[][..]), |(l, r)| (*l, r));
            if kt.rank() <= vt.rank()
                && leading.iter().all(|&d| d == 1)
                && (last == 1 || last == depth)
            {
                return Some((x, k, last, depth));
            }
        }
    }
    None
}

fn mul_into_following_matmul(
    eg: &mut IrEGraph,
    _class: Id,
    _op: &Op,
    operands: &[Id],
) -> Option<Id> {
    let (x, s, along, _) = matmul_affine(eg, operands, Binary::Mul)?;
    let s_w = reshape(eg, s, vec![along, 1]);
    let w = binary(eg, Binary::Mul, s_w, operands[1]);
    Some(add_op(eg, Op::MatMul, vec![x, w]))
}

fn add_into_following_matmul(
    eg: &mut IrEGraph,
    _class: Id,
    _op: &Op,
    operands: &[Id],
) -> Option<Id> {
    let (x, t, along, depth) = matmul_affine(eg, operands, Binary::Add)?;
    let w = operands[1];
    // T W as a [1, N] row: a shift of every output row.
    let row = if along == depth {
        reshape(eg, t, vec![1, depth])
    } else {
        let ones = literal(
            eg,
            Tensor::from_vec(vec![1, depth], vec![1f32; depth]).ok()?,
        );
        let t = reshape(eg, t, vec![1, 1]);
        binary(eg, Binary::Mul, ones, t)
    };
    let shift = add_op(eg, Op::MatMul, vec![row, w]);
    let product = add_op(eg, Op::MatMul, vec![x, w]);
    Some(binary(eg, Binary::Add, product, shift))
}

/// A Gemm with an untransposed A and constant B: `(attrs, v, B, C, K, N)`.
fn gemm_parts(op: &Op, operands: &[Id], eg: &IrEGraph) -> Option<(Gemm, Id, Id, Id, usize, usize)> {
    let Op::Gemm(g) = op else { return None };
    let [v, b, c] = *operands else { return None };
    let bt = ty(eg, b)?;
    if g.trans_a || bt.rank() != 2 {
        return None;
    }
    let (k, n) = if g.trans_b {
        (bt.shape[1], bt.shape[0])
    } else {
        (bt.shape[0], bt.shape[1])
    };
    Some((*g, v, b, c, k, n))
}

fn mul_into_following_gemm(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let (g, v, b, c, depth, _) = gemm_parts(op, operands, eg)?;
    let (x, s, along, _) = affine_rows(eg, v, b, depth, Binary::Mul)?;
    let s_b = reshape(
        eg,
        s,
        if g.trans_b {
            vec![1, along]
        } else {
            vec![along, 1]
        },
    );
    let b = binary(eg, Binary::Mul, b, s_b);
    Some(add_op(eg, Op::Gemm(g), vec![x, b, c]))
}

fn add_into_following_gemm(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let (g, v, b, c, depth, n) = gemm_parts(op, operands, eg)?;
    // Condition `row_bias`: C absent or one value per output column.
    let c_row =
        is_absent(eg, c) || (is_constant(eg, c) && ty(eg, c).is_some_and(|t| t.shape == [n]));
    if !c_row {
        return None;
    }
    let (x, t, along, _) = affine_rows(eg, v, b, depth, Binary::Add)?;
    let row = if along == depth {
        reshape(eg, t, vec![1, depth])
    } else {
        let ones = literal(
            eg,
            Tensor::from_vec(vec![1, depth], vec![1f32; depth]).ok()?,
        );
        let t = reshape(eg, t, vec![1, 1]);
        binary(eg, Binary::Mul, ones, t)
    };
    let b_plain = if g.trans_b {
        add_op(eg, Op::Transpose(Transpose { perm: vec![1, 0] }), vec![b])
    } else {
        b
    };
    // alpha (x + t) B + beta C = alpha x B + (alpha t B + beta C)
    let shift = add_op(eg, Op::MatMul, vec![row, b_plain]);
    let shift = reshape(eg, shift, vec![n]);
    let shift = scaled(eg, shift, g.alpha);
    let bias = if is_absent(eg, c) {
        shift
    } else {
        let own = scaled(eg, c, g.beta);
        binary(eg, Binary::Add, shift, own)
    };
    let gemm = Gemm { beta: 1.0, ..g };
    Some(add_op(eg, Op::Gemm(gemm), vec![x, b, bias]))
}

/// `k * v`, without the product when `k` is 1.
fn scaled(eg: &mut IrEGraph, v: Id, k: f32) -> Id {
    if k == 1.0 {
        return v;
    }
    let k = literal(eg, Tensor::scalar(k));
    binary(eg, Binary::Mul, v, k)
}
