//! f32 2-D convolutions as GEMM tile statements, for targets whose tiles become
//! wide microkernels (`lower::gemm_tiles`).
//!
//! Per image, group and output row, `Y[m, ow] = sum over (kh, kw, c) of
//! W[m, c, kh, kw] * X[c, ih(kh), ow + kw * dilation - pad]`: A is the weight,
//! B an input row shifted by the tap, and the reduction's three dims (input
//! channels, kernel rows, kernel columns: the weights' own order, so that
//! consecutive steps read consecutive weights) are the tile statement's. Which kernel rows and columns read
//! inside the image is static per output row and column segment, so the border
//! rows are emitted one by one with their own row range, the interior rows as one
//! loop; columns as in `tiled`: the interior segment, then each border column.
//! A stride along the row makes B's columns strided: the AVX-512 tile gathers
//! them (up to [`gemm_tiles::MAX_GATHER_STRIDE`]), AVX2 takes strides 1 and 2.
//!
//! Narrow output rows (ResNet's 14- and 7-pixel layers) would leave most lanes
//! and accumulators of a tile idle: there the interior rows go two or three to
//! a tile, as column blocks of one tile statement (`ColumnBlocks`; the count
//! from [`gemm_tiles::blocks_for`]), so each weight broadcast feeds every row's
//! vectors.
//!
//! A stem's few input channels make each kernel column's product short: there
//! the split by kernel column is weighed against the column segments
//! (`split_pays`), and a row with few border columns takes the segments.
//!
//! The bias and fused steps ride in the tiles that finish the outputs when
//! they can carry them: every tile of a column segment's product (it has the
//! whole reduction); in a row split by kernel column, the tiles of the last
//! kernel column's product. A second kernel column reaching every output goes
//! last when there is one, so that no column is left over; otherwise the
//! columns the last one misses get a pass over Y.

use nnc_ir::Microkernel;
use nnc_ir::kernel::{ColumnBlocks, ElemType, Expr, KernelBuilder, ReductionDim};

use super::super::gemm::{self, A_BLOCK_BYTES};
use super::super::gemm_tiles::{self, TileSteps};
use super::{Convolution, for_channel_chunks, strides};

