//! f32 2-D convolutions with a short reduction (few input channels times taps,
//! a keyword-spotting or image stem) and many output channels: a vector holds
//! `lanes` output channels of one pixel, so every tap is one FMA per pixel
//! whatever the stride, instead of scalars or gathered pixels.
//!
//! A tile is up to [`PIXELS`] output pixels down one output column
//! (consecutive rows, the same kernel columns inside the image) by one vector
//! of output channels. Per tap the weights of the tile's channels are gathered
//! lane by lane (they are `C_in * KH * KW` apart) once for all its pixels, and
//! each pixel's input is one splatted scalar: the taller the tile, the fewer
//! gathers per multiply-add. Taps are loops (`ci`, `kh`, `kw`), so the body
//! holds the gather, one load per pixel and the FMAs (Cranelift issues a body's
//! loads before its FMAs: a small body keeps them in registers). The interior
//! rows go in a loop of tiles of equal height; the border rows, whose kernel
//! rows leave the image, in tiles at fixed rows whose kernel rows are split in
//! runs read by the same pixels (the top rows of a padded stem share most of
//! theirs), so they do not fall back to one pixel per gather. Each output
//! column has its own range
//! of kernel columns. The outputs are stored lane by lane (a channel's pixels
//! are a plane apart), each through the bias and the fused steps.

use nnc_ir::kernel::{ElemType, Expr, KernelBuilder, Ty};

use super::super::depthwise::{interior, taps_inside};
use super::{Convolution, strides};

/// Most pixels per tile: accumulators plus an input value, and the gathered
/// weights, within x86_64's 16 vector registers.
const PIXELS: usize = 12;

/// Output rows whose interior is narrower than this many vectors are narrow.
const NARROW_ROW: i64 = 4;

/// Most reduction steps (input channels x taps) for which this form applies:
/// past it the tiled GEMM reuses its loads better.
const MAX_STEPS: usize = 64;

