//! 2-D f32 MaxPool (without the Indices output) and AveragePool along output
//! rows, in register tiles.
//!
//! The same plan as the depthwise convolution (`lower::depthwise`): per plane,
//! tiles of `rows` output rows by `vectors` vectors of output columns (f32x4
//! with unit stride along the row; with stride 2 f32x4 at stride 1 whose even
//! lanes are the outputs; scalars otherwise), the window walked by two
//! tap loops; border rows and columns on their own with the static range of
//! taps inside the image, so the interior has no test. Every window must hold
//! at least one tap inside the image (checked up front; the general lowering
//! takes the others).
//!
//! Results match the reference exactly on numbers: a max starts from the
//! window's first tap and keeps the running value unless a tap is greater (`v >
//! best ? v : best`, the reference's rule, NaN included, in vector lanes, and
//! for scalar columns in lane 0 of splatted vectors; without vectors scalars
//! use `max`, which also returns NaN when a later tap is NaN, because a scalar
//! float select is a branch on x86_64), and an average sums the taps in
//! the reference's row-major order and divides by the count, which is static
//! for every tile (interior windows hold `KH * KW` taps).

use nnc_ir::kernel::{BinaryOp, CompareOp, ElemType, Expr, KernelBuilder, Ty, VarId};
use nnc_ir::ops::{Pool, PoolKind};

use super::super::depthwise::{Span, Tile, halved_end, interior, interior_spans, taps_inside};
use super::super::signature::Operand;

/// Most taps of a kernel row unrolled: a tap's loads (one per accumulator)
/// are all live before its maxima, so more would spill.
const UNROLLED_TAPS: i64 = 3;

/// One spatial dim of the window: input and output extents, kernel, stride,
/// dilation, pads.
#[derive(Clone, Copy)]
struct Axis {
    input: i64,
    output: i64,
    kernel: i64,
    stride: i64,
    dilation: i64,
    pad_begin: i64,
    pad_end: i64,
}

impl Axis {
    fn interior(&self) -> (i64, i64) {
        interior(
            self.input,
            self.output,
            self.kernel,
            self.stride,
            self.dilation,
            self.pad_begin,
        )
    }

    fn taps(&self, o: i64) -> (i64, i64) {
        taps_inside(
            o,
            self.input,
            self.kernel,
            self.stride,
            self.dilation,
            self.pad_begin,
        )
    }

    /// What output index `o` divides by along this dim: the taps inside the
    /// image, or with `count_include_pad` the positions inside input plus pads.
    fn count(&self, o: i64, include_pad: bool) -> i64 {
        if include_pad {
            (0..self.kernel)
                .filter(|&t| {
                    o * self.stride + t * self.dilation - self.pad_begin < self.input + self.pad_end
                })
                .count() as i64
        } else {
            let (a, b) = self.taps(o);
            b - a
        }
    }
}

/// A 2-D f32 max or average pool in register tiles.
pub(super) struct RowPool<'a> {
    x: &'a Operand,
    y: &'a Operand,
    axes: [Axis; 2],
    /// `Some(count_include_pad)` for an average, `None` for a max.
    average: Option<bool>,
}

impl<'a> RowPool<'a> {
    /// The tiled form of `pool` from `x` to `y` (its only output), when it
    /// applies: f32, 2-D, max or average, every window touching the image.
    pub fn new(x: &'a Operand, y: &'a Operand, outputs: usize, pool: &Pool) -> Option<Self> {
        let average = match pool.kind {
            PoolKind::Max { .. } if outputs == 1 => None,
            PoolKind::Average { count_include_pad } => Some(count_include_pad),
            _ => return None,
        };
        if x.elem() != ElemType::F32 || x.shape().len() != 4 || pool.kernel_shape.len() != 2 {
            return None;
        }
        if !(pool.pads.is_empty() || pool.pads.len() == 4) {
            return None;
        }
        let axis = |d: usize| Axis {
            input: x.shape()[2 + d] as i64,
            output: y.shape()[2 + d] as i64,
            kernel: pool.kernel_shape[d] as i64,
            stride: pool.strides.get(d).copied().unwrap_or(1) as i64,
            dilation: pool.dilations.get(d).copied().unwrap_or(1) as i64,
            pad_begin: pool.pads.get(d).copied().unwrap_or(0) as i64,
            pad_end: pool.pads.get(2 + d).copied().unwrap_or(0) as i64,
        };
        let axes = [axis(0), axis(1)];
        let touches = |a: &Axis| a.stride >= 1 && (0..a.output).all(|o| a.taps(o).0 < a.taps(o).1);
        axes.iter().all(touches).then_some(RowPool {
            x,
            y,
            axes,
            average,
        })
    }

