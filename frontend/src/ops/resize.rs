//! Resize (opset 10, 11, 13, 18, 19) and the older Upsample, resolved to an IR
//! Resize with one scale and one output size per dim.

use nnc_ir::Op;
use nnc_ir::ops::{CoordTransform, NearestMode, Resize, ResizeMode};

use super::{Converter, at};
use crate::import::{ConvResult, NodeCtx, bail, refuse};
use crate::tensor::MAX_ELEMENTS;

pub(super) static CONVERTERS: &[Converter] = &[
    at("Upsample", 7, upsample),
    at("Resize", 10, resize_10),
    at("Resize", 11, resize),
];

fn mode(ctx: &NodeCtx, allow_cubic: bool) -> ConvResult<ResizeMode> {
    Ok(match ctx.attrs.string("mode", "nearest")? {
        "nearest" => ResizeMode::Nearest,
        "linear" | "bilinear" => ResizeMode::Linear,
        "cubic" if allow_cubic => ResizeMode::Cubic,
        other => bail!("attribute 'mode' has unknown value \"{other}\""),
    })
}

/// The Upsample / Resize-10 form: scales only, asymmetric coordinates, nearest
/// rounding down.
fn scales_only(ctx: &mut NodeCtx, scales: Vec<f64>) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let input = ctx.ty(x).shape.clone();
    if scales.len() != input.len() {
        bail!(
            "{} scales for an input of rank {}",
            scales.len(),
            input.len()
        );
    }
    let output_shape = sizes_from_scales(&input, &scales)?;
    let op = Resize {
        mode: mode(ctx, false)?,
        coord: CoordTransform::Asymmetric,
        nearest_mode: NearestMode::Floor,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        antialias: false,
        scales: scales.iter().map(|&s| s as f32).collect(),
        output_shape,
        roi: Vec::new(),
    };
    ctx.add(Op::Resize(op), vec![Some(x)])?;
    Ok(())
}

fn upsample(ctx: &mut NodeCtx) -> ConvResult<()> {
    let scales = if ctx.opset >= 9 {
        ctx.opt_known_floats(1, "scales")?
    } else {
        ctx.attrs
            .opt_floats("scales")?
            .map(|s| s.iter().map(|&v| f64::from(v)).collect())
    };
    let Some(scales) = scales else {
        bail!("Upsample requires 'scales'");
    };
    scales_only(ctx, scales)
}

fn resize_10(ctx: &mut NodeCtx) -> ConvResult<()> {
    let Some(scales) = ctx.opt_known_floats(1, "scales")? else {
        bail!("Resize requires input 'scales'");
    };
    scales_only(ctx, scales)
}

/// Output dims `floor(in * scale)`, each scale positive.
fn sizes_from_scales(input: &[usize], scales: &[f64]) -> ConvResult<Vec<usize>> {
    let mut count: f64 = 1.0;
    let mut out = Vec::with_capacity(input.len());
    for (&d, &s) in input.iter().zip(scales) {
        if !(s > 0.0 && s.is_finite()) {
            bail!("scales {scales:?} must be positive");
        }
        let size = (d as f64 * s).floor();
        count *= size;
        if count > MAX_ELEMENTS as f64 {
            bail!("scales {scales:?} give an output of more than {MAX_ELEMENTS} elements");
        }
        out.push(size as usize);
    }
    Ok(out)
}

