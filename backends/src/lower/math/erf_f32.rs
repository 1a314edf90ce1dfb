//! erf in single precision, cheaply: two rational approximations and no
//! exponential, about a third of the work of the fdlibm scheme in `erf.rs` (which
//! f64 keeps). GELU's Erf form runs it on every hidden activation of a
//! transformer, where the fdlibm version cost a quarter of the model's time.
//!
//! - |x| < 0.9: erf x = x + x·P(x²)/Q(x²) (the correction `P/Q` is small, so its
//!   rounding errors shrink with it);
//! - 0.9 <= |x| <= 4: erfc |x| = R(|x|)/S(|x|), fitted for absolute error
//!   (<= 5e-8), and erf = 1 - erfc; past 4, erfc < 2e-8 and erf rounds to ±1.
//!
//! The coefficients are our own fits (linearised least squares, iterated, against
//! mpmath's erf/erfc; then rounded to f32 and checked in f32 arithmetic): erf is
//! within 3 ulps everywhere (the sweep in `tests.rs` checks it). `1 + erf x` on the
//! left is `erfc |x|` to an absolute 5e-8, not to a relative precision: GELU's
//! left tail, `x/2 · (1 + erf(x/√2))`, is then exact to ~1e-7 absolute.

use nnc_ir::kernel::{BinaryOp, CompareOp, Expr};

use super::FloatMath;

/// Below: the small-argument form; at and above: 1 - erfc.
pub(crate) const SPLIT: f64 = 0.9;
/// erfc is below half an ulp of 1 past this.
pub(crate) const SATURATION: f64 = 4.0;

/// erf x / x - 1 = P(z)/Q(z), z = x², on |x| < 0.9.
pub(crate) const SMALL_P: [f64; 4] = [
    0.128_379_166_126_251_22,
    -0.331_532_001_495_361_33,
    -0.013_123_076_409_101_486,
    -0.001_413_522_637_449_205,
];
pub(crate) const SMALL_Q: [f64; 3] = [1.0, 0.347_364_246_845_245_36, 0.036_554_504_185_914_99];

/// erfc a = R(a)/S(a) on 0.9 <= a <= 4.
pub(crate) const TAIL_R: [f64; 6] = [
    0.924_937_963_485_717_8,
    -1.251_154_541_969_299_3,
    0.681_111_633_777_618_4,
    -0.186_407_059_431_076_05,
    0.025_630_548_596_382_14,
    -0.001_415_507_867_932_319_6,
];
pub(crate) const TAIL_S: [f64; 7] = [
    1.0,
    -0.627_317_965_030_670_2,
    1.436_498_522_758_484,
    -1.297_084_808_349_609_4,
    1.012_077_569_961_547_9,
    -0.382_524_758_577_346_8,
    0.083_425_164_222_717_29,
];

/// The pieces both `erf` and `1 + erf` are made of.
struct Parts {
    /// |x| < SPLIT.
    small: Expr,
    /// erf |x| for |x| < SPLIT.
    erf_small: Expr,
    /// erfc |x| for |x| >= SPLIT (0 past the fit's range; NaN for NaN).
    erfc_tail: Expr,
}

impl FloatMath<'_> {
    fn erf_f32_parts(&mut self, a: &Expr) -> Parts {
        let small = a.clone().compare(CompareOp::Lt, self.c(SPLIT));
        let z = self.let_("erf_z", a.clone() * a.clone());
        // The tail's fit is evaluated at |x| lowered to the saturation (a NaN
        // stays NaN): the small lanes discard it, and past the saturation the
        // fit's value at 4, just below zero (-3.7e-8), is raised to the 0 that
        // erfc rounds to there. `4 < a ? 4 : a` is one `minps` on x86_64,
        // where testing `a > 4` apart cost a compare and a blend. (The wide
        // microkernels' GELU, `microkernel/activation.rs`, still masks those
        // lanes to 0: the same values.)
        let cap = self.c(SATURATION);
        let t = cap
            .clone()
            .compare(CompareOp::Lt, a.clone())
            .select(cap, a.clone());
        let t = self.let_("erf_t", t);
        // Each lane needs only one of the two quotients P/Q and R/S: selecting
        // numerator and denominator first costs one division instead of two
        // (the division is the slowest step), and gives each lane the same
        // quotient as dividing both.
        let numerator = Self::sel(
            small.clone(),
            self.poly(&z, &SMALL_P),
            self.poly(&t, &TAIL_R),
        );
        let denominator = Self::sel(
            small.clone(),
            self.poly(&z, &SMALL_Q),
            self.poly(&t, &TAIL_S),
        );
        let quotient = self.let_("erf_quotient", numerator / denominator);
        let erf_small = self.let_("erf_small", a.clone().fma(quotient.clone(), a.clone()));
        let tail = quotient;
        // The fit dips just below zero at its end; erfc does not. (A compare and
        // a select: `max` would also order -0 below +0, which costs x86_64 six
        // more instructions and cannot matter here.)
        let tail = tail
            .clone()
            .compare(CompareOp::Lt, self.c(0.0))
            .select(self.c(0.0), tail);
        let erfc_tail = self.let_("erfc_tail", tail);
        Parts {
            small,
            erf_small,
            erfc_tail,
        }
    }

    /// |x| and the sign bit of x (as integer bits), each one bitwise op: the
    /// IR's `abs` becomes three instructions on x86_64 (the mask is built in a
    /// register), an `and` with a constant one.
    fn erf_f32_abs(&mut self, x: &Expr) -> (Expr, Expr) {
        let (_, _, sign_mask) = self.layout();
        let magnitude = self
            .bits(x.clone())
            .binary(BinaryOp::And, self.ci(!sign_mask));
        let a = self.let_("erf_a", self.float_of_bits(magnitude));
        let sign = self
            .bits(x.clone())
            .binary(BinaryOp::Xor, self.bits(a.clone()));
        let sign = self.let_int("erf_sign", sign);
        (a, sign)
    }

    /// erf x for f32 values (scalars or vectors).
    pub(super) fn erf_f32(&mut self, x: Expr) -> Expr {
        let x = self.let_("erf_x", x);
        let (a, _) = self.erf_f32_abs(&x);
        let p = self.erf_f32_parts(&a);
        let large = self.c(1.0) - p.erfc_tail;
        let magnitude = Self::sel(p.small, p.erf_small, large);
        let v = self.copysign(magnitude, x);
        self.let_("erf", v)
    }

    /// 1 + erf x for f32 values; erfc |x| directly on the left.
    pub(super) fn one_plus_erf_f32(&mut self, x: Expr) -> Expr {
        let x = self.let_("erf_x", x);
        let (a, sign) = self.erf_f32_abs(&x);
        let p = self.erf_f32_parts(&a);
        let negative = x.compare(CompareOp::Lt, self.c(0.0));
        // Below the split, `x < 0 ? 1 - erf : 1 + erf` as `1 + erf` with the
        // sign of x (erf|x| >= 0; x - y is x + -y exactly): a bitwise xor and
        // an add instead of an add, a subtraction and a blend.
        let signed = self.float_of_bits(self.bits(p.erf_small).binary(BinaryOp::Xor, sign));
        let small = self.c(1.0) + signed;
        let large = Self::sel(negative, p.erfc_tail.clone(), self.c(2.0) - p.erfc_tail);
        let v = Self::sel(p.small, small, large);
        self.let_("one_plus_erf", v)
    }
}
