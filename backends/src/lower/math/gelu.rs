//! The exact GELU, `x/2 · (1 + erf(x/√2))`.
//!
//! f64 forms `1 + erf` from `erf.rs` (erfc on the left) and multiplies.
//!
//! f32 needs `1 + erf s` (s = x/√2) only to an absolute ~5e-8, not erf's
//! relative precision near 0 (there GELU is x/2 times a value near 1), so it
//! takes one rational fit of erfc over all of [0, 4] instead of `erf_f32`'s
//! two (a small-argument P/Q and a tail R/S, both evaluated in every lane, then
//! selected): GELU is `x · Φ(x)`, Φ(x) = `erfc|s| / 2` for x < 0 and
//! `1 - erfc|s| / 2` above. That is 14 FMAs and 24 vector operations
//! against ~34 (erf_f32 and the GELU around it), no split compare
//! and no numerator/denominator selects. At 128 bits the erf is bound by the
//! vector operations in flight, not by one port or by its latency (Zen 4,
//! measured on the standalone loop: removing the 13 instructions of the P/Q
//! branch took 22% off; cutting 12 cycles off the dependency chain, 3%), so
//! fewer operations is what makes it faster: Gelu 1x160x56x56 16.5 -> 12.5
//! cycles of the time-stamp counter per vector (`--cpu avx2,fma --kernels
//! portable`); convnext_atto's Conv+Gelu kernels 3-12% faster (the erf is
//! less of their time than of a standalone Gelu).
//!
//! The fit (our own: linearised least squares, iterated towards minimax
//! against Python's `math.erfc`, moved to the variable `u = |s| - 1` where
//! its coefficients cancel less, rounded to f32 and checked in f32 arithmetic):
//! erfc within 3e-8 absolute for |s| >= 1 and 1.5e-7 (~1 ulp of 1) below; GELU
//! within 1e-7 absolute or 2 ulps, whichever is larger (the sweep in
//! `tests.rs`; on the left, where erfc's own error shows, 7e-8 against the
//! two-fit form's 1.6e-7). Past |s| = 4 erfc is below 2e-8 and is taken as 0.
//! (A 6/7 fit, one FMA less, measured 6% faster standalone but only ~0.5% in
//! convnext_atto's Conv+Gelu tiles, with 8.8e-8 on the left: not taken.)
//!
//! The wide microkernels' GELU (`cranelift/microkernel/activation.rs`)
//! performs the same operations, so the two agree to the last bit.

use std::f64::consts::FRAC_1_SQRT_2;

use nnc_ir::kernel::{BinaryOp, CompareOp, Expr};

use super::FloatMath;

/// erfc |s| is taken as 0 past this.
pub(crate) const SATURATION: f64 = 4.0;
/// The fit's variable is `min(|s| - ERFC_SHIFT, SATURATION - ERFC_SHIFT)`.
pub(crate) const ERFC_SHIFT: f64 = 1.0;
/// erfc(u + 1) = R(u)/S(u) on -1 <= u <= 3.
pub(crate) const ERFC_R: [f64; 8] = [
    0.157_299_200_108_574_23,
    -0.362_762_511_317_129_7,
    0.362_386_789_684_270_35,
    -0.202_938_276_166_729_52,
    0.068_669_868_292_636_41,
    -0.014_008_028_443_220_24,
    0.001_590_769_381_877_936_5,
    -7.733_781_527_465_442e-5,
];
pub(crate) const ERFC_S: [f64; 8] = [
    1.0,
    0.332_773_519_455_011_3,
    0.543_013_872_973_310_8,
    0.144_328_603_565_024_75,
    0.117_019_452_966_635_03,
    0.023_087_977_921_439_14,
    0.010_877_736_313_531_61,
    0.000_988_171_651_508_378_6,
];

impl FloatMath<'_> {
    /// GELU (the erf form) of `x`, scalars or vectors of either precision.
    pub fn gelu(&mut self, x: Expr) -> Expr {
        if self.is_f64() {
            // ½x(1 + erf(x/√2)), with 1 + erf computed as erfc on the left tail.
            let e = self.one_plus_erf(x.clone() * self.c(FRAC_1_SQRT_2));
            return self.c(0.5) * x * e;
        }
        let x = self.let_("gelu_x", x);
        // The fit's variable u = |x|/√2 - 1 by one FMA from |x| (one bitwise
        // `and`; the IR's `abs` is three instructions on x86_64).
        let (_, _, sign_mask) = self.layout();
        let bits = self
            .bits(x.clone())
            .binary(BinaryOp::And, self.ci(!sign_mask));
        let magnitude = self.float_of_bits(bits);
        let u = magnitude.fma(self.c(FRAC_1_SQRT_2), self.c(-ERFC_SHIFT));
        let u = self.let_("gelu_u", u);
        // `3 < u` is false for NaN: a NaN goes through the fit and stays NaN.
        let cap = self.c(SATURATION - ERFC_SHIFT);
        let beyond = cap.clone().compare(CompareOp::Lt, u.clone());
        let t = self.let_("gelu_t", beyond.clone().select(cap, u));
        // erfc|s| / 2 = (R/2)/S: halving every coefficient of R halves each
        // Horner step exactly, so this is the erfc quotient halved, bit for
        // bit, and GELU is x · Φ(x) without a multiplication by 1/2.
        let halved = ERFC_R.map(|c| c / 2.0);
        let quotient = self.poly(&t, &halved) / self.poly(&t, &ERFC_S);
        let tail = beyond.select(self.c(0.0), quotient);
        let tail = self.let_("gelu_tail", tail);
        // Φ(x) = erfc|s|/2 on the left, 1 - erfc|s|/2 on the right. +inf: the
        // tail is 0 and inf · 1 is inf. (-inf gives -inf · 0 = NaN, as the
        // formula does in any precision.)
        let negative = x.clone().compare(CompareOp::Lt, self.c(0.0));
        let phi = Self::sel(negative, tail.clone(), self.c(1.0) - tail);
        x * phi
    }
}