impl Convolution<'_> {
    /// Whether the wide tile form applies: f32, two spatial dims, a row stride
    /// the level's microkernel reads.
    pub(super) fn wide_applies(&self, level: Microkernel) -> bool {
        level != Microkernel::Portable
            && self.x.elem() == ElemType::F32
            && self.rank() == 2
            && gemm_tiles::reads_columns_apart(level, self.geo.strides[1])
    }

    /// The kernel rows `[first, end)` of output row `oh` that read inside the
    /// image (a contiguous range; empty as `(0, 0)`).
    fn rows_inside(&self, oh: i64) -> (i64, i64) {
        let in_h = self.x.shape()[2] as i64;
        let (stride, dil, pad) = (self.geo.strides[0], self.geo.dilations[0], self.geo.pads[0]);
        let inside: Vec<i64> = (0..self.geo.kernel[0] as i64)
            .filter(|kh| (0..in_h).contains(&(oh * stride + kh * dil - pad)))
            .collect();
        match (inside.first(), inside.last()) {
            (Some(&a), Some(&b)) => (a, b + 1),
            _ => (0, 0),
        }
    }

    /// Output channel blocks (weights in L2) x output rows (border rows one by
    /// one, the interior in a loop) x column segments, each a tiled product.
    pub(super) fn emit_tiled_wide(
        &self,
        k: &mut KernelBuilder,
        level: Microkernel,
        (lo, hi): (i64, i64),
    ) {
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (c, m) = (xshape[1], yshape[1]);
        let (cg, mg) = (c / self.group, m / self.group);
        let (xs, ys, ws) = (strides(xshape), strides(yshape), strides(self.w.shape()));
        let (out_h, out_w, in_w) = (yshape[2] as i64, yshape[3] as i64, xshape[3] as i64);
        let (kernel_h, kernel_w) = (self.geo.kernel[0] as i64, self.geo.kernel[1] as i64);
        let (stride_h, dil_h, pad_h) =
            (self.geo.strides[0], self.geo.dilations[0], self.geo.pads[0]);
        let (stride_w, dil_w, pad_w) =
            (self.geo.strides[1], self.geo.dilations[1], self.geo.pads[1]);
        // Output rows whose every kernel row is inside: a contiguous range.
        let full: Vec<i64> = (0..out_h)
            .filter(|&oh| self.rows_inside(oh) == (0, kernel_h))
            .collect();
        let (row_lo, row_hi) = match (full.first(), full.last()) {
            (Some(&a), Some(&b)) => (a, b + 1),
            _ => (0, 0),
        };
        // Column segments with their kernel columns inside: the interior, then
        // each border column alone.
        let segments: Vec<(i64, i64, i64, i64)> = std::iter::once((lo, hi))
            .chain((0..lo).chain(hi..out_w).map(|ow| (ow, ow + 1)))
            .map(|(c0, c1)| {
                let taps: Vec<i64> = (0..kernel_w)
                    .filter(|&kw| {
                        c0 * stride_w + kw * dil_w - pad_w >= 0
                            && (c1 - 1) * stride_w + kw * dil_w - pad_w < in_w
                    })
                    .collect();
                match (taps.first(), taps.last()) {
                    (Some(&a), Some(&b)) => (c0, c1, a, b + 1),
                    _ => (c0, c1, 0, 0),
                }
            })
            .collect();
        // Per kernel column, the output columns `[c0, c1)` it reaches, the one
        // reaching all of them first; None when no column reaches all (the
        // products could not start by overwriting), or when the interior
        // segment alone covers the row (no border columns to split off).
        let reach = |kw: i64| {
            let shift = kw * dil_w - pad_w;
            let c0 = (((-shift).max(0) + stride_w - 1) / stride_w).min(out_w);
            let c1 = ((in_w - 1 - shift).div_euclid(stride_w) + 1).clamp(c0, out_w);
            (kw, c0, c1)
        };
        let mut taps: Vec<(i64, i64, i64)> = (0..kernel_w)
            .map(reach)
            .filter(|&(_, c0, c1)| c0 < c1)
            .collect();
        let by_tap = taps
            .iter()
            .position(|&(_, c0, c1)| c0 == 0 && c1 == out_w)
            .filter(|_| segments.len() > 1)
            .filter(|_| {
                let per_tap = cg * kernel_h as usize;
                per_tap > SHORT_TAP || split_pays(level, per_tap, &segments, &taps)
            })
            .map(|all| {
                let first = taps.remove(all);
                taps.insert(0, first);
                taps
            });
        let lanes = self.lanes;
        // Interior output rows taken `count` at a time by each tile: narrow rows
        // alone would leave most of the vector registers idle.
        let count = gemm_tiles::blocks_for(level, out_w as usize, stride_w) as i64;
        let row_blocks = ColumnBlocks {
            count: count as usize,
            b: stride_h * xs[2],
            y: ys[2],
        };
        // Output channels per block (whole tiles): their weights stay in L2
        // while every output row passes by.
        let tile_rows = gemm_tiles::tile_rows(level, out_w as usize, stride_w, count as usize);
        let chunk = (A_BLOCK_BYTES / (4 * ws[0].max(1) as usize)) / tile_rows * tile_rows;
        let chunk = chunk.max(tile_rows).min(mg.max(1));
        // The activations the tiles carry, their statements shared by all.
        let maps = self.fusion.tile_maps(k, self.lanes);
        k.for_range("n", 0, xshape[0] as i64, 1, |k, image| {
            k.for_range("g", 0, self.group as i64, 1, |k, g| {
                let x_chans = image.clone() * xs[0] + g.clone() * (cg as i64 * xs[1]);
                // Output rows `oh..oh + blocks.count`, with kernel rows `[kh0, kh1)`.
                let row = |k: &mut KernelBuilder,
                           first: &Expr,
                           rows: usize,
                           oh: Expr,
                           (kh0, kh1): (i64, i64),
                           blocks: ColumnBlocks| {
                    let y_row = image.clone() * ys[0] + first.clone() * ys[1] + oh.clone() * ys[2];
                    let ih0 = oh * stride_h + (kh0 * dil_h - pad_h);
                    // The finished tile's steps for the product over output
                    // columns from `c0`, when the tiles can carry them all.
                    let in_tile = |c0: i64, i: Expr, j: Expr| {
                        let at = y_row.clone() + c0 + i.clone() * ys[1] + j;
                        self.tile_finish(&maps, first.clone() + i, at, (ys[1], blocks.y))
                    };
                    let carried = in_tile(0, Expr::index(0), Expr::index(0)).is_some();
                    // Output columns `[c0, c1)` of the row from kernel column `tap`
                    // on (the reduction adds the rest), stored as accumulated.
                    let columns = |tap: i64, c0: i64, c1: i64| gemm::Product {
                        m: rows,
                        n: (c1 - c0) as usize,
                        reduction: gemm::Reduction::Dense(0),
                        a: gemm::Matrix {
                            buf: self.w.buf,
                            offset: first.clone() * ws[0] + (kh0 * ws[2] + tap),
                            row: ws[0],
                            col: 0,
                        },
                        b: gemm::Matrix {
                            buf: self.x.buf,
                            offset: x_chans.clone()
                                + ih0.clone() * xs[2]
                                + (c0 * stride_w - pad_w + tap * dil_w),
                            row: 0,
                            col: stride_w,
                        },
                        y: gemm::Matrix {
                            buf: self.y.buf,
                            offset: y_row.clone() + c0,
                            row: ys[1],
                            col: 1,
                        },
                        epilogue: &store_as_accumulated,
                        long_epilogue: true,
                    };
                    if let Some(order) = &by_tap
                        && kh1 > kh0
                    {
                        // One product per kernel column over the output columns it
                        // reaches: the one reaching all of them overwrites, the
                        // others add; the last finishes the row (below).
                        // Channels outside, kernel rows inside: consecutive steps
                        // read nearby weights (a channel's taps are contiguous).
                        let reduction = [
                            ReductionDim {
                                count: cg,
                                a: ws[1],
                                b: xs[1],
                            },
                            ReductionDim {
                                count: (kh1 - kh0) as usize,
                                a: ws[2],
                                b: dil_h * xs[2],
                            },
                        ];
                        // The last kernel column's product finishes the
                        // columns it reaches (every other product has added
                        // to them): its tiles carry the epilogue when they can;
                        // only the columns it does not reach get the pass.
                        let mut order = order.clone();
                        let all = |&(_, c0, c1): &(i64, i64, i64)| c0 == 0 && c1 == out_w;
                        if carried && let Some(p) = order.iter().skip(1).position(all) {
                            let tap = order.remove(p + 1);
                            order.push(tap);
                        }
                        let last = order.len() - 1;
                        for (n, &(kw, c0, c1)) in order.iter().enumerate() {
                            let product = columns(kw, c0, c1);
                            let steps = |i, j| in_tile(c0, i, j).unwrap_or_default();
                            let steps = (n == last && carried).then_some(&steps as TileSteps);
                            gemm_tiles::emit_into(
                                k,
                                &product,
                                &reduction,
                                level,
                                lanes,
                                n > 0,
                                blocks,
                                steps,
                            );
                        }
                        let (_, done0, done1) = order[last];
                        let unfinished = if carried {
                            vec![(0, done0), (done1, out_w)]
                        } else {
                            vec![(0, out_w)]
                        };
                        let epilogue =
                            |k: &mut KernelBuilder, acc: Expr, i: Expr, j: Expr, lanes| {
                                let at = y_row.clone() + i.clone() * ys[1] + j;
                                self.finish(k, acc, first.clone() + i, at, lanes)
                            };
                        if !gemm_tiles::is_identity(&epilogue, lanes) {
                            let whole = gemm::Product {
                                m: rows,
                                n: out_w as usize,
                                reduction: gemm::Reduction::Dense(0),
                                a: gemm::Matrix::row_major(self.w.buf, Expr::index(0), 0),
                                b: gemm::Matrix::row_major(self.x.buf, Expr::index(0), 0),
                                y: gemm::Matrix {
                                    buf: self.y.buf,
                                    offset: y_row.clone(),
                                    row: ys[1],
                                    col: 1,
                                },
                                epilogue: &epilogue,
                                long_epilogue: true,
                            };
                            for q in 0..blocks.count as i64 {
                                for &(j0, j1) in unfinished.iter().filter(|(a, b)| a < b) {
                                    gemm_tiles::finish(
                                        k,
                                        &whole,
                                        Expr::index(0),
                                        Expr::index(q * blocks.y + j0),
                                        rows,
                                        (j1 - j0) as usize,
                                        lanes,
                                    );
                                }
                            }
                        }
                        return;
                    }
                    for &(c0, c1, t0, t1) in &segments {
                        // Channels outside, the taps inside: consecutive steps
                        // read consecutive weights.
                        let reduction = [
                            ReductionDim {
                                count: cg,
                                a: ws[1],
                                b: xs[1],
                            },
                            ReductionDim {
                                count: (kh1 - kh0) as usize,
                                a: ws[2],
                                b: dil_h * xs[2],
                            },
                            ReductionDim {
                                count: (t1 - t0) as usize,
                                a: 1,
                                b: dil_w,
                            },
                        ];
                        let y_origin = y_row.clone() + c0;
                        let epilogue =
                            |k: &mut KernelBuilder, acc: Expr, i: Expr, j: Expr, lanes| {
                                let at = y_origin.clone() + i.clone() * ys[1] + j;
                                self.finish(k, acc, first.clone() + i, at, lanes)
                            };
                        let product = gemm::Product {
                            epilogue: &epilogue,
                            ..columns(t0, c0, c1)
                        };
                        let steps = |i, j| in_tile(c0, i, j).unwrap_or_default();
                        let steps = carried.then_some(&steps as TileSteps);
                        gemm_tiles::emit_into(
                            k, &product, &reduction, level, lanes, false, blocks, steps,
                        );
                    }
                };
                let block = |k: &mut KernelBuilder, m0: Expr, rows: usize| {
                    let first = g.clone() * mg as i64 + m0;
                    for oh in (0..row_lo).chain(row_hi.max(row_lo)..out_h) {
                        let one = ColumnBlocks::ONE;
                        row(k, &first, rows, Expr::index(oh), self.rows_inside(oh), one);
                    }
                    // Interior rows `count` at a time, then the rest one by one.
                    let grouped = (row_hi - row_lo).max(0) / count * count;
                    k.for_range("oh", row_lo, row_lo + grouped, count, |k, oh| {
                        row(k, &first, rows, oh, (0, kernel_h), row_blocks);
                    });
                    if row_lo + grouped < row_hi {
                        k.for_range("oh", row_lo + grouped, row_hi, 1, |k, oh| {
                            row(k, &first, rows, oh, (0, kernel_h), ColumnBlocks::ONE);
                        });
                    }
                };
                for_channel_chunks(k, mg, chunk, &block);
            });
        });
    }
}

