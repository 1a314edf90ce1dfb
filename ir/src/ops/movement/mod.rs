//! Data movement and shape ops: Reshape, Transpose, Concat, Split, Slice, Gather,
//! GatherElements, Pad, Expand, Tile, Shape, Size, ConstantOfShape, Range,
//! DepthToSpace, SpaceToDepth.
//!
//! Each op's file holds its attributes, the `resolve` functions the frontend uses to
//! turn ONNX operands into those attributes, its shape inference and its reference
//! evaluation. Most evaluations are one call of [`layout::gather`]: an op says, per
//! output dim, which source offsets it reads, and the copy is shared by every dtype.

mod concat;
mod depth_space;
mod expand;
mod gather;
mod layout;
mod pad;
mod range;
mod reshape;
mod shape_of;
mod slice;
mod transpose;

pub use concat::{Concat, Split};
pub use depth_space::{DepthToSpace, SpaceToDepth};
pub use expand::{Expand, Tile};
pub use gather::{Gather, GatherElements};
pub use pad::{Pad, PadMode};
pub use reshape::Reshape;
pub use shape_of::{ConstantOfShape, Shape};
pub use slice::{Slice, SliceRange};
pub use transpose::Transpose;

use crate::{OpError, OpResult, Tensor, TensorType};

/// Size: the operand's element count as an i64 scalar.
pub(super) struct SizeOp;
pub(super) static SIZE: SizeOp = SizeOp;
/// Range: operands start, limit, delta (scalars whose values must be known).
pub(super) struct RangeOp;
pub(super) static RANGE: RangeOp = RangeOp;

/// Operand `index`, which the op cannot do without.
fn required<T: Copy>(inputs: &[Option<T>], index: usize, what: &str) -> OpResult<T> {
    inputs
        .get(index)
        .copied()
        .flatten()
        .ok_or_else(|| OpError(format!("the {what} operand (#{index}) is missing")))
}

/// Refuses operands beyond the `max` the op takes: the frontend resolves ONNX's
/// shape-deciding operands into attributes and must not pass them along.
fn at_most<T>(inputs: &[T], max: usize) -> OpResult<()> {
    if inputs.len() > max {
        return Err(OpError(format!(
            "takes at most {max} operand(s), got {}",
            inputs.len()
        )));
    }
    Ok(())
}

fn type_of(t: &Tensor) -> TensorType {
    TensorType::new(t.dtype(), t.shape().to_vec())
}
