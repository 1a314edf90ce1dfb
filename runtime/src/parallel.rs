//! The parallel-for hook: how generated code could spread a loop over cores.

use core::ffi::c_void;

/// A task of a parallel loop: `task(ctx, i)` computes iteration `i`.
pub type ParallelTask = unsafe extern "C" fn(ctx: *mut c_void, i: u32);

/// `parallel_for(n, task, ctx)` calls `task(ctx, i)` once for every `i` in `0..n`,
/// in any order and possibly on several threads at once, and returns when all
/// calls have returned. Iterations write disjoint memory.
///
/// Optional: firmware may leave models single-threaded, and a plain loop is a
/// correct implementation. No generated code calls it yet; when it does, the hook
/// will be passed to the model at run time, never required at link time.
pub type ParallelFor = unsafe extern "C" fn(n: u32, task: ParallelTask, ctx: *mut c_void);
