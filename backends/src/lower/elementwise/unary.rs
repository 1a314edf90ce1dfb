//! Unary ops: float functions through [`FloatMath`] (f16 computes in f32), the
//! exact integer ops, and logical Not.

use std::f64::consts::{FRAC_2_SQRT_PI, SQRT_2};

use nnc_ir::kernel::{BinaryOp, CompareOp, ElemType, Expr, KernelBuilder, Ty, UnaryOp};
use nnc_ir::ops::Unary;

use super::super::element_io::compute_elem;
use super::super::math::FloatMath;
use super::super::signature::Signature;
use super::super::{LowerCtx, LowerError};
use super::map;

pub(super) fn lower(
    ctx: &LowerCtx,
    k: &mut KernelBuilder,
    sig: &Signature,
    op: Unary,
) -> Result<(), LowerError> {
    let x = sig.input(ctx, 0)?;
    let y = sig.output(ctx, 0)?;
    let elem = x.elem();
    if !op.accepts(x.ty.dtype) {
        return Err(ctx.unsupported(format!("{} on {}", op.name(), x.ty.dtype)));
    }
    if elem == ElemType::Bool {
        return map(ctx, k, &[x], y, false, &mut |_, v, _| {
            v[0].clone().unary(UnaryOp::Not)
        });
    }
    if elem.is_float() {
        let ty_elem = compute_elem(elem);
        return map(ctx, k, &[x], y, true, &mut |k, v, lanes| {
            float_unary(k, op, v[0].clone(), Ty::vector(ty_elem, lanes))
        });
    }
    map(ctx, k, &[x], y, false, &mut |k, v, _| {
        integer_unary(k, op, v[0].clone(), elem)
    })
}

