//! Resize (and Upsample): nearest, linear and cubic interpolation over any dims.

#[cfg(test)]
mod tests;

use crate::{DType, Fact, OpResult, Tensor, TensorType, op_bail, op_ensure};

use super::Semantics;
use super::linalg::arith::{operand, operand_type};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordTransform {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfCropAndResize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// Resize with every operand resolved: one scale and one output size per dim of the
/// input, and the roi (only used by `TfCropAndResize`) as `[starts.., ends..]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    pub mode: ResizeMode,
    pub coord: CoordTransform,
    pub nearest_mode: NearestMode,
    pub cubic_coeff_a: f32,
    pub exclude_outside: bool,
    pub extrapolation_value: f32,
    pub antialias: bool,
    pub scales: Vec<f32>,
    pub output_shape: Vec<usize>,
    pub roi: Vec<f32>,
}

/// ONNX's `keep_aspect_ratio_policy` for Resize with `sizes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepAspectRatio {
    Stretch,
    NotLarger,
    NotSmaller,
}

/// Resolves Resize's `scales` or `sizes` operand (over `axes`, every dim when
/// `None`) into one scale and one output size per input dim, as the spec says:
/// with scales, `out = floor(in * scale)`; with sizes, `scale = out / in`, or with
/// a policy other than `Stretch` one scale for all `axes` (the smallest or largest
/// of `size / in`) and `out = round_half_up(scale * in)`. Dims outside `axes` keep
/// scale 1 and their size.
pub fn resolve_resize_shape(
    input: &[usize],
    scales: Option<&[f32]>,
    sizes: Option<&[usize]>,
    axes: Option<&[usize]>,
    policy: KeepAspectRatio,
) -> OpResult<(Vec<f32>, Vec<usize>)> {
    let rank = input.len();
    let all: Vec<usize> = (0..rank).collect();
    let axes = axes.unwrap_or(&all);
    for (i, &axis) in axes.iter().enumerate() {
        op_ensure!(
            axis < rank,
            "Resize axis {axis} is out of range for rank {rank}"
        );
        op_ensure!(
            !axes[..i].contains(&axis),
            "Resize axes {axes:?} repeat a dim"
        );
    }
    let mut full_scales = vec![1.0f32; rank];
    let mut out = input.to_vec();
    match (sizes, scales) {
        (Some(sizes), _) => {
            op_ensure!(
                sizes.len() == axes.len(),
                "Resize sizes {sizes:?} must have one entry per axis ({})",
                axes.len()
            );
            let ratios: Vec<f64> = axes
                .iter()
                .zip(sizes)
                .map(|(&a, &s)| s as f64 / input[a] as f64)
                .collect();
            match policy {
                KeepAspectRatio::Stretch => {
                    for ((&a, &s), &r) in axes.iter().zip(sizes).zip(&ratios) {
                        out[a] = s;
                        full_scales[a] = r as f32;
                    }
                }
                KeepAspectRatio::NotLarger | KeepAspectRatio::NotSmaller => {
                    let pick = |acc: f64, r: f64| {
                        if policy == KeepAspectRatio::NotLarger {
                            acc.min(r)
                        } else {
                            acc.max(r)
                        }
                    };
                    let first = ratios.first().copied().unwrap_or(1.0);
                    let scale = ratios.iter().copied().fold(first, pick);
                    for &a in axes {
                        out[a] = (scale * input[a] as f64 + 0.5) as usize;
                        full_scales[a] = scale as f32;
                    }
                }
            }
        }
        (None, Some(scales)) => {
            op_ensure!(
                scales.len() == axes.len(),
                "Resize scales {scales:?} must have one entry per axis ({})",
                axes.len()
            );
            for (&a, &s) in axes.iter().zip(scales) {
                op_ensure!(
                    s.is_finite() && s > 0.0,
                    "Resize scale {s} must be positive"
                );
                full_scales[a] = s;
                out[a] = (input[a] as f64 * s as f64).floor() as usize;
            }
        }
        (None, None) => op_bail!("Resize needs scales or sizes"),
    }
    Ok((full_scales, out))
}

/// How the output positions along one axis read the input: for each output index,
/// the input indices and their weights, or `None` where `TfCropAndResize` falls
/// outside the input (the output takes `extrapolation_value`).
type AxisTaps = Vec<Option<Vec<(usize, f64)>>>;

