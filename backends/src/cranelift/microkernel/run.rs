//! Machine code of a depthwise tile whose rows of B lie end to end: a
//! zero-bordered plane (`lower::depthwise::padded`), row `r` of the tile reading
//! B from `r * b_row`, `b_row` at least the tile's `cols`, Y's rows contiguous
//! (`y_stride == cols`) and every row multiplied by the same weights (A's row
//! stride 0). Output `(r, c)` then reads B at position `p = r * b_row + c`
//! plus the tap's offset, whatever the row: the tile is one run of positions
//! `0..=(rows - 1) * b_row + cols - 1`, computed in whole zmm vectors with no
//! regard for row ends, the `b_row - cols` positions between two rows computed
//! and thrown away. A 25 x 5 plane padded to width 7 is 11 vectors per tap
//! where one masked vector per row is 25.
//!
//! Each vector finishes in registers (the epilogue: per-tile addends, clips,
//! activations), then `vcompressps` packs the lanes of real outputs to the
//! bottom of the register and a masked store writes them to Y, which they
//! fill in order (Y's rows are contiguous). Loads: per tap, the run's
//! vectors read from the tap's first position to its last (the last vector
//! masked, `{k1}`, masked-off lanes not read); the tile's expansion reads
//! those two positions for that tap, so everything between them lies in the
//! buffer too. The garbage lanes read padding or the next row's start.

use iced_x86::IcedError;
use iced_x86::code_asm::*;

use nnc_ir::Microkernel;
use nnc_ir::kernel::{ElemType, GemmTile, Kernel, TileStep};

use super::activation::{self, Pool};
use super::asm::{AVX512_ACCUMULATORS, AVX512_LANES, ZMM, disp, reduction_loops};
use super::{MAX_ADDENDS, ShapeStep, TileShape};

/// The AVX-512 shape of `tile` of `kernel` when the run form takes it: f32
/// operands, 1 to 3 non-empty reduction dims, addends of f32 with one value
/// for the whole tile, and what [`applies`] asks.
pub(super) fn shape_of(kernel: &Kernel, tile: &GemmTile) -> Option<TileShape> {
    let f32_buffer = |b: u32| kernel.buffers.get(b as usize).map(|b| b.elem) == Some(ElemType::F32);
    let fits = |elements: i64| {
        elements
            .checked_mul(4)
            .and_then(|b| i32::try_from(b).ok())
            .is_some()
    };
    let epilogue = tile
        .epilogue
        .iter()
        .map(|s| match s {
            TileStep::Add(e) => {
                (f32_buffer(e.buf.0) && e.row == 0 && e.col == 0).then_some(ShapeStep::Add {
                    row: 0,
                    col: 0,
                    block: e.block,
                })
            }
            TileStep::Clip { min, max } => Some(ShapeStep::Clip {
                min: min.map(f32::to_bits),
                max: max.map(f32::to_bits),
            }),
            TileStep::Map(m) => Some(ShapeStep::Map(m.func)),
        })
        .collect::<Option<Vec<_>>>()?;
    let eligible = tile.b_row != 0
        && [tile.a.buf.0, tile.b.buf.0, tile.y.buf.0]
            .into_iter()
            .all(f32_buffer)
        && tile.rows >= 1
        && tile.cols >= 1
        && (1..=3).contains(&tile.reduction.len())
        && tile
            .reduction
            .iter()
            .all(|d| d.count >= 1 && fits(d.a) && fits(d.b));
    let shape = TileShape::with_epilogue(Microkernel::Avx512, tile, epilogue);
    (eligible && shape.addends() <= MAX_ADDENDS && applies(&shape)).then_some(shape)
}

/// Positions of the run: the first row's origin to the last row's last column.
pub(super) fn positions(shape: &TileShape) -> i64 {
    (shape.rows as i64 - 1) * shape.b_row + shape.cols as i64
}

/// Whether the run form takes `shape` (an AVX-512 tile) and is the better
/// form for it: rows of B end to end, Y contiguous, one weight per step, no
/// accumulation, addends one value for the whole tile, the run's vectors in
/// the accumulators and fewer of them than the one-vector-per-row form's.
pub(super) fn applies(shape: &TileShape) -> bool {
    let vectors = (positions(shape).max(0) as usize).div_ceil(AVX512_LANES) as i64;
    let per_row = (shape.cols.div_ceil(AVX512_LANES) * shape.rows) as i64;
    shape.rows > 1
        && shape.b_row >= shape.cols as i64
        && shape.b_stride == 1
        && shape.a_stride == 0
        && shape.y_stride == shape.cols as i64
        && shape.blocks.count == 1
        && !shape.accumulate
        && vectors <= AVX512_ACCUMULATORS as i64
        && vectors < per_row
        && i32::try_from(positions(shape) * 4).is_ok()
        && shape.epilogue.iter().all(|s| match s {
            ShapeStep::Add { row, col, .. } => *row == 0 && *col == 0,
            ShapeStep::Clip { .. } | ShapeStep::Map(_) => true,
        })
}

