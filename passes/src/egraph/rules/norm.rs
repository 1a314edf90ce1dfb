//! LayerNorm as older exporters decompose it, recognised as the IR op; and the
//! affine that follows a normalisation folded into its scale and bias.
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `layernorm` | `d / sqrt(mean(d^2) + eps)`, `d = x - mean(x)` | `LayerNorm(x, 1)` | `reduces_trailing_axes` |
//! | `mul-into-layernorm` | `LayerNorm(x, s, b) * g` | `LayerNorm(x, s*g, b*g)` | `per_normalized_element` |
//! | `add-into-layernorm` | `LayerNorm(x, s, b) + t` | `LayerNorm(x, s, b+t)` | `per_normalized_element` |
//! | `layernorm-across-transpose` | `Transpose(LayerNorm(Transpose(x, p), s, b), p⁻¹)` | `LayerNorm(x, s, b)` over axis `a` only, the rest inner | `p` moves one axis `a` last |

use egg::Id;
use nnc_ir::ops::{Binary, LayerNorm, ReduceKind, Transpose, Unary};
use nnc_ir::{DType, Op, Tensor};

use super::super::analysis::IrEGraph;
use super::{
    NodeRule, add_op, binary, both_orders, is_absent, is_constant, is_scalar, literal, ops_in,
    same, scalar, ty,
};

pub const RULES: &[NodeRule] = &[
    NodeRule {
        name: "layernorm",
        head: "Div",
        apply: layernorm,
    },
    NodeRule {
        name: "mul-into-layernorm",
        head: "Mul",
        apply: mul_into_layernorm,
    },
    NodeRule {
        name: "add-into-layernorm",
        head: "Add",
        apply: add_into_layernorm,
    },
    NodeRule {
        name: "layernorm-across-transpose",
        head: "Transpose",
        apply: layernorm_across_transpose,
    },
];

/// The operand of a `ReduceMean(keepdims)` in class `id` over the trailing axes
/// from `axis`, with `axis`.
fn trailing_means(eg: &IrEGraph, id: Id) -> Vec<(Id, usize)> {
    ops_in(eg, id, |op| matches!(op, Op::Reduce(_)))
        .into_iter()
        .filter_map(|(op, operands)| {
            let Op::Reduce(r) = op else { return None };
            let rank = ty(eg, operands[0])?.rank();
            let axis = *r.axes.first()?;
            // Condition `reduces_trailing_axes`: mean over axis.., kept dims.
            let trailing = r.axes.iter().copied().eq(axis..rank);
            (r.kind == ReduceKind::Mean && r.keepdims && trailing && operands.len() == 1)
                .then_some((operands[0], axis))
        })
        .collect()
}

/// Whether class `id` holds `d^2` (as Pow(d, 2) or d * d).
fn is_square_of(eg: &IrEGraph, id: Id, d: Id) -> bool {
    let pow = ops_in(eg, id, |op| *op == Op::Binary(Binary::Pow))
        .iter()
        .any(|(_, o)| same(eg, o[0], d) && is_scalar(eg, o[1], 2.0));
    let mul = ops_in(eg, id, |op| *op == Op::Binary(Binary::Mul))
        .iter()
        .any(|(_, o)| same(eg, o[0], d) && same(eg, o[1], d));
    pow || mul
}

fn layernorm(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    let [d, sd] = *operands else { return None };
    // d = x - mean(x)
    let (x, axis) = ops_in(eg, d, |op| *op == Op::Binary(Binary::Sub))
        .into_iter()
        .find_map(|(_, o)| {
            trailing_means(eg, o[1])
                .into_iter()
                .find(|&(m, _)| same(eg, m, o[0]))
                .map(|(_, axis)| (o[0], axis))
        })?;
    let xt = ty(eg, x)?.clone();
    if xt.dtype != DType::F32 || ty(eg, d) != Some(&xt) {
        return None;
    }
    // sd = sqrt(mean(d^2) + eps)
    let epsilon = ops_in(eg, sd, |op| *op == Op::Unary(Unary::Sqrt))
        .into_iter()
        .find_map(|(_, s)| {
            ops_in(eg, s[0], |op| *op == Op::Binary(Binary::Add))
                .into_iter()
                .flat_map(|(_, o)| both_orders(&o))
                .find_map(|(v, eps)| {
                    let variance = trailing_means(eg, v)
                        .into_iter()
                        .any(|(sq, a)| a == axis && is_square_of(eg, sq, d));
                    variance.then(|| scalar(eg, eps)).flatten()
                })
        })?;
    let normalized = xt.shape[axis..].to_vec();
    let n = normalized.iter().product();
    let ones = literal(eg, Tensor::from_vec(normalized, vec![1f32; n]).ok()?);
    let absent = eg.add(super::super::language::Enode::Absent);
    let op = Op::LayerNorm(LayerNorm {
        axis,
        epsilon,
        inner_axes: 0,
    });
    Some(add_op(eg, op, vec![x, ones, absent]))
}

