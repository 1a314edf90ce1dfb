//! Normalisations: BatchNormalization (inference form only), Instance, Layer and
//! Group normalisation, LRN.

use nnc_ir::Op;
use nnc_ir::ops::{BatchNorm, Binary, GroupNorm, InstanceNorm, LayerNorm, Lrn, Reduce, ReduceKind};
use nnc_ir::shape::normalize_axis;

use super::{Converter, at};
use crate::import::{ConvResult, NodeCtx, bail, refuse};

pub(super) static CONVERTERS: &[Converter] = &[
    at("BatchNormalization", 7, batch_norm),
    at("InstanceNormalization", 6, instance_norm),
    at("LayerNormalization", 17, layer_norm),
    at("GroupNormalization", 18, group_norm),
    at("LRN", 1, lrn),
    at("LpNormalization", 1, lp_normalization),
];

/// Operand `i` for each of `0..n`, all required.
fn operands(ctx: &NodeCtx, n: usize) -> ConvResult<Vec<Option<nnc_ir::ValueId>>> {
    (0..n).map(|i| ctx.input(i).map(Some)).collect()
}

fn batch_norm(ctx: &mut NodeCtx) -> ConvResult<()> {
    if ctx.opset >= 14 && ctx.attrs.flag("training_mode", false)? {
        refuse!(
            "BatchNormalization in training mode is not supported (nnc compiles inference graphs)"
        );
    }
    if ctx.output_count() > 1 {
        refuse!(
            "BatchNormalization with running-statistics outputs (training) is not supported; \
             export the model in eval mode"
        );
    }
    if ctx.opset < 9 && !ctx.attrs.flag("spatial", true)? {
        refuse!("BatchNormalization with spatial = 0 is not supported");
    }
    let epsilon = ctx.attrs.float("epsilon", 1e-5)?;
    let inputs = operands(ctx, 5)?;
    ctx.add(Op::BatchNorm(BatchNorm { epsilon }), inputs)?;
    Ok(())
}

fn instance_norm(ctx: &mut NodeCtx) -> ConvResult<()> {
    let epsilon = ctx.attrs.float("epsilon", 1e-5)?;
    let inputs = operands(ctx, 3)?;
    ctx.add(Op::InstanceNorm(InstanceNorm { epsilon }), inputs)?;
    Ok(())
}

fn layer_norm(ctx: &mut NodeCtx) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let scale = ctx.input(1)?;
    let bias = ctx.opt_input(2)?;
    let axis = normalize_axis(ctx.attrs.int("axis", -1)?, ctx.ty(x).rank())?;
    let epsilon = ctx.attrs.float("epsilon", 1e-5)?;
    ctx.add(
        Op::LayerNorm(LayerNorm {
            axis,
            epsilon,
            inner_axes: 0,
        }),
        vec![Some(x), Some(scale), bias],
    )?;
    Ok(())
}

/// Opset 18 has per-group scale and bias, 21 per-channel ones; the IR op tells
/// them apart by their length.
fn group_norm(ctx: &mut NodeCtx) -> ConvResult<()> {
    let num_groups = match ctx.attrs.opt_int("num_groups")? {
        Some(g) if g >= 1 => g as usize,
        Some(g) => bail!("attribute 'num_groups' must be positive, is {g}"),
        None => bail!("GroupNormalization requires attribute 'num_groups'"),
    };
    let epsilon = ctx.attrs.float("epsilon", 1e-5)?;
    let inputs = operands(ctx, 3)?;
    ctx.add(
        Op::GroupNorm(GroupNorm {
            num_groups,
            epsilon,
        }),
        inputs,
    )?;
    Ok(())
}

fn lrn(ctx: &mut NodeCtx) -> ConvResult<()> {
    let size = match ctx.attrs.opt_int("size")? {
        Some(s) if s >= 1 => s as usize,
        Some(s) => bail!("attribute 'size' must be positive, is {s}"),
        None => bail!("LRN requires attribute 'size'"),
    };
    let op = Lrn {
        size,
        alpha: ctx.attrs.float("alpha", 1e-4)?,
        beta: ctx.attrs.float("beta", 0.75)?,
        bias: ctx.attrs.float("bias", 1.0)?,
    };
    let x = ctx.input(0)?;
    ctx.add(Op::Lrn(op), vec![Some(x)])?;
    Ok(())
}

/// LpNormalization: x divided by its L1 or L2 norm along `axis`, as an IR Reduce
/// (keeping dims) and Div; where the norm is zero the result is zero (as the ONNX
/// reference defines 0 / 0), not NaN.
fn lp_normalization(ctx: &mut NodeCtx) -> ConvResult<()> {
    let kind = match ctx.attrs.int("p", 2)? {
        1 => ReduceKind::L1,
        2 => ReduceKind::L2,
        p => bail!("attribute 'p' must be 1 or 2, is {p}"),
    };
    let x = ctx.input(0)?;
    let axis = normalize_axis(ctx.attrs.int("axis", -1)?, ctx.ty(x).rank())?;
    let norm = ctx.add_internal(
        Op::Reduce(Reduce {
            kind,
            axes: vec![axis],
            keepdims: true,
        }),
        vec![Some(x)],
    )?;
    let quotient = ctx.add_internal(Op::Binary(Binary::Div), vec![Some(x), Some(norm)])?;
    let zero = ctx.scalar(ctx.ty(x).dtype, 0.0)?;
    let norm_is_zero = ctx.add_internal(Op::Binary(Binary::Equal), vec![Some(norm), Some(zero)])?;
    ctx.add(
        Op::Where,
        vec![Some(norm_is_zero), Some(zero), Some(quotient)],
    )?;
    Ok(())
}
