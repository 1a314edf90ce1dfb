//! Softmax, LogSoftmax and Hardmax along one axis.

use crate::{Fact, OpResult, Tensor, TensorType};

use super::Semantics;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftmaxKind {
    Softmax,
    LogSoftmax,
    Hardmax,
}

/// Along one axis (resolved, non-negative), as in opset 13. The frontend rewrites
/// the older "flatten to 2-D at axis" form into Reshape + this + Reshape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Softmax {
    pub kind: SoftmaxKind,
    pub axis: usize,
}

impl Softmax {
    pub fn name(&self) -> &'static str {
        match self.kind {
            SoftmaxKind::Softmax => "Softmax",
            SoftmaxKind::LogSoftmax => "LogSoftmax",
            SoftmaxKind::Hardmax => "Hardmax",
        }
    }
}

// PENDING: placeholder semantics, replaced by the real implementations.
impl Semantics for Softmax {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Softmax: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Softmax: evaluation not written yet".into())
    }
}