/// The epilogue of a partial product: the accumulators as they are (the finished
/// row gets the real epilogue once every kernel column has added its part).
fn store_as_accumulated(_: &mut KernelBuilder, acc: Expr, _: Expr, _: Expr, _: u8) -> Expr {
    acc
}

/// Reduction steps per kernel column (input channels x kernel rows) up to which
/// the split by kernel column is weighed against the column segments: a stem's
/// few input channels make each kernel column's product short, and its round
/// trip of the accumulators through Y (and the tile call) then weighs.
const SHORT_TAP: usize = 32;

/// What one product's accumulator vector costs beyond its reduction (loaded
/// from and stored to Y, its share of the call), in FMAs: measured on
/// mobilenet_v2's 3x3/2 stem (the segments 12% faster) and resnet18's 7x7/2
/// (even).
const ROUND_TRIP: usize = 4;

/// Whether splitting a row by kernel column (`taps`: each its output columns
/// `[c0, c1)`, `per_tap` steps) costs less than its column segments (`(c0, c1,
/// t0, t1)`: the interior, then each border column alone over its kernel
/// columns `[t0, t1)`), counting vector FMAs at `level`'s width.
fn split_pays(
    level: Microkernel,
    per_tap: usize,
    segments: &[(i64, i64, i64, i64)],
    taps: &[(i64, i64, i64)],
) -> bool {
    let width = match level {
        Microkernel::Avx512 => 16,
        _ => 8,
    };
    let vectors = |c0: i64, c1: i64| ((c1 - c0).max(0) as usize).div_ceil(width);
    let by_segment: usize = segments
        .iter()
        .map(|&(c0, c1, t0, t1)| vectors(c0, c1) * per_tap * (t1 - t0).max(0) as usize)
        .sum();
    let by_tap: usize = taps
        .iter()
        .map(|&(_, c0, c1)| vectors(c0, c1) * (per_tap + ROUND_TRIP))
        .sum();
    by_tap < by_segment
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mobilenet_v2's stem (3x3/2, pad 1, 224 -> 112, 3 input channels) has one
    /// border column: its segments cost less than three short products with
    /// their round trips. resnet18's (7x7/2, pad 3) has three border columns
    /// over most of its 147 steps: the split by kernel column stays.
    #[test]
    fn stems_split_by_kernel_column_only_where_it_pays() {
        let mobilenet_segments = [(1, 112, 0, 3), (0, 1, 1, 3)];
        let mobilenet_taps = [(0, 1, 112), (1, 0, 112), (2, 0, 112)];
        assert!(!split_pays(
            Microkernel::Avx512,
            9,
            &mobilenet_segments,
            &mobilenet_taps
        ));
        let resnet_segments = [(2, 111, 0, 7), (0, 1, 3, 7), (1, 2, 1, 7), (111, 112, 0, 5)];
        let resnet_taps = [
            (0, 2, 112),
            (1, 1, 112),
            (2, 1, 112),
            (3, 0, 112),
            (4, 0, 112),
            (5, 0, 111),
            (6, 0, 111),
        ];
        assert!(split_pays(
            Microkernel::Avx512,
            21,
            &resnet_segments,
            &resnet_taps
        ));
    }
}
