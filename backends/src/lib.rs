//! nnc's code generation.
//!
//! - [`lower`]: each graph node -> a kernel in the target-neutral kernel IR
//!   (`nnc_ir::kernel`).
//! - [`cranelift`]: a scheduled [`nnc_ir::kernel::Program`] -> native object code for
//!   x86_64, aarch64 and riscv64.
//! - [`wasm`]: the same program -> a WebAssembly module (SIMD128) and its ES module.
//! - [`artifact`]: the static library, C header and manifest a user links.

pub mod artifact;
pub mod cranelift;
mod lane_picks;
pub mod lower;
pub mod schedule;
pub mod target;
pub mod wasm;
