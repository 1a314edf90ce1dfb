//! The logarithm family: log, log1p and what is built on them (asinh, acosh,
//! atanh, softplus).
//!
//! Reduction: x = 2^e · m with m in [√½, √2) read from the bits (subnormals are
//! scaled up first); then ln m = 2·atanh(s) with s = (m - 1)/(m + 1), |s| < 0.172,
//! whose series 2s·(1 + s²/3 + s⁴/5 + ...) has exact coefficients and converges
//! fast (5 terms past the first in f32, 10 in f64).

use std::f64::consts::{LN_2, SQRT_2};

use nnc_ir::kernel::{BinaryOp, CompareOp, Expr, UnaryOp};

use super::FloatMath;

/// 1/(2k+1) for k = 1..=10.
const INV_ODD: [f64; 10] = [
    1.0 / 3.0,
    1.0 / 5.0,
    1.0 / 7.0,
    1.0 / 9.0,
    1.0 / 11.0,
    1.0 / 13.0,
    1.0 / 15.0,
    1.0 / 17.0,
    1.0 / 19.0,
    1.0 / 21.0,
];

impl FloatMath<'_> {
    /// ln x: -inf at ±0, NaN below 0 and for NaN, +inf at +inf.
    pub fn log(&mut self, x: Expr) -> Expr {
        let (mant, bias, _) = self.layout();
        let x = self.let_("log_x", x);
        // Subnormals: scale by 2^(mant+2) into the normal range first.
        let min_normal = self.pick(f32::MIN_POSITIVE as f64, f64::MIN_POSITIVE);
        let tiny = x.clone().compare(CompareOp::Lt, min_normal);
        let up = self.pick(2f64.powi(25), 2f64.powi(54));
        let xs = self.let_("log_xs", Self::sel(tiny.clone(), x.clone() * up, x.clone()));
        let adjust = Self::sel(tiny, self.ci(-(mant + 2)), self.ci(0));
        let bits = self.let_int("log_bits", self.bits(xs));
        let e = bits.clone().binary(BinaryOp::Shr, self.ci(mant)).binary(
            BinaryOp::And,
            self.ci(if self.is_f64() { 0x7ff } else { 0xff }),
        ) - self.ci(bias)
            + adjust;
        let e = self.let_int("log_e", e);
        let mant_mask = (1i64 << mant) - 1;
        let one_bits = bias << mant;
        let m = self.float_of_bits(
            bits.binary(BinaryOp::And, self.ci(mant_mask))
                .binary(BinaryOp::Or, self.ci(one_bits)),
        );
        let m = self.let_("log_m", m);
        let big = m.clone().compare(CompareOp::Gt, self.c(SQRT_2));
        let m = self.let_("log_m", Self::sel(big.clone(), m.clone() * self.c(0.5), m));
        let e = Self::sel(big, e.clone() + self.ci(1), e);
        let ef = self.let_("log_ef", e.convert(self.ty.elem));
        let s = self.let_("log_s", (m.clone() - self.c(1.0)) / (m + self.c(1.0)));
        let z = self.let_("log_z", s.clone() * s.clone());
        let terms = if self.is_f64() { 10 } else { 5 };
        let p = self.poly(&z, &INV_ODD[..terms]);
        let f = self.let_("log_f", s * self.c(2.0));
        let lnm = (f.clone() * z).fma(p, f);
        let ln2_hi = self.pick(0.693359375, 6.93147180369123816490e-01);
        let ln2_lo = self.pick(-2.12194440e-4, 1.90821492927058770002e-10);
        let r = ef.clone().fma(ln2_hi, ef.fma(ln2_lo, lnm));
        let r = Self::sel(
            x.clone().compare(CompareOp::Eq, self.c(f64::INFINITY)),
            self.c(f64::INFINITY),
            r,
        );
        let r = Self::sel(
            x.clone().compare(CompareOp::Eq, self.c(0.0)),
            self.c(f64::NEG_INFINITY),
            r,
        );
        let invalid = x
            .clone()
            .compare(CompareOp::Lt, self.c(0.0))
            .binary(BinaryOp::Or, self.is_nan(x));
        let r = Self::sel(invalid, self.nan(), r);
        self.let_("log", r)
    }

    /// ln(1 + x), accurate near 0: x · ln(u) / (u - 1) with u = 1 + x (Goldberg's
    /// correction for the rounding of u).
    pub fn log1p(&mut self, x: Expr) -> Expr {
        let x = self.let_("log1p_x", x);
        let u = self.let_("log1p_u", x.clone() + self.c(1.0));
        let lu = self.log(u.clone());
        let corrected = lu.clone() * (x.clone() / (u.clone() - self.c(1.0)));
        let exact_one = u.clone().compare(CompareOp::Eq, self.c(1.0));
        let r = Self::sel(exact_one, x, corrected);
        // u = +inf: ln(u) is already right (the quotient would be inf/inf).
        let r = Self::sel(u.compare(CompareOp::Eq, self.c(f64::INFINITY)), lu, r);
        self.let_("log1p", r)
    }

    /// The threshold past which x² + 1 is x² in the precision: then
    /// asinh / acosh are ln(2|x|).
    fn huge(&self) -> Expr {
        self.pick(4096.0, 268435456.0)
    }

    /// asinh x = sign(x) · log1p(a + a²/(1 + √(1 + a²))), a = |x|.
    pub fn asinh(&mut self, x: Expr) -> Expr {
        let x = self.let_("asinh_x", x);
        let a = self.let_("asinh_a", self.abs(x.clone()));
        let a2 = a.clone() * a.clone();
        let arg = a.clone() + a2.clone() / (self.c(1.0) + (self.c(1.0) + a2).unary(UnaryOp::Sqrt));
        let moderate = self.log1p(arg);
        let large = self.log(a.clone());
        let large = large + self.c(LN_2);
        let mag = Self::sel(a.compare(CompareOp::Gt, self.huge()), large, moderate);
        let v = self.copysign(mag, x);
        self.let_("asinh", v)
    }

    /// acosh x = log1p(t + √(t·(t + 2))), t = x - 1 (exact near 1); NaN below 1.
    pub fn acosh(&mut self, x: Expr) -> Expr {
        let x = self.let_("acosh_x", x);
        let t = self.let_("acosh_t", x.clone() - self.c(1.0));
        let root = (t.clone() * (t.clone() + self.c(2.0))).unary(UnaryOp::Sqrt);
        let moderate = self.log1p(t + root);
        let large = self.log(x.clone()) + self.c(LN_2);
        let v = Self::sel(
            x.clone().compare(CompareOp::Gt, self.huge()),
            large,
            moderate,
        );
        let v = Self::sel(x.compare(CompareOp::Lt, self.c(1.0)), self.nan(), v);
        self.let_("acosh", v)
    }

    /// atanh x = sign(x) · ½·log1p(2a/(1 - a)), a = |x|.
    pub fn atanh(&mut self, x: Expr) -> Expr {
        let x = self.let_("atanh_x", x);
        let a = self.let_("atanh_a", self.abs(x.clone()));
        let l = self.log1p(self.c(2.0) * a.clone() / (self.c(1.0) - a));
        let v = self.copysign(l * self.c(0.5), x);
        self.let_("atanh", v)
    }

    /// ln(1 + e^x) = max(x, 0) + log1p(e^-|x|): never overflows.
    pub fn softplus(&mut self, x: Expr) -> Expr {
        let x = self.let_("softplus_x", x);
        let e = self.exp(-self.abs(x.clone()));
        let l = self.log1p(e);
        self.let_("softplus", x.max(self.c(0.0)) + l)
    }
}
