//! Linear quantization: QuantizeLinear and DequantizeLinear, per tensor, per axis
//! (opset 13) and blocked (opset 21).

use nnc_ir::ops::{Dequantize, Quantize};
use nnc_ir::shape::normalize_axis;
use nnc_ir::{DType, Op};

use super::{Converter, at};
use crate::import::{ConvResult, NodeCtx, bail, refuse};
use crate::tensor::dtype_of;

pub(super) static CONVERTERS: &[Converter] = &[
    at("QuantizeLinear", 10, quantize),
    at("DequantizeLinear", 10, dequantize),
];

/// The resolved `axis` and `block_size`. A per-tensor scale (one element) ignores
/// the axis, whose default (1) need not even exist in the input.
fn axis_and_block(ctx: &NodeCtx) -> ConvResult<(usize, usize)> {
    let x = ctx.input_type(0)?;
    let scale = ctx.input_type(1)?;
    let axis = if ctx.opset >= 13 {
        ctx.attrs.int("axis", 1)?
    } else {
        1
    };
    let block_size = if ctx.opset >= 21 {
        ctx.attrs.count("block_size", 0)?
    } else {
        0
    };
    let per_tensor = scale.len() == 1 && scale.rank() <= 1 && block_size == 0;
    let axis = match normalize_axis(axis, x.rank()) {
        Ok(axis) => axis,
        Err(_) if per_tensor => 0,
        Err(e) => return Err(e.into()),
    };
    Ok((axis, block_size))
}

fn quantize(ctx: &mut NodeCtx) -> ConvResult<()> {
    let (axis, block_size) = axis_and_block(ctx)?;
    let zero_point = ctx.opt_input(2)?;
    let output_dtype = if ctx.opset >= 21 {
        ctx.attrs.int("output_dtype", 0)?
    } else {
        0
    };
    let to = match (zero_point, output_dtype) {
        (Some(zp), _) => {
            let dtype = ctx.ty(zp).dtype;
            if output_dtype != 0 && dtype_of(output_dtype as i32).ok() != Some(dtype) {
                bail!("attribute 'output_dtype' disagrees with the zero point's dtype {dtype}");
            }
            dtype
        }
        (None, 0) => DType::U8,
        (None, code) => match i32::try_from(code) {
            Ok(c) => dtype_of(c).map_err(|e| e.within("attribute 'output_dtype'"))?,
            Err(_) => bail!("attribute 'output_dtype' is not a data type ({code})"),
        },
    };
    if ctx.opset >= 23 {
        let precision = ctx.attrs.int("precision", 0)?;
        let scale = ctx.input_type(1)?.dtype;
        if precision != 0 && dtype_of(precision as i32).ok() != Some(scale) {
            refuse!("attribute 'precision' other than the scale's dtype is not supported");
        }
    }
    let inputs = vec![Some(ctx.input(0)?), Some(ctx.input(1)?), zero_point];
    ctx.add(
        Op::Quantize(Quantize {
            axis,
            block_size,
            to,
        }),
        inputs,
    )?;
    Ok(())
}

fn dequantize(ctx: &mut NodeCtx) -> ConvResult<()> {
    let (axis, block_size) = axis_and_block(ctx)?;
    if ctx.opset >= 23 {
        let output_dtype = ctx.attrs.int("output_dtype", 0)?;
        let scale = ctx.input_type(1)?.dtype;
        if output_dtype != 0 && dtype_of(output_dtype as i32).ok() != Some(scale) {
            refuse!(
                "attribute 'output_dtype' other than the scale's dtype {scale} is not supported"
            );
        }
    }
    let inputs = vec![Some(ctx.input(0)?), Some(ctx.input(1)?), ctx.opt_input(2)?];
    ctx.add(Op::Dequantize(Dequantize { axis, block_size }), inputs)?;
    Ok(())
}