/// `op` on float values of type `ty` (F32 or F64 elements).
pub(crate) fn float_unary(k: &mut KernelBuilder, op: Unary, x: Expr, ty: Ty) -> Expr {
    let mut m = FloatMath::new(k, ty);
    let c = |v: f64| Expr::float(v, ty.elem).splat(ty.lanes);
    let zero = c(0.0);
    let lt0 = |x: &Expr| x.clone().compare(CompareOp::Lt, c(0.0));
    match op {
        Unary::Abs => m.abs(x),
        Unary::Neg => -x,
        Unary::Exp => m.exp(x),
        Unary::Log => m.log(x),
        Unary::Sqrt => x.unary(UnaryOp::Sqrt),
        Unary::Reciprocal => c(1.0) / x,
        Unary::Floor => x.unary(UnaryOp::Floor),
        Unary::Ceil => x.unary(UnaryOp::Ceil),
        Unary::Round => x.unary(UnaryOp::Round),
        Unary::Sign => x
            .clone()
            .compare(CompareOp::Gt, zero.clone())
            .select(c(1.0), lt0(&x).select(c(-1.0), x)),
        Unary::Sin => m.sin(x),
        Unary::Cos => m.cos(x),
        Unary::Tan => m.tan(x),
        Unary::Asin => m.asin(x),
        Unary::Acos => m.acos(x),
        Unary::Atan => m.atan(x),
        Unary::Sinh => m.sinh(x),
        Unary::Cosh => m.cosh(x),
        Unary::Asinh => m.asinh(x),
        Unary::Acosh => m.acosh(x),
        Unary::Atanh => m.atanh(x),
        Unary::Erf => m.erf(x),
        Unary::Relu => lt0(&x).select(zero, x),
        Unary::Sigmoid => m.sigmoid(x),
        Unary::Tanh => m.tanh(x),
        Unary::Softplus => m.softplus(x),
        Unary::Softsign => x.clone() / (c(1.0) + m.abs(x)),
        Unary::Mish => {
            let sp = m.softplus(x.clone());
            x * m.tanh(sp)
        }
        Unary::HardSwish => x.clone() * (x / c(6.0) + c(0.5)).max(zero).min(c(1.0)),
        Unary::LeakyRelu { alpha } => lt0(&x).select(c(f64::from(alpha)) * x.clone(), x),
        Unary::Elu { alpha } => {
            let e = m.expm1(x.clone());
            lt0(&x).select(c(f64::from(alpha)) * e, x)
        }
        Unary::Selu { alpha, gamma } => {
            let (alpha, gamma) = (f64::from(alpha), f64::from(gamma));
            let e = m.expm1(x.clone());
            x.clone()
                .compare(CompareOp::Gt, zero)
                .select(c(gamma) * x, c(gamma * alpha) * e)
        }
        Unary::Celu { alpha } => {
            let alpha = f64::from(alpha);
            let e = m.expm1(x.clone() / c(alpha));
            x.max(zero.clone()) + (c(alpha) * e).min(zero)
        }
        Unary::HardSigmoid { alpha, beta } => (c(f64::from(alpha)) * x + c(f64::from(beta)))
            .max(zero)
            .min(c(1.0)),
        Unary::ThresholdedRelu { alpha } => x
            .clone()
            .compare(CompareOp::Gt, c(f64::from(alpha)))
            .select(x, zero),
        Unary::Shrink { bias, lambd } => {
            let (bias, lambd) = (f64::from(bias), f64::from(lambd));
            x.clone().compare(CompareOp::Lt, c(-lambd)).select(
                x.clone() + c(bias),
                x.clone()
                    .compare(CompareOp::Gt, c(lambd))
                    .select(x - c(bias), zero),
            )
        }
        Unary::Gelu {
            tanh_approximation: false,
        } => m.gelu(x),
        Unary::Gelu {
            tanh_approximation: true,
        } => {
            // ½(1 + tanh u) = sigmoid(2u): no cancellation on the left tail.
            let x = m.let_("gelu_x", x);
            let inner = x.clone() + c(0.044715) * x.clone() * x.clone() * x.clone();
            let u = c(2.0 * (FRAC_2_SQRT_PI / SQRT_2)) * inner;
            x * m.sigmoid(u)
        }
        Unary::IsNaN => m.is_nan(x),
        Unary::IsInf {
            detect_negative,
            detect_positive,
        } => {
            let pos = x.clone().compare(CompareOp::Eq, c(f64::INFINITY));
            let neg = x.compare(CompareOp::Eq, c(f64::NEG_INFINITY));
            match (detect_positive, detect_negative) {
                (true, true) => pos.binary(BinaryOp::Or, neg),
                (true, false) => pos,
                (false, true) => neg,
                (false, false) => Expr::int(0, ElemType::Bool),
            }
        }
        Unary::Not | Unary::BitwiseNot => x.unary(UnaryOp::Not),
    }
}

/// `op` on integers of `elem`: exact (wrapping), or the real function through f64
/// truncated toward zero with saturation (Erf, Shrink), as the reference does.
fn integer_unary(k: &mut KernelBuilder, op: Unary, x: Expr, elem: ElemType) -> Expr {
    let int = |v: i64| Expr::int(v, elem);
    match op {
        Unary::Abs if elem.is_signed() => x
            .clone()
            .compare(CompareOp::Lt, int(0))
            .select(-x.clone(), x),
        Unary::Abs => x,
        Unary::Neg => -x,
        Unary::Sign if elem.is_signed() => x.clone().compare(CompareOp::Gt, int(0)).select(
            int(1),
            x.compare(CompareOp::Lt, int(0)).select(int(-1), int(0)),
        ),
        Unary::Sign => x.compare(CompareOp::Gt, int(0)).select(int(1), int(0)),
        Unary::BitwiseNot => x.unary(UnaryOp::Not),
        Unary::Relu => x.max(int(0)),
        _ => {
            let real = float_unary(k, op, x.convert(ElemType::F64), Ty::scalar(ElemType::F64));
            real.convert(elem)
        }
    }
}