fn resize(ctx: &mut NodeCtx) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let input = ctx.ty(x).shape.clone();
    let rank = input.len();
    let axes: Vec<usize> = match ctx.opset >= 18 {
        true => match ctx.attrs.opt_ints("axes")? {
            Some(axes) => axes
                .iter()
                .map(|&a| nnc_ir::shape::normalize_axis(a, rank))
                .collect::<Result<_, _>>()?,
            None => (0..rank).collect(),
        },
        false => (0..rank).collect(),
    };
    let coord = match ctx
        .attrs
        .string("coordinate_transformation_mode", "half_pixel")?
    {
        "half_pixel" => CoordTransform::HalfPixel,
        "half_pixel_symmetric" => CoordTransform::HalfPixelSymmetric,
        "pytorch_half_pixel" => CoordTransform::PytorchHalfPixel,
        "align_corners" => CoordTransform::AlignCorners,
        "asymmetric" => CoordTransform::Asymmetric,
        "tf_crop_and_resize" => CoordTransform::TfCropAndResize,
        "tf_half_pixel_for_nearest" if ctx.opset < 13 => {
            refuse!("coordinate_transformation_mode \"tf_half_pixel_for_nearest\" is not supported")
        }
        other => bail!("attribute 'coordinate_transformation_mode' has unknown value \"{other}\""),
    };
    let nearest_mode = match ctx.attrs.string("nearest_mode", "round_prefer_floor")? {
        "round_prefer_floor" => NearestMode::RoundPreferFloor,
        "round_prefer_ceil" => NearestMode::RoundPreferCeil,
        "floor" => NearestMode::Floor,
        "ceil" => NearestMode::Ceil,
        other => bail!("attribute 'nearest_mode' has unknown value \"{other}\""),
    };
    let scales = ctx.opt_known_floats(2, "scales")?.filter(|s| !s.is_empty());
    let sizes = ctx.opt_known_ints(3, "sizes")?.filter(|s| !s.is_empty());
    let policy = if ctx.opset >= 18 {
        ctx.attrs.string("keep_aspect_ratio_policy", "stretch")?
    } else {
        "stretch"
    };
    let (scales, output_shape) = match (scales, sizes) {
        (Some(given), None) => {
            if given.len() != axes.len() {
                bail!("{} scales for {} resized axes", given.len(), axes.len());
            }
            let mut scales = vec![1.0; rank];
            for (&a, &s) in axes.iter().zip(&given) {
                scales[a] = s;
            }
            let out = sizes_from_scales(&input, &scales)?;
            (scales, out)
        }
        (None, Some(given)) => {
            if given.len() != axes.len() {
                bail!("{} sizes for {} resized axes", given.len(), axes.len());
            }
            resolve_sizes(&input, &axes, &given, policy)?
        }
        (Some(_), Some(_)) => bail!("Resize takes 'scales' or 'sizes', not both"),
        (None, None) => bail!("Resize requires 'scales' or 'sizes'"),
    };
    let roi = if coord == CoordTransform::TfCropAndResize {
        let Some(given) = ctx.opt_known_floats(1, "roi")? else {
            bail!("tf_crop_and_resize requires input 'roi'");
        };
        if given.len() != 2 * axes.len() {
            bail!(
                "roi has {} values, {} resized axes need {}",
                given.len(),
                axes.len(),
                2 * axes.len()
            );
        }
        let mut roi = vec![0.0f32; rank];
        roi.extend(vec![1.0f32; rank]);
        for (i, &a) in axes.iter().enumerate() {
            roi[a] = given[i] as f32;
            roi[rank + a] = given[axes.len() + i] as f32;
        }
        roi
    } else {
        Vec::new()
    };
    let op = Resize {
        mode: mode(ctx, true)?,
        coord,
        nearest_mode,
        cubic_coeff_a: ctx.attrs.float("cubic_coeff_a", -0.75)?,
        exclude_outside: ctx.attrs.flag("exclude_outside", false)?,
        extrapolation_value: ctx.attrs.float("extrapolation_value", 0.0)?,
        antialias: ctx.opset >= 18 && ctx.attrs.flag("antialias", false)?,
        scales: scales.iter().map(|&s| s as f32).collect(),
        output_shape,
        roi,
    };
    ctx.add(Op::Resize(op), vec![Some(x)])?;
    Ok(())
}

/// Scales and output dims from `sizes` over `axes`, under the keep-aspect-ratio
/// policy: `stretch` takes the sizes; `not_larger` / `not_smaller` use the
/// smallest / largest ratio on every resized axis, sizes rounded half up.
fn resolve_sizes(
    input: &[usize],
    axes: &[usize],
    sizes: &[i64],
    policy: &str,
) -> ConvResult<(Vec<f64>, Vec<usize>)> {
    let mut out = input.to_vec();
    for (&a, &s) in axes.iter().zip(sizes) {
        if s < 0 {
            bail!("sizes {sizes:?} has a negative size");
        }
        out[a] = s as usize;
    }
    if input.contains(&0) {
        bail!("cannot resize an input with a zero dim ({input:?})");
    }
    let ratio = |a: usize| out[a] as f64 / input[a] as f64;
    let mut scales: Vec<f64> = (0..input.len()).map(ratio).collect();
    let common = match policy {
        "stretch" => None,
        "not_larger" => axes.iter().map(|&a| ratio(a)).reduce(f64::min),
        "not_smaller" => axes.iter().map(|&a| ratio(a)).reduce(f64::max),
        other => bail!("attribute 'keep_aspect_ratio_policy' has unknown value \"{other}\""),
    };
    if let Some(scale) = common {
        for &a in axes {
            scales[a] = scale;
            out[a] = (scale * input[a] as f64 + 0.5) as usize;
        }
    }
    let count = out
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&c| c <= MAX_ELEMENTS);
    if count.is_none() {
        bail!("sizes {sizes:?} give too large an output");
    }
    Ok((scales, out))
}
