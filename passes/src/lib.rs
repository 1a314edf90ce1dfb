//! nnc's graph transformations. Each pass is a function `&Graph -> Graph`; the
//! [`pipeline`] runs them in order, times them, verifies the graph after each one
//! and can dump it.
//!
//! - [`canonicalize`]: constant folding (through `ir::eval`), shape-computation
//!   folding, removal of identities and no-ops, dead-code elimination.
//! - [`fuse_epilogues`]: activations, clips and residual adds after a Conv,
//!   MatMul or Gemm become steps of one `Fused` node, applied before its store.
//! - [`sink_constants`]: nodes fed only by constants (e.g. Dequantize of int8
//!   weights) moved to just before their first consumer, so their outputs are not
//!   live for the whole run.
//! - [`egraph`]: equality saturation over an e-graph of the program (BatchNorm
//!   folding, branch merging, pattern recognition) and extraction by a roofline
//!   cost model of the target.
//! - [`memplan`]: static arena offsets for intermediate tensors, in place where
//!   legal (a plan over a graph, not a graph transformation).

pub mod canonicalize;
pub mod egraph;
pub mod fuse_epilogues;
pub mod memplan;
pub mod pipeline;
mod rebuild;
pub mod sink_constants;

pub use canonicalize::canonicalize;
pub use fuse_epilogues::fuse_epilogues;
pub use memplan::{ArenaPlan, PlanOptions, plan_memory};
pub use pipeline::{Pass, PassReport, run_pipeline};
pub use sink_constants::sink_constants;
