//! Matrix products: MatMul and Gemm.

use nnc_ir::Op;
use nnc_ir::ops::Gemm;

use super::{Converter, at};
use crate::import::{ConvResult, NodeCtx};

pub(super) static CONVERTERS: &[Converter] = &[at("MatMul", 1, matmul), at("Gemm", 7, gemm)];

fn matmul(ctx: &mut NodeCtx) -> ConvResult<()> {
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    ctx.add(Op::MatMul, vec![Some(a), Some(b)])?;
    Ok(())
}

/// Gemm from opset 7 (unidirectional broadcasting of C; C optional from 11).
fn gemm(ctx: &mut NodeCtx) -> ConvResult<()> {
    let op = Gemm {
        alpha: ctx.attrs.float("alpha", 1.0)?,
        beta: ctx.attrs.float("beta", 1.0)?,
        trans_a: ctx.attrs.flag("transA", false)?,
        trans_b: ctx.attrs.flag("transB", false)?,
    };
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    let c = ctx.opt_input(2)?;
    ctx.add(Op::Gemm(op), vec![Some(a), Some(b), c])?;
    Ok(())
}
