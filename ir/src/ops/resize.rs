//! Resize (and Upsample): nearest, linear and cubic interpolation over any dims.

use crate::{Fact, OpResult, Tensor, TensorType};

use super::Semantics;

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

// PENDING: placeholder semantics, replaced by the real implementations.
impl Semantics for Resize {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Resize: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Resize: evaluation not written yet".into())
    }
}
