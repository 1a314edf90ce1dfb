//! Lowering: each graph node becomes one kernel in the kernel IR.
//!
//! The contract every lowering follows:
//! - `kernel.buffers` are the node's present operands in order (absent optional
//!   operands are skipped), read-only, then its outputs in order, writable, each
//!   with the element type and element count of its value.
//! - The kernel computes exactly what `node.op.eval` computes (bit-exact for
//!   integer and data-movement ops; within float tolerance for arithmetic).
//! - Elementwise kernels (see `nnc_passes::memplan`'s in-place rule) read element
//!   `i` of an operand before writing element `i` of the output and touch no other
//!   output element, so the planner may give the output the operand's storage.
//! - Constant operands are still buffers (weights), but a lowering may read their
//!   values (`graph.known_value`) to specialise (clip bounds, pads, repacking).
//! - A fused op (`Op::Fused`) is lowered by its anchor's family, which applies
//!   the steps (`epilogue`) to each output vector before storing it; one with an
//!   elementwise anchor is a chain of elementwise ops in one broadcast walk
//!   (`fused_elementwise`).
//! - Vector width comes from the target; every kernel passes `kernel::check` and
//!   `kernel::bounds::check`.
//! - A lowering may declare buffers after the outputs ([`ExtraBuffer`]):
//!   constants it derived from the node's weights (Winograd's transformed
//!   filters), or scratch memory live only during the call. [`lower_node_full`]
//!   returns them in order for the scheduler to bind.

mod broadcast;
mod conv;
mod copy_nest;
mod depthwise;
mod element_io;
mod elementwise;
mod epilogue;
mod fused_elementwise;
mod gemm;
mod gemm_tiles;
mod gemv;
mod linalg;
pub(crate) mod math;
mod movement;
mod norm;
mod pool;
mod quant;
#[cfg(test)]
mod random_tensors;
mod reduce;
mod resize;
mod signature;
mod softmax;
#[cfg(test)]
pub(crate) mod testing;

use std::cell::RefCell;

use nnc_ir::kernel::Kernel;
use nnc_ir::{Graph, Node, Op, Target, Tensor};
use thiserror::Error;

/// A tile epilogue's activation as the portable lowering computes it (for the
/// microkernel tests).
#[cfg(test)]
pub(crate) use epilogue::tile_map;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum LowerError {
    /// The op (or this use of it) has no lowering yet.
    #[error("node '{node}' ({op}): no lowering: {reason}")]
    Unsupported {
        node: String,
        op: String,
        reason: String,
    },
}

/// What a lowering sees: the graph (for types and known values), the node, the target.
pub struct LowerCtx<'a> {
    pub graph: &'a Graph,
    pub node: &'a Node,
    pub target: &'a Target,
    /// The buffers the kernel declares after its outputs, and the form it took.
    extras: RefCell<Extras>,
}

/// A buffer of a kernel beyond its node's operands and outputs.
#[derive(Clone, Debug, PartialEq)]
pub enum ExtraBuffer {
    /// Read-only data the lowering computed at compile time (bound as a weight).
    Weight(Tensor),
    /// Writable working memory of `bytes`, dead between calls: every kernel's
    /// scratch shares one region at the arena's end.
    Scratch { bytes: usize },
}

#[derive(Default)]
struct Extras {
    buffers: Vec<ExtraBuffer>,
    unread: Vec<usize>,
    form: Option<&'static str>,
}

/// A node's kernel with what its call needs beyond the node's values.
#[derive(Debug)]
pub struct Lowered {
    pub kernel: Kernel,
    /// The kernel's buffers after the node's outputs, in order.
    pub extras: Vec<ExtraBuffer>,
    /// A special form the lowering chose (e.g. `winograd`), for reports.
    pub form: Option<&'static str>,
    /// Operand slots whose buffer the kernel never reads: a derived weight
    /// (the first of `extras`, at least as large) replaces it, so the artifact
    /// need not hold the original.
    pub unread: Vec<usize>,
}

impl LowerCtx<'_> {
    /// An error saying this node cannot be lowered, and why.
    pub fn unsupported(&self, reason: impl Into<String>) -> LowerError {
        LowerError::Unsupported {
            node: self.node.name.clone(),
            op: self.node.op.name().to_string(),
            reason: reason.into(),
        }
    }

    /// Records the next buffer the kernel declares after its outputs.
    fn add_extra(&self, buffer: ExtraBuffer) {
        self.extras.borrow_mut().buffers.push(buffer);
    }

    /// Records that the kernel never reads operand `slot` (a derived weight
    /// replaces it).
    fn set_unread(&self, slot: usize) {
        self.extras.borrow_mut().unread.push(slot);
    }

    /// Records the special form the kernel takes.
    fn set_form(&self, form: &'static str) {
        self.extras.borrow_mut().form = Some(form);
    }
}

/// Lowers one node (see [`lower_node_full`]); the kernel alone, for kernels
/// known to need no extra buffers.
pub fn lower_node(graph: &Graph, node: &Node, target: &Target) -> Result<Kernel, LowerError> {
    lower_node_full(graph, node, target).map(|l| l.kernel)
}

/// Lowers one node to a kernel following the contract above, with its extra
/// buffers.
pub fn lower_node_full(graph: &Graph, node: &Node, target: &Target) -> Result<Lowered, LowerError> {
    let ctx = LowerCtx {
        graph,
        node,
        target,
        extras: RefCell::default(),
    };
    let kernel = lower_with(&ctx)?;
    let extras = ctx.extras.into_inner();
    Ok(Lowered {
        kernel,
        extras: extras.buffers,
        form: extras.form,
        unread: extras.unread,
    })
}

fn lower_with(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let node = ctx.node;
    match &node.op {
        Op::Identity | Op::Unary(_) | Op::Binary(_) | Op::Clip | Op::Where | Op::Cast(_) => {
            elementwise::lower(ctx)
        }
        Op::MatMul | Op::Gemm(_) => linalg::lower(ctx),
        Op::Conv(_) | Op::ConvTranspose(_) => conv::lower(ctx),
        Op::Pool(_) | Op::GlobalPool(_) => pool::lower(ctx),
        Op::BatchNorm(_)
        | Op::InstanceNorm(_)
        | Op::LayerNorm(_)
        | Op::GroupNorm(_)
        | Op::Lrn(_) => norm::lower(ctx),
        Op::Softmax(_) => softmax::lower(ctx),
        Op::Reduce(_) | Op::ArgReduce(_) => reduce::lower(ctx),
        Op::Reshape(_)
        | Op::Transpose(_)
        | Op::Concat(_)
        | Op::Split(_)
        | Op::Slice(_)
        | Op::Gather(_)
        | Op::GatherElements(_)
        | Op::Pad(_)
        | Op::Expand(_)
        | Op::Tile(_)
        | Op::Shape(_)
        | Op::Size
        | Op::ConstantOfShape(_)
        | Op::Range
        | Op::DepthToSpace(_)
        | Op::SpaceToDepth(_) => movement::lower(ctx),
        Op::Resize(_) => resize::lower(ctx),
        Op::Quantize(_) | Op::Dequantize(_) => quant::lower(ctx),
        Op::Fused(f) => match *f.anchor {
            Op::MatMul | Op::Gemm(_) => linalg::lower(ctx),
            Op::Conv(_) => conv::lower(ctx),
            Op::Unary(_) | Op::Binary(_) => fused_elementwise::lower(ctx),
            ref other => Err(ctx.unsupported(format!("no fused epilogue for {}", other.name()))),
        },
    }
}
