//! Machine code of the tiles whose rows read their own B (`GemmTile::b_row`
//! non-zero): a depthwise convolution's block of output rows, row `r` reading
//! the input `r * b_row` elements further, every row multiplied by the same
//! weights. Same function signature, reduction loops and column tail as
//! [`super::asm`]; what differs is the step: no B vector serves two rows, so
//! each full B vector is the memory operand of its one FMA (no B registers,
//! and the loads cost no issue slot of their own), the masked tail vector
//! loaded first (`{k1}{z}`, `vmaskmovps`: masked-off lanes are not read). A is
//! broadcast once per step when its rows coincide (stride 0, the depthwise
//! case), once per row otherwise. B's columns are contiguous or two apart (a
//! stride-2 convolution): then each row's B vector is picked from two masked
//! loads as in [`super::asm`] (`vpermt2ps`; AVX2 `vshufps` + `vpermpd`), and
//! every load stays inside the elements the vector's columns span.

use iced_x86::IcedError;
use iced_x86::code_asm::*;

use super::TileShape;
use super::asm::{
    AVX2_LANES, AVX512_LANES, FULL_HIGH, LAST_PART, YMM, ZMM, avx2_masks, disp, pair_masks_avx512,
    reduction_loops, store_ymm, store_zmm,
};

/// The AVX-512F form: `rows x vectors` zmm accumulators (at most 24), the A
/// value in zmm28, a loaded B vector in zmm29; for columns two apart the high
/// half of a pair in zmm30 and the even-element indices in zmm31.
pub(super) fn avx512(shape: &TileShape) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let vectors = shape.cols.div_ceil(AVX512_LANES);
    let tail = shape.cols % AVX512_LANES;
    if tail != 0 {
        a.mov(eax, (1u32 << tail) - 1)?;
        a.kmovw(k1, eax)?;
    }
    let pairs = shape.b_stride == 2;
    let (av, loaded, high, indices) = (zmm28, zmm29, zmm30, zmm31);
    // Elements of B the pair of vector `v` spans.
    let span = |v: usize| {
        let cols = if tail != 0 && v == vectors - 1 {
            tail
        } else {
            AVX512_LANES
        };
        2 * cols - 1
    };
    if pairs {
        pair_masks_avx512(&mut a, span(vectors - 1))?;
        // Lane i picks element 2i of the pair.
        a.sub(rsp, 64)?;
        for lane in 0..AVX512_LANES {
            a.mov(dword_ptr(rsp + (lane * 4) as i32), (2 * lane) as i32)?;
        }
        a.vmovdqu32(indices, zmmword_ptr(rsp))?;
        a.add(rsp, 64)?;
    }
    let acc = |r: usize, v: usize| ZMM[r * vectors + v];
    let masked = |v: usize| tail != 0 && v == vectors - 1;
    let y_at =
        |r: usize, v: usize| rdx + disp(r as i64 * shape.y_stride + (v * AVX512_LANES) as i64);
    // B element `extra` after the first column of row `r`'s vector `v`.
    let b_at = |r: usize, v: usize, extra: usize| {
        let first = r as i64 * shape.b_row + (v * AVX512_LANES) as i64 * shape.b_stride;
        rsi + disp(first + extra as i64)
    };
    for r in 0..shape.rows {
        for v in 0..vectors {
            match (shape.accumulate, masked(v)) {
                (true, true) => a.vmovups(acc(r, v).k1().z(), zmmword_ptr(y_at(r, v)))?,
                (true, false) => a.vmovups(acc(r, v), zmmword_ptr(y_at(r, v)))?,
                (false, _) => a.vpxord(acc(r, v), acc(r, v), acc(r, v))?,
            }
        }
    }
    reduction_loops(&mut a, shape, &mut |a| {
        for r in 0..shape.rows {
            if r == 0 || shape.a_stride != 0 {
                a.vbroadcastss(av, dword_ptr(rdi + disp(r as i64 * shape.a_stride)))?;
            }
            for v in 0..vectors {
                let at = zmmword_ptr(b_at(r, v, 0));
                if pairs {
                    let span = span(v);
                    if span >= AVX512_LANES {
                        a.vmovups(loaded, at)?;
                    } else {
                        a.vmovups(loaded.k3().z(), at)?;
                    }
                    if span > AVX512_LANES {
                        let k = if span == 2 * AVX512_LANES - 1 {
                            high.k2()
                        } else {
                            high.k4()
                        };
                        let high_at = zmmword_ptr(b_at(r, v, AVX512_LANES));
                        a.vmovups(k.z(), high_at)?;
                        a.vpermt2ps(loaded, indices, high)?;
                    } else {
                        a.vpermt2ps(loaded, indices, loaded)?;
                    }
                    a.vfmadd231ps(acc(r, v), av, loaded)?;
                } else if masked(v) {
                    a.vmovups(loaded.k1().z(), at)?;
                    a.vfmadd231ps(acc(r, v), av, loaded)?;
                } else {
                    a.vfmadd231ps(acc(r, v), av, at)?;
                }
            }
        }
        Ok(())
    })?;
    store_zmm(&mut a, shape.rows, vectors, acc, y_at, masked)?;
    a.vzeroupper()?;
    a.ret()?;
    a.assemble(0)
}

