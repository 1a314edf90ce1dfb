//! Data movement: Reshape and the ops that are reshapes (Flatten, Squeeze,
//! Unsqueeze), Transpose, Concat, Split, Slice, Gather, GatherElements, Pad,
//! Expand, Tile, DepthToSpace, SpaceToDepth. Operands that decide the output
//! shape must be known at compile time and become attributes.

use nnc_ir::ops::{
    Concat, DepthToSpace, Expand, Gather, GatherElements, Pad, PadMode, Reshape, Slice,
    SpaceToDepth, Split, Tile, Transpose,
};
use nnc_ir::shape::normalize_axis;
use nnc_ir::{Op, ValueId};

use super::{Converter, at, checked_dims};
use crate::import::{ConvResult, NodeCtx, bail, refuse};

pub(super) static CONVERTERS: &[Converter] = &[
    at("Reshape", 5, reshape),
    at("Flatten", 1, flatten),
    at("Squeeze", 1, squeeze),
    at("Squeeze", 13, squeeze),
    at("Unsqueeze", 1, unsqueeze),
    at("Unsqueeze", 13, unsqueeze),
    at("Transpose", 1, transpose),
    at("Concat", 4, concat),
    at("Split", 2, split),
    at("Slice", 1, slice_attributes),
    at("Slice", 10, slice_inputs),
    at("Gather", 1, gather),
    at("GatherElements", 11, gather_elements),
    at("Pad", 2, pad_attributes),
    at("Pad", 11, pad_inputs),
    at("Expand", 8, expand),
    at("Tile", 6, tile),
    at("DepthToSpace", 1, depth_to_space),
    at("SpaceToDepth", 1, space_to_depth),
];

/// Adds the IR Reshape of operand 0 that `resolve` computes from its dims.
fn reshape_with(
    ctx: &mut NodeCtx,
    resolve: impl FnOnce(&[usize]) -> nnc_ir::OpResult<Reshape>,
) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let op = resolve(&ctx.ty(x).shape)?;
    ctx.add(Op::Reshape(op), vec![Some(x)])?;
    Ok(())
}

fn reshape(ctx: &mut NodeCtx) -> ConvResult<()> {
    let shape = ctx.known_ints(1, "shape")?;
    let allowzero = ctx.opset >= 14 && ctx.attrs.flag("allowzero", false)?;
    reshape_with(ctx, |dims| Reshape::resolve(dims, &shape, allowzero))
}

fn flatten(ctx: &mut NodeCtx) -> ConvResult<()> {
    let axis = ctx.attrs.int("axis", 1)?;
    reshape_with(ctx, |dims| Reshape::flatten(dims, axis))
}

/// The `axes` of Squeeze / Unsqueeze: an attribute before opset 13, an operand from
/// 13 on.
fn axes_of(ctx: &NodeCtx) -> ConvResult<Option<Vec<i64>>> {
    if ctx.opset >= 13 {
        ctx.opt_known_ints(1, "axes")
    } else {
        Ok(ctx.attrs.opt_ints("axes")?.map(<[i64]>::to_vec))
    }
}

fn squeeze(ctx: &mut NodeCtx) -> ConvResult<()> {
    let axes = axes_of(ctx)?;
    reshape_with(ctx, |dims| Reshape::squeeze(dims, axes.as_deref()))
}

fn unsqueeze(ctx: &mut NodeCtx) -> ConvResult<()> {
    let Some(axes) = axes_of(ctx)? else {
        bail!("Unsqueeze requires 'axes'");
    };
    reshape_with(ctx, |dims| Reshape::unsqueeze(dims, &axes))
}

fn transpose(ctx: &mut NodeCtx) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let perm = ctx.attrs.opt_ints("perm")?;
    let op = Transpose::resolve(ctx.ty(x).rank(), perm)?;
    ctx.add(Op::Transpose(op), vec![Some(x)])?;
    Ok(())
}

