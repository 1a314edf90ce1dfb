//! nnc's graph transformations. Each pass is a function `&Graph -> Graph`; the
//! [`pipeline`] runs them in order, times them, verifies the graph after each one
//! and can dump it.
//!
//! - [`canonicalize`]: constant folding (through `ir::eval`), shape-computation
//!   folding, removal of identities and no-ops, dead-code elimination.
//! - [`memplan`]: static arena offsets for intermediate tensors, in place where
//!   legal (a plan over a graph, not a graph transformation).

pub mod canonicalize;
pub mod memplan;
pub mod pipeline;

pub use canonicalize::canonicalize;
pub use memplan::{ArenaPlan, PlanOptions, plan_memory};
pub use pipeline::{Pass, PassReport, run_pipeline};
