//! Binary ops over broadcast operands: float arithmetic (f16 in f32), exact
//! wrapping integer arithmetic, logic, bit operations, comparisons, Pow and Mod.

use nnc_ir::kernel::{BinaryOp, CompareOp, ElemType, Expr, KernelBuilder, Ty, UnaryOp};
use nnc_ir::ops::Binary;

use super::super::element_io::compute_elem;
use super::super::math::FloatMath;
use super::super::signature::Signature;
use super::super::{LowerCtx, LowerError};
use super::map;

/// Status a kernel returns on an integer division by zero (the reference
/// evaluator reports an error there).
pub(in crate::lower) const DIVISION_BY_ZERO: i32 = nnc_runtime::status::DIVISION_BY_ZERO;

pub(super) fn lower(
    ctx: &LowerCtx,
    k: &mut KernelBuilder,
    sig: &Signature,
    op: Binary,
) -> Result<(), LowerError> {
    let (a, b) = (sig.input(ctx, 0)?, sig.input(ctx, 1)?);
    let out = sig.output(ctx, 0)?;
    let (ea, eb) = (a.elem(), b.elem());
    op.output_dtype(a.ty.dtype, b.ty.dtype)
        .map_err(|e| ctx.unsupported(e.to_string()))?;
    if op == Binary::Pow {
        return map(ctx, k, &[a, b], out, false, &mut |k, v, _| {
            pow(k, v[0].clone(), ea, v[1].clone(), eb)
        });
    }
    let elem = compute_elem(ea);
    let vector = elem == ElemType::F32
        && matches!(
            op,
            Binary::Add
                | Binary::Sub
                | Binary::Mul
                | Binary::Div
                | Binary::Max
                | Binary::Min
                | Binary::PRelu
        );
    map(ctx, k, &[a, b], out, vector, &mut |k, v, lanes| {
        binary_value(k, op, v[0].clone(), v[1].clone(), Ty::vector(elem, lanes))
    })
}

/// `op` on two values of compute type `ty` (same type: every op but Pow).
pub(in crate::lower) fn binary_value(
    k: &mut KernelBuilder,
    op: Binary,
    a: Expr,
    b: Expr,
    ty: Ty,
) -> Expr {
    let elem = ty.elem;
    let zero = if elem.is_float() {
        Expr::float(0.0, elem).splat(ty.lanes)
    } else {
        Expr::int(0, elem)
    };
    match op {
        Binary::Add => a + b,
        Binary::Sub => a - b,
        Binary::Mul => a * b,
        Binary::Div if elem.is_float() => a / b,
        Binary::Div => {
            let b = nonzero_divisor(k, b, elem);
            int_div(a, b, elem, BinaryOp::Div)
        }
        Binary::Mod { fmod } if elem.is_float() => float_mod(k, a, b, elem, fmod),
        Binary::Mod { fmod } => {
            let b = nonzero_divisor(k, b, elem);
            let r = int_div(a, b.clone(), elem, BinaryOp::Rem);
            if fmod || !elem.is_signed() {
                return r;
            }
            // Floored: a nonzero remainder whose sign differs from the divisor's
            // moves by one divisor.
            let r = Expr::var(k.let_var("rem", ty, r));
            let differ = r.clone().compare(CompareOp::Lt, zero.clone()).binary(
                BinaryOp::Xor,
                b.clone().compare(CompareOp::Lt, zero.clone()),
            );
            let fix = r
                .clone()
                .compare(CompareOp::Ne, zero)
                .binary(BinaryOp::And, differ);
            fix.select(r.clone() + b, r)
        }
        Binary::Max => a.max(b),
        Binary::Min => a.min(b),
        Binary::And | Binary::BitwiseAnd => a.binary(BinaryOp::And, b),
        Binary::Or | Binary::BitwiseOr => a.binary(BinaryOp::Or, b),
        Binary::Xor | Binary::BitwiseXor => a.binary(BinaryOp::Xor, b),
        Binary::BitShiftLeft => shift(k, a, b, elem, BinaryOp::Shl),
        Binary::BitShiftRight => shift(k, a, b, elem, BinaryOp::Shr),
        Binary::Equal if elem == ElemType::Bool => a.binary(BinaryOp::Xor, b).unary(UnaryOp::Not),
        Binary::Equal => a.compare(CompareOp::Eq, b),
        Binary::Less => a.compare(CompareOp::Lt, b),
        Binary::LessOrEqual => a.compare(CompareOp::Le, b),
        Binary::Greater => a.compare(CompareOp::Gt, b),
        Binary::GreaterOrEqual => a.compare(CompareOp::Ge, b),
        Binary::PRelu => a
            .clone()
            .compare(CompareOp::Lt, zero)
            .select(b * a.clone(), a),
        Binary::Pow => unreachable!("Pow is lowered by `pow`"),
    }
}

