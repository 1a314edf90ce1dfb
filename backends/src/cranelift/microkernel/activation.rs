//! Activations of a tile's epilogue ([`TileFn`]) in wide registers: the same
//! operations, in the same order and with the same f32 constants, as the
//! portable lowering's statements (`lower::math::gelu`'s f32 form), so that a
//! microkernel stores what the tile's expansion computes, to the last bit.
//!
//! Constants live in a pool after the function's code, read RIP-relative: one
//! dword each for AVX-512 (embedded broadcasts `{1to16}`), eight for AVX2
//! (whole ymm operands). Selects are masked moves (AVX-512, k2 and k3) or
//! `vblendvps` (AVX2); compares are ordered, false on NaN, like the IR's.

use std::f64::consts::SQRT_2;

use iced_x86::IcedError;
use iced_x86::code_asm::*;
use nnc_ir::kernel::TileFn;

use crate::lower::math::gelu::{ERFC_R, ERFC_S, ERFC_SHIFT, SATURATION};

/// `vcmpps` predicates: ordered less-than / greater-than, false on NaN.
const LT_OQ: i32 = 0x11;
const GT_OQ: i32 = 0x1E;

/// f32 constants of one function, each at a label of the pool.
pub(super) struct Pool {
    /// Dwords per entry: 1 (broadcast loads) or 8 (ymm operands).
    width: usize,
    entries: Vec<(u32, CodeLabel)>,
}

impl Pool {
    pub(super) fn new(width: usize) -> Self {
        Pool {
            width,
            entries: Vec::new(),
        }
    }

    /// The label of `value` (its f32 rounding), added on first use.
    fn at(&mut self, a: &mut CodeAssembler, value: f64) -> CodeLabel {
        self.bits(a, (value as f32).to_bits())
    }

    /// The label of the dword `bits`, added on first use.
    fn bits(&mut self, a: &mut CodeAssembler, bits: u32) -> CodeLabel {
        if let Some(&(_, label)) = self.entries.iter().find(|(b, _)| *b == bits) {
            return label;
        }
        let label = a.create_label();
        self.entries.push((bits, label));
        label
    }

    /// The constants, after the function's last instruction.
    pub(super) fn emit(self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        for (bits, mut label) in self.entries {
            a.set_label(&mut label)?;
            a.dd(&vec![bits; self.width])?;
        }
        Ok(())
    }
}

/// The bits of `|x|`: all but the sign.
const ABS_MASK: u32 = 0x7fff_ffff;

/// `x = f(x)` on a zmm register; zmm24..31 and k2, k3 are clobbered.
pub(super) fn zmm(
    a: &mut CodeAssembler,
    pool: &mut Pool,
    f: TileFn,
    x: AsmRegisterZmm,
) -> Result<(), IcedError> {
    match f {
        TileFn::Gelu => gelu_zmm(a, pool, x),
    }
}

/// `x = f(x)` on a ymm register; ymm1..ymm9 are clobbered (`x` must be none
/// of them).
pub(super) fn ymm(
    a: &mut CodeAssembler,
    pool: &mut Pool,
    f: TileFn,
    x: AsmRegisterYmm,
) -> Result<(), IcedError> {
    match f {
        TileFn::Gelu => gelu_ymm(a, pool, x),
    }
}

