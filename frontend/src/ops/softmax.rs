//! Softmax, LogSoftmax and Hardmax. Before opset 13 they act on the input
//! coerced to 2-D at `axis` (default 1); from 13 along one axis (default -1).

use nnc_ir::Op;
use nnc_ir::ops::{Reshape, Softmax, SoftmaxKind};
use nnc_ir::shape::normalize_axis;

use super::{Converter, at};
use crate::import::{ConvResult, NodeCtx, bail};

pub(super) static CONVERTERS: &[Converter] = &[
    at("Softmax", 1, |c| coerced_2d(c, SoftmaxKind::Softmax)),
    at("Softmax", 13, |c| along_axis(c, SoftmaxKind::Softmax)),
    at("LogSoftmax", 1, |c| coerced_2d(c, SoftmaxKind::LogSoftmax)),
    at("LogSoftmax", 13, |c| along_axis(c, SoftmaxKind::LogSoftmax)),
    at("Hardmax", 1, |c| coerced_2d(c, SoftmaxKind::Hardmax)),
    at("Hardmax", 13, |c| along_axis(c, SoftmaxKind::Hardmax)),
];

fn along_axis(ctx: &mut NodeCtx, kind: SoftmaxKind) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let axis = normalize_axis(ctx.attrs.int("axis", -1)?, ctx.ty(x).rank())?;
    ctx.add(Op::Softmax(Softmax { kind, axis }), vec![Some(x)])?;
    Ok(())
}

/// The old form: the dims from `axis` on are one row. When they hold a single
/// dim of more than one element, that is the one-axis form; otherwise Reshape to
/// 2-D, act along axis 1, and Reshape back.
fn coerced_2d(ctx: &mut NodeCtx, kind: SoftmaxKind) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let shape = ctx.ty(x).shape.clone();
    let rank = shape.len() as i64;
    let axis = ctx.attrs.int("axis", 1)?;
    if !(-rank..=rank).contains(&axis) || rank == 0 {
        bail!("attribute 'axis' {axis} is out of range for rank {rank}");
    }
    let axis = if axis < 0 { axis + rank } else { axis } as usize;
    if axis < shape.len() && shape[axis + 1..].iter().all(|&d| d == 1) {
        ctx.add(Op::Softmax(Softmax { kind, axis }), vec![Some(x)])?;
        return Ok(());
    }
    let flat = Reshape::flatten(&shape, axis as i64)?;
    let rows = ctx.add_internal(Op::Reshape(flat), vec![Some(x)])?;
    let acted = ctx.add_internal(Op::Softmax(Softmax { kind, axis: 1 }), vec![Some(rows)])?;
    ctx.add(Op::Reshape(Reshape { shape }), vec![Some(acted)])?;
    Ok(())
}