fn concat(ctx: &mut NodeCtx) -> ConvResult<()> {
    let Some(axis) = ctx.attrs.opt_int("axis")? else {
        bail!("Concat requires attribute 'axis'");
    };
    let inputs: Vec<ValueId> = (0..ctx.input_count())
        .map(|i| ctx.input(i))
        .collect::<ConvResult<_>>()?;
    let Some(&first) = inputs.first() else {
        bail!("Concat needs at least one input");
    };
    let axis = normalize_axis(axis, ctx.ty(first).rank())?;
    ctx.add(
        Op::Concat(Concat { axis }),
        inputs.into_iter().map(Some).collect(),
    )?;
    Ok(())
}

/// Split: sizes from the `split` attribute (before 13) or operand (from 13), else
/// `num_outputs` (from 18) or the number of outputs, in equal parts.
fn split(ctx: &mut NodeCtx) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let axis = ctx.attrs.int("axis", 0)?;
    let sizes = if ctx.opset >= 13 {
        ctx.opt_known_ints(1, "split")?
    } else {
        ctx.attrs.opt_ints("split")?.map(<[i64]>::to_vec)
    };
    let outputs = ctx.listed_outputs();
    if ctx.opset >= 18
        && let Some(n) = ctx.attrs.opt_int("num_outputs")?
        && n != outputs as i64
    {
        bail!("attribute 'num_outputs' is {n} but the node has {outputs} outputs");
    }
    let op = Split::resolve(&ctx.ty(x).shape, axis, sizes.as_deref(), outputs)?;
    ctx.add_with(Op::Split(op), vec![Some(x)], outputs)?;
    Ok(())
}

fn slice_attributes(ctx: &mut NodeCtx) -> ConvResult<()> {
    let (Some(starts), Some(ends)) = (ctx.attrs.opt_ints("starts")?, ctx.attrs.opt_ints("ends")?)
    else {
        bail!("Slice requires attributes 'starts' and 'ends'");
    };
    let axes = ctx.attrs.opt_ints("axes")?;
    let x = ctx.input(0)?;
    let op = Slice::resolve(&ctx.ty(x).shape, starts, ends, axes, None)?;
    ctx.add(Op::Slice(op), vec![Some(x)])?;
    Ok(())
}

fn slice_inputs(ctx: &mut NodeCtx) -> ConvResult<()> {
    let starts = ctx.known_ints(1, "starts")?;
    let ends = ctx.known_ints(2, "ends")?;
    let axes = ctx.opt_known_ints(3, "axes")?;
    let steps = ctx.opt_known_ints(4, "steps")?;
    let x = ctx.input(0)?;
    let op = Slice::resolve(
        &ctx.ty(x).shape,
        &starts,
        &ends,
        axes.as_deref(),
        steps.as_deref(),
    )?;
    ctx.add(Op::Slice(op), vec![Some(x)])?;
    Ok(())
}

fn gather(ctx: &mut NodeCtx) -> ConvResult<()> {
    let data = ctx.input(0)?;
    let indices = ctx.input(1)?;
    let axis = normalize_axis(ctx.attrs.int("axis", 0)?, ctx.ty(data).rank())?;
    ctx.add(Op::Gather(Gather { axis }), vec![Some(data), Some(indices)])?;
    Ok(())
}

fn gather_elements(ctx: &mut NodeCtx) -> ConvResult<()> {
    let data = ctx.input(0)?;
    let indices = ctx.input(1)?;
    let axis = normalize_axis(ctx.attrs.int("axis", 0)?, ctx.ty(data).rank())?;
    ctx.add(
        Op::GatherElements(GatherElements { axis }),
        vec![Some(data), Some(indices)],
    )?;
    Ok(())
}

fn pad_mode(ctx: &NodeCtx) -> ConvResult<PadMode> {
    Ok(PadMode::from_name(ctx.attrs.string("mode", "constant")?)?)
}