/// `x/2 * (1 + erf(x/sqrt 2))` as `FloatMath::gelu` forms it in f32, with
/// s = x/sqrt 2: erfc|s| / 2 = (R/2)(t)/S(t), t = min(|s| - 1, 3), 0 past
/// it; GELU is x * (x < 0 ? erfc|s|/2 : 1 - erfc|s|/2).
fn gelu_zmm(a: &mut CodeAssembler, pool: &mut Pool, x: AsmRegisterZmm) -> Result<(), IcedError> {
    let [abs, u, t, num, den, tmp, zero] = [zmm24, zmm25, zmm26, zmm27, zmm28, zmm29, zmm31];
    let c = |a: &mut CodeAssembler, pool: &mut Pool, v: f64| dword_bcst(pool.at(a, v));
    a.vpxord(zero, zero, zero)?;
    let m = dword_bcst(pool.bits(a, ABS_MASK));
    a.vpandd(abs, x, m)?;
    // u = |x| * (1/sqrt 2) - 1, one rounding.
    let m = dword_ptr(pool.at(a, 1.0 / SQRT_2));
    a.vbroadcastss(u, m)?;
    let m = c(a, pool, -ERFC_SHIFT);
    a.vfmadd213ps(u, abs, m)?;
    // k2: 3 < u (ordered: false on NaN), the saturated lanes.
    let cap = SATURATION - ERFC_SHIFT;
    let m = c(a, pool, cap);
    a.vcmpps(k2, u, m, GT_OQ)?;
    // t = 3 < u ? 3 : u: `minps` is `src1 < src2 ? src1 : src2`, its second
    // source (u) when either is NaN.
    let m = dword_ptr(pool.at(a, cap));
    a.vbroadcastss(t, m)?;
    a.vminps(t, t, u)?;
    // Horner with FMAs from the last coefficient, into `acc`.
    let poly = |a: &mut CodeAssembler, pool: &mut Pool, acc: AsmRegisterZmm, k: &[f64]| {
        let (last, rest) = k.split_last().expect("coefficients");
        let m = dword_ptr(pool.at(a, *last));
        a.vbroadcastss(acc, m)?;
        for &coef in rest.iter().rev() {
            let m = c(a, pool, coef);
            a.vfmadd213ps(acc, t, m)?;
        }
        Ok::<(), IcedError>(())
    };
    poly(a, pool, num, &ERFC_R.map(|c| c / 2.0))?;
    poly(a, pool, den, &ERFC_S)?;
    a.vdivps(num, num, den)?; // erfc |s| / 2
    a.vmovaps(num.k2(), zero)?;
    // k3: x < 0. Then x * (x < 0 ? erfc/2 : 1 - erfc/2).
    a.vcmpps(k3, x, zero, LT_OQ)?;
    let m = dword_ptr(pool.at(a, 1.0));
    a.vbroadcastss(tmp, m)?;
    a.vsubps(tmp, tmp, num)?;
    a.vmovaps(tmp.k3(), num)?;
    a.vmulps(x, x, tmp)
}

/// [`gelu_zmm`] in ymm registers, the masks in ymm8 and ymm9.
fn gelu_ymm(a: &mut CodeAssembler, pool: &mut Pool, x: AsmRegisterYmm) -> Result<(), IcedError> {
    let [zero, abs, u, t, num, den, tmp, beyond, negative] =
        [ymm1, ymm2, ymm3, ymm4, ymm5, ymm6, ymm7, ymm8, ymm9];
    let c = |a: &mut CodeAssembler, pool: &mut Pool, v: f64| ymmword_ptr(pool.at(a, v));
    a.vxorps(zero, zero, zero)?;
    let m = ymmword_ptr(pool.bits(a, ABS_MASK));
    a.vandps(abs, x, m)?;
    let m = c(a, pool, 1.0 / SQRT_2);
    a.vmovups(u, m)?;
    let m = c(a, pool, -ERFC_SHIFT);
    a.vfmadd213ps(u, abs, m)?;
    let cap = SATURATION - ERFC_SHIFT;
    let m = c(a, pool, cap);
    a.vcmpps(beyond, u, m, GT_OQ)?;
    let m = c(a, pool, cap);
    a.vmovups(t, m)?;
    a.vminps(t, t, u)?;
    let poly = |a: &mut CodeAssembler, pool: &mut Pool, acc: AsmRegisterYmm, k: &[f64]| {
        let (last, rest) = k.split_last().expect("coefficients");
        let m = c(a, pool, *last);
        a.vmovups(acc, m)?;
        for &coef in rest.iter().rev() {
            let m = c(a, pool, coef);
            a.vfmadd213ps(acc, t, m)?;
        }
        Ok::<(), IcedError>(())
    };
    poly(a, pool, num, &ERFC_R.map(|c| c / 2.0))?;
    poly(a, pool, den, &ERFC_S)?;
    a.vdivps(num, num, den)?;
    a.vblendvps(num, num, zero, beyond)?;
    a.vcmpps(negative, x, zero, LT_OQ)?;
    let m = c(a, pool, 1.0);
    a.vmovups(tmp, m)?;
    a.vsubps(tmp, tmp, num)?;
    a.vblendvps(tmp, tmp, num, negative)?;
    a.vmulps(x, x, tmp)
}
