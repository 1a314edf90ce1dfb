//! Normalisations: batch (inference form), instance, layer, group, local response.

use crate::{Fact, OpResult, Tensor, TensorType};

use super::Semantics;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm {
    pub epsilon: f32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstanceNorm {
    pub epsilon: f32,
}

/// Normalises over the dims from `axis` (resolved, non-negative) to the last.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNorm {
    pub axis: usize,
    pub epsilon: f32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupNorm {
    pub num_groups: usize,
    pub epsilon: f32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lrn {
    pub size: usize,
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
}

// PENDING: placeholder semantics, replaced by the real implementations.
impl Semantics for BatchNorm {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("BatchNorm: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("BatchNorm: evaluation not written yet".into())
    }
}
impl Semantics for InstanceNorm {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("InstanceNorm: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("InstanceNorm: evaluation not written yet".into())
    }
}
impl Semantics for LayerNorm {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("LayerNorm: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("LayerNorm: evaluation not written yet".into())
    }
}
impl Semantics for GroupNorm {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("GroupNorm: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("GroupNorm: evaluation not written yet".into())
    }
}
impl Semantics for Lrn {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Lrn: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Lrn: evaluation not written yet".into())
    }
}
