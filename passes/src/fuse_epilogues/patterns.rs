//! Activations that exporters write as several nodes, each reading the running
//! value `v` twice: recognised as a whole and turned into one step.

use std::f64::consts::SQRT_2;

use nnc_ir::ops::{Binary, Step, Unary};
use nnc_ir::{DType, Graph, NodeId, Op, ValueId};

use super::{Absorbed, Uses};

/// A pattern over `v`'s two consumers.
pub(super) type Rule = fn(&Graph, &Uses, [NodeId; 2], ValueId) -> Option<Absorbed>;

/// `Mul(v, Sigmoid(v))` (either operand order) as one SiLU gate step.
pub(super) fn silu(graph: &Graph, uses: &Uses, pair: [NodeId; 2], v: ValueId) -> Option<Absorbed> {
    let is_sigmoid = |id: NodeId| graph.node(id).op == Op::Unary(Unary::Sigmoid);
    let (sig, mul) = match pair {
        [s, m] if is_sigmoid(s) => (s, m),
        [m, s] if is_sigmoid(s) => (s, m),
        _ => return None,
    };
    let s = output(graph, sig)?;
    if only_consumer(uses, s) != Some(mul) || !is_product_of(graph, mul, v, s) {
        return None;
    }
    Some((
        Step::Gate(Unary::Sigmoid),
        None,
        vec![sig, mul],
        output(graph, mul)?,
    ))
}

/// GELU as exporters expand it before opset 20: `a = 1 + erf(v / √2)`, then
/// `v * (0.5 * a)` or `(v * a) * 0.5`, operands of Add and Mul in either order.
/// One exact (erf) `Gelu` step, whose lowering computes `1 + erf` without
/// cancellation on the left tail.
pub(super) fn gelu_erf(
    graph: &Graph,
    uses: &Uses,
    pair: [NodeId; 2],
    v: ValueId,
) -> Option<Absorbed> {
    let is_scaled = |id: NodeId| {
        let n = graph.node(id);
        let divided = n.op == Op::Binary(Binary::Div)
            && matches!(n.inputs[..], [Some(x), c] if x == v && constant_near(graph, c, SQRT_2));
        divided || with_constant(graph, id, Binary::Mul, v, 1.0 / SQRT_2)
    };
    let (scale, mul) = match pair {
        [d, m] if is_scaled(d) => (d, m),
        [m, d] if is_scaled(d) => (d, m),
        _ => return None,
    };
    let erf = only_consumer(uses, output(graph, scale)?)?;
    if graph.node(erf).op != Op::Unary(Unary::Erf) {
        return None;
    }
    let add = only_consumer(uses, output(graph, erf)?)?;
    let a = output(graph, add)?;
    if !with_constant(graph, add, Binary::Add, output(graph, erf)?, 1.0) {
        return None;
    }
    let next = only_consumer(uses, a)?;
    let (last, nodes) = if next == mul {
        // (v * a) * 0.5
        let half = only_consumer(uses, output(graph, mul)?)?;
        let fits = is_product_of(graph, mul, v, a)
            && with_constant(graph, half, Binary::Mul, output(graph, mul)?, 0.5);
        (half, fits.then(|| vec![scale, erf, add, mul, half])?)
    } else {
        // v * (0.5 * a)
        let h = output(graph, next)?;
        let fits = with_constant(graph, next, Binary::Mul, a, 0.5)
            && only_consumer(uses, h) == Some(mul)
            && is_product_of(graph, mul, v, h);
        (mul, fits.then(|| vec![scale, erf, add, next, mul])?)
    };
    let gelu = Unary::Gelu {
        tanh_approximation: false,
    };
    Some((Step::Unary(gelu), None, nodes, output(graph, last)?))
}

/// The single output of node `id`.
fn output(graph: &Graph, id: NodeId) -> Option<ValueId> {
    match graph.node(id).outputs[..] {
        [o] => Some(o),
        _ => None,
    }
}

/// The only node reading `x`, when `x` is not a graph output either.
fn only_consumer(uses: &Uses, x: ValueId) -> Option<NodeId> {
    match uses.of_value(x) {
        [n] if !uses.outputs.contains(&x) => Some(*n),
        _ => None,
    }
}

/// Whether node `id` is `Mul(x, y)` or `Mul(y, x)`.
fn is_product_of(graph: &Graph, id: NodeId, x: ValueId, y: ValueId) -> bool {
    let n = graph.node(id);
    n.op == Op::Binary(Binary::Mul)
        && (n.inputs[..] == [Some(x), Some(y)] || n.inputs[..] == [Some(y), Some(x)])
}

/// Whether node `id` is `op(x, c)` or `op(c, x)` with `c` a known f32 scalar equal
/// to `value` up to f32 rounding.
fn with_constant(graph: &Graph, id: NodeId, op: Binary, x: ValueId, value: f64) -> bool {
    let n = graph.node(id);
    if n.op != Op::Binary(op) {
        return false;
    }
    match n.inputs[..] {
        [Some(a), c] if a == x => constant_near(graph, c, value),
        [c, Some(b)] if b == x => constant_near(graph, c, value),
        _ => false,
    }
}

/// Whether `c` is a known f32 scalar equal to `value` up to f32 rounding.
fn constant_near(graph: &Graph, c: Option<ValueId>, value: f64) -> bool {
    let Some(t) = c.and_then(|c| graph.known_value(c)) else {
        return false;
    };
    t.dtype() == DType::F32
        && t.len() == 1
        && (t.to_f64_vec()[0] - value).abs() <= 1e-6 * value.abs()
}
