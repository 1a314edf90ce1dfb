//! The operators of the IR. Each family file holds the attributes of its ops, their
//! shape inference and their reference evaluation, so that everything about an op is
//! in one place.
//!
//! Attributes are parsed and resolved by the frontend: auto-padding becomes explicit
//! pads, negative axes become positive, operands that decide a shape (Reshape's shape,
//! Slice's starts, ...) become attributes. An op here never sees an ONNX string map.

mod conv;
mod elementwise;
mod fused;
mod linalg;
mod movement;
mod norm;
mod pool;
mod quant;
mod reduce;
mod resize;
mod softmax;

pub use conv::{
    AutoPad, Conv, ConvTranspose, auto_pads, conv_transpose_auto_pads,
    conv_transpose_pads_for_output_shape,
};
pub use elementwise::{Binary, Cast, Unary};
pub use fused::{Fused, OperandForm, Step};
pub use linalg::Gemm;
pub use movement::{
    Concat, ConstantOfShape, DepthToSpace, Expand, Gather, GatherElements, Pad, PadMode, Reshape,
    Shape, Slice, SliceRange, SpaceToDepth, Split, Tile, Transpose,
};
pub use norm::{BatchNorm, GroupNorm, InstanceNorm, LayerNorm, Lrn};
pub use pool::{GlobalPool, Pool, PoolKind};
pub use quant::{Dequantize, Quantize};
pub use reduce::{ArgReduce, ArgReduceKind, Reduce, ReduceKind};
pub use resize::{
    CoordTransform, KeepAspectRatio, NearestMode, Resize, ResizeMode, resolve_resize_shape,
};
pub use softmax::{Softmax, SoftmaxKind};

use crate::{Fact, OpResult, Tensor, TensorType};

/// What one op of a family must provide: its output types from its operands' facts,
/// and its outputs from its operands' values. `inputs[i]` is `None` for an absent
/// optional operand; `num_outputs` is how many outputs the node asks for.
pub trait Semantics {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>>;
    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>>;
}

/// An operator with its typed attributes. Operand order follows ONNX unless the
/// variant says otherwise.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Output = input.
    Identity,
    /// Elementwise function of one operand (activations included).
    Unary(Unary),
    /// Elementwise function of two operands with multidirectional broadcasting.
    Binary(Binary),
    /// Operands: x, min?, max? (scalars).
    Clip,
    /// Operands: condition, x, y (broadcast).
    Where,
    Cast(Cast),
    /// Numpy matmul: batched, broadcast over leading dims, 1-D operands promoted.
    MatMul,
    /// Operands: A, B, C? (C broadcast to the output).
    Gemm(Gemm),
    /// Operands: X, W, B?.
    Conv(Conv),
    /// Operands: X, W, B?.
    ConvTranspose(ConvTranspose),
    /// MaxPool (outputs Y, Indices?), AveragePool, LpPool.
    Pool(Pool),
    /// GlobalAveragePool, GlobalMaxPool, GlobalLpPool.
    GlobalPool(GlobalPool),
    /// Inference-mode BatchNormalization. Operands: X, scale, B, mean, var.
    BatchNorm(BatchNorm),
    /// Operands: X, scale, B.
    InstanceNorm(InstanceNorm),
    /// Operands: X, scale, B?; outputs Y, Mean?, InvStdDev?.
    LayerNorm(LayerNorm),
    /// Operands: X, scale, bias (per group or per channel: told by their length).
    GroupNorm(GroupNorm),
    Lrn(Lrn),
    /// Softmax / LogSoftmax / Hardmax along one axis (opset-13 semantics).
    Softmax(Softmax),
    Reduce(Reduce),
    ArgReduce(ArgReduce),
    Reshape(Reshape),
    Transpose(Transpose),
    /// Operands: any number of tensors joined along `axis`.
    Concat(Concat),
    Split(Split),
    Slice(Slice),
    /// Operands: data, indices (i32/i64, negative allowed).
    Gather(Gather),
    GatherElements(GatherElements),
    /// Operands: data, constant_value? (scalar).
    Pad(Pad),
    Expand(Expand),
    Tile(Tile),
    /// Output: i64 vector of the operand's dims (always known at compile time).
    Shape(Shape),
    /// Output: i64 scalar element count.
    Size,
    /// Operand: the shape (i64 vector, must be known).
    ConstantOfShape(ConstantOfShape),
    /// Operands: start, limit, delta (scalars, must be known: they decide the shape).
    Range,
    DepthToSpace(DepthToSpace),
    SpaceToDepth(SpaceToDepth),
    /// Operands: X, roi?, scales?, sizes? as in ONNX; the resolved output shape is
    /// an attribute so that the operands are not needed.
    Resize(Resize),
    /// Operands: x, y_scale, y_zero_point?.
    Quantize(Quantize),
    /// Operands: x, x_scale, x_zero_point?.
    Dequantize(Dequantize),
    /// A Conv / MatMul / Gemm with elementwise steps applied to its output.
    /// Operands: the anchor's, then the steps' extra operands.
    Fused(Fused),
}

