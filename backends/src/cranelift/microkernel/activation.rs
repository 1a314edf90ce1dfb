//! Activations of a tile's epilogue ([`TileFn`]) in wide registers: the same
//! operations, in the same order and with the same f32 constants, as the
//! portable lowering's statements (`lower::elementwise::unary`'s Gelu over
//! `lower::math::erf_f32`), so that a microkernel stores what the tile's
//! expansion computes, to the last bit.
//!
//! Constants live in a pool after the function's code, read RIP-relative: one
//! dword each for AVX-512 (embedded broadcasts `{1to16}`), eight for AVX2
//! (whole ymm operands). Selects are masked moves (AVX-512, k2..k4) or
//! `vblendvps` (AVX2); compares are ordered, false on NaN, like the IR's.

use std::f64::consts::SQRT_2;

use iced_x86::IcedError;
use iced_x86::code_asm::*;
use nnc_ir::kernel::TileFn;

use crate::lower::math::erf_f32::{SATURATION, SMALL_P, SMALL_Q, SPLIT, TAIL_R, TAIL_S};

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

/// `x = f(x)` on a zmm register; zmm24..31 and k2..k4 are clobbered.
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

/// `x = f(x)` on a ymm register; ymm1..ymm11 are clobbered (`x` must be none
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

/// `x/2 * (1 + erf(x/sqrt 2))`, `1 + erf` as `one_plus_erf_f32` forms it:
/// `1 ± erf|s|` below the split, `erfc|s|` or `2 - erfc|s|` above.
fn gelu_zmm(a: &mut CodeAssembler, pool: &mut Pool, x: AsmRegisterZmm) -> Result<(), IcedError> {
    let [s, abs, z, t3, t4, t5, t6, zero] =
        [zmm24, zmm25, zmm26, zmm27, zmm28, zmm29, zmm30, zmm31];
    let c = |a: &mut CodeAssembler, pool: &mut Pool, v: f64| dword_bcst(pool.at(a, v));
    a.vpxord(zero, zero, zero)?;
    let m = c(a, pool, 1.0 / SQRT_2);
    a.vmulps(s, x, m)?;
    let m = dword_bcst(pool.bits(a, ABS_MASK));
    a.vpandd(abs, s, m)?;
    // k2: |s| < split (the small form); k3: s < 0.
    let m = c(a, pool, SPLIT);
    a.vcmpps(k2, abs, m, LT_OQ)?;
    a.vcmpps(k3, s, zero, LT_OQ)?;
    a.vmulps(z, abs, abs)?;
    // Horner with FMAs from the last coefficient, into `acc`.
    let poly = |a: &mut CodeAssembler,
                pool: &mut Pool,
                acc: AsmRegisterZmm,
                at: AsmRegisterZmm,
                k: &[f64]| {
        let (last, rest) = k.split_last().expect("coefficients");
        let m = dword_ptr(pool.at(a, *last));
        a.vbroadcastss(acc, m)?;
        for &coef in rest.iter().rev() {
            let m = c(a, pool, coef);
            a.vfmadd213ps(acc, at, m)?;
        }
        Ok::<(), IcedError>(())
    };
    poly(a, pool, t3, z, &SMALL_P)?;
    poly(a, pool, t4, abs, &TAIL_R)?;
    a.vmovaps(t4.k2(), t3)?; // numerator
    poly(a, pool, t3, z, &SMALL_Q)?;
    poly(a, pool, t5, abs, &TAIL_S)?;
    a.vmovaps(t5.k2(), t3)?; // denominator
    a.vdivps(t3, t4, t5)?; // quotient
    // erf|s| below the split: |s| * q + |s|.
    a.vmovaps(t4, t3)?;
    a.vfmadd213ps(t4, abs, abs)?;
    // erfc|s| above: q raised to 0 (max returns its second operand, q, when
    // q is NaN or both are zeros: `q < 0 ? 0 : q`), 0 past the saturation.
    a.vmaxps(t3, zero, t3)?;
    let m = c(a, pool, SATURATION);
    a.vcmpps(k4, abs, m, GT_OQ)?;
    a.vmovaps(t3.k4(), zero)?;
    // Below the split: s < 0 ? 1 - erf : 1 + erf.
    let one = pool.at(a, 1.0);
    a.vaddps(t6, t4, dword_bcst(one))?;
    a.vbroadcastss(t5, dword_ptr(one))?;
    a.vsubps(t5, t5, t4)?;
    a.vmovaps(t6.k3(), t5)?;
    // Above: s < 0 ? erfc : 2 - erfc.
    let m = dword_ptr(pool.at(a, 2.0));
    a.vbroadcastss(t5, m)?;
    a.vsubps(t5, t5, t3)?;
    a.vmovaps(t5.k3(), t3)?;
    a.vmovaps(t5.k2(), t6)?;
    let m = c(a, pool, 0.5);
    a.vmulps(x, x, m)?;
    a.vmulps(x, x, t5)
}

