//! The exponential family: exp, expm1 and what is built on them (sigmoid, tanh,
//! sinh, cosh).
//!
//! Reduction: x = n·ln2 + r with n = round(x / ln2) and |r| <= ln2/2, ln2 split in
//! two parts so that r is exact; then e^r - 1 = r + r²·P(r) with P the Taylor
//! polynomial (degree 7 in f32, 13 in f64: the truncation error is below a tenth of
//! an ulp on the interval). 2^n is built in the exponent bits, in two halves so
//! that results near overflow and in the subnormal range scale correctly.

use nnc_ir::kernel::{BinaryOp, CompareOp, Expr};

use super::FloatMath;

/// 1/k! for k = 2..=13: the Taylor coefficients of (e^r - 1 - r) / r².
const INV_FACTORIALS: [f64; 12] = [
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362880.0,
    1.0 / 3628800.0,
    1.0 / 39916800.0,
    1.0 / 479001600.0,
    1.0 / 6227020800.0,
];

/// The reduced exponential: e^x = (1 + q) · 2^n1 · 2^n2.
pub(super) struct ExpParts {
    /// e^r - 1 for the reduced argument.
    pub q: Expr,
    /// 2^n1 and 2^n2 with n1 + n2 = n, each a normal float.
    pub s1: Expr,
    pub s2: Expr,
    /// 2^-n2.
    pub inv_s2: Expr,
}

impl FloatMath<'_> {
    /// Splits e^x (x clamped to where e^x is finite-to-barely-overflowing and
    /// nonzero-to-barely-underflowing; NaN passes through in q).
    fn exp_parts(&mut self, x: Expr) -> ExpParts {
        // f32: e^89 > max, e^-104 < min subnormal / 2; f64: e^710, e^-746.
        let lo = self.pick(-104.0, -746.0);
        let hi = self.pick(89.0, 710.0);
        let x = self.clamp("exp_x", x, lo, hi);
        let x = self.let_("exp_x", x);
        let (n, ni) = self.round_to_int("exp_n", x.clone() * self.c(std::f64::consts::LOG2_E));
        // ln2 = hi + lo with hi's low bits zero, so n * hi is exact.
        let ln2_hi = self.pick(0.693359375, 6.93147180369123816490e-01);
        let ln2_lo = self.pick(-2.12194440e-4, 1.90821492927058770002e-10);
        let r = self.let_("exp_r", (-n.clone()).fma(ln2_hi, x));
        let r = self.let_("exp_r", (-n).fma(ln2_lo, r));
        let degree = if self.is_f64() { 13 } else { 7 };
        let p = self.poly(&r, &INV_FACTORIALS[..degree - 1]);
        let q = self.let_("exp_q", (r.clone() * r.clone()).fma(p, r));
        let n1 = self.let_int("exp_n1", ni.clone().binary(BinaryOp::Shr, self.ci(1)));
        let n2 = self.let_int("exp_n2", ni - n1.clone());
        let s1 = self.let_("exp_s1", self.pow2(n1));
        let s2 = self.let_("exp_s2", self.pow2(n2.clone()));
        let inv_s2 = self.let_("exp_inv_s2", self.pow2(self.ci(0) - n2));
        ExpParts { q, s1, s2, inv_s2 }
    }

    /// e^x. Overflows to +inf, underflows through the subnormals to 0.
    pub fn exp(&mut self, x: Expr) -> Expr {
        let ExpParts { q, s1, s2, .. } = self.exp_parts(x);
        let one_plus_q = q + self.c(1.0);
        self.let_("exp", one_plus_q * s1 * s2)
    }

    /// e^x - 1, accurate near 0.
    pub fn expm1(&mut self, x: Expr) -> Expr {
        // 2^n·q + 2^n - 1 = s2 · (s1·q + s1 - 2^-n2): no intermediate overflows, and
        // for n = 0 it is q exactly.
        let ExpParts { q, s1, s2, inv_s2 } = self.exp_parts(x);
        let inner = s1.clone().fma(q, s1 - inv_s2);
        self.let_("expm1", inner * s2)
    }

    /// 1 / (1 + e^-x), from e^-|x| so that neither side overflows.
    pub fn sigmoid(&mut self, x: Expr) -> Expr {
        let x = self.let_("sig_x", x);
        let e = self.exp(-self.abs(x.clone()));
        let s = self.let_("sig_s", self.c(1.0) / (self.c(1.0) + e.clone()));
        let v = Self::sel(x.compare(CompareOp::Ge, self.c(0.0)), s.clone(), e * s);
        self.let_("sigmoid", v)
    }

    /// tanh x = u / (u + 2) with u = e^(2x) - 1; |x| is clamped where tanh rounds
    /// to ±1 so that u stays finite.
    pub fn tanh(&mut self, x: Expr) -> Expr {
        let limit = self.pick(10.0, 20.0);
        let x = self.clamp("tanh_x", x, -limit.clone(), limit);
        let u = self.expm1(self.c(2.0) * x);
        self.let_("tanh", u.clone() / (u + self.c(2.0)))
    }

    /// sinh x: (u + u/(u+1)) / 2 with u = e^|x| - 1 (no cancellation near 0); for
    /// large |x|, (e^(|x|/2) / 2) · e^(|x|/2), which overflows only when sinh does.
    pub fn sinh(&mut self, x: Expr) -> Expr {
        let x = self.let_("sinh_x", x);
        let a = self.let_("sinh_a", self.abs(x.clone()));
        let u = self.expm1(a.clone());
        let small = (u.clone() + u.clone() / (u + self.c(1.0))) * self.c(0.5);
        let h = self.exp(a.clone() * self.c(0.5));
        let large = h.clone() * self.c(0.5) * h;
        let mag = Self::sel(a.compare(CompareOp::Lt, self.c(22.0)), small, large);
        let v = self.copysign(mag, x);
        self.let_("sinh", v)
    }

    /// cosh x = h²/2 + 1/(2h²) with h = e^(|x|/2): no cancellation, no early
    /// overflow.
    pub fn cosh(&mut self, x: Expr) -> Expr {
        let h = self.exp(self.abs(x) * self.c(0.5));
        // (h/2)·h: no overflow before cosh itself overflows.
        let half = self.let_("cosh_half", h.clone() * self.c(0.5));
        let v = half.clone() * h.clone() + self.c(0.25) / half / h;
        self.let_("cosh", v)
    }
}
