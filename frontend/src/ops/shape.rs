//! Shape computations: Shape, Size, ConstantOfShape, Range. Their results are
//! known at compile time whenever their operands are (the graph evaluates them
//! while building), which is what resolves the Reshape / Expand / Slice operands
//! that exporters compute from shapes.

use nnc_ir::Op;
use nnc_ir::ops::{ConstantOfShape, Shape};

use super::{Converter, at, checked_dims};
use crate::import::{ConvResult, NodeCtx};

pub(super) static CONVERTERS: &[Converter] = &[
    at("Shape", 1, shape),
    at("Size", 1, size),
    at("ConstantOfShape", 9, constant_of_shape),
    at("Range", 11, range),
];

fn shape(ctx: &mut NodeCtx) -> ConvResult<()> {
    let (start, end) = if ctx.opset >= 15 {
        (ctx.attrs.int("start", 0)?, ctx.attrs.opt_int("end")?)
    } else {
        (0, None)
    };
    let x = ctx.input(0)?;
    ctx.add(Op::Shape(Shape { start, end }), vec![Some(x)])?;
    Ok(())
}

fn size(ctx: &mut NodeCtx) -> ConvResult<()> {
    let x = ctx.input(0)?;
    ctx.add(Op::Size, vec![Some(x)])?;
    Ok(())
}

fn constant_of_shape(ctx: &mut NodeCtx) -> ConvResult<()> {
    let value = match ctx.attrs.opt_tensor("value")? {
        Some(proto) => Some(ctx.attr_tensor("value", proto)?),
        None => None,
    };
    let dims = ctx.known_ints(0, "input")?;
    checked_dims(&dims)?;
    let shape = ctx.input(0)?;
    ctx.add(
        Op::ConstantOfShape(ConstantOfShape::new(value)?),
        vec![Some(shape)],
    )?;
    Ok(())
}

/// Range's operands decide its length, so they must be known.
fn range(ctx: &mut NodeCtx) -> ConvResult<()> {
    let mut inputs = Vec::with_capacity(3);
    for (i, what) in ["start", "limit", "delta"].into_iter().enumerate() {
        ctx.known_scalar(i, what)?;
        inputs.push(Some(ctx.input(i)?));
    }
    ctx.add(Op::Range, inputs)?;
    Ok(())
}