/// [`gelu_zmm`] in ymm registers, the masks in ymm9..11.
fn gelu_ymm(a: &mut CodeAssembler, pool: &mut Pool, x: AsmRegisterYmm) -> Result<(), IcedError> {
    let [zero, s, abs, z, t3, t4, t5, t6, small, negative, beyond] = [
        ymm1, ymm2, ymm3, ymm4, ymm5, ymm6, ymm7, ymm8, ymm9, ymm10, ymm11,
    ];
    let c = |a: &mut CodeAssembler, pool: &mut Pool, v: f64| ymmword_ptr(pool.at(a, v));
    a.vxorps(zero, zero, zero)?;
    let m = c(a, pool, 1.0 / SQRT_2);
    a.vmulps(s, x, m)?;
    let m = ymmword_ptr(pool.bits(a, ABS_MASK));
    a.vandps(abs, s, m)?;
    let m = c(a, pool, SPLIT);
    a.vcmpps(small, abs, m, LT_OQ)?;
    a.vcmpps(negative, s, zero, LT_OQ)?;
    a.vmulps(z, abs, abs)?;
    let poly = |a: &mut CodeAssembler,
                pool: &mut Pool,
                acc: AsmRegisterYmm,
                at: AsmRegisterYmm,
                k: &[f64]| {
        let (last, rest) = k.split_last().expect("coefficients");
        let m = c(a, pool, *last);
        a.vmovups(acc, m)?;
        for &coef in rest.iter().rev() {
            let m = c(a, pool, coef);
            a.vfmadd213ps(acc, at, m)?;
        }
        Ok::<(), IcedError>(())
    };
    poly(a, pool, t3, z, &SMALL_P)?;
    poly(a, pool, t4, abs, &TAIL_R)?;
    a.vblendvps(t4, t4, t3, small)?;
    poly(a, pool, t3, z, &SMALL_Q)?;
    poly(a, pool, t5, abs, &TAIL_S)?;
    a.vblendvps(t5, t5, t3, small)?;
    a.vdivps(t3, t4, t5)?;
    a.vmovaps(t4, t3)?;
    a.vfmadd213ps(t4, abs, abs)?;
    a.vmaxps(t3, zero, t3)?;
    let m = c(a, pool, SATURATION);
    a.vcmpps(beyond, abs, m, GT_OQ)?;
    a.vblendvps(t3, t3, zero, beyond)?;
    let m = c(a, pool, 1.0);
    a.vaddps(t6, t4, m)?;
    let m = c(a, pool, 1.0);
    a.vmovups(t5, m)?;
    a.vsubps(t5, t5, t4)?;
    a.vblendvps(t6, t6, t5, negative)?;
    let m = c(a, pool, 2.0);
    a.vmovups(t5, m)?;
    a.vsubps(t5, t5, t3)?;
    a.vblendvps(t5, t5, t3, negative)?;
    a.vblendvps(t5, t5, t6, small)?;
    let m = c(a, pool, 0.5);
    a.vmulps(x, x, m)?;
    a.vmulps(x, x, t5)
}