    pub fn emit(&self, k: &mut KernelBuilder, tile: Tile, lanes: u8) {
        let [rows, cols] = self.axes;
        let planes = (self.x.shape()[0] * self.x.shape()[1]) as i64;
        k.for_range("p", 0, planes, 1, |k, p| {
            let x_plane = p.clone() * (rows.input * cols.input);
            let y_plane = p * (rows.output * cols.output);
            let planes = (
                Expr::var(k.let_var("xplane", Ty::INDEX, x_plane)),
                Expr::var(k.let_var("yplane", Ty::INDEX, y_plane)),
            );
            let (lo, hi) = rows.interior();
            let r = tile.rows as i64;
            let main = lo + (hi - lo) / r * r;
            let full = (0, rows.kernel);
            for row in 0..lo {
                let at = (Expr::index(row), 1, rows.taps(row), self.row_count(row));
                self.emit_row_block(k, &planes, at, tile, lanes);
            }
            k.for_range("oh", lo, main, r, |k, row| {
                let at = (row, tile.rows, full, rows.kernel);
                self.emit_row_block(k, &planes, at, tile, lanes);
            });
            k.for_range("oh", main, hi, 1, |k, row| {
                self.emit_row_block(k, &planes, (row, 1, full, rows.kernel), tile, lanes);
            });
            for row in hi..rows.output {
                let at = (Expr::index(row), 1, rows.taps(row), self.row_count(row));
                self.emit_row_block(k, &planes, at, tile, lanes);
            }
        });
    }

    /// The divisor's factor of output row `row` (1 for a max).
    fn row_count(&self, row: i64) -> i64 {
        self.average
            .map_or(1, |include_pad| self.axes[0].count(row, include_pad))
    }

    /// `rows` output rows from `row` over kernel rows `taps_h`, whose divisor
    /// factor is `count`: interior column tiles, the last interior columns as
    /// one overlapping vector (or scalars), border columns one at a time.
    fn emit_row_block(
        &self,
        k: &mut KernelBuilder,
        planes: &(Expr, Expr),
        (row, rows, taps_h, count): (Expr, usize, (i64, i64), i64),
        tile: Tile,
        lanes: u8,
    ) {
        let cols = self.axes[1];
        let (lo, hi) = cols.interior();
        let full = ((taps_h, (0, cols.kernel)), count * cols.kernel);
        let block = (row, rows);
        let halved_end = halved_end(
            cols.input,
            cols.kernel,
            cols.dilation,
            cols.pad_begin,
            (lo, hi),
        );
        interior_spans(
            k,
            (lo, hi),
            cols.stride,
            halved_end,
            (tile.vectors, lanes),
            &|k, span| {
                self.emit_tile(
                    k,
                    planes,
                    block.clone(),
                    span,
                    full,
                    (tile.unroll_taps, lanes),
                )
            },
        );
        for col in (0..lo).chain(hi..cols.output) {
            let col_count = self.average.map_or(1, |pad| cols.count(col, pad));
            let taps = ((taps_h, cols.taps(col)), count * col_count);
            let span = Span::vectors(Expr::index(col), 1, 1);
            self.emit_tile(
                k,
                planes,
                block.clone(),
                span,
                taps,
                (tile.unroll_taps, lanes),
            );
        }
    }

