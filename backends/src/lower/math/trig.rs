//! Trigonometric functions: sin, cos, tan, atan, asin, acos.
//!
//! sin / cos / tan: x = j·π/2 + r with π/2 in three parts (Cody-Waite), so r is
//! accurate while |j| stays below 2^20 or so (|x| up to ~10^6); the quadrant
//! j mod 4 picks ±sin r or ±cos r, evaluated by minimax polynomials on [-π/4, π/4]
//! (Cephes' in f32, fdlibm's kernels in f64). Past that range the reduction loses
//! digits, as every reduction without a multi-word π does.
//!
//! atan: |x| is reduced to |t| <= tan(π/8) (f32) or 0.66 (f64) with
//! atan x = π/2 - atan(1/x) and atan x = π/4 + atan((x-1)/(x+1)); asin and acos are
//! atan of exact-as-possible ratios.

use std::f64::consts::{FRAC_PI_2, FRAC_PI_4};

use nnc_ir::kernel::{BinaryOp, CompareOp, Expr, UnaryOp};

use super::FloatMath;

const SIN_F32: [f64; 3] = [-1.6666654611e-1, 8.3321608736e-3, -1.9515295891e-4];
const COS_F32: [f64; 3] = [
    4.166664568298827e-2,
    -1.388731625493765e-3,
    2.443315711809948e-5,
];
const SIN_F64: [f64; 6] = [
    -1.66666666666666324348e-01,
    8.33333333332248946124e-03,
    -1.98412698298579493134e-04,
    2.75573137070700676789e-06,
    -2.50507602534068634195e-08,
    1.58969099521155010221e-10,
];
const COS_F64: [f64; 6] = [
    4.16666666666666019037e-02,
    -1.38888888888741095749e-03,
    2.48015872894767294178e-05,
    -2.75573143513906633035e-07,
    2.08757232129817482790e-09,
    -1.13596475577881948265e-11,
];

/// Cephes atan: numerator and denominator of atan(t) = t + t·z·P(z)/Q(z), z = t²,
/// for |t| <= 0.66 (coefficients highest power first in Cephes; here lowest first).
const ATAN_P: [f64; 5] = [
    -6.485021904942025371773e1,
    -1.228866684490136173410e2,
    -7.500855792314704667340e1,
    -1.615753718733365076637e1,
    -8.750608600031904122785e-1,
];
const ATAN_Q: [f64; 6] = [
    1.945506571482613964425e2,
    4.853903996359136964868e2,
    4.328810604912902668951e2,
    1.650270098316988542046e2,
    2.485846490142306297962e1,
    1.0,
];
/// Cephes atanf: atan(t) = t + t·z·P(z) for |t| <= tan(π/8).
const ATAN_F32: [f64; 4] = [
    -3.33329491539e-1,
    1.99777106478e-1,
    -1.38776856032e-1,
    8.05374449538e-2,
];
/// The low part of π/2 in f64 (π/2 = FRAC_PI_2 + MOREBITS).
const MOREBITS: f64 = 6.123233995736765886130e-17;

/// sin r and cos r on the reduced argument, and the quadrant.
struct Reduced {
    sin: Expr,
    cos: Expr,
    quadrant: Expr,
}

