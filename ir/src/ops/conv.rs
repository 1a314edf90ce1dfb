//! Convolution and transposed convolution over any number of spatial dims (NCHW...).

use crate::{Fact, OpResult, Tensor, TensorType};

use super::Semantics;

/// How ONNX's `auto_pad` asks for padding; resolved to explicit pads by [`auto_pads`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPad {
    NotSet,
    Valid,
    SameUpper,
    SameLower,
}

/// Convolution. Spatial attributes have one entry per spatial dim; `pads` is
/// `[begin_0, .., begin_n, end_0, .., end_n]` as in ONNX, already resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conv {
    pub kernel_shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    pub group: usize,
}

/// Transposed convolution; `output_shape` of ONNX is resolved into `pads` and
/// `output_padding` by the frontend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvTranspose {
    pub kernel_shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    pub output_padding: Vec<usize>,
    pub group: usize,
}

// PENDING: placeholder semantics, replaced by the real implementations.
impl Semantics for Conv {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Conv: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Conv: evaluation not written yet".into())
    }
}
impl Semantics for ConvTranspose {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("ConvTranspose: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("ConvTranspose: evaluation not written yet".into())
    }
}

/// Explicit `[begins.., ends..]` pads for `auto_pad` over spatial `input` dims.
/// `NotSet` returns `explicit` unchanged.
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
                let out = input[i].div_ceil(strides[i]);
                let extent = (kernel[i] - 1) * dilations[i] + 1;
                let total = ((out - 1) * strides[i] + extent).saturating_sub(input[i]);
                let small = total / 2;
                let (begin, end) = if auto_pad == AutoPad::SameUpper {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                pads[i] = begin;
                pads[i + n] = end;
            }
            pads
        }
    }
}