impl Op {
    /// A short name for dumps and errors, close to the ONNX op type.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Identity => "Identity",
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Clip => "Clip",
            Op::Where => "Where",
            Op::Cast(_) => "Cast",
            Op::MatMul => "MatMul",
            Op::Gemm(_) => "Gemm",
            Op::Conv(_) => "Conv",
            Op::ConvTranspose(_) => "ConvTranspose",
            Op::Pool(p) => p.name(),
            Op::GlobalPool(p) => p.name(),
            Op::BatchNorm(_) => "BatchNormalization",
            Op::InstanceNorm(_) => "InstanceNormalization",
            Op::LayerNorm(_) => "LayerNormalization",
            Op::GroupNorm(_) => "GroupNormalization",
            Op::Lrn(_) => "LRN",
            Op::Softmax(s) => s.name(),
            Op::Reduce(r) => r.name(),
            Op::ArgReduce(a) => a.name(),
            Op::Reshape(_) => "Reshape",
            Op::Transpose(_) => "Transpose",
            Op::Concat(_) => "Concat",
            Op::Split(_) => "Split",
            Op::Slice(_) => "Slice",
            Op::Gather(_) => "Gather",
            Op::GatherElements(_) => "GatherElements",
            Op::Pad(_) => "Pad",
            Op::Expand(_) => "Expand",
            Op::Tile(_) => "Tile",
            Op::Shape(_) => "Shape",
            Op::Size => "Size",
            Op::ConstantOfShape(_) => "ConstantOfShape",
            Op::Range => "Range",
            Op::DepthToSpace(_) => "DepthToSpace",
            Op::SpaceToDepth(_) => "SpaceToDepth",
            Op::Resize(_) => "Resize",
            Op::Quantize(_) => "QuantizeLinear",
            Op::Dequantize(_) => "DequantizeLinear",
            Op::Fused(_) => "Fused",
        }
    }

    /// A name for reports: [`Op::name`], or the anchor and steps of a fused op
    /// (`Conv+Relu`).
    pub fn label(&self) -> String {
        match self {
            Op::Fused(f) => f.label(),
            other => other.name().to_string(),
        }
    }

    /// The family implementation behind this op.
    fn semantics(&self) -> &dyn Semantics {
        match self {
            Op::Identity => &elementwise::IDENTITY,
            Op::Unary(u) => u,
            Op::Binary(b) => b,
            Op::Clip => &elementwise::CLIP,
            Op::Where => &elementwise::WHERE,
            Op::Cast(c) => c,
            Op::MatMul => &linalg::MATMUL,
            Op::Gemm(g) => g,
            Op::Conv(c) => c,
            Op::ConvTranspose(c) => c,
            Op::Pool(p) => p,
            Op::GlobalPool(p) => p,
            Op::BatchNorm(n) => n,
            Op::InstanceNorm(n) => n,
            Op::LayerNorm(n) => n,
            Op::GroupNorm(n) => n,
            Op::Lrn(n) => n,
            Op::Softmax(s) => s,
            Op::Reduce(r) => r,
            Op::ArgReduce(a) => a,
            Op::Reshape(r) => r,
            Op::Transpose(t) => t,
            Op::Concat(c) => c,
            Op::Split(s) => s,
            Op::Slice(s) => s,
            Op::Gather(g) => g,
            Op::GatherElements(g) => g,
            Op::Pad(p) => p,
            Op::Expand(e) => e,
            Op::Tile(t) => t,
            Op::Shape(s) => s,
            Op::Size => &movement::SIZE,
            Op::ConstantOfShape(c) => c,
            Op::Range => &movement::RANGE,
            Op::DepthToSpace(d) => d,
            Op::SpaceToDepth(s) => s,
            Op::Resize(r) => r,
            Op::Quantize(q) => q,
            Op::Dequantize(d) => d,
            Op::Fused(f) => f,
        }
    }

    /// Output types of this op given what is known of its operands.
    pub fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        self.semantics().infer(inputs, num_outputs)
    }

    /// Reference evaluation: plain and obviously correct, not fast.
    pub fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        self.semantics().eval(inputs, num_outputs)
    }
}
