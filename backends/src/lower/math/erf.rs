//! The error function and its complement, after fdlibm's s_erf.c (the rational
//! minimax approximations and interval split are Sun's; the code is a branch-free
//! rewrite: every interval is evaluated and the lane picks its own).
//!
//! - |x| < 0.84375: erf x = x + x·P(x²)/Q(x²);
//! - 0.84375 <= |x| < 1.25: erf |x| = erx + P(s)/Q(s), s = |x| - 1;
//! - 1.25 <= |x| < 28: erfc |x| = e^(-z² - 0.5625) · e^((z-x)(z+x) + R(1/x²)/S(1/x²)) / x,
//!   with z = x rounded to half its mantissa so that z² is exact; R/S has one
//!   coefficient set below 1/0.35 and another above (selected per lane).
//!
//! This is the f64 version; f32 has a cheaper one of its own (`erf_f32.rs`).

use nnc_ir::kernel::{BinaryOp, CompareOp, Expr};

use super::FloatMath;

const ERX: f64 = 8.45062911510467529297e-01;
const PP: [f64; 5] = [
    1.28379167095512558561e-01,
    -3.25042107247001499370e-01,
    -2.84817495755985104766e-02,
    -5.77027029648944159157e-03,
    -2.37630166566501626084e-05,
];
const QQ: [f64; 6] = [
    1.0,
    3.97917223959155352819e-01,
    6.50222499887672944485e-02,
    5.08130628187576562776e-03,
    1.32494738004321644526e-04,
    -3.96022827877536812320e-06,
];
const PA: [f64; 7] = [
    -2.36211856075265944077e-03,
    4.14856118683748331666e-01,
    -3.72207876035701323847e-01,
    3.18346619901161753674e-01,
    -1.10894694282396677476e-01,
    3.54783043256182359371e-02,
    -2.16637559486879084300e-03,
];
const QA: [f64; 7] = [
    1.0,
    1.06420880400844228286e-01,
    5.40397917702171048937e-01,
    7.18286544141962662868e-02,
    1.26171219808761642112e-01,
    1.36370839120290507362e-02,
    1.19844998467991074170e-02,
];
const RA: [f64; 8] = [
    -9.86494403484714822705e-03,
    -6.93858572707181764372e-01,
    -1.05586262253232909814e+01,
    -6.23753324503260060396e+01,
    -1.62396669462573470355e+02,
    -1.84605092906711035994e+02,
    -8.12874355063065934246e+01,
    -9.81432934416914548592e+00,
];
const SA: [f64; 9] = [
    1.0,
    1.96512716674392571292e+01,
    1.37657754143519042600e+02,
    4.34565877475229228821e+02,
    6.45387271733267880336e+02,
    4.29008140027567833386e+02,
    1.08635005541779435134e+02,
    6.57024977031928170135e+00,
    -6.04244152148580987438e-02,
];
const RB: [f64; 8] = [
    -9.86494292470009928597e-03,
    -7.99283237680523006574e-01,
    -1.77579549177547519889e+01,
    -1.60636384855821916062e+02,
    -6.37566443368389627722e+02,
    -1.02509513161107724954e+03,
    -4.83519191608651397019e+02,
    0.0,
];
const SB: [f64; 9] = [
    1.0,
    3.03380607434824582924e+01,
    3.25792512996573918826e+02,
    1.53672958608443695994e+03,
    3.19985821950859553908e+03,
    2.55305040643316442583e+03,
    4.74528541206955367215e+02,
    -2.24409524465858183362e+01,
    0.0,
];

/// erf and erfc of a = |x| >= 0, each where it is accurate.
struct ErfParts {
    a: Expr,
    /// a < 0.84375.
    small: Expr,
    /// erf a for a < 0.84375.
    erf_small: Expr,
    /// erf a for 0.84375 <= a < 1.25.
    erf_mid: Expr,
    /// erfc a for 0.84375 <= a < 1.25.
    erfc_mid: Expr,
    /// erfc a for a >= 1.25 (0 past 28).
    erfc_tail: Expr,
}

