//! Machine code of the tiles whose rows read their own B (`GemmTile::b_row`
//! non-zero): a depthwise convolution's block of output rows, row `r` reading
//! the input `r * b_row` elements further, every row multiplied by the same
//! weights. Same function signature, reduction loops and column tail as
//! [`super::asm`]; what differs is the step: no B vector serves two rows, so
//! each full B vector is the memory operand of its one FMA (no B registers,
//! and the loads cost no issue slot of their own), the masked tail vector
//! loaded first (`{k1}{z}`, `vmaskmovps`: masked-off lanes are not read). A is
//! broadcast once per step when its rows coincide (stride 0, the depthwise
//! case), once per row otherwise. B's columns are contiguous (the shape's
//! eligibility says so).

use iced_x86::IcedError;
use iced_x86::code_asm::*;

use super::TileShape;
use super::asm::{AVX2_LANES, AVX512_LANES, YMM, ZMM, disp, reduction_loops};

/// The AVX-512F form: `rows x vectors` zmm accumulators (at most 24), the A
/// value in zmm30, the tail vector of B in zmm31.
pub(super) fn avx512(shape: &TileShape) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let vectors = shape.cols.div_ceil(AVX512_LANES);
    let tail = shape.cols % AVX512_LANES;
    if tail != 0 {
        a.mov(eax, (1u32 << tail) - 1)?;
        a.kmovw(k1, eax)?;
    }
    let acc = |r: usize, v: usize| ZMM[r * vectors + v];
    let masked = |v: usize| tail != 0 && v == vectors - 1;
    let y_at =
        |r: usize, v: usize| rdx + disp(r as i64 * shape.y_stride + (v * AVX512_LANES) as i64);
    let b_at = |r: usize, v: usize| rsi + disp(r as i64 * shape.b_row + (v * AVX512_LANES) as i64);
    for r in 0..shape.rows {
        for v in 0..vectors {
            match (shape.accumulate, masked(v)) {
                (true, true) => a.vmovups(acc(r, v).k1().z(), zmmword_ptr(y_at(r, v)))?,
                (true, false) => a.vmovups(acc(r, v), zmmword_ptr(y_at(r, v)))?,
                (false, _) => a.vpxord(acc(r, v), acc(r, v), acc(r, v))?,
            }
        }
    }
    let (av, tail_b) = (zmm30, zmm31);
    reduction_loops(&mut a, shape, &mut |a| {
        for r in 0..shape.rows {
            if r == 0 || shape.a_stride != 0 {
                a.vbroadcastss(av, dword_ptr(rdi + disp(r as i64 * shape.a_stride)))?;
            }
            for v in 0..vectors {
                let at = zmmword_ptr(b_at(r, v));
                if masked(v) {
                    a.vmovups(tail_b.k1().z(), at)?;
                    a.vfmadd231ps(acc(r, v), av, tail_b)?;
                } else {
                    a.vfmadd231ps(acc(r, v), av, at)?;
                }
            }
        }
        Ok(())
    })?;
    for r in 0..shape.rows {
        for v in 0..vectors {
            let at = zmmword_ptr(y_at(r, v));
            if masked(v) {
                a.vmovups(at.k1(), acc(r, v))?;
            } else {
                a.vmovups(at, acc(r, v))?;
            }
        }
    }
    a.vzeroupper()?;
    a.ret()?;
    a.assemble(0)
}

/// The AVX2+FMA form: `rows x vectors` ymm accumulators (at most 12), the tail
/// vector of B in ymm13, the A value in ymm14, the tail mask in ymm15 (built on
/// the stack below a lowered rsp).
pub(super) fn avx2(shape: &TileShape) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let vectors = shape.cols.div_ceil(AVX2_LANES);
    let tail = shape.cols % AVX2_LANES;
    let (tail_b, av, mask) = (ymm13, ymm14, ymm15);
    if tail != 0 {
        a.sub(rsp, 32)?;
        for lane in 0..AVX2_LANES {
            let bits: i32 = if lane < tail { -1 } else { 0 };
            a.mov(dword_ptr(rsp + (lane * 4) as i32), bits)?;
        }
        a.vmovdqu(mask, ymmword_ptr(rsp))?;
        a.add(rsp, 32)?;
    }
    let acc = |r: usize, v: usize| YMM[r * vectors + v];
    let masked = |v: usize| tail != 0 && v == vectors - 1;
    let y_at = |r: usize, v: usize| rdx + disp(r as i64 * shape.y_stride + (v * AVX2_LANES) as i64);
    let b_at = |r: usize, v: usize| rsi + disp(r as i64 * shape.b_row + (v * AVX2_LANES) as i64);
    for r in 0..shape.rows {
        for v in 0..vectors {
            let at = ymmword_ptr(y_at(r, v));
            match (shape.accumulate, masked(v)) {
                (true, true) => a.vmaskmovps(acc(r, v), mask, at)?,
                (true, false) => a.vmovups(acc(r, v), at)?,
                (false, _) => a.vxorps(acc(r, v), acc(r, v), acc(r, v))?,
            }
        }
    }
    reduction_loops(&mut a, shape, &mut |a| {
        for r in 0..shape.rows {
            if r == 0 || shape.a_stride != 0 {
                a.vbroadcastss(av, dword_ptr(rdi + disp(r as i64 * shape.a_stride)))?;
            }
            for v in 0..vectors {
                let at = ymmword_ptr(b_at(r, v));
                if masked(v) {
                    a.vmaskmovps(tail_b, mask, at)?;
                    a.vfmadd231ps(acc(r, v), av, tail_b)?;
                } else {
                    a.vfmadd231ps(acc(r, v), av, at)?;
                }
            }
        }
        Ok(())
    })?;
    for r in 0..shape.rows {
        for v in 0..vectors {
            let at = ymmword_ptr(y_at(r, v));
            if masked(v) {
                a.vmaskmovps(at, mask, acc(r, v))?;
            } else {
                a.vmovups(at, acc(r, v))?;
            }
        }
    }
    a.vzeroupper()?;
    a.ret()?;
    a.assemble(0)
}
