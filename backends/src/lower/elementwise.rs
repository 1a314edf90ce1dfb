//! Lowering of the elementwise family: Identity, every Unary and Binary op, Clip,
//! Where and Cast.
//!
//! Every op is a map over a broadcast walk ([`BroadcastWalk`]): operands are read
//! in their compute type (f16 as f32), the op's value is built, and the result is
//! stored (rounded back to f16 where needed). f32 ops producing f32 run 4 lanes at
//! a time on the innermost contiguous dim, then a scalar tail; everything else is
//! scalar.

mod binary;
pub(super) mod cast;
mod unary;

use nnc_ir::kernel::{CompareOp, ElemType, Expr, Kernel, KernelBuilder, Ty};
use nnc_ir::{DType, Op};

pub(super) use binary::binary_value;
pub(super) use cast::convert;
pub(super) use unary::float_unary;

use super::broadcast::{Access, BroadcastWalk};
use super::copy_nest::CopyNest;
use super::element_io::{compute_elem, load_value, store_value};
use super::signature::{Operand, Signature};
use super::{LowerCtx, LowerError};

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let mut k = KernelBuilder::new(kernel_name(ctx));
    let sig = Signature::declare(ctx, &mut k);
    match &ctx.node.op {
        Op::Identity => {
            let (x, y) = (sig.input(ctx, 0)?, sig.output(ctx, 0)?);
            CopyNest::contiguous(Expr::index(0), Expr::index(0), x.len()).emit(
                &mut k,
                x.buf,
                y.buf,
                x.elem(),
                ctx.target.vector_bytes,
            );
        }
        Op::Unary(op) => unary::lower(ctx, &mut k, &sig, *op)?,
        Op::Binary(op) => binary::lower(ctx, &mut k, &sig, *op)?,
        Op::Clip => lower_clip(ctx, &mut k, &sig)?,
        Op::Where => lower_where(ctx, &mut k, &sig)?,
        Op::Cast(cast) => cast::lower(ctx, &mut k, &sig, cast.to)?,
        other => return Err(ctx.unsupported(format!("{} is not elementwise", other.name()))),
    }
    Ok(k.finish())
}

/// A readable kernel name: the op and the node.
pub(super) fn kernel_name(ctx: &LowerCtx) -> String {
    let clean: String = ctx
        .node
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{}_{}", ctx.node.op.name().to_lowercase(), clean)
}

/// What an elementwise body computes from the operands' values (in their compute
/// types, `lanes` wide): the output's value in its compute type.
pub(super) type ValueFn<'a> = dyn FnMut(&mut KernelBuilder, &[Expr], u8) -> Expr + 'a;

/// Emits `out = f(operands...)` over the broadcast of the operands to the output.
/// `vector` says whether `f` can work on f32x4 values; it is used only when every
/// operand and the output compute in f32.
pub(super) fn map(
    ctx: &LowerCtx,
    k: &mut KernelBuilder,
    operands: &[&Operand],
    out: &Operand,
    vector: bool,
    f: &mut ValueFn,
) -> Result<(), LowerError> {
    let shapes: Vec<&[usize]> = operands.iter().map(|o| o.shape()).collect();
    let walk = BroadcastWalk::new(out.shape(), &shapes)
        .ok_or_else(|| ctx.unsupported("operand shapes do not broadcast to the output"))?;
    let all_f32 = operands
        .iter()
        .chain([&out])
        .all(|o| o.elem() == ElemType::F32);
    let lanes = if vector && all_f32 {
        ctx.target.f32_lanes()
    } else {
        1
    };
    walk.emit(k, lanes, &mut |k, accesses: &[Access], out_index, lanes| {
        let values: Vec<Expr> = operands
            .iter()
            .zip(accesses)
            .map(|(o, a)| {
                if lanes > 1 && a.splat {
                    let v = load_value(k, o.buf, o.elem(), a.index.clone(), 1);
                    v.splat(lanes)
                } else {
                    load_value(k, o.buf, o.elem(), a.index.clone(), lanes)
                }
            })
            .collect();
        // Hold each operand in a variable: bodies use them more than once.
        let values: Vec<Expr> = values
            .into_iter()
            .zip(operands)
            .map(|(v, o)| {
                let ty = Ty::vector(compute_elem(o.elem()), lanes);
                Expr::var(k.let_var("x", ty, v))
            })
            .collect();
        let y = f(k, &values, lanes);
        store_value(k, out.buf, out.elem(), out_index, y);
    });
    Ok(())
}

/// The single value of a scalar operand (Clip's bounds), in its compute type.
fn scalar_operand(k: &mut KernelBuilder, o: &Operand) -> Expr {
    let v = load_value(k, o.buf, o.elem(), Expr::index(0), 1);
    Expr::var(k.let_var("bound", Ty::scalar(compute_elem(o.elem())), v))
}

/// numpy's clip: `min(max(x, lo), hi)` written as compares, so that NaN stays NaN
/// and `hi` wins when `lo > hi`.
fn lower_clip(ctx: &LowerCtx, k: &mut KernelBuilder, sig: &Signature) -> Result<(), LowerError> {
    let x = sig.input(ctx, 0)?;
    let y = sig.output(ctx, 0)?;
    if x.elem() == ElemType::Bool {
        return Err(ctx.unsupported("Clip is not defined on bool tensors"));
    }
    let bounds: Vec<Option<Expr>> = [1, 2]
        .into_iter()
        .map(|i| sig.optional(i).map(|o| scalar_operand(k, o)))
        .collect();
    let (lo, hi) = (bounds[0].clone(), bounds[1].clone());
    map(ctx, k, &[x], y, true, &mut |k, v, lanes| {
        let ty = Ty::vector(compute_elem(x.elem()), lanes);
        let mut v = v[0].clone();
        if let Some(lo) = &lo {
            let lo = lo.clone().splat(lanes);
            let clipped = v.clone().compare(CompareOp::Lt, lo.clone()).select(lo, v);
            v = Expr::var(k.let_var("clip", ty, clipped));
        }
        if let Some(hi) = &hi {
            let hi = hi.clone().splat(lanes);
            v = v.clone().compare(CompareOp::Gt, hi.clone()).select(hi, v);
        }
        v
    })
}

fn lower_where(ctx: &LowerCtx, k: &mut KernelBuilder, sig: &Signature) -> Result<(), LowerError> {
    let (c, x, y) = (sig.input(ctx, 0)?, sig.input(ctx, 1)?, sig.input(ctx, 2)?);
    let out = sig.output(ctx, 0)?;
    if c.ty.dtype != DType::Bool {
        return Err(ctx.unsupported("the Where condition must be bool"));
    }
    map(ctx, k, &[c, x, y], out, false, &mut |_, v, _| {
        v[0].clone().select(v[1].clone(), v[2].clone())
    })
}

/// `x` as a value of `to` (both compute types): helpers for the families.
pub(super) fn bool_of(x: Expr, elem: ElemType) -> Expr {
    if elem == ElemType::Bool {
        x
    } else if elem.is_float() {
        x.compare(CompareOp::Ne, Expr::float(0.0, elem))
    } else {
        x.compare(CompareOp::Ne, Expr::int(0, elem))
    }
}

#[cfg(test)]
mod tests;
