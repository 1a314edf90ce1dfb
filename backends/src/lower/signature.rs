//! The buffer parameters of a node's kernel, declared as the lowering contract
//! says: present operands in order (read-only), then outputs (writable).

use nnc_ir::TensorType;
use nnc_ir::kernel::{BufId, ElemType, KernelBuilder};

use super::{LowerCtx, LowerError};

/// One declared buffer and the type of the value it holds.
#[derive(Clone, Debug)]
pub(super) struct Operand {
    pub buf: BufId,
    pub ty: TensorType,
}

impl Operand {
    pub fn elem(&self) -> ElemType {
        self.ty.dtype.into()
    }

    pub fn shape(&self) -> &[usize] {
        &self.ty.shape
    }

    pub fn len(&self) -> usize {
        self.ty.shape.iter().product()
    }
}

/// A kernel under construction with its node's buffers declared.
pub(super) struct Signature {
    /// One entry per operand slot of the node; `None` for absent ones.
    pub inputs: Vec<Option<Operand>>,
    pub outputs: Vec<Operand>,
}

impl Signature {
    pub fn declare(ctx: &LowerCtx, k: &mut KernelBuilder) -> Signature {
        let graph = ctx.graph;
        let mut inputs = Vec::new();
        for (i, slot) in ctx.node.inputs.iter().enumerate() {
            inputs.push(slot.map(|value| {
                let ty = graph.value(value).ty.clone();
                let buf = k.buffer(format!("in{i}"), ty.dtype.into(), ty.len(), false);
                Operand { buf, ty }
            }));
        }
        let outputs = ctx
            .node
            .outputs
            .iter()
            .enumerate()
            .map(|(i, &value)| {
                let ty = graph.value(value).ty.clone();
                let buf = k.buffer(format!("out{i}"), ty.dtype.into(), ty.len(), true);
                Operand { buf, ty }
            })
            .collect();
        Signature { inputs, outputs }
    }

    /// Operand `i`, which the op requires.
    pub fn input(&self, ctx: &LowerCtx, i: usize) -> Result<&Operand, LowerError> {
        self.inputs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| ctx.unsupported(format!("operand {i} is missing")))
    }

    /// Operand `i` when present.
    pub fn optional(&self, i: usize) -> Option<&Operand> {
        self.inputs.get(i).and_then(Option::as_ref)
    }

    pub fn output(&self, ctx: &LowerCtx, i: usize) -> Result<&Operand, LowerError> {
        self.outputs
            .get(i)
            .ok_or_else(|| ctx.unsupported(format!("output {i} is missing")))
    }
}

/// A kernel name from the op and the node, as an identifier.
pub(super) fn kernel_name(ctx: &LowerCtx) -> String {
    let raw = format!("{}_{}", ctx.node.op.label(), ctx.node.name);
    raw.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
