//! Activations and normalisations exporters write out op by op, recognised as the
//! one IR op they stand for (which the fusion rules can then put into an anchor's
//! epilogue, and which lowers to one pass over memory).
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `gelu-tanh` | `x * 0.5 * (1 + tanh(√(2/π) (x + 0.044715 x³)))`, any association | `Gelu(x, tanh)` | constants within f32 rounding |
//! | `hard-swish` | `x * clip(x + 3, 0, 6) / 6` (or `* 1/6`), `x * HardSigmoid(x)` | `HardSwish(x)` | `relu6_shift`, `hard_sigmoid_sixth` |
//! | `softmax` | `e / sum(e)`, `e = exp(x - max(x))` or `exp(x)` | `Softmax(x)` | `one_axis_kept` |

use egg::Id;
use nnc_ir::Op;
use nnc_ir::ops::{Binary, ReduceKind, Softmax, SoftmaxKind, Unary};

use super::super::analysis::IrEGraph;
use super::{NodeRule, add_op, both_orders, is_absent, is_scalar, ops_in, same, ty};

pub const RULES: &[NodeRule] = &[
    NodeRule {
        name: "gelu-tanh",
        head: "Mul",
        apply: gelu_tanh,
    },
    NodeRule {
        name: "hard-swish",
        head: "Mul",
        apply: hard_swish_mul,
    },
    NodeRule {
        name: "hard-swish-div",
        head: "Div",
        apply: hard_swish_div,
    },
    NodeRule {
        name: "softmax",
        head: "Div",
        apply: softmax,
    },
];

/// The operand pairs (both orders) of the `b` e-nodes of class `id`.
fn binaries(eg: &IrEGraph, id: Id, b: Binary) -> Vec<(Id, Id)> {
    ops_in(eg, id, |op| *op == Op::Binary(b))
        .into_iter()
        .flat_map(|(_, operands)| both_orders(&operands))
        .collect()
}

fn float(eg: &IrEGraph, x: Id) -> bool {
    ty(eg, x).is_some_and(|t| t.dtype.is_float())
}

/// Whether class `id` holds `x³`: `Pow(x, 3)`, `x * (x * x)` or `(x * x) * x`.
fn is_cube_of(eg: &IrEGraph, id: Id, x: Id) -> bool {
    let pow = ops_in(eg, id, |op| *op == Op::Binary(Binary::Pow))
        .iter()
        .any(|(_, o)| same(eg, o[0], x) && is_scalar(eg, o[1], 3.0));
    let square = |s: Id| {
        binaries(eg, s, Binary::Mul)
            .iter()
            .any(|&(a, b)| same(eg, a, x) && same(eg, b, x))
    };
    let product = binaries(eg, id, Binary::Mul)
        .iter()
        .any(|&(a, s)| same(eg, a, x) && square(s));
    pow || product
}

/// The `x` of a class holding `1 + tanh(√(2/π) (x + 0.044715 x³))`.
fn tanh_term(eg: &IrEGraph, id: Id) -> Option<Id> {
    let k = (2.0 / std::f64::consts::PI).sqrt();
    for (t, one) in binaries(eg, id, Binary::Add) {
        if !is_scalar(eg, one, 1.0) {
            continue;
        }
        for (_, tanh) in ops_in(eg, t, |op| *op == Op::Unary(Unary::Tanh)) {
            for (inner, scale) in binaries(eg, tanh[0], Binary::Mul) {
                if !is_scalar(eg, scale, k) {
                    continue;
                }
                for (x, cubic) in binaries(eg, inner, Binary::Add) {
                    let fits = binaries(eg, cubic, Binary::Mul)
                        .iter()
                        .any(|&(cube, c)| is_scalar(eg, c, 0.044715) && is_cube_of(eg, cube, x));
                    if fits {
                        return Some(x);
                    }
                }
            }
        }
    }
    None
}

/// The `x` of `x * 0.5 * term(x)` in any association, the head being the outer Mul.
fn half_product(
    eg: &IrEGraph,
    operands: &[Id],
    term: fn(&IrEGraph, Id) -> Option<Id>,
) -> Option<Id> {
    for (p, q) in both_orders(operands) {
        // x * (0.5 * e)
        for (h, e) in binaries(eg, q, Binary::Mul) {
            if is_scalar(eg, h, 0.5) && term(eg, e).is_some_and(|x| same(eg, x, p)) {
                return Some(p);
            }
        }
        // 0.5 * (x * e)
        if is_scalar(eg, p, 0.5) {
            for (x, e) in binaries(eg, q, Binary::Mul) {
                if term(eg, e).is_some_and(|x2| same(eg, x, x2)) {
                    return Some(x);
                }
            }
        }
        // e * (x * 0.5)
        if let Some(x) = term(eg, p) {
            for (x2, h) in binaries(eg, q, Binary::Mul) {
                if is_scalar(eg, h, 0.5) && same(eg, x, x2) {
                    return Some(x);
                }
            }
        }
    }
    None
}

fn gelu_tanh(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    let x = half_product(eg, operands, tanh_term).filter(|&x| float(eg, x))?;
    let gelu = Op::Unary(Unary::Gelu {
        tanh_approximation: true,
    });
    Some(add_op(eg, gelu, vec![x]))
}

