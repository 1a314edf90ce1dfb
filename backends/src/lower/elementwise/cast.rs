//! Cast between any two element types, with the reference's rules: integers wrap,
//! floats truncate toward zero into integers with saturation (NaN gives 0),
//! anything becomes bool as `!= 0`, floats round to nearest-even into narrower
//! floats — f64 into f16 with a single rounding.

use nnc_ir::DType;
use nnc_ir::kernel::{BinaryOp, CompareOp, ElemType, Expr, KernelBuilder, Ty, UnaryOp};

use super::super::copy_nest::CopyNest;
use super::super::element_io::compute_elem;
use super::super::signature::Signature;
use super::super::{LowerCtx, LowerError};
use super::{bool_of, map};

pub(super) fn lower(
    ctx: &LowerCtx,
    k: &mut KernelBuilder,
    sig: &Signature,
    to: DType,
) -> Result<(), LowerError> {
    let x = sig.input(ctx, 0)?;
    let y = sig.output(ctx, 0)?;
    if x.ty.dtype == to {
        CopyNest::contiguous(Expr::index(0), Expr::index(0), x.len()).emit(
            k,
            x.buf,
            y.buf,
            x.elem(),
            ctx.target.vector_bytes,
        );
        return Ok(());
    }
    let (from, to) = (x.elem(), ElemType::from(to));
    map(ctx, k, &[x], y, false, &mut |k, v, _| {
        convert(k, v[0].clone(), from, to)
    })
}

/// `x` (a scalar in the compute type of `from`) as a value in the compute type of
/// `to`.
pub(in crate::lower) fn convert(
    k: &mut KernelBuilder,
    x: Expr,
    from: ElemType,
    to: ElemType,
) -> Expr {
    let (cs, cd) = (compute_elem(from), compute_elem(to));
    if cd == ElemType::Bool {
        return bool_of(x, cs);
    }
    if cs == ElemType::Bool {
        return x.convert(cd);
    }
    if to == ElemType::F16 && cs == ElemType::F64 {
        return f64_to_f32_round_to_odd(k, x);
    }
    if cs == cd { x } else { x.convert(cd) }
}

/// An f64 as the f32 nearest to it *rounding to odd* (an inexact result keeps an
/// odd last bit), so that rounding that f32 to f16 rounds the f64 value once.
fn f64_to_f32_round_to_odd(k: &mut KernelBuilder, x: Expr) -> Expr {
    let x = Expr::var(k.let_var("wide", Ty::scalar(ElemType::F64), x));
    let mag = x.clone().unary(UnaryOp::Abs);
    let narrow = k.let_var("narrow", Ty::F32, mag.clone().convert(ElemType::F32));
    let back = Expr::var(narrow).convert(ElemType::F64);
    let bits = Expr::var(narrow).bitcast(ElemType::U32);
    let u32c = |v: i64| Expr::int(v, ElemType::U32);
    let even = bits
        .clone()
        .binary(BinaryOp::And, u32c(1))
        .compare(CompareOp::Eq, u32c(0));
    let inexact = back.clone().compare(CompareOp::Ne, mag.clone());
    let toward = back
        .compare(CompareOp::Lt, mag)
        .select(bits.clone() + u32c(1), bits.clone() - u32c(1));
    let odd = inexact
        .binary(BinaryOp::And, even)
        .select(toward, bits)
        .bitcast(ElemType::F32);
    let odd = Expr::var(k.let_var("odd", Ty::F32, odd));
    let negative = x
        .bitcast(ElemType::I64)
        .compare(CompareOp::Lt, Expr::int(0, ElemType::I64));
    negative.select(-odd.clone(), odd)
}