    /// One register tile over the taps `taps` (all inside the image), divided
    /// by `count` for an average. `walk`: with its `.0` a kernel row of up to
    /// `UNROLLED_TAPS` taps is unrolled (x86_64: the tap loop's counter and
    /// index arithmetic cost as much as its loads and maxima); `.1` the
    /// target's f32 lanes.
    #[allow(clippy::type_complexity)]
    fn emit_tile(
        &self,
        k: &mut KernelBuilder,
        (x_plane, y_plane): &(Expr, Expr),
        (row, rows): (Expr, usize),
        span: Span,
        (((kh0, kh1), (kw0, kw1)), count): (((i64, i64), (i64, i64)), i64),
        walk: (bool, u8),
    ) {
        let [ax, ay] = self.axes;
        let Span {
            col,
            vectors,
            lanes,
            keep,
        } = span;
        let ty = Ty::vector(ElemType::F32, lanes);
        // A max over scalars runs in the lanes of a splatted vector (a vector
        // select is one `maxps` on x86_64; a scalar one a branch, and `max`'s
        // NaN rules a branchy sequence): lane 0 is the result.
        let splat = lanes == 1 && self.average.is_none() && walk.1 >= 2;
        let acc_ty = if splat {
            Ty::vector(ElemType::F32, walk.1)
        } else {
            ty
        };
        let load = |at: Expr| match splat {
            true => Expr::load(self.x.buf, at, ty).splat(walk.1),
            false => Expr::load(self.x.buf, at, ty),
        };
        let x_col = Expr::var(k.let_var("xcol", Ty::INDEX, col.clone() * ay.stride - ay.pad_begin));
        let x_row = |r: i64, th: Expr| {
            let ih = (row.clone() + r) * ax.stride + th * ax.dilation - ax.pad_begin;
            x_plane.clone() + ih * ay.input + x_col.clone()
        };
        // Vector `v` reads from `v * step` past the tile's first input column.
        let step = if lanes > 1 { lanes as i64 } else { ay.stride };
        let offset = |v: usize| v as i64 * step;
        let acc: Vec<Vec<VarId>> = (0..rows as i64)
            .map(|r| {
                (0..vectors)
                    .map(|v| {
                        let init = match self.average {
                            Some(_) => Expr::f32(0.0).splat(lanes),
                            // The first tap: the reference's maximum starts there.
                            None => {
                                let at =
                                    x_row(r, Expr::index(kh0)) + (kw0 * ay.dilation + offset(v));
                                load(at)
                            }
                        };
                        k.let_var("acc", acc_ty, init)
                    })
                    .collect()
            })
            .collect();
        k.for_range("kh", kh0, kh1, 1, |k, th| {
            let x_rows: Vec<Expr> = (0..rows as i64)
                .map(|r| Expr::var(k.let_var("xrow", Ty::INDEX, x_row(r, th.clone()))))
                .collect();
            let tap = |k: &mut KernelBuilder, tw: Expr| {
                for (r, x_row) in x_rows.iter().enumerate() {
                    for (v, &a) in acc[r].iter().enumerate() {
                        let at = x_row.clone() + tw.clone() * ay.dilation + offset(v);
                        let xv = load(at);
                        let next = match self.average {
                            Some(_) => Expr::var(a).binary(BinaryOp::Add, xv),
                            // Scalars: a compare-and-select of floats is a branch on
                            // x86_64, mispredicted half the time on real data.
                            None if acc_ty.lanes == 1 => Expr::var(a).max(xv),
                            None => {
                                let xv = Expr::var(k.let_var("x", acc_ty, xv));
                                xv.clone()
                                    .compare(CompareOp::Gt, Expr::var(a))
                                    .select(xv, Expr::var(a))
                            }
                        };
                        k.assign(a, next);
                    }
                }
            };
            if walk.0 && kw1 - kw0 <= UNROLLED_TAPS {
                for tw in kw0..kw1 {
                    tap(k, Expr::index(tw));
                }
            } else {
                k.for_range("kw", kw0, kw1, 1, tap);
            }
        });
        for (r, accs) in acc.iter().enumerate() {
            let y_row = y_plane.clone() + (row.clone() + r as i64) * ay.output + col.clone();
            for (v, &a) in accs.iter().enumerate() {
                let value = match self.average {
                    Some(_) => {
                        let n = Expr::f32(count as f32).splat(lanes);
                        Expr::var(a).binary(BinaryOp::Div, n)
                    }
                    None if splat => Expr::var(a).extract(0),
                    None => Expr::var(a),
                };
                let first = v as i64 * lanes as i64;
                if keep == 1 {
                    k.store(self.y.buf, y_row.clone() + first, value);
                } else {
                    // A stride-2 row computed at stride 1: the even lanes.
                    let value = Expr::var(k.let_var("pooled", ty, value));
                    for lane in (0..lanes as i64).step_by(keep as usize) {
                        let at = y_row.clone() + (first + lane) / keep;
                        k.store(self.y.buf, at, value.clone().extract(lane as u8));
                    }
                }
            }
        }
    }
}