impl Resize {
    fn output(&self, x: &TensorType) -> OpResult<TensorType> {
        op_ensure!(
            x.dtype != DType::Bool,
            "Resize does not support bool operands"
        );
        let rank = x.rank();
        op_ensure!(
            self.output_shape.len() == rank,
            "Resize output shape {:?} must have one entry per input dim ({rank})",
            self.output_shape
        );
        op_ensure!(
            self.scales.is_empty() || self.scales.len() == rank,
            "Resize scales {:?} must have one entry per input dim ({rank})",
            self.scales
        );
        op_ensure!(
            self.roi.is_empty() || self.roi.len() == 2 * rank,
            "Resize roi {:?} must have two entries per input dim ({rank})",
            self.roi
        );
        for (d, (&i, &o)) in x.shape.iter().zip(&self.output_shape).enumerate() {
            op_ensure!(i > 0 || o == 0, "Resize cannot grow the empty dim {d}");
        }
        Ok(TensorType::new(x.dtype, self.output_shape.clone()))
    }

    /// The scale of `axis`: the attribute, read at f64 precision when it is the
    /// f32 rounding of `out / in` (so that scales resolved from sizes are exact).
    fn scale(&self, axis: usize, input: usize, output: usize) -> f64 {
        let ratio = output as f64 / input as f64;
        match self.scales.get(axis) {
            Some(&s) if s != ratio as f32 => s as f64,
            _ => ratio,
        }
    }

    /// Whether resizing along `axis` would return its input unchanged.
    fn is_identity(&self, axis: usize, input: usize, output: usize) -> bool {
        let roi_trivial = self.coord != CoordTransform::TfCropAndResize
            || self.roi.is_empty()
            || (self.roi[axis] == 0.0 && self.roi[axis + self.output_shape.len()] == 1.0);
        input == output && self.scale(axis, input, output) == 1.0 && roi_trivial
    }

    /// The input coordinate output index `y` maps to, or `None` when
    /// `TfCropAndResize` maps it outside the input.
    fn source(&self, axis: usize, y: usize, input: usize, output: usize) -> Option<f64> {
        let scale = self.scale(axis, input, output);
        let (y, in_len, out_len) = (y as f64, input as f64, output as f64);
        // The output length the scale asks for, before rounding to an integer:
        // the spec's `length_resized`, as the ONNX reference reads it.
        let scaled = scale * in_len;
        let x = match self.coord {
            CoordTransform::HalfPixel => (y + 0.5) / scale - 0.5,
            CoordTransform::HalfPixelSymmetric => {
                let adjustment = out_len / scaled;
                let offset = in_len / 2.0 * (1.0 - adjustment);
                offset + (y + 0.5) / scale - 0.5
            }
            CoordTransform::PytorchHalfPixel => {
                if scaled != 1.0 {
                    (y + 0.5) / scale - 0.5
                } else {
                    -0.5
                }
            }
            CoordTransform::AlignCorners => {
                if scaled != 1.0 {
                    y * (in_len - 1.0) / (scaled - 1.0)
                } else {
                    0.0
                }
            }
            CoordTransform::Asymmetric => y / scale,
            CoordTransform::TfCropAndResize => {
                let rank = self.output_shape.len();
                let start = self.roi.get(axis).copied().unwrap_or(0.0) as f64;
                let end = self.roi.get(rank + axis).copied().unwrap_or(1.0) as f64;
                let x = if scaled != 1.0 {
                    y * (end - start) * (in_len - 1.0) / (scaled - 1.0)
                } else {
                    (end - start) * (in_len - 1.0) / 2.0
                } + start * (in_len - 1.0);
                if x < 0.0 || x > in_len - 1.0 {
                    return None;
                }
                x
            }
        };
        Some(x)
    }

    /// Interpolation weights of the neighbours of a coordinate whose fractional
    /// part is `ratio` (1 when the coordinate is an integer, as the ONNX reference
    /// takes it), for an axis scaled by `scale`.
    fn weights(&self, ratio: f64, scale: f64) -> Vec<f64> {
        let a = self.cubic_coeff_a as f64;
        let antialias = self.antialias && scale < 1.0;
        match self.mode {
            ResizeMode::Nearest => {
                if ratio == 1.0 {
                    return vec![0.0, 1.0];
                }
                let ceil = match self.nearest_mode {
                    NearestMode::RoundPreferFloor => ratio > 0.5,
                    NearestMode::RoundPreferCeil => ratio >= 0.5,
                    NearestMode::Floor => false,
                    NearestMode::Ceil => true,
                };
                if ceil { vec![0.0, 1.0] } else { vec![1.0, 0.0] }
            }
            ResizeMode::Linear if antialias => {
                // A triangle filter stretched by 1 / scale.
                let start = (-1.0 / scale).floor() as i64 + 1;
                let taps = 2 - 2 * start;
                let weights = (start..start + taps)
                    .map(|i| (1.0 - ((i as f64 - ratio) * scale).abs()).clamp(0.0, 1.0))
                    .collect();
                normalized(weights)
            }
            ResizeMode::Linear => vec![1.0 - ratio, ratio],
            ResizeMode::Cubic if antialias => {
                let start = (-2.0 / scale).floor() as i64 + 1;
                let weights = (start..2 - start)
                    .map(|i| cubic_kernel(scale * (i as f64 - ratio), a))
                    .collect();
                normalized(weights)
            }
            ResizeMode::Cubic => [ratio + 1.0, ratio, 1.0 - ratio, 2.0 - ratio]
                .iter()
                .map(|&x| cubic_kernel(x, a))
                .collect(),
        }
    }