impl FloatMath<'_> {
    /// Horner with per-lane coefficient sets: `cond ? a[i] : b[i]`.
    fn poly_choice(&self, x: &Expr, cond: &Expr, a: &[f64], b: &[f64]) -> Expr {
        let coeff = |i: usize| Self::sel(cond.clone(), self.c(a[i]), self.c(b[i]));
        (0..a.len() - 1)
            .rev()
            .fold(coeff(a.len() - 1), |acc, i| acc.fma(x.clone(), coeff(i)))
    }

    fn erf_parts(&mut self, x: Expr) -> ErfParts {
        let a = self.let_("erf_a", self.abs(x));
        let z = self.let_("erf_z", a.clone() * a.clone());
        let y = self.poly(&z, &PP) / self.poly(&z, &QQ);
        let erf_small = self.let_("erf_small", a.clone().fma(y, a.clone()));
        let s = self.let_("erf_s", a.clone() - self.c(1.0));
        let pq = self.let_("erf_pq", self.poly(&s, &PA) / self.poly(&s, &QA));
        let erf_mid = self.let_("erf_mid", self.c(ERX) + pq.clone());
        let erfc_mid = self.let_("erfc_mid", self.c(1.0 - ERX) - pq);
        // The tail, with a clamped to [1.25, 28] so that nothing overflows in lanes
        // that do not use it.
        let t = self.let_("erf_t", a.clone().max(self.c(1.25)).min(self.c(28.0)));
        let inv = self.let_("erf_inv", self.c(1.0) / (t.clone() * t.clone()));
        let first = t.clone().compare(CompareOp::Lt, self.c(1.0 / 0.35));
        let r = self.poly_choice(&inv, &first, &RA, &RB);
        let ss = self.poly_choice(&inv, &first, &SA, &SB);
        let rs = self.let_("erf_rs", r / ss);
        // z = t with the low half of the mantissa cleared: z² is exact.
        let mask = if self.is_f64() {
            -(1i64 << 32)
        } else {
            -(1i64 << 12)
        };
        let zt = self.let_(
            "erf_zt",
            self.float_of_bits(self.bits(t.clone()).binary(BinaryOp::And, self.ci(mask))),
        );
        let e1 = self.exp(-(zt.clone() * zt.clone()) - self.c(0.5625));
        let e2 = self.exp((zt.clone() - t.clone()) * (zt + t.clone()) + rs);
        let tail = e1 * e2 / t;
        let tail = Self::sel(
            a.clone().compare(CompareOp::Ge, self.c(28.0)),
            self.c(0.0),
            tail,
        );
        let erfc_tail = self.let_("erfc_tail", tail);
        let small = a.clone().compare(CompareOp::Lt, self.c(0.84375));
        ErfParts {
            a,
            small,
            erf_small,
            erf_mid,
            erfc_mid,
            erfc_tail,
        }
    }

    /// erf |x| for |x| >= 0.84375, from the mid or tail interval.
    fn erf_large(&self, p: &ErfParts) -> Expr {
        Self::sel(
            p.a.clone().compare(CompareOp::Lt, self.c(1.25)),
            p.erf_mid.clone(),
            self.c(1.0) - p.erfc_tail.clone(),
        )
    }

    /// erfc |x| for |x| >= 0.84375.
    fn erfc_large(&self, p: &ErfParts) -> Expr {
        Self::sel(
            p.a.clone().compare(CompareOp::Lt, self.c(1.25)),
            p.erfc_mid.clone(),
            p.erfc_tail.clone(),
        )
    }

    /// erf x: odd, ±1 at ±inf, NaN for NaN.
    pub fn erf(&mut self, x: Expr) -> Expr {
        if !self.is_f64() {
            return self.erf_f32(x);
        }
        let x = self.let_("erf_x", x);
        let p = self.erf_parts(x.clone());
        let mag = Self::sel(p.small.clone(), p.erf_small.clone(), self.erf_large(&p));
        // NaN: every comparison is false and the tail is NaN already.
        let v = self.copysign(mag, x);
        self.let_("erf", v)
    }

    /// 1 + erf x, accurate for negative x too (it is erfc |x| there): what GELU
    /// needs so that its left tail keeps its relative precision.
    pub fn one_plus_erf(&mut self, x: Expr) -> Expr {
        if !self.is_f64() {
            return self.one_plus_erf_f32(x);
        }
        let x = self.let_("erf_x", x);
        let p = self.erf_parts(x.clone());
        let negative = x.compare(CompareOp::Lt, self.c(0.0));
        let small_value = Self::sel(
            negative.clone(),
            self.c(1.0) - p.erf_small.clone(),
            self.c(1.0) + p.erf_small.clone(),
        );
        let large_value = Self::sel(
            negative,
            self.erfc_large(&p),
            self.c(2.0) - self.erfc_large(&p),
        );
        let v = Self::sel(p.small.clone(), small_value, large_value);
        self.let_("one_plus_erf", v)
    }
}
