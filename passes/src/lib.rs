//! nnc's graph transformations. Each pass is a function `&Graph -> Graph`; the
//! [`pipeline`] runs them in order, times them, verifies the graph after each one
//! and can dump it.
//!
//! - [`canonicalize`]: constant folding (through `ir::eval`), shape-computation
//!   folding, removal of identities and no-ops, dead-code elimination.

pub mod canonicalize;
pub mod pipeline;

pub use canonicalize::canonicalize;
pub use pipeline::{Pass, PassReport, run_pipeline};