/// Condition `relu6_shift`: class `id` holds `clip(x + 3, 0, 6)`; gives `x`.
fn relu6_shift(eg: &IrEGraph, id: Id) -> Option<Id> {
    for (_, o) in ops_in(eg, id, |op| *op == Op::Clip) {
        let [s, lo, hi] = o[..] else { continue };
        if is_absent(eg, lo) || !is_scalar(eg, lo, 0.0) || !is_scalar(eg, hi, 6.0) {
            continue;
        }
        if let Some((x, _)) = binaries(eg, s, Binary::Add)
            .into_iter()
            .find(|&(_, three)| is_scalar(eg, three, 3.0))
        {
            return Some(x);
        }
    }
    None
}

/// The `x` of a class holding `relu6(x + 3) / 6` or `relu6(x + 3) * (1/6)`, or
/// (condition `hard_sigmoid_sixth`) `HardSigmoid(x)` with alpha 1/6 and beta 1/2.
fn hard_sigmoid_of(eg: &IrEGraph, id: Id) -> Option<Id> {
    let divided = ops_in(eg, id, |op| *op == Op::Binary(Binary::Div))
        .into_iter()
        .find(|(_, o)| is_scalar(eg, o[1], 6.0))
        .and_then(|(_, o)| relu6_shift(eg, o[0]));
    let scaled = || {
        binaries(eg, id, Binary::Mul)
            .into_iter()
            .find(|&(_, c)| is_scalar(eg, c, 1.0 / 6.0))
            .and_then(|(r, _)| relu6_shift(eg, r))
    };
    let hard_sigmoid = || {
        ops_in(eg, id, |op| {
            matches!(op, Op::Unary(Unary::HardSigmoid { .. }))
        })
        .into_iter()
        .find_map(|(op, o)| match op {
            Op::Unary(Unary::HardSigmoid { alpha, beta })
                if (f64::from(alpha) - 1.0 / 6.0).abs() < 1e-6
                    && (f64::from(beta) - 0.5).abs() < 1e-6 =>
            {
                Some(o[0])
            }
            _ => None,
        })
    };
    divided.or_else(scaled).or_else(hard_sigmoid)
}

fn hard_swish(eg: &mut IrEGraph, x: Id) -> Option<Id> {
    float(eg, x).then(|| add_op(eg, Op::Unary(Unary::HardSwish), vec![x]))
}

/// `x * hs(x)`, and `(x * relu6(x + 3)) * (1/6)`.
fn hard_swish_mul(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    for (p, q) in both_orders(operands) {
        if hard_sigmoid_of(eg, q).is_some_and(|x| same(eg, x, p)) {
            return hard_swish(eg, p);
        }
        if is_scalar(eg, q, 1.0 / 6.0)
            && let Some(x) = shifted_product(eg, p)
        {
            return hard_swish(eg, x);
        }
    }
    None
}

/// The `x` of a class holding `x * relu6(x + 3)`.
fn shifted_product(eg: &IrEGraph, id: Id) -> Option<Id> {
    binaries(eg, id, Binary::Mul)
        .into_iter()
        .find(|&(x, r)| relu6_shift(eg, r).is_some_and(|x2| same(eg, x, x2)))
        .map(|(x, _)| x)
}

/// `(x * relu6(x + 3)) / 6`.
fn hard_swish_div(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    let [p, six] = *operands else { return None };
    if !is_scalar(eg, six, 6.0) {
        return None;
    }
    let x = shifted_product(eg, p)?;
    hard_swish(eg, x)
}

/// Condition `one_axis_kept`: a reduction of `kind` over one axis with kept dims;
/// gives its operand and the axis.
fn reduced_over_one_axis(eg: &IrEGraph, id: Id, kind: ReduceKind) -> Vec<(Id, usize)> {
    ops_in(eg, id, |op| matches!(op, Op::Reduce(_)))
        .into_iter()
        .filter_map(|(op, o)| match op {
            Op::Reduce(r) if r.kind == kind && r.keepdims && r.axes.len() == 1 && o.len() == 1 => {
                Some((o[0], r.axes[0]))
            }
            _ => None,
        })
        .collect()
}

/// `exp(x - max(x)) / sum(exp(x - max(x)))` (or without the max), all over one
/// axis with kept dims: `Softmax(x)` along it.
fn softmax(eg: &mut IrEGraph, _class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    let [e, s] = *operands else { return None };
    let axis = reduced_over_one_axis(eg, s, ReduceKind::Sum)
        .into_iter()
        .find(|&(summed, _)| same(eg, summed, e))?
        .1;
    let (_, exp) = ops_in(eg, e, |op| *op == Op::Unary(Unary::Exp))
        .into_iter()
        .next()?;
    let d = exp[0];
    // d = x - max(x) along the same axis, or d is x itself.
    let shifted = ops_in(eg, d, |op| *op == Op::Binary(Binary::Sub))
        .into_iter()
        .find(|(_, o)| {
            reduced_over_one_axis(eg, o[1], ReduceKind::Max)
                .iter()
                .any(|&(m, a)| a == axis && same(eg, m, o[0]))
        })
        .map(|(_, o)| o[0]);
    let x = shifted.unwrap_or(d);
    let xt = ty(eg, x)?;
    if !xt.dtype.is_float() || ty(eg, e) != Some(xt) || axis >= xt.rank() {
        return None;
    }
    let op = Op::Softmax(Softmax {
        kind: SoftmaxKind::Softmax,
        axis,
    });
    Some(add_op(eg, op, vec![x]))
}
