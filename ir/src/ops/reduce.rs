//! Reductions over a set of axes, and ArgMax / ArgMin.

use crate::{Fact, OpResult, Tensor, TensorType};

use super::Semantics;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceKind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

/// Reduces over `axes` (resolved: sorted, unique, non-negative, never empty unless
/// the operand is a scalar; "reduce all" lists every axis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reduce {
    pub kind: ReduceKind,
    pub axes: Vec<usize>,
    pub keepdims: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgReduceKind {
    Max,
    Min,
}

/// Index (i64) of the max / min along `axis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgReduce {
    pub kind: ArgReduceKind,
    pub axis: usize,
    pub keepdims: bool,
    pub select_last_index: bool,
}

impl Reduce {
    pub fn name(&self) -> &'static str {
        match self.kind {
            ReduceKind::Sum => "ReduceSum",
            ReduceKind::Mean => "ReduceMean",
            ReduceKind::Max => "ReduceMax",
            ReduceKind::Min => "ReduceMin",
            ReduceKind::Prod => "ReduceProd",
            ReduceKind::L1 => "ReduceL1",
            ReduceKind::L2 => "ReduceL2",
            ReduceKind::LogSum => "ReduceLogSum",
            ReduceKind::LogSumExp => "ReduceLogSumExp",
            ReduceKind::SumSquare => "ReduceSumSquare",
        }
    }
}

impl ArgReduce {
    pub fn name(&self) -> &'static str {
        match self.kind {
            ArgReduceKind::Max => "ArgMax",
            ArgReduceKind::Min => "ArgMin",
        }
    }
}

// PENDING: placeholder semantics, replaced by the real implementations.
impl Semantics for Reduce {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Reduce: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Reduce: evaluation not written yet".into())
    }
}
impl Semantics for ArgReduce {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("ArgReduce: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("ArgReduce: evaluation not written yet".into())
    }
}
