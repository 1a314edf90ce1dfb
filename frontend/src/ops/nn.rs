//! Convolutions and pooling: Conv, ConvTranspose, MaxPool, AveragePool, LpPool and
//! the global pools. Spatial attributes get their defaults and `auto_pad` becomes
//! explicit pads, computed from the input's static shape.

use nnc_ir::ops::{AutoPad, Conv, ConvTranspose, GlobalPool, Pool, PoolKind, auto_pads};
use nnc_ir::{Op, TensorType};

use super::{Converter, at};
use crate::import::{ConvResult, NodeCtx, bail};

pub(super) static CONVERTERS: &[Converter] = &[
    at("Conv", 1, conv),
    at("ConvTranspose", 1, conv_transpose),
    at("MaxPool", 1, |c| pool(c, Kind::Max)),
    at("AveragePool", 1, |c| pool(c, Kind::Average)),
    at("LpPool", 1, |c| pool(c, Kind::Lp)),
    at("GlobalAveragePool", 1, |c| {
        global_pool(c, Some(GlobalPool::Average))
    }),
    at("GlobalMaxPool", 1, |c| {
        global_pool(c, Some(GlobalPool::Max))
    }),
    at("GlobalLpPool", 1, |c| global_pool(c, None)),
];

/// The spatial attributes shared by convolutions and pools, with defaults.
struct Window {
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    /// Explicit pads (`[begins.., ends..]`), before `auto_pad`.
    pads: Vec<usize>,
    auto_pad: AutoPad,
}

/// The input's spatial dims (after N and C).
fn spatial(ty: &TensorType, op: &str) -> ConvResult<Vec<usize>> {
    if ty.rank() < 3 {
        bail!("{op} needs an input of rank 3 or more (N, C, spatial..), has {ty}");
    }
    Ok(ty.shape[2..].to_vec())
}

/// Reads kernel_shape (or takes it from `kernel_default`), strides, dilations,
/// pads and auto_pad, checking each has one entry per spatial dim.
fn window(ctx: &NodeCtx, n: usize, kernel_default: Option<Vec<usize>>) -> ConvResult<Window> {
    let kernel = match ctx.attrs.opt_counts("kernel_shape")? {
        Some(k) => k,
        None => match kernel_default {
            Some(k) => k,
            None => bail!("{} requires attribute 'kernel_shape'", ctx.op_type()),
        },
    };
    let strides = ctx.attrs.opt_counts("strides")?.unwrap_or(vec![1; n]);
    let dilations = ctx.attrs.opt_counts("dilations")?.unwrap_or(vec![1; n]);
    let pads = ctx.attrs.opt_counts("pads")?.unwrap_or(vec![0; 2 * n]);
    for (name, list, want) in [
        ("kernel_shape", &kernel, n),
        ("strides", &strides, n),
        ("dilations", &dilations, n),
        ("pads", &pads, 2 * n),
    ] {
        if list.len() != want {
            bail!(
                "attribute '{name}' has {} entries, the input's {n} spatial dims need {want}",
                list.len()
            );
        }
    }
    if strides.contains(&0) || dilations.contains(&0) || kernel.contains(&0) {
        bail!("kernel_shape, strides and dilations must be positive");
    }
    // Far beyond any real model; keeps the window arithmetic from overflowing.
    const LIMIT: usize = 1 << 24;
    if [&kernel, &strides, &dilations, &pads]
        .iter()
        .any(|list| list.iter().any(|&v| v > LIMIT))
    {
        bail!("kernel_shape, strides, dilations and pads must be at most {LIMIT}");
    }
    let auto_pad = match ctx.attrs.string("auto_pad", "NOTSET")? {
        "NOTSET" => AutoPad::NotSet,
        "VALID" => AutoPad::Valid,
        "SAME_UPPER" => AutoPad::SameUpper,
        "SAME_LOWER" => AutoPad::SameLower,
        other => bail!("attribute 'auto_pad' has unknown value \"{other}\""),
    };
    Ok(Window {
        kernel,
        strides,
        dilations,
        pads,
        auto_pad,
    })
}

fn group(ctx: &NodeCtx) -> ConvResult<usize> {
    match ctx.attrs.int("group", 1)? {
        g if g >= 1 => Ok(g as usize),
        g => bail!("attribute 'group' must be positive, is {g}"),
    }
}

fn conv(ctx: &mut NodeCtx) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let w = ctx.input(1)?;
    let b = ctx.opt_input(2)?;
    let input = spatial(ctx.ty(x), "Conv")?;
    let w_shape = ctx.ty(w).shape.clone();
    let window = window(ctx, input.len(), w_shape.get(2..).map(<[usize]>::to_vec))?;
    let pads = auto_pads(
        window.auto_pad,
        &window.pads,
        &input,
        &window.kernel,
        &window.strides,
        &window.dilations,
    );
    let op = Conv {
        kernel_shape: window.kernel,
        strides: window.strides,
        pads,
        dilations: window.dilations,
        group: group(ctx)?,
    };
    ctx.add(Op::Conv(op), vec![Some(x), Some(w), b])?;
    Ok(())
}