/// Lanes of vector `v` that are outputs of the tile (bit `j`: position
/// `16 v + j`).
fn output_lanes(shape: &TileShape, v: usize) -> u32 {
    let end = positions(shape);
    (0..AVX512_LANES)
        .filter(|&j| {
            let p = (v * AVX512_LANES + j) as i64;
            p < end && p % shape.b_row < shape.cols as i64
        })
        .fold(0, |bits, j| bits | 1 << j)
}

/// The AVX-512F form: accumulator `v` (zmm`v`) holds positions `16 v ..`;
/// the A value in zmm28; k1 the last vector's loaded lanes, k5 / k6 a
/// vector's output lanes and its packed store.
pub(super) fn avx512(shape: &TileShape) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let end = positions(shape) as usize;
    let vectors = end.div_ceil(AVX512_LANES);
    let tail = end % AVX512_LANES;
    if shape.addends() > 1 {
        // The second addend arrives in r8, the outer reduction counter.
        a.mov(r11, r8)?;
    }
    if tail != 0 {
        a.mov(eax, (1u32 << tail) - 1)?;
        a.kmovw(k1, eax)?;
    }
    let acc = |v: usize| ZMM[v];
    let masked = |v: usize| tail != 0 && v == vectors - 1;
    for v in 0..vectors {
        a.vpxord(acc(v), acc(v), acc(v))?;
    }
    match shifted_taps(shape, vectors) {
        Some(taps) => shifted_loop(&mut a, shape, (vectors, taps))?,
        None => {
            let av = zmm28;
            reduction_loops(&mut a, shape, &mut |a| {
                a.vbroadcastss(av, dword_ptr(rdi))?;
                for v in 0..vectors {
                    let at = zmmword_ptr(rsi + disp((v * AVX512_LANES) as i64));
                    if masked(v) {
                        a.vfmadd231ps(acc(v).k1(), av, at)?;
                    } else {
                        a.vfmadd231ps(acc(v), av, at)?;
                    }
                }
                Ok(())
            })?;
        }
    }
    let mut pool = Pool::new(1);
    let addends = [rcx, r11];
    let mut addend = 0;
    for step in &shape.epilogue {
        match *step {
            ShapeStep::Add { .. } => {
                a.vbroadcastss(zmm26, dword_ptr(addends[addend]))?;
                addend += 1;
                for v in 0..vectors {
                    a.vaddps(acc(v), acc(v), zmm26)?;
                }
            }
            ShapeStep::Clip { min, max } => {
                // As in the GEMM tile: NaN passes, y < min picks min.
                for (bound, is_min) in [(min, true), (max, false)] {
                    let Some(bits) = bound else { continue };
                    a.mov(eax, bits)?;
                    a.vpbroadcastd(zmm24, eax)?;
                    for v in 0..vectors {
                        if is_min {
                            a.vmaxps(acc(v), zmm24, acc(v))?;
                        } else {
                            a.vminps(acc(v), zmm24, acc(v))?;
                        }
                    }
                }
            }
            ShapeStep::Map(f) => {
                for v in 0..vectors {
                    activation::zmm(&mut a, &mut pool, f, acc(v))?;
                }
            }
        }
    }
    let mut stored = 0i64;
    for v in 0..vectors {
        let lanes = output_lanes(shape, v);
        let count = lanes.count_ones();
        if count == 0 {
            continue;
        }
        let to = zmmword_ptr(rdx + disp(stored));
        if lanes != (1 << count) - 1 {
            a.mov(eax, lanes)?;
            a.kmovw(k5, eax)?;
            a.vcompressps(acc(v).k5().z(), acc(v))?;
        }
        if count as usize == AVX512_LANES {
            a.vmovups(to, acc(v))?;
        } else {
            a.mov(eax, (1u32 << count) - 1)?;
            a.kmovw(k6, eax)?;
            a.vmovups(to.k6(), acc(v))?;
        }
        stored += count as i64;
    }
    a.vzeroupper()?;
    a.ret()?;
    pool.emit(&mut a)?;
    a.assemble(0)
}

/// Most taps of the innermost reduction dim the shifted form keeps in
/// registers (their weights, beside 24 accumulators and 3 input vectors).
const MAX_SHIFTED_TAPS: usize = 5;

/// The taps of the innermost reduction dim when its steps are one element of
/// B (a kernel row's columns, undilated) and the shifted form takes them.
fn shifted_taps(shape: &TileShape, vectors: usize) -> Option<usize> {
    let inner = shape.reduction.last()?;
    (inner.b == 1
        && (2..=MAX_SHIFTED_TAPS).contains(&inner.count)
        && vectors <= AVX512_ACCUMULATORS)
        .then_some(inner.count)
}

