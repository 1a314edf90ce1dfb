//! Resolving ONNX's `auto_pad` and ConvTranspose's `output_shape` into explicit
//! pads. The frontend calls these; the ops only ever see explicit pads.

use crate::{OpResult, op_ensure};

use super::AutoPad;

/// Explicit `[begins.., ends..]` pads for `auto_pad` over spatial `input` dims of a
/// Conv or pool: SAME pads so that `out = ceil(in / stride)`, the odd pixel at the
/// end (`SameUpper`) or the beginning (`SameLower`). `NotSet` returns `explicit`
/// unchanged. Missing strides or dilations count as 1.
pub fn auto_pads(
    auto_pad: AutoPad,
    explicit: &[usize],
    input: &[usize],
    kernel: &[usize],
    strides: &[usize],
    dilations: &[usize],
) -> Vec<usize> {
    let n = input.len();
    match auto_pad {
        AutoPad::NotSet => explicit.to_vec(),
        AutoPad::Valid => vec![0; 2 * n],
        AutoPad::SameUpper | AutoPad::SameLower => {
            let mut pads = vec![0; 2 * n];
            for i in 0..n {
                let stride = strides.get(i).copied().unwrap_or(1).max(1);
                let dilation = dilations.get(i).copied().unwrap_or(1).max(1);
                let k = kernel.get(i).copied().unwrap_or(1);
                let out = input[i].div_ceil(stride);
                let extent = k.saturating_sub(1) * dilation + 1;
                let total = (out.saturating_sub(1) * stride + extent).saturating_sub(input[i]);
                let (begin, end) = split_padding(total, auto_pad == AutoPad::SameUpper);
                pads[i] = begin;
                pads[i + n] = end;
            }
            pads
        }
    }
}

/// A total padding split into (begin, end): the odd pixel goes to the end when
/// `upper`, to the beginning otherwise.
fn split_padding(total: usize, upper: bool) -> (usize, usize) {
    let small = total / 2;
    if upper {
        (small, total - small)
    } else {
        (total - small, small)
    }
}

/// Pads and output padding that make ConvTranspose produce spatial `output_shape`
/// (ONNX's `output_shape` attribute): `total = stride * (in - 1) + output_padding +
/// ((k - 1) * dilation + 1) - out`, split with the odd pixel at the end for
/// `SameUpper` and at the beginning otherwise (`SameLower`, `NotSet`), as the spec
/// says. When the requested output is larger than that formula can give without
/// negative pads, the extra goes into the returned output padding (the output
/// pixels no input reaches hold only the bias, as in onnxruntime).
/// Missing strides, dilations or output padding count as 1, 1 and 0.
pub fn conv_transpose_pads_for_output_shape(
    auto_pad: AutoPad,
    input: &[usize],
    output_shape: &[usize],
    kernel: &[usize],
    strides: &[usize],
    dilations: &[usize],
    output_padding: &[usize],
) -> OpResult<(Vec<usize>, Vec<usize>)> {
    let n = input.len();
    op_ensure!(
        output_shape.len() == n && kernel.len() == n,
        "ConvTranspose output_shape {output_shape:?} and kernel {kernel:?} must have one entry per spatial dim ({n})"
    );
    let mut pads = vec![0; 2 * n];
    let mut padding = vec![0; n];
    for i in 0..n {
        let stride = strides.get(i).copied().unwrap_or(1).max(1);
        let dilation = dilations.get(i).copied().unwrap_or(1).max(1);
        let extra = output_padding.get(i).copied().unwrap_or(0);
        let full = stride * input[i].saturating_sub(1)
            + extra
            + kernel[i].saturating_sub(1) * dilation
            + 1;
        let out = output_shape[i];
        op_ensure!(
            out > 0,
            "ConvTranspose output_shape {output_shape:?} has a zero dim"
        );
        if full >= out {
            let (begin, end) = split_padding(full - out, auto_pad == AutoPad::SameUpper);
            pads[i] = begin;
            pads[i + n] = end;
            padding[i] = extra;
        } else {
            padding[i] = extra + (out - full);
        }
    }
    Ok((pads, padding))
}

/// Pads and output padding of ConvTranspose for `auto_pad` when no `output_shape`
/// is given: SAME asks for `out = in * stride` (through
/// [`conv_transpose_pads_for_output_shape`]), VALID for no pads, and `NotSet`
/// keeps the explicit pads.
pub fn conv_transpose_auto_pads(
    auto_pad: AutoPad,
    explicit: &[usize],
    input: &[usize],
    kernel: &[usize],
    strides: &[usize],
    dilations: &[usize],
    output_padding: &[usize],
) -> OpResult<(Vec<usize>, Vec<usize>)> {
    let n = input.len();
    let padding: Vec<usize> = (0..n)
        .map(|i| output_padding.get(i).copied().unwrap_or(0))
        .collect();
    match auto_pad {
        AutoPad::NotSet => Ok((explicit.to_vec(), padding)),
        AutoPad::Valid => Ok((vec![0; 2 * n], padding)),
        AutoPad::SameUpper | AutoPad::SameLower => {
            let out: Vec<usize> = (0..n)
                .map(|i| input[i] * strides.get(i).copied().unwrap_or(1).max(1))
                .collect();
            conv_transpose_pads_for_output_shape(
                auto_pad,
                input,
                &out,
                kernel,
                strides,
                dilations,
                output_padding,
            )
        }
    }
}
