//! Matrix products: MatMul (numpy semantics) and Gemm.

use crate::{Fact, OpResult, Tensor, TensorType};

use super::Semantics;

/// Y = alpha * op(A) * op(B) + beta * C, with op = transpose when asked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

pub(super) struct MatMulOp;
pub(super) static MATMUL: MatMulOp = MatMulOp;

// PENDING: placeholder semantics, replaced by the real implementations.
impl Semantics for MatMulOp {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("MatMulOp: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("MatMulOp: evaluation not written yet".into())
    }
}
impl Semantics for Gemm {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Gemm: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Gemm: evaluation not written yet".into())
    }
}