/// The products when the innermost reduction dim steps B by one element
/// (`taps` of them): per step of the outer dims, each of B's vectors is
/// loaded once and the next tap's inputs are it shifted by one lane
/// (`valignd` with the following vector), where the memory-operand form
/// loads every tap's vectors, nearly all of them across two cache lines
/// (kws_dscnn's 3 x 3 taps on a padded width of 7: 33 loads a plane
/// instead of 99). The weights of the step's taps in zmm24.., the current
/// and next vectors in zmm29 / zmm30, a shifted one in zmm31. Loads stop at
/// the last position a tap of the step reads (masked: k1, k2).
fn shifted_loop(
    a: &mut CodeAssembler,
    shape: &TileShape,
    (vectors, taps): (usize, usize),
) -> Result<(), IcedError> {
    let dims = &shape.reduction;
    let inner = dims[dims.len() - 1];
    // The outer dims, or one step where the inner dim is the only one.
    let outer = TileShape {
        reduction: if dims.len() > 1 {
            dims[..dims.len() - 1].to_vec()
        } else {
            vec![nnc_ir::kernel::ReductionDim {
                count: 1,
                a: 0,
                b: 0,
            }]
        },
        ..shape.clone()
    };
    // Positions the step's taps read, from its first: the run and the last
    // tap's shift.
    let readable = positions(shape) as usize + taps - 1;
    let lanes_of = |u: usize| readable.saturating_sub(u * AVX512_LANES).min(AVX512_LANES);
    let masks = [k1, k2];
    let mut partial = 0;
    // Both the last vector and the one after it may be partial.
    for u in 0..=vectors {
        let lanes = lanes_of(u);
        if lanes > 0 && lanes < AVX512_LANES {
            a.mov(eax, (1u32 << lanes) - 1)?;
            a.kmovw(masks[partial], eax)?;
            partial += 1;
        }
    }
    let weights = |t: usize| ZMM[AVX512_ACCUMULATORS + t];
    let inputs = [zmm29, zmm30];
    let shifted = zmm31;
    reduction_loops(a, &outer, &mut |a| {
        for t in 0..taps {
            a.vbroadcastss(weights(t), dword_ptr(rdi + disp(t as i64 * inner.a)))?;
        }
        let mut partial = 0;
        let mut load = |a: &mut CodeAssembler, u: usize, to: AsmRegisterZmm| {
            let lanes = lanes_of(u);
            let at = zmmword_ptr(rsi + disp((u * AVX512_LANES) as i64));
            if lanes == AVX512_LANES {
                a.vmovups(to, at)
            } else if lanes > 0 {
                partial += 1;
                let to = if partial == 1 { to.k1() } else { to.k2() };
                a.vmovups(to.z(), at)
            } else {
                a.vpxord(to, to, to)
            }
        };
        load(a, 0, inputs[0])?;
        for v in 0..vectors {
            let (current, next) = (inputs[v % 2], inputs[(v + 1) % 2]);
            load(a, v + 1, next)?;
            a.vfmadd231ps(ZMM[v], weights(0), current)?;
            for t in 1..taps {
                a.valignd(shifted, next, current, t as i32)?;
                a.vfmadd231ps(ZMM[v], weights(t), shifted)?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::super::{ShapeStep, TileShape};
    use super::*;
    use nnc_ir::Microkernel;
    use nnc_ir::kernel::{ColumnBlocks, ReductionDim};

    fn plane(rows: usize, cols: usize, b_row: i64) -> TileShape {
        TileShape {
            level: Microkernel::Avx512,
            rows,
            cols,
            a_stride: 0,
            b_stride: 1,
            y_stride: cols as i64,
            b_row,
            reduction: vec![ReductionDim {
                count: 3,
                a: 1,
                b: 1,
            }],
            accumulate: false,
            blocks: ColumnBlocks::ONE,
            epilogue: vec![ShapeStep::Clip {
                min: Some(0),
                max: None,
            }],
        }
    }

    /// A 25 x 5 plane padded to width 7: 11 vectors, their output lanes
    /// the 125 outputs once each.
    #[test]
    fn output_lanes_cover_each_output_once() {
        let shape = plane(25, 5, 7);
        assert!(applies(&shape));
        let total: u32 = (0..11).map(|v| output_lanes(&shape, v).count_ones()).sum();
        assert_eq!(total, 125);
        // Positions 0..5, 7..12, 14 and 15.
        assert_eq!(output_lanes(&shape, 0), 0xCF9F);
    }

    /// One vector per row is as good where rows fill their vectors.
    #[test]
    fn wide_rows_keep_the_row_form() {
        assert!(!applies(&plane(8, 14, 16)));
        assert!(!applies(&plane(4, 16, 18)));
    }
}
