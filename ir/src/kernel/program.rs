//! A scheduled program: what the code generators turn into a model's entry point.
//! Kernels in order, each called with its buffers bound to the model's inputs,
//! outputs, arena slots or weights.

use super::Kernel;
use crate::{DType, Tensor};

/// Where a kernel's buffer argument points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufferRef {
    /// The k-th model input (read-only).
    Input(usize),
    /// The k-th model output.
    Output(usize),
    /// `arena + offset` (bytes).
    Arena { offset: usize },
    /// The k-th weight, in the read-only data of the artifact.
    Weight(usize),
}

/// One call of a kernel: `args[i]` binds `kernel.buffers[i]`.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelCall {
    pub kernel: usize,
    /// What the call computes, for reports: the op (e.g. `Conv`), or `copy`.
    pub kind: String,
    pub args: Vec<BufferRef>,
    /// The graph nodes this call computes (names), for reports.
    pub nodes: Vec<String>,
}

/// A model input or output as the ABI exposes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoSpec {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl IoSpec {
    pub fn bytes(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }
}

/// A constant tensor placed in read-only data.
#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    pub name: String,
    pub tensor: Tensor,
}

/// Everything the emitters need to write a model: its interface, its memory and
/// its code.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The C identifier prefix of every exported symbol (`NAME_run`, ...).
    pub name: String,
    pub inputs: Vec<IoSpec>,
    pub outputs: Vec<IoSpec>,
    /// Bytes of scratch memory the caller provides.
    pub arena_bytes: usize,
    /// Alignment the arena must have (bytes).
    pub arena_align: usize,
    pub weights: Vec<Weight>,
    /// Distinct kernels (a kernel may be called several times).
    pub kernels: Vec<Kernel>,
    /// The calls in execution order.
    pub calls: Vec<KernelCall>,
}