impl FloatMath<'_> {
    fn reduce_quadrant(&mut self, x: Expr) -> Reduced {
        let x = self.let_("trig_x", x);
        let (j, ji) = self.round_to_int("trig_j", x.clone() * self.c(2.0 / std::f64::consts::PI));
        let parts: [f64; 3] = if self.is_f64() {
            [
                1.57079632673412561417e+00,
                6.07710050630396597660e-11,
                2.02226624879595063154e-21,
            ]
        } else {
            [1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8]
        };
        let mut r = x;
        for part in parts {
            r = self.let_("trig_r", (-j.clone()).fma(self.c(part), r));
        }
        let z = self.let_("trig_z", r.clone() * r.clone());
        let (sin_c, cos_c): (&[f64], &[f64]) = if self.is_f64() {
            (&SIN_F64, &COS_F64)
        } else {
            (&SIN_F32, &COS_F32)
        };
        let sin = (r.clone() * z.clone()).fma(self.poly(&z, sin_c), r);
        let sin = self.let_("sin_r", sin);
        let cos = (z.clone() * z.clone()).fma(self.poly(&z, cos_c), self.c(1.0) - self.c(0.5) * z);
        let cos = self.let_("cos_r", cos);
        let quadrant = self.let_int("trig_q", ji.binary(BinaryOp::And, self.ci(3)));
        Reduced { sin, cos, quadrant }
    }

    fn quadrant_is(&self, quadrant: &Expr, bit: i64) -> Expr {
        quadrant
            .clone()
            .binary(BinaryOp::And, self.ci(bit))
            .compare(CompareOp::Ne, self.ci(0))
    }

    pub fn sin(&mut self, x: Expr) -> Expr {
        let Reduced { sin, cos, quadrant } = self.reduce_quadrant(x);
        let v = Self::sel(self.quadrant_is(&quadrant, 1), cos, sin);
        let v = self.let_("sin", v);
        let v = Self::sel(self.quadrant_is(&quadrant, 2), -v.clone(), v);
        self.let_("sin", v)
    }

    pub fn cos(&mut self, x: Expr) -> Expr {
        let Reduced { sin, cos, quadrant } = self.reduce_quadrant(x);
        // cos x = sin(x + π/2): the quadrant moves by one.
        let q = self.let_int("cos_q", quadrant + self.ci(1));
        let v = Self::sel(self.quadrant_is(&q, 1), cos, sin);
        let v = self.let_("cos", v);
        let v = Self::sel(self.quadrant_is(&q, 2), -v.clone(), v);
        self.let_("cos", v)
    }

    pub fn tan(&mut self, x: Expr) -> Expr {
        let Reduced { sin, cos, quadrant } = self.reduce_quadrant(x);
        let odd = self.quadrant_is(&quadrant, 1);
        let v = Self::sel(odd, -cos.clone() / sin.clone(), sin / cos);
        self.let_("tan", v)
    }

    pub fn atan(&mut self, x: Expr) -> Expr {
        let x = self.let_("atan_x", x);
        let a = self.let_("atan_a", self.abs(x.clone()));
        let (big_at, mid_at) = if self.is_f64() {
            (2.414213562373095, 0.66)
        } else {
            (2.414213562373095, 0.4142135623730950)
        };
        let big = a.clone().compare(CompareOp::Gt, self.c(big_at));
        let mid = a.clone().compare(CompareOp::Gt, self.c(mid_at));
        let t = Self::sel(
            big.clone(),
            self.c(-1.0) / a.clone(),
            Self::sel(
                mid.clone(),
                (a.clone() - self.c(1.0)) / (a.clone() + self.c(1.0)),
                a,
            ),
        );
        let t = self.let_("atan_t", t);
        let z = self.let_("atan_z", t.clone() * t.clone());
        let base = Self::sel(
            big.clone(),
            self.c(FRAC_PI_2),
            Self::sel(mid.clone(), self.c(FRAC_PI_4), self.c(0.0)),
        );
        let v = if self.is_f64() {
            let ratio = self.poly(&z, &ATAN_P) / self.poly(&z, &ATAN_Q);
            let extra = Self::sel(
                big,
                self.c(MOREBITS),
                Self::sel(mid, self.c(0.5 * MOREBITS), self.c(0.0)),
            );
            base + ((t.clone() * z).fma(ratio, t) + extra)
        } else {
            base + (t.clone() * z.clone()).fma(self.poly(&z, &ATAN_F32), t)
        };
        let v = self.copysign(v, x);
        self.let_("atan", v)
    }

    /// asin x = atan(x / √((1 - x)(1 + x))): ±π/2 at ±1, NaN past.
    pub fn asin(&mut self, x: Expr) -> Expr {
        let x = self.let_("asin_x", x);
        let d = ((self.c(1.0) - x.clone()) * (self.c(1.0) + x.clone())).unary(UnaryOp::Sqrt);
        self.atan(x / d)
    }

    /// acos x = 2·atan(√((1 - x)/(1 + x))): accurate near 1, π at -1.
    pub fn acos(&mut self, x: Expr) -> Expr {
        let x = self.let_("acos_x", x);
        let ratio = (self.c(1.0) - x.clone()) / (self.c(1.0) + x);
        let a = self.atan(ratio.unary(UnaryOp::Sqrt));
        self.let_("acos", a * self.c(2.0))
    }
}