/// Fails the kernel when `b` is zero, and gives `b` to divide by.
fn nonzero_divisor(k: &mut KernelBuilder, b: Expr, elem: ElemType) -> Expr {
    let b = Expr::var(k.let_var("divisor", Ty::scalar(elem), b));
    k.if_then(b.clone().compare(CompareOp::Eq, Expr::int(0, elem)), |k| {
        k.fail(DIVISION_BY_ZERO)
    });
    b
}

/// Integer `a / b` or `a % b` (b nonzero) that wraps instead of trapping on
/// MIN / -1: that case divides by 1 and negates (MIN % -1 is 0 = MIN % 1).
fn int_div(a: Expr, b: Expr, elem: ElemType, op: BinaryOp) -> Expr {
    if !elem.is_signed() {
        return a.binary(op, b);
    }
    let minus_one = b.clone().compare(CompareOp::Eq, Expr::int(-1, elem));
    let safe = minus_one.clone().select(Expr::int(1, elem), b);
    let q = a.binary(op, safe);
    if op == BinaryOp::Div {
        minus_one.select(-q.clone(), q)
    } else {
        q
    }
}

/// Shifts as ONNX BitShift: amounts that are negative or not below the width
/// give 0 (left) or the sign fill (right); the shift itself sees an in-range
/// amount.
fn shift(k: &mut KernelBuilder, a: Expr, by: Expr, elem: ElemType, op: BinaryOp) -> Expr {
    let ty = Ty::scalar(elem);
    let a = Expr::var(k.let_var("a", ty, a));
    let by = Expr::var(k.let_var("by", ty, by));
    let width = (elem.size() * 8) as i64;
    let mut in_range = by.clone().compare(CompareOp::Lt, Expr::int(width, elem));
    if elem.is_signed() {
        in_range = in_range.binary(
            BinaryOp::And,
            by.clone().compare(CompareOp::Ge, Expr::int(0, elem)),
        );
    }
    let amount = by.binary(BinaryOp::And, Expr::int(width - 1, elem));
    let shifted = a.clone().binary(op, amount);
    let fill = if op == BinaryOp::Shr && elem.is_signed() {
        a.compare(CompareOp::Lt, Expr::int(0, elem))
            .select(Expr::int(-1, elem), Expr::int(0, elem))
    } else {
        Expr::int(0, elem)
    };
    in_range.select(shifted, fill)
}

