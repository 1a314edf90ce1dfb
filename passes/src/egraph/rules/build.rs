//! What rules read from the e-graph and how they add to it.

use egg::Id;
use nnc_ir::ops::{Binary, Reshape};
use nnc_ir::{DType, Op, Tensor, TensorType};

use super::super::analysis::{ClassFacts, IrEGraph};
use super::super::language::{Enode, Literal};

pub fn facts(eg: &IrEGraph, id: Id) -> &ClassFacts {
    &eg[id].data
}

pub fn ty(eg: &IrEGraph, id: Id) -> Option<&TensorType> {
    eg[id].data.ty()
}

pub fn is_constant(eg: &IrEGraph, id: Id) -> bool {
    eg[id].data.constant && !eg[id].data.types.is_empty()
}

pub fn is_absent(eg: &IrEGraph, id: Id) -> bool {
    eg[id].nodes.iter().any(|n| matches!(n, Enode::Absent))
}

pub fn same(eg: &IrEGraph, a: Id, b: Id) -> bool {
    eg.find(a) == eg.find(b)
}

/// The single-output e-nodes of a class whose op satisfies `wanted`.
pub fn ops_in(eg: &IrEGraph, id: Id, wanted: impl Fn(&Op) -> bool) -> Vec<(Op, Vec<Id>)> {
    eg[id]
        .nodes
        .iter()
        .filter_map(|n| n.as_op())
        .filter(|(op, _)| wanted(op))
        .map(|(op, operands)| (op.clone(), operands.to_vec()))
        .collect()
}

/// The class's value as one f32 number, when it is a known constant of one element.
pub fn scalar(eg: &IrEGraph, id: Id) -> Option<f32> {
    let value = eg[id].data.value.as_ref()?;
    (value.len() == 1 && value.dtype() == DType::F32)
        .then(|| value.to_vec::<f32>().ok()?.first().copied())
        .flatten()
}

/// Whether `id` is the one-element constant `want`, up to f32 rounding of how an
/// exporter wrote it.
pub fn is_scalar(eg: &IrEGraph, id: Id, want: f64) -> bool {
    scalar(eg, id).is_some_and(|v| ((v as f64) - want).abs() <= 1e-6 * want.abs().max(1.0))
}

pub fn add_op(eg: &mut IrEGraph, op: Op, operands: Vec<Id>) -> Id {
    eg.add(Enode::op(op, operands))
}

pub fn binary(eg: &mut IrEGraph, b: Binary, x: Id, y: Id) -> Id {
    add_op(eg, Op::Binary(b), vec![x, y])
}

pub fn reshape(eg: &mut IrEGraph, x: Id, shape: Vec<usize>) -> Id {
    if ty(eg, x).is_some_and(|t| t.shape == shape) {
        return x;
    }
    // Reshape the reshape's operand instead: no Reshape(Reshape(..)) chains for
    // `reshape-reshape` to collapse afterwards.
    let source = ops_in(eg, x, |op| matches!(op, Op::Reshape(_)))
        .first()
        .map_or(x, |(_, o)| o[0]);
    if ty(eg, source).is_some_and(|t| t.shape == shape) {
        return source;
    }
    add_op(eg, Op::Reshape(Reshape { shape }), vec![source])
}

pub fn literal(eg: &mut IrEGraph, tensor: Tensor) -> Id {
    eg.add(Enode::Literal(Literal::new(tensor)))
}

pub fn absent(eg: &mut IrEGraph) -> Id {
    eg.add(Enode::Absent)
}

/// How a constant broadcasts against a rank-`rank` NC... tensor of `channels`
/// channels: `Some(1)` for one value for all, `Some(channels)` for one per channel
/// (axis 1), `None` otherwise or if it is not an f32 constant.
pub fn per_channel(eg: &IrEGraph, id: Id, channels: usize, rank: usize) -> Option<usize> {
    if !is_constant(eg, id) {
        return None;
    }
    let t = ty(eg, id)?;
    if t.dtype != DType::F32 || t.rank() > rank {
        return None;
    }
    let offset = rank - t.rank();
    let mut along = 1;
    for (k, &d) in t.shape.iter().enumerate() {
        let axis = offset + k;
        if axis == 1 && (d == channels || d == 1) {
            along = d;
        } else if d != 1 {
            return None;
        }
    }
    Some(along)
}

/// Whether `class` already holds a convolution of `x`. Rules that would add
/// another one skip: a second single-conv form of the same value costs the same,
/// and building every variant (bias folded before or after a merge, ...) makes
/// multi-branch blocks grow combinatorially.
pub fn has_conv_over(eg: &IrEGraph, class: Id, x: Id) -> bool {
    let x = eg.find(x);
    eg[class].nodes.iter().any(|n| match n.as_op() {
        Some((Op::Conv(_), operands)) => eg.find(operands[0]) == x,
        _ => false,
    })
}

/// The two operand orders of a commutative binary op (none for other arities).
pub fn both_orders(operands: &[Id]) -> Vec<(Id, Id)> {
    match *operands {
        [a, b] => vec![(a, b), (b, a)],
        _ => vec![],
    }
}