/// The AVX2+FMA form: `rows x vectors` ymm accumulators (at most 12), the high
/// half of a pair in ymm12, a loaded B vector in ymm13, the A value in ymm14,
/// the tail mask in ymm15; the lane masks are built on the stack below a
/// lowered rsp (the pair masks stay there for the whole function).
pub(super) fn avx2(shape: &TileShape) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let vectors = shape.cols.div_ceil(AVX2_LANES);
    let tail = shape.cols % AVX2_LANES;
    let pairs = shape.b_stride == 2;
    let (high, loaded, av, mask) = (ymm12, ymm13, ymm14, ymm15);
    // Lanes `0..n` all ones, the others zero, at `[rsp + at]`.
    // Elements of B the pair of vector `v` spans.
    let span = |v: usize| {
        let cols = if tail != 0 && v == vectors - 1 {
            tail
        } else {
            AVX2_LANES
        };
        2 * cols - 1
    };
    avx2_masks(&mut a, pairs.then(|| span(vectors - 1)), tail, mask)?;
    let acc = |r: usize, v: usize| YMM[r * vectors + v];
    let masked = |v: usize| tail != 0 && v == vectors - 1;
    let y_at = |r: usize, v: usize| rdx + disp(r as i64 * shape.y_stride + (v * AVX2_LANES) as i64);
    // B element `extra` after the first column of row `r`'s vector `v`.
    let b_at = |r: usize, v: usize, extra: usize| {
        let first = r as i64 * shape.b_row + (v * AVX2_LANES) as i64 * shape.b_stride;
        rsi + disp(first + extra as i64)
    };
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
                let at = ymmword_ptr(b_at(r, v, 0));
                if pairs {
                    // Elements 0..16 of the pair in `loaded` (low) and `high`,
                    // masked to the span.
                    let span = span(v);
                    let part = ymmword_ptr(rsp + LAST_PART);
                    if span >= AVX2_LANES {
                        a.vmovups(loaded, at)?;
                    } else {
                        a.vmovdqu(high, part)?;
                        a.vmaskmovps(loaded, high, at)?;
                    }
                    if span > AVX2_LANES {
                        let high_mask = if span == 2 * AVX2_LANES - 1 {
                            ymmword_ptr(rsp + FULL_HIGH)
                        } else {
                            part
                        };
                        a.vmovdqu(high, high_mask)?;
                        a.vmaskmovps(high, high, ymmword_ptr(b_at(r, v, AVX2_LANES)))?;
                    } else {
                        a.vxorps(high, high, high)?;
                    }
                    // Per 128-bit half, elements 0, 2 of low then of high:
                    // quads (0 2)(8 10)(4 6)(12 14); vpermpd swaps the middle two.
                    a.vshufps(loaded, loaded, high, 0x88)?;
                    a.vpermpd(loaded, loaded, 0xD8)?;
                    a.vfmadd231ps(acc(r, v), av, loaded)?;
                } else if masked(v) {
                    a.vmaskmovps(loaded, mask, at)?;
                    a.vfmadd231ps(acc(r, v), av, loaded)?;
                } else {
                    a.vfmadd231ps(acc(r, v), av, at)?;
                }
            }
        }
        Ok(())
    })?;
    store_ymm(&mut a, (shape.rows, vectors), acc, y_at, (masked, mask))?;
    if pairs {
        a.add(rsp, 64)?;
    }
    a.vzeroupper()?;
    a.ret()?;
    a.assemble(0)
}