/// Float remainder: computed in f64 as a - trunc(a/b)·b, exact for f32 operands
/// while the quotient is below 2^29, then one correction when the rounded quotient
/// overshot (the remainder came out with the wrong sign). `fmod` keeps the
/// dividend's sign, otherwise the divisor's (numpy `mod`).
fn float_mod(k: &mut KernelBuilder, a: Expr, b: Expr, elem: ElemType, fmod: bool) -> Expr {
    let f64t = Ty::scalar(ElemType::F64);
    let wide = |e: Expr| {
        if elem == ElemType::F64 {
            e
        } else {
            e.convert(ElemType::F64)
        }
    };
    let a = Expr::var(k.let_var("a", f64t, wide(a)));
    let b = Expr::var(k.let_var("b", f64t, wide(b)));
    let zero = Expr::f64(0.0);
    let q = (a.clone() / b.clone()).unary(UnaryOp::Trunc);
    let r = Expr::var(k.let_var("r", f64t, a.clone() - q * b.clone()));
    // Overshoot: r's sign differs from a's (r nonzero): add back |b| toward a.
    let overshoot = r.clone().compare(CompareOp::Ne, zero.clone()).binary(
        BinaryOp::And,
        r.clone().compare(CompareOp::Lt, zero.clone()).binary(
            BinaryOp::Xor,
            a.clone().compare(CompareOp::Lt, zero.clone()),
        ),
    );
    let toward_a = a.clone().compare(CompareOp::Lt, zero.clone()).select(
        -b.clone().unary(UnaryOp::Abs),
        b.clone().unary(UnaryOp::Abs),
    );
    let r = overshoot.select(r.clone() + toward_a, r);
    // x % ±inf = x (for finite x); inf % y and x % 0 are NaN (already, from a/b).
    let b_inf = b
        .clone()
        .unary(UnaryOp::Abs)
        .compare(CompareOp::Eq, Expr::f64(f64::INFINITY));
    let a_finite = a
        .clone()
        .unary(UnaryOp::Abs)
        .compare(CompareOp::Lt, Expr::f64(f64::INFINITY));
    let r = b_inf.binary(BinaryOp::And, a_finite).select(a.clone(), r);
    let r = Expr::var(k.let_var("r", f64t, r));
    let r = if fmod {
        r
    } else {
        let mut m = FloatMath::new(k, f64t);
        let signed_zero = m.copysign(zero.clone(), b.clone());
        let differ = r.clone().compare(CompareOp::Lt, zero.clone()).binary(
            BinaryOp::Xor,
            b.clone().compare(CompareOp::Lt, zero.clone()),
        );
        let floored = r
            .clone()
            .compare(CompareOp::Eq, zero)
            .select(signed_zero, differ.select(r.clone() + b, r));
        m.let_("mod", floored)
    };
    if elem == ElemType::F64 {
        r
    } else {
        r.convert(ElemType::F32)
    }
}

/// `a ^ b` with `a` of element type `ea` (its compute value) and `b` of `eb`, as
/// the reference: floats in f64 rounded once; integer bases exact (wrapping) for a
/// non-negative integer exponent, else the real power truncated with saturation.
fn pow(k: &mut KernelBuilder, a: Expr, ea: ElemType, b: Expr, eb: ElemType) -> Expr {
    let f64t = Ty::scalar(ElemType::F64);
    let real = |k: &mut KernelBuilder, a: Expr, b: Expr| {
        let wide = |e: Expr, elem: ElemType| {
            if compute_elem(elem) == ElemType::F64 {
                e
            } else {
                e.convert(ElemType::F64)
            }
        };
        FloatMath::new(k, f64t).pow(wide(a, ea), wide(b, eb))
    };
    if ea.is_float() {
        let r = real(k, a, b);
        return if compute_elem(ea) == ElemType::F64 {
            r
        } else {
            r.convert(ElemType::F32)
        };
    }
    let a = Expr::var(k.let_var("base", Ty::scalar(ea), a));
    let b = Expr::var(k.let_var("exponent", Ty::scalar(compute_elem(eb)), b));
    let real_value = real(k, a.clone(), b.clone()).convert(ea);
    if !eb.is_int() {
        return real_value;
    }
    let real_value = Expr::var(k.let_var("real", Ty::scalar(ea), real_value));
    // Square and multiply over the exponent's bits (a static 64-step loop).
    let e = k.let_var("e", Ty::INDEX, b.convert(ElemType::I64));
    let acc = k.let_var("acc", Ty::scalar(ea), Expr::int(1, ea));
    let base = k.let_var("sq", Ty::scalar(ea), a);
    let bits = k.let_var("bits", Ty::INDEX, Expr::var(e));
    k.for_range("bit", 0, 64, 1, |k, _| {
        let odd = Expr::var(bits)
            .binary(BinaryOp::And, Expr::index(1))
            .compare(CompareOp::Ne, Expr::index(0));
        k.assign(
            acc,
            odd.select(Expr::var(acc) * Expr::var(base), Expr::var(acc)),
        );
        k.assign(base, Expr::var(base) * Expr::var(base));
        k.assign(bits, Expr::var(bits).binary(BinaryOp::Shr, Expr::index(1)));
    });
    Expr::var(e)
        .compare(CompareOp::Ge, Expr::index(0))
        .select(Expr::var(acc), real_value)
}