/// Pad before opset 11: `pads` and the float `value` are attributes.
fn pad_attributes(ctx: &mut NodeCtx) -> ConvResult<()> {
    let Some(pads) = ctx.attrs.opt_ints("pads")? else {
        bail!("Pad requires attribute 'pads'");
    };
    let mode = pad_mode(ctx)?;
    let value = ctx.attrs.float("value", 0.0)?;
    let x = ctx.input(0)?;
    let ty = ctx.ty(x).clone();
    let op = Pad::resolve(ty.rank(), pads, None, mode)?;
    let constant = if mode == PadMode::Constant && value != 0.0 {
        Some(ctx.scalar(ty.dtype, f64::from(value))?)
    } else {
        None
    };
    ctx.add(Op::Pad(op), vec![Some(x), constant])?;
    Ok(())
}

/// Pad from opset 11: `pads`, `constant_value` and (from 18) `axes` are operands.
fn pad_inputs(ctx: &mut NodeCtx) -> ConvResult<()> {
    let pads = ctx.known_ints(1, "pads")?;
    let axes = if ctx.opset >= 18 {
        ctx.opt_known_ints(3, "axes")?
    } else {
        None
    };
    let mode = pad_mode(ctx)?;
    let x = ctx.input(0)?;
    let op = Pad::resolve(ctx.ty(x).rank(), &pads, axes.as_deref(), mode)?;
    let constant = ctx.opt_input(2)?;
    ctx.add(Op::Pad(op), vec![Some(x), constant])?;
    Ok(())
}

fn expand(ctx: &mut NodeCtx) -> ConvResult<()> {
    let shape = ctx.known_ints(1, "shape")?;
    checked_dims(&shape)?;
    let x = ctx.input(0)?;
    ctx.add(Op::Expand(Expand::new(&shape)?), vec![Some(x)])?;
    Ok(())
}

fn tile(ctx: &mut NodeCtx) -> ConvResult<()> {
    let repeats = ctx.known_ints(1, "repeats")?;
    let x = ctx.input(0)?;
    let tiled: Vec<i64> = ctx
        .ty(x)
        .shape
        .iter()
        .zip(&repeats)
        .map(|(&d, &r)| (d as i64).saturating_mul(r))
        .collect();
    checked_dims(&tiled)?;
    ctx.add(Op::Tile(Tile::resolve(&repeats)?), vec![Some(x)])?;
    Ok(())
}

fn blocksize(ctx: &NodeCtx) -> ConvResult<usize> {
    match ctx.attrs.opt_int("blocksize")? {
        Some(b) if b > 0 => Ok(b as usize),
        Some(b) => bail!("attribute 'blocksize' must be positive, is {b}"),
        None => bail!("{} requires attribute 'blocksize'", ctx.op_type()),
    }
}

fn depth_to_space(ctx: &mut NodeCtx) -> ConvResult<()> {
    let blocksize = blocksize(ctx)?;
    let crd = match ctx.attrs.string("mode", "DCR")? {
        "DCR" => false,
        "CRD" => true,
        other => bail!("attribute 'mode' must be \"DCR\" or \"CRD\", is \"{other}\""),
    };
    let x = ctx.input(0)?;
    ctx.add(
        Op::DepthToSpace(DepthToSpace { blocksize, crd }),
        vec![Some(x)],
    )?;
    Ok(())
}

fn space_to_depth(ctx: &mut NodeCtx) -> ConvResult<()> {
    let blocksize = blocksize(ctx)?;
    match ctx.attrs.string("mode", "DCR")? {
        "DCR" => {}
        "CRD" => refuse!("SpaceToDepth mode \"CRD\" (opset 28) is not supported yet"),
        other => bail!("attribute 'mode' must be \"DCR\" or \"CRD\", is \"{other}\""),
    }
    let x = ctx.input(0)?;
    ctx.add(Op::SpaceToDepth(SpaceToDepth { blocksize }), vec![Some(x)])?;
    Ok(())
}
