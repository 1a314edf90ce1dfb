//! Linear quantization: QuantizeLinear and DequantizeLinear (per tensor, per axis,
//! blocked).

use crate::{DType, Fact, OpResult, Tensor, TensorType};

use super::Semantics;

/// y = saturate(round_half_even(x / scale) + zero_point) in `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantize {
    /// The axis of a per-axis (or blocked) scale, resolved non-negative.
    pub axis: usize,
    /// 0 = not blocked.
    pub block_size: usize,
    /// Output element type (from the zero point, or `output_dtype`; default u8).
    pub to: DType,
}

/// y = (x - zero_point) * scale, in the scale's float type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dequantize {
    pub axis: usize,
    pub block_size: usize,
}

// PENDING: placeholder semantics, replaced by the real implementations.
impl Semantics for Quantize {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Quantize: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Quantize: evaluation not written yet".into())
    }
}
impl Semantics for Dequantize {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Dequantize: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Dequantize: evaluation not written yet".into())
    }
}