impl Convolution<'_> {
    /// Whether the channel-vector form applies: f32, 2-D, one group, a short
    /// reduction, output channels in whole vectors, and output rows whose
    /// interior is too narrow for the tiled GEMM's vectors of pixels (with a
    /// stride above 1 along the rows, which the depthwise form would compute
    /// at half efficiency). On a wide strided row (a 224 x 224 RGB stem) the
    /// GEMM's gathered pixels measured faster.
    pub(super) fn channel_vectors_apply(&self) -> bool {
        let (xs, ws) = (self.x.shape(), self.w.shape());
        let lanes = self.lanes as usize;
        let narrow = match self.tiled_interior() {
            Some((lo, hi)) => hi - lo < NARROW_ROW * lanes as i64,
            None => true,
        };
        self.x.elem() == ElemType::F32
            && xs.len() == 4
            && self.group == 1
            && lanes > 1
            && ws[0] % lanes == 0
            && ws[1] * ws[2] * ws[3] <= MAX_STEPS
            && self.geo.strides[1] > 1
            && narrow
    }

    pub(super) fn emit_channel_vectors(&self, k: &mut KernelBuilder) {
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (h, w) = (xshape[2] as i64, xshape[3] as i64);
        let (oh, ow) = (yshape[2] as i64, yshape[3] as i64);
        let (kh, kw) = (self.geo.kernel[0] as i64, self.geo.kernel[1] as i64);
        let (sh, dh, ph) = (self.geo.strides[0], self.geo.dilations[0], self.geo.pads[0]);
        let (sw, dw, pw) = (self.geo.strides[1], self.geo.dilations[1], self.geo.pads[1]);
        let (r0, r1) = interior(h, oh, kh, sh, dh, ph);
        let (c0, c1) = interior(w, ow, kw, sw, dw, pw);
        let l = self.lanes as i64;
        let outputs = yshape[1] as i64;
        // Interior rows in a loop of tiles of equal height; the border rows,
        // and what the loop leaves, in tiles at fixed rows.
        let (pixels, looped) = row_tiles(r1 - r0);
        let static_tiles: Vec<(i64, i64)> = chunks(0, r0)
            .chain(chunks(r0 + looped * pixels, oh))
            .collect();
        let taps_of = |row: i64| taps_inside(row, h, kh, sh, dh, ph);
        k.for_range("n", 0, xshape[0] as i64, 1, |k, image| {
            k.for_range("oc", 0, outputs, l, |k, oc| {
                let tile = Tile {
                    image: image.clone(),
                    oc,
                };
                let column = |k: &mut KernelBuilder, col: Expr, taps_w: (i64, i64)| {
                    let end = r0 + looped * pixels;
                    k.for_range("oh", r0, end, pixels, |k, row| {
                        let taps_h = vec![(0, kh); pixels as usize];
                        self.emit_pixels(k, &tile, row, &taps_h, col.clone(), taps_w);
                    });
                    for &(first, end) in &static_tiles {
                        let taps_h: Vec<_> = (first..end).map(taps_of).collect();
                        let row = Expr::index(first);
                        self.emit_pixels(k, &tile, row, &taps_h, col.clone(), taps_w);
                    }
                };
                k.for_range("ow", c0, c1, 1, |k, col| column(k, col, (0, kw)));
                for col in (0..c0).chain(c1..ow) {
                    column(k, Expr::index(col), taps_inside(col, w, kw, sw, dw, pw));
                }
            });
        });
    }

    /// Output pixels `(row + r, col)` for `r < taps_h.len()`, the tile's
    /// `lanes` channels from `oc`, pixel `r` over input channels, its kernel
    /// rows `taps_h[r]` and the kernel columns `taps_w`. The kernel rows go in runs that the same
    /// pixels read, so each gathered weight vector serves every pixel of its run.
    fn emit_pixels(
        &self,
        k: &mut KernelBuilder,
        tile: &Tile,
        row: Expr,
        taps_h: &[(i64, i64)],
        col: Expr,
        taps_w: (i64, i64),
    ) {
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (xs, ys, ws) = (strides(xshape), strides(yshape), strides(self.w.shape()));
        let cin = xshape[1] as i64;
        let (sh, dh, ph) = (self.geo.strides[0], self.geo.dilations[0], self.geo.pads[0]);
        let (sw, dw, pw) = (self.geo.strides[1], self.geo.dilations[1], self.geo.pads[1]);
        let lanes = self.lanes;
        let ty = Ty::vector(ElemType::F32, lanes);
        let acc: Vec<_> = taps_h
            .iter()
            .map(|_| k.let_var("acc", ty, Expr::f32(0.0).splat(lanes)))
            .collect();
        let runs = kernel_row_runs(taps_h);
        if !runs.is_empty() && taps_w.0 < taps_w.1 {
            // Input element of pixel 0 at tap (0, 0, 0), weight of channel `oc` there.
            let x0 = tile.image.clone() * xs[0]
                + (row.clone() * sh - ph) * xs[2]
                + (col.clone() * sw - pw) * xs[3];
            let x0 = Expr::var(k.let_var("x0", Ty::INDEX, x0));
            let w0 = Expr::var(k.let_var("w0", Ty::INDEX, tile.oc.clone() * ws[0]));
            k.for_range("ci", 0, cin, 1, |k, ci| {
                for (th0, th1, pixels) in &runs {
                    k.for_range("kh", *th0, *th1, 1, |k, th| {
                        let x_row = x0.clone() + ci.clone() * xs[1] + th.clone() * (dh * xs[2]);
                        let x_row = Expr::var(k.let_var("xrow", Ty::INDEX, x_row));
                        let w_row = w0.clone() + ci.clone() * ws[1] + th * ws[2];
                        let w_row = Expr::var(k.let_var("wrow", Ty::INDEX, w_row));
                        k.for_range("kw", taps_w.0, taps_w.1, 1, |k, tw| {
                            let w_at = w_row.clone() + tw.clone();
                            let gathered = (0..lanes as i64)
                                .map(|c| Expr::load(self.w.buf, w_at.clone() + c * ws[0], Ty::F32))
                                .collect();
                            let wv = k.let_var("w", ty, Expr::lanes(gathered));
                            let x_at = x_row.clone() + tw * dw;
                            for r in pixels.clone() {
                                let a = acc[r];
                                let at = x_at.clone() + r as i64 * sh * xs[2];
                                let xv = Expr::load(self.x.buf, at, Ty::F32).splat(lanes);
                                k.assign(a, xv.fma(Expr::var(wv), Expr::var(a)));
                            }
                        });
                    });
                }
            });
        }
        for (r, &a) in acc.iter().enumerate() {
            let y_at = tile.image.clone() * ys[0]
                + (row.clone() + r as i64) * ys[2]
                + col.clone()
                + tile.oc.clone() * ys[1];
            let y_at = Expr::var(k.let_var("yat", Ty::INDEX, y_at));
            for c in 0..lanes {
                let at = y_at.clone() + c as i64 * ys[1];
                let value = Expr::var(a).extract(c);
                let value = self.finish(k, value, tile.oc.clone() + c as i64, at.clone(), 1);
                k.store(self.y.buf, at, value);
            }
        }
    }
}