fn conv_transpose(ctx: &mut NodeCtx) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let w = ctx.input(1)?;
    let b = ctx.opt_input(2)?;
    let input = spatial(ctx.ty(x), "ConvTranspose")?;
    let n = input.len();
    let w_shape = ctx.ty(w).shape.clone();
    let window = window(ctx, n, w_shape.get(2..).map(<[usize]>::to_vec))?;
    let output_padding = ctx
        .attrs
        .opt_counts("output_padding")?
        .unwrap_or(vec![0; n]);
    if output_padding.len() != n {
        bail!(
            "attribute 'output_padding' has {} entries, needs {n}",
            output_padding.len()
        );
    }
    let output_shape = match ctx.attrs.opt_counts("output_shape")? {
        // Some exporters give the whole output shape, N and C included.
        Some(shape) if shape.len() == n + 2 => Some(shape[2..].to_vec()),
        Some(shape) if shape.len() == n => Some(shape),
        Some(shape) => bail!("attribute 'output_shape' {shape:?} does not fit {n} spatial dims"),
        None => None,
    };
    let output_shape = match (output_shape, window.auto_pad) {
        (Some(shape), _) => Some(shape),
        (None, AutoPad::SameUpper | AutoPad::SameLower) => Some(
            input
                .iter()
                .zip(&window.strides)
                .map(|(&i, &s)| i.saturating_mul(s))
                .collect(),
        ),
        (None, _) => None,
    };
    let (pads, output_padding) = match output_shape {
        Some(shape) => transpose_pads_for_output(&window, &input, &shape, &output_padding)?,
        None if window.auto_pad == AutoPad::Valid => (vec![0; 2 * n], output_padding),
        None => (window.pads.clone(), output_padding),
    };
    let op = ConvTranspose {
        kernel_shape: window.kernel,
        strides: window.strides,
        pads,
        dilations: window.dilations,
        output_padding,
        group: group(ctx)?,
    };
    ctx.add(Op::ConvTranspose(op), vec![Some(x), Some(w), b])?;
    Ok(())
}

/// Pads and output padding that make ConvTranspose produce spatial dims
/// `output`. The total padding is
/// `stride * (in - 1) + output_padding + (k - 1) * dilation + 1 - out`, split with
/// the odd pixel at the end for SAME_UPPER and at the beginning otherwise, as the
/// spec says. A requested output larger than that formula reaches goes into the
/// output padding (those pixels hold only the bias, as in onnxruntime).
// The IR has this as `conv_transpose_pads_for_output_shape`, not yet exported
// from `nnc_ir::ops`; switch to it once it is.
fn transpose_pads_for_output(
    window: &Window,
    input: &[usize],
    output: &[usize],
    output_padding: &[usize],
) -> ConvResult<(Vec<usize>, Vec<usize>)> {
    let n = input.len();
    let mut pads = vec![0; 2 * n];
    let mut padding = output_padding.to_vec();
    for i in 0..n {
        let full = (window.strides[i].saturating_mul(input[i].saturating_sub(1)))
            .saturating_add(output_padding[i])
            .saturating_add((window.kernel[i] - 1).saturating_mul(window.dilations[i]))
            .saturating_add(1);
        let out = output[i];
        if out == 0 {
            bail!("output_shape {output:?} has a zero dim");
        }
        if full >= out {
            let total = full - out;
            let small = total / 2;
            let (begin, end) = if window.auto_pad == AutoPad::SameUpper {
                (small, total - small)
            } else {
                (total - small, small)
            };
            pads[i] = begin;
            pads[i + n] = end;
        } else {
            padding[i] += out - full;
        }
    }
    Ok((pads, padding))
}

#[derive(Clone, Copy)]
enum Kind {
    Max,
    Average,
    Lp,
}

/// The `p` of LpPool / GlobalLpPool: an int attribute (a float in opset 1).
fn lp_norm(ctx: &NodeCtx) -> ConvResult<f32> {
    let p = match ctx.attrs.opt_int("p") {
        Ok(p) => p.map_or(2.0, |p| p as f32),
        Err(_) => ctx.attrs.float("p", 2.0)?,
    };
    if p <= 0.0 || !p.is_finite() {
        bail!("attribute 'p' must be positive, is {p}");
    }
    Ok(p)
}

fn pool(ctx: &mut NodeCtx, kind: Kind) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let input = spatial(ctx.ty(x), ctx.op_type())?;
    let window = window(ctx, input.len(), None)?;
    let kind = match kind {
        Kind::Max => {
            let storage_order = match ctx.attrs.int("storage_order", 0)? {
                0 => 0,
                1 => 1,
                other => bail!("attribute 'storage_order' must be 0 or 1, is {other}"),
            };
            PoolKind::Max { storage_order }
        }
        Kind::Average => PoolKind::Average {
            count_include_pad: ctx.attrs.flag("count_include_pad", false)?,
        },
        Kind::Lp => PoolKind::Lp { p: lp_norm(ctx)? },
    };
    let pads = auto_pads(
        window.auto_pad,
        &window.pads,
        &input,
        &window.kernel,
        &window.strides,
        &window.dilations,
    );
    let op = Pool {
        kind,
        kernel_shape: window.kernel,
        strides: window.strides,
        pads,
        dilations: window.dilations,
        ceil_mode: ctx.attrs.flag("ceil_mode", false)?,
    };
    ctx.add(Op::Pool(op), vec![Some(x)])?;
    Ok(())
}

fn global_pool(ctx: &mut NodeCtx, kind: Option<GlobalPool>) -> ConvResult<()> {
    let kind = match kind {
        Some(kind) => kind,
        None => GlobalPool::Lp { p: lp_norm(ctx)? },
    };
    let x = ctx.input(0)?;
    ctx.add(Op::GlobalPool(kind), vec![Some(x)])?;
    Ok(())
}
