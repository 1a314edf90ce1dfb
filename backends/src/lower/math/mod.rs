//! Transcendental functions written in kernel IR: range reduction, a polynomial
//! or rational approximation, and the special cases, built from the IR's own
//! instructions so that generated code never calls libm.
//!
//! Every function works on scalars and on vectors alike: a [`FloatMath`] is made
//! for one value type (`f32`, `f64`, `f32x4`, `f64x2`) and emits the same code
//! whatever the lane count. Branches are selects, so vectors need no masking.
//! Intermediate values are held in kernel variables (each `let_` is one
//! assignment), so a value used twice is computed once.
//!
//! f64 values get f64-accurate approximations (longer polynomials, wider
//! reductions), never an f32 computation in disguise. The error bounds measured
//! by the sweeps in `tests.rs` are listed there, per function and precision.

// Coefficients are quoted with the digits their sources publish.
#![allow(clippy::excessive_precision)]

mod erf;
pub(crate) mod erf_f32;
mod exp;
pub(crate) mod gelu;
mod log;
mod pow;
mod trig;

#[cfg(test)]
mod tests;

use nnc_ir::kernel::{BinaryOp, CompareOp, ElemType, Expr, KernelBuilder, Ty, UnaryOp};

/// Emits float math on values of one type (`F32` or `F64` elements, any lanes).
pub struct FloatMath<'a> {
    pub k: &'a mut KernelBuilder,
    ty: Ty,
}

impl<'a> FloatMath<'a> {
    /// `ty` must have `F32` or `F64` elements.
    pub fn new(k: &'a mut KernelBuilder, ty: Ty) -> Self {
        debug_assert!(matches!(ty.elem, ElemType::F32 | ElemType::F64));
        FloatMath { k, ty }
    }

    fn is_f64(&self) -> bool {
        self.ty.elem == ElemType::F64
    }

    /// `f32` or `f64` constant `value` in every lane; `pick(f32 value, f64 value)`
    /// for constants that differ by precision.
    pub fn c(&self, value: f64) -> Expr {
        Expr::float(value, self.ty.elem).splat(self.ty.lanes)
    }

    fn pick(&self, single: f64, double: f64) -> Expr {
        self.c(if self.is_f64() { double } else { single })
    }

    /// The integer type of the float's width (`I32` / `I64`), same lanes.
    fn int_ty(&self) -> Ty {
        let elem = if self.is_f64() {
            ElemType::I64
        } else {
            ElemType::I32
        };
        Ty::vector(elem, self.ty.lanes)
    }

    /// Integer constant of the float's width in every lane.
    fn ci(&self, value: i64) -> Expr {
        Expr::int(value, self.int_ty().elem).splat(self.ty.lanes)
    }

    fn bits(&self, x: Expr) -> Expr {
        x.bitcast(self.int_ty().elem)
    }

    fn float_of_bits(&self, b: Expr) -> Expr {
        b.bitcast(self.ty.elem)
    }

    /// Mantissa bits, exponent bias and sign mask of the float type.
    fn layout(&self) -> (i64, i64, i64) {
        if self.is_f64() {
            (52, 1023, i64::MIN)
        } else {
            (23, 127, i64::from(i32::MIN))
        }
    }

    /// Holds `value` (of the float type) in a new variable.
    pub fn let_(&mut self, name: &str, value: Expr) -> Expr {
        Expr::Var(self.k.let_var(name, self.ty, value))
    }

    /// Holds an integer `value` (of the float's width) in a new variable.
    fn let_int(&mut self, name: &str, value: Expr) -> Expr {
        let ty = self.int_ty();
        Expr::Var(self.k.let_var(name, ty, value))
    }

    /// `coeffs[0] + x * (coeffs[1] + x * (...))` by Horner's rule with FMAs.
    fn poly(&self, x: &Expr, coeffs: &[f64]) -> Expr {
        let (last, rest) = coeffs.split_last().expect("a polynomial has coefficients");
        rest.iter()
            .rev()
            .fold(self.c(*last), |acc, &c| acc.fma(x.clone(), self.c(c)))
    }

    /// `x` raised to `lo` where it is below, by a compare and a select. NaN
    /// passes through, as with the IR's `max`; but `max` also orders -0 below +0,
    /// which costs x86_64 about eight instructions per vector against two here.
    /// For bounds that are not zero the two agree exactly.
    fn at_least(&mut self, name: &str, x: Expr, lo: Expr) -> Expr {
        let x = self.let_(name, x);
        x.clone().compare(CompareOp::Lt, lo.clone()).select(lo, x)
    }

    /// `x` lowered to `hi` where it is above; see [`Self::at_least`].
    fn at_most(&mut self, name: &str, x: Expr, hi: Expr) -> Expr {
        let x = self.let_(name, x);
        x.clone().compare(CompareOp::Gt, hi.clone()).select(hi, x)
    }

    /// `x` clamped into `[lo, hi]` (nonzero bounds, `lo <= hi`); NaN stays NaN.
    fn clamp(&mut self, name: &str, x: Expr, lo: Expr, hi: Expr) -> Expr {
        let raised = self.at_least(name, x, lo);
        self.at_most(name, raised, hi)
    }

    /// `cond ? a : b` lane-wise.
    fn sel(cond: Expr, a: Expr, b: Expr) -> Expr {
        cond.select(a, b)
    }

    /// `|mag|` with the sign of `sign`.
    pub fn copysign(&self, mag: Expr, sign: Expr) -> Expr {
        let (_, _, sign_mask) = self.layout();
        let m = self.ci(sign_mask);
        let magnitude = self.bits(mag).binary(BinaryOp::And, self.ci(!sign_mask));
        let s = self.bits(sign).binary(BinaryOp::And, m);
        self.float_of_bits(magnitude.binary(BinaryOp::Or, s))
    }

    /// Whether the sign bit of `x` is set (for -0.0 and negative NaNs too).
    fn sign_bit(&self, x: Expr) -> Expr {
        let (_, _, sign_mask) = self.layout();
        self.bits(x)
            .binary(BinaryOp::And, self.ci(sign_mask))
            .compare(CompareOp::Ne, self.ci(0))
    }

    /// `x` is NaN.
    pub fn is_nan(&self, x: Expr) -> Expr {
        x.clone().compare(CompareOp::Ne, x)
    }

    pub fn nan(&self) -> Expr {
        self.c(f64::NAN)
    }

    pub fn abs(&self, x: Expr) -> Expr {
        x.unary(UnaryOp::Abs)
    }

    /// `2^n` for an integer `n` (of the float's width) in the normal range.
    fn pow2(&self, n: Expr) -> Expr {
        let (mant, bias, _) = self.layout();
        self.float_of_bits((n + self.ci(bias)).binary(BinaryOp::Shl, self.ci(mant)))
    }

    /// Rounds `x` (|x| < 2^(mantissa - 1)) to the nearest integer, ties to even,
    /// with the "magic number" addition: gives the rounded float and its integer.
    fn round_to_int(&mut self, name: &str, x: Expr) -> (Expr, Expr) {
        let magic = self.pick(12582912.0, 6755399441055744.0); // 1.5 * 2^mantissa
        let shifted = self.let_(name, x + magic.clone());
        let n = self.let_(name, shifted.clone() - magic.clone());
        let ni = self.let_int(name, self.bits(shifted) - self.bits(magic));
        (n, ni)
    }
}