/// Rows per tile of `rows` interior rows, and how many such tiles the loop
/// takes (the rest go to the fixed tiles): as few tiles as [`PIXELS`] allows,
/// of equal height.
fn row_tiles(rows: i64) -> (i64, i64) {
    let most = PIXELS as i64;
    if rows <= 0 {
        return (most, 0);
    }
    let tiles = (rows + most - 1) / most;
    let pixels = (rows + tiles - 1) / tiles;
    (pixels, rows / pixels)
}

/// Rows `[first, end)` as tiles of at most [`PIXELS`] rows, of near-equal height.
fn chunks(first: i64, end: i64) -> impl Iterator<Item = (i64, i64)> {
    let (pixels, _) = row_tiles(end - first);
    (first..end)
        .step_by(pixels.max(1) as usize)
        .map(move |a| (a, (a + pixels).min(end)))
}

/// The kernel rows of a tile whose pixel `r` reads rows `taps_h[r]`, as runs of
/// consecutive kernel rows `[lo, hi)` with the pixels that read all of them.
fn kernel_row_runs(taps_h: &[(i64, i64)]) -> Vec<(i64, i64, Vec<usize>)> {
    let lo = taps_h.iter().map(|t| t.0).min().unwrap_or(0);
    let hi = taps_h.iter().map(|t| t.1).max().unwrap_or(0);
    let mut runs: Vec<(i64, i64, Vec<usize>)> = Vec::new();
    for th in lo..hi {
        let pixels: Vec<usize> = (0..taps_h.len())
            .filter(|&r| (taps_h[r].0..taps_h[r].1).contains(&th))
            .collect();
        match runs.last_mut() {
            Some(last) if last.1 == th && last.2 == pixels => last.1 = th + 1,
            _ if pixels.is_empty() => {}
            _ => runs.push((th, th + 1, pixels)),
        }
    }
    runs
}

/// Where a tile's channels start.
struct Tile {
    image: Expr,
    oc: Expr,
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::Conv;
    use nnc_ir::{Arch, DType, Op, Target};

    use super::super::super::random_tensors::{random_small as random, rng};
    use super::super::super::testing::{check_lowering_for, single_node_graph, test_target};

    /// (input [C, H, W], output channels, kernel, strides, pads [top, left,
    /// bottom, right], dilation)
    type Case = ([usize; 3], usize, [usize; 2], [usize; 2], [usize; 4], usize);

    /// Stems with one to three input channels, strides 2 and 3, padding on
    /// every side (rows and columns whose taps leave the image, all of them
    /// for some pixels), dilation, tiles of every height, against the
    /// reference.
    #[test]
    fn few_input_channel_convs_match_the_reference() {
        let mut rng = rng(47);
        let aarch64 = Target {
            arch: Arch::Aarch64,
            vector_registers: 32,
            ..test_target()
        };
        let cases: [Case; 9] = [
            ([1, 49, 10], 8, [10, 4], [2, 2], [5, 1, 5, 1], 1),
            // A kernel taller than the image: every row a border row, the
            // runs of kernel rows shrinking at both ends.
            ([1, 5, 9], 8, [7, 3], [1, 2], [3, 1, 3, 1], 1),
            // Interior rows the loop's tiles do not divide: the rest in fixed
            // tiles with the bottom border rows.
            ([3, 61, 6], 4, [3, 3], [2, 2], [1, 1, 1, 1], 1),
            ([1, 30, 7], 4, [4, 3], [1, 3], [2, 1, 1, 0], 1),
            ([3, 17, 15], 4, [3, 3], [2, 2], [1, 1, 1, 1], 1),
            ([2, 9, 11], 8, [4, 4], [3, 3], [0, 0, 2, 1], 1),
            ([1, 12, 13], 4, [3, 2], [1, 2], [3, 2, 0, 4], 2),
            ([3, 3, 5], 4, [2, 2], [2, 2], [2, 2, 2, 2], 1),
            ([1, 20, 9], 12, [5, 3], [2, 2], [2, 1, 2, 1], 1),
        ];
        for (round, (x_shape, outputs, kernel, strides, pads, dilation)) in
            cases.into_iter().enumerate()
        {
            let x = random(
                &mut rng,
                DType::F32,
                &[2, x_shape[0], x_shape[1], x_shape[2]],
            );
            let w = random(
                &mut rng,
                DType::F32,
                &[outputs, x_shape[0], kernel[0], kernel[1]],
            );
            let b = random(&mut rng, DType::F32, &[outputs]);
            let op = Op::Conv(Conv {
                kernel_shape: kernel.to_vec(),
                strides: strides.to_vec(),
                pads: pads.to_vec(),
                dilations: vec![dilation; 2],
                group: 1,
            });
            let bias = (round % 2 == 0).then_some(&b);
            let inputs = [Some(&x), Some(&w), bias];
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &test_target());
            check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &aarch64);
        }
    }
}