    /// The taps of every output index along `axis`.
    fn axis_taps(&self, axis: usize, input: usize, output: usize) -> AxisTaps {
        let scale = self.scale(axis, input, output);
        (0..output)
            .map(|y| {
                let x = self.source(axis, y, input, output)?;
                let ratio = if x.fract() == 0.0 { 1.0 } else { x - x.floor() };
                let mut weights = self.weights(ratio, scale);
                let n = weights.len() as i64;
                // The n neighbours nearest x (the lower on a tie), as the reference
                // picks them after padding the input at its edges.
                let floor = x.floor() as i64;
                let frac = x - x.floor();
                let offset = if n % 2 == 0 {
                    if frac == 0.0 { -(n / 2) } else { -(n / 2) + 1 }
                } else if frac <= 0.5 {
                    -((n - 1) / 2)
                } else {
                    -((n - 1) / 2) + 1
                };
                let first = floor + offset;
                let inside = |i: i64| i >= 0 && i < input as i64;
                if self.exclude_outside {
                    for (k, w) in weights.iter_mut().enumerate() {
                        if !inside(first + k as i64) {
                            *w = 0.0;
                        }
                    }
                    let sum: f64 = weights.iter().sum();
                    if sum != 0.0 {
                        weights.iter_mut().for_each(|w| *w /= sum);
                    }
                }
                let last = input as i64 - 1;
                Some(
                    weights
                        .into_iter()
                        .enumerate()
                        .filter(|&(_, w)| w != 0.0)
                        .map(|(k, w)| ((first + k as i64).clamp(0, last) as usize, w))
                        .collect(),
                )
            })
            .collect()
    }

    /// Resizes `values` of `shape` along `axis` to `output` entries.
    fn along_axis(&self, values: &[f64], shape: &[usize], axis: usize, output: usize) -> Vec<f64> {
        let input = shape[axis];
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let taps = self.axis_taps(axis, input, output);
        let fill = self.extrapolation_value as f64;
        let mut out = vec![0.0; outer * output * inner];
        for o in 0..outer {
            let source = &values[o * input * inner..][..input * inner];
            for (y, tap) in taps.iter().enumerate() {
                let row = &mut out[(o * output + y) * inner..][..inner];
                match tap {
                    None => row.fill(fill),
                    Some(tap) => {
                        for &(i, w) in tap {
                            let src = &source[i * inner..][..inner];
                            for (r, &s) in row.iter_mut().zip(src) {
                                *r += w * s;
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// The cubic convolution kernel with coefficient `a` at distance `x`.
fn cubic_kernel(x: f64, a: f64) -> f64 {
    let x = x.abs();
    if x <= 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    } else {
        0.0
    }
}

fn normalized(mut weights: Vec<f64>) -> Vec<f64> {
    let sum: f64 = weights.iter().sum();
    if sum != 0.0 {
        weights.iter_mut().for_each(|w| *w /= sum);
    }
    weights
}

impl Semantics for Resize {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Ok(vec![self.output(operand_type(inputs, 0, "X")?)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let x = operand(inputs, 0, "X")?;
        let out = self.output(&TensorType::new(x.dtype(), x.shape().to_vec()))?;
        // Interpolation is separable: one axis at a time, in f64 as the reference.
        let mut values = x.to_f64_vec();
        let mut shape = x.shape().to_vec();
        for (axis, &output) in out.shape.iter().enumerate() {
            if self.is_identity(axis, shape[axis], output) {
                continue;
            }
            values = if shape[axis] == 0 || output == 0 {
                vec![0.0; 0]
            } else {
                self.along_axis(&values, &shape, axis, output)
            };
            shape[axis] = output;
        }
        Ok(vec![Tensor::from_f64_values(
            x.dtype(),
            out.shape,
            &values,
        )?])
    }
}
