//! Lowering of the quant family (being written).

use nnc_ir::kernel::Kernel;

use super::{LowerCtx, LowerError};

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    Err(ctx.unsupported("not lowered yet"))
}
