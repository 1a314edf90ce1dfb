//! Data movement and shape ops: Reshape, Transpose, Concat, Split, Slice, Gather,
//! Pad, Expand, Tile, Shape, Size, ConstantOfShape, Range, DepthToSpace, SpaceToDepth.

use crate::{Fact, OpResult, Tensor, TensorType};

use super::Semantics;

/// Reshape (also Flatten, Squeeze, Unsqueeze) to a fully resolved shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reshape {
    pub shape: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transpose {
    pub perm: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concat {
    pub axis: usize,
}

/// One output per entry of `sizes` along `axis`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub axis: usize,
    pub sizes: Vec<usize>,
}

/// The elements `start, start + step, ..` before `end` along one axis; start and end
/// are already clamped as ONNX prescribes, so the count is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceRange {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

/// One range per dim of the operand (untouched dims take the whole range).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    pub ranges: Vec<SliceRange>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gather {
    pub axis: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatherElements {
    pub axis: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

/// `pads` is `[begin_0, .., begin_n, end_0, .., end_n]` over every dim; negative
/// pads crop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pad {
    pub mode: PadMode,
    pub pads: Vec<i64>,
}

/// Broadcast of the operand with `shape` (ONNX Expand semantics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expand {
    pub shape: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tile {
    pub repeats: Vec<usize>,
}

/// The operand's dims `[start, end)` as an i64 vector (ONNX clamping rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub start: i64,
    pub end: Option<i64>,
}

/// A tensor of the operand's shape filled with `value` (a one-element tensor).
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantOfShape {
    pub value: Tensor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthToSpace {
    pub blocksize: usize,
    /// CRD mode (column, row, depth); false = DCR.
    pub crd: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceToDepth {
    pub blocksize: usize,
}

pub(super) struct SizeOp;
pub(super) static SIZE: SizeOp = SizeOp;
pub(super) struct RangeOp;
pub(super) static RANGE: RangeOp = RangeOp;

impl Shape {
    /// The dims this op reports for an operand of shape `dims`: `[start, end)` with
    /// negative bounds counted from the end and both clamped to `[0, rank]`.
    pub fn dims_of(&self, dims: &[usize]) -> Vec<i64> {
        let rank = dims.len() as i64;
        let clamp = |i: i64| {
            if i < 0 {
                (i + rank).max(0)
            } else {
                i.min(rank)
            }
        };
        let start = clamp(self.start) as usize;
        let end = clamp(self.end.unwrap_or(rank)) as usize;
        dims[start..end.max(start)]
            .iter()
            .map(|&d| d as i64)
            .collect()
    }
}

// PENDING: placeholder semantics, replaced by the real implementations.
impl Semantics for Reshape {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Reshape: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Reshape: evaluation not written yet".into())
    }
}
impl Semantics for Transpose {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Transpose: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Transpose: evaluation not written yet".into())
    }
}
impl Semantics for Concat {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Concat: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Concat: evaluation not written yet".into())
    }
}
impl Semantics for Split {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Split: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Split: evaluation not written yet".into())
    }
}
impl Semantics for Slice {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Slice: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Slice: evaluation not written yet".into())
    }
}
impl Semantics for Gather {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Gather: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Gather: evaluation not written yet".into())
    }
}
impl Semantics for GatherElements {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("GatherElements: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("GatherElements: evaluation not written yet".into())
    }
}
impl Semantics for Pad {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Pad: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Pad: evaluation not written yet".into())
    }
}
impl Semantics for Expand {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Expand: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Expand: evaluation not written yet".into())
    }
}
impl Semantics for Tile {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Tile: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Tile: evaluation not written yet".into())
    }
}
impl Semantics for Shape {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("Shape: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("Shape: evaluation not written yet".into())
    }
}
impl Semantics for ConstantOfShape {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("ConstantOfShape: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("ConstantOfShape: evaluation not written yet".into())
    }
}
impl Semantics for DepthToSpace {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("DepthToSpace: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("DepthToSpace: evaluation not written yet".into())
    }
}
impl Semantics for SpaceToDepth {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("SpaceToDepth: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("SpaceToDepth: evaluation not written yet".into())
    }
}
impl Semantics for SizeOp {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("SizeOp: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("SizeOp: evaluation not written yet".into())
    }
}
impl Semantics for RangeOp {
    fn infer(&self, _inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Err("RangeOp: shape inference not written yet".into())
    }
    fn eval(&self, _inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        Err("RangeOp: evaluation not written yet".into())
    }
}
