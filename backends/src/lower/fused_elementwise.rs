//! A chain of elementwise ops as one kernel: `Op::Fused` whose anchor is itself
//! elementwise (an f32 Unary, or Add / Sub / Mul / Div / Max / Min).
//!
//! Unlike a Conv or matrix-product epilogue, there is no producing loop nest to
//! hang the steps on, so the kernel is the elementwise family's broadcast walk
//! ([`map`]) over *all* operands — the anchor's, then the steps' extras — and the
//! value stored at each output element is the anchor's value with every step
//! applied in registers. Each input is read once and the output written once,
//! where the unfused chain stores and reloads every intermediate tensor.
//!
//! Extras may broadcast in any way ONNX allows (per channel of an NCHW tensor, a
//! row, a scalar), since the walk gives every operand its own index.

use nnc_ir::kernel::{ElemType, Expr, Kernel, KernelBuilder, Ty};
use nnc_ir::ops::{Binary, Fused, Step, Unary};
use nnc_ir::{DType, Op};

use super::elementwise::{binary_value, float_unary, map};
use super::epilogue::clip;
use super::signature::{Operand, Signature, kernel_name};
use super::{LowerCtx, LowerError};

/// The binary ops a fused elementwise kernel computes (as anchor or step): the
/// f32 ones whose lowering is a plain vector expression.
pub(super) fn fusable_binary(op: Binary) -> bool {
    matches!(
        op,
        Binary::Add | Binary::Sub | Binary::Mul | Binary::Div | Binary::Max | Binary::Min
    )
}

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let Op::Fused(fused) = &ctx.node.op else {
        return Err(ctx.unsupported("not a fused op"));
    };
    let mut k = KernelBuilder::new(kernel_name(ctx));
    let sig = Signature::declare(ctx, &mut k);
    let out = sig.output(ctx, 0)?;
    let operands: Vec<&Operand> = (0..sig.inputs.len())
        .map(|i| sig.input(ctx, i))
        .collect::<Result<_, _>>()?;
    if let Some(o) = operands
        .iter()
        .chain([&out])
        .find(|o| o.ty.dtype != DType::F32)
    {
        return Err(ctx.unsupported(format!(
            "a fused elementwise kernel computes f32, not {}",
            o.ty.dtype
        )));
    }
    check_anchor(ctx, fused)?;
    check_steps(ctx, fused, operands.len())?;
    let fused = fused.clone();
    map(ctx, &mut k, &operands, out, true, &mut |k, v, lanes| {
        value(k, &fused, v, Ty::vector(ElemType::F32, lanes))
    })?;
    Ok(k.finish())
}

/// Condition: the anchor is an f32 Unary on one operand or a fusable Binary on two.
fn check_anchor(ctx: &LowerCtx, fused: &Fused) -> Result<(), LowerError> {
    match (&*fused.anchor, fused.anchor_operands) {
        (Op::Unary(u), 1) if keeps_f32(*u) => Ok(()),
        (Op::Binary(b), 2) if fusable_binary(*b) => Ok(()),
        (anchor, n) => Err(ctx.unsupported(format!(
            "no fused elementwise kernel with a {} anchor over {n} operands",
            anchor.name()
        ))),
    }
}

/// Condition: every step is f32 and reads an extra operand that exists.
fn check_steps(ctx: &LowerCtx, fused: &Fused, operands: usize) -> Result<(), LowerError> {
    let extras = operands - fused.anchor_operands.min(operands);
    for step in &fused.steps {
        match *step {
            Step::Unary(u) | Step::Gate(u) if !keeps_f32(u) => {
                return Err(ctx.unsupported(format!("no fused {} step on f32", u.name())));
            }
            Step::Binary { op, .. } if !fusable_binary(op) => {
                return Err(ctx.unsupported(format!("no fused {} step", op.name())));
            }
            Step::Binary { operand, .. } if operand >= extras => {
                return Err(ctx.unsupported(format!(
                    "a step reads extra operand {operand}, the node has {extras}"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The output value from the operands' values `v` (anchor operands, then extras).
fn value(k: &mut KernelBuilder, fused: &Fused, v: &[Expr], ty: Ty) -> Expr {
    let (anchor, extras) = v.split_at(fused.anchor_operands);
    let mut x = match &*fused.anchor {
        Op::Unary(u) => float_unary(k, *u, anchor[0].clone(), ty),
        Op::Binary(b) => binary_value(k, *b, anchor[0].clone(), anchor[1].clone(), ty),
        _ => unreachable!("check_anchor admits Unary and Binary anchors only"),
    };
    for step in &fused.steps {
        // Held in a variable: the builders use their operand more than once.
        let r = Expr::var(k.let_var("step", ty, x));
        x = match *step {
            Step::Unary(u) => float_unary(k, u, r, ty),
            Step::Gate(u) => {
                let gate = float_unary(k, u, r.clone(), ty);
                r * gate
            }
            Step::Clip { min, max } => clip(k, r, min, max, ty),
            Step::Binary {
                op,
                operand,
                swapped,
            } => {
                let e = extras[operand].clone();
                let (a, b) = if swapped { (e, r) } else { (r, e) };
                binary_value(k, op, a, b, ty)
            }
        };
    }
    x
}

/// Whether `u` is defined on f32 and gives f32 (not IsNaN's bool).
fn keeps_f32(u: Unary) -> bool {
    u.accepts(DType::F32) && u.output_dtype(DType::F32) == DType::F32
}

#[cfg(test)]
mod tests;
