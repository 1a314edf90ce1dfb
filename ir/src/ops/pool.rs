//! Pooling: windowed (max, average, Lp) and global.

use crate::{Fact, OpResult, Tensor, TensorType};

use super::Semantics;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PoolKind {
    /// `storage_order` 1 = column major indices (second output).
    Max {
        storage_order: u8,
    },
    Average {
        count_include_pad: bool,
    },
    Lp {
        p: f32,
    },
}

/// A windowed pool. `pads` is `[begins.., ends..]` over the spatial dims, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel_shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    pub ceil_mode: bool,
}

/// Pooling over all spatial dims at once; output spatial dims are 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GlobalPool {
    Average,
    Max,
    Lp { p: f32 },
}

impl Pool {
    pub fn name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max { .. } => "MaxPool",
            PoolKind::Average { .. } => "AveragePool",
            PoolKind::Lp { .. } => "LpPool",
        }
    }
}

impl GlobalPool {
    pub fn name(&self) -> &'static str {
        match self {
            GlobalPool::Average => "GlobalAveragePool",
            GlobalPool::Max => "GlobalMaxPool",
            GlobalPool::Lp { .. } => "GlobalLpPool",
        }
    }
}

// PENDING: placeholder semantics, replaced by the real implementations.
impl Semantics for Pool {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Pool: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Pool: evaluation not written yet".into())
    }
}
impl Semantics for GlobalPool {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("GlobalPool: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("GlobalPool: evaluation not written yet".into())
    }
}