/// The LayerNorms of a class (single output, f32), with their operands.
fn layernorms_in(eg: &IrEGraph, id: Id) -> Vec<(LayerNorm, Vec<Id>)> {
    ops_in(eg, id, |op| matches!(op, Op::LayerNorm(_)))
        .into_iter()
        .filter_map(|(op, o)| match op {
            // Only ONNX's form: with inner axes the scale's dims are not the
            // trailing ones, which the rules below assume.
            Op::LayerNorm(ln) if o.len() == 3 && ln.inner_axes == 0 => Some((ln, o)),
            _ => None,
        })
        .filter(|(_, o)| is_constant(eg, o[1]) && (is_absent(eg, o[2]) || is_constant(eg, o[2])))
        .collect()
}

/// Condition `per_normalized_element`: `k` is an f32 constant that broadcasts
/// within the normalised dims of `ln_class` (so it neither varies along nor grows
/// the leading dims).
fn per_normalized_element(eg: &IrEGraph, ln_class: Id, axis: usize, k: Id) -> bool {
    let (Some(out), Some(kt)) = (ty(eg, ln_class), ty(eg, k)) else {
        return false;
    };
    let rank = out.rank();
    if !is_constant(eg, k) || kt.dtype != DType::F32 || kt.rank() > rank {
        return false;
    }
    let offset = rank - kt.rank();
    kt.shape.iter().enumerate().all(|(i, &dim)| {
        let a = offset + i;
        dim == 1 || (a >= axis && dim == out.shape[a])
    })
}

/// `k` without leading dims before `axis` (which are all 1), so it broadcasts
/// against the normalised shape as scale and bias must.
fn trimmed(eg: &mut IrEGraph, k: Id, rank: usize, axis: usize) -> Option<Id> {
    let kt = ty(eg, k)?.clone();
    let keep = (rank - axis).min(kt.rank());
    let shape = kt.shape[kt.rank() - keep..].to_vec();
    Some(super::reshape(eg, k, shape))
}

fn mul_into_layernorm(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    for (p, g) in both_orders(operands) {
        for (ln, o) in layernorms_in(eg, p) {
            if !per_normalized_element(eg, p, ln.axis, g) {
                continue;
            }
            let rank = ty(eg, p)?.rank();
            let g = trimmed(eg, g, rank, ln.axis)?;
            let s = binary(eg, Binary::Mul, o[1], g);
            let b = if is_absent(eg, o[2]) {
                o[2]
            } else {
                binary(eg, Binary::Mul, o[2], g)
            };
            return Some(add_op(eg, Op::LayerNorm(ln), vec![o[0], s, b]));
        }
    }
    None
}

fn add_into_layernorm(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    for (p, t) in both_orders(operands) {
        for (ln, o) in layernorms_in(eg, p) {
            if !per_normalized_element(eg, p, ln.axis, t) {
                continue;
            }
            let rank = ty(eg, p)?.rank();
            let t = trimmed(eg, t, rank, ln.axis)?;
            let b = if is_absent(eg, o[2]) {
                t
            } else {
                binary(eg, Binary::Add, o[2], t)
            };
            return Some(add_op(eg, Op::LayerNorm(ln), vec![o[0], o[1], b]));
        }
    }
    None
}

/// The axis that `perm` moves to the end, keeping the others in order (NCHW ->
/// NHWC moves axis 1), if that is all it does.
fn moved_last(perm: &[usize]) -> Option<usize> {
    let (&a, rest) = perm.split_last()?;
    let others = (0..perm.len()).filter(|&d| d != a);
    rest.iter().copied().eq(others).then_some(a)
}

/// A LayerNorm over the last axis between a transpose that moved axis `a` there
/// and the transpose that moves it back is a LayerNorm over axis `a` in place:
/// one pass instead of three over the tensor.
fn layernorm_across_transpose(
    eg: &mut IrEGraph,
    _class: Id,
    op: &Op,
    operands: &[Id],
) -> Option<Id> {
    let Op::Transpose(back) = op else { return None };
    let [normed] = *operands else { return None };
    let rank = back.perm.len();
    for (ln, o) in layernorms_in(eg, normed) {
        if ln.axis + 1 != rank {
            continue;
        }
        for (t, to) in ops_in(eg, o[0], |op| matches!(op, Op::Transpose(_))) {
            let Op::Transpose(Transpose { perm }) = t else {
                continue;
            };
            let Some(a) = moved_last(&perm) else { continue };
            // `back` must undo `perm`.
            if !(0..rank).all(|d| back.perm.get(perm[d]) == Some(&d)) {
                continue;
            }
            let across = LayerNorm {
                axis: a,
                epsilon: ln.epsilon,
                inner_axes: rank - 1 - a,
            };
            return Some(add_op(eg, Op::LayerNorm(across), vec![to[0], o[1], o[2]]));
        }
    }
    None
}
