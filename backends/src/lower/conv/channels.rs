//! f32 2-D convolutions with a short reduction (few input channels times taps,
//! a keyword-spotting or image stem) and many output channels: a vector holds
//! `lanes` output channels of one pixel, so every tap is one FMA per pixel
//! whatever the stride, instead of scalars or gathered pixels.
//!
//! A tile is [`PIXELS`] output pixels down one output column (consecutive
//! rows, the same kernel columns inside the image) by one vector of output
//! channels. Per tap the weights of the tile's channels are gathered lane by
//! lane (they are `C_in * KH * KW` apart) once for all its pixels, and each
//! pixel's input is one splatted scalar. Taps are loops (`ci`, `kh`, `kw`), so
//! the body holds the gather, one load per pixel and the FMAs (Cranelift issues
//! a body's loads before its FMAs: a small body keeps them in registers).
//! Rows whose taps leave the image in the kernel's height are tiles of one
//! pixel with the rows that stay inside; each output column has its own range
//! of kernel columns. The outputs are stored lane by lane (a channel's pixels
//! are a plane apart), each through the bias and the fused steps.

use nnc_ir::kernel::{ElemType, Expr, KernelBuilder, Ty};

use super::super::depthwise::{interior, taps_inside};
use super::{Convolution, strides};

/// Pixels per tile: accumulators plus one input value each, and the gathered
/// weights, within x86_64's 16 vector registers.
const PIXELS: usize = 6;

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
        let pixels = PIXELS as i64;
        k.for_range("n", 0, xshape[0] as i64, 1, |k, image| {
            k.for_range("oc", 0, outputs, l, |k, oc| {
                let tile = Tile {
                    image: image.clone(),
                    oc,
                };
                // One column: interior rows in tiles, the rest one pixel each.
                let column = |k: &mut KernelBuilder, col: Expr, taps_w: (i64, i64)| {
                    let full = r0 + (r1 - r0) / pixels * pixels;
                    k.for_range("oh", r0, full, pixels, |k, row| {
                        self.emit_pixels(k, &tile, (row, PIXELS), col.clone(), (0, kh), taps_w);
                    });
                    for row in (0..r0).chain(full..oh) {
                        let taps_h = taps_inside(row, h, kh, sh, dh, ph);
                        let at = (Expr::index(row), 1);
                        self.emit_pixels(k, &tile, at, col.clone(), taps_h, taps_w);
                    }
                };
                k.for_range("ow", c0, c1, 1, |k, col| column(k, col, (0, kw)));
                for col in (0..c0).chain(c1..ow) {
                    column(k, Expr::index(col), taps_inside(col, w, kw, sw, dw, pw));
                }
            });
        });
    }

    /// Output pixels `(row + r, col)` for `r < rows`, channels `oc..oc + lanes`,
    /// over input channels and kernel rows `taps_h`, columns `taps_w`.
    fn emit_pixels(
        &self,
        k: &mut KernelBuilder,
        tile: &Tile,
        (row, rows): (Expr, usize),
        col: Expr,
        taps_h: (i64, i64),
        taps_w: (i64, i64),
    ) {
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (xs, ys, ws) = (strides(xshape), strides(yshape), strides(self.w.shape()));
        let cin = xshape[1] as i64;
        let (sh, dh, ph) = (self.geo.strides[0], self.geo.dilations[0], self.geo.pads[0]);
        let (sw, dw, pw) = (self.geo.strides[1], self.geo.dilations[1], self.geo.pads[1]);
        let lanes = self.lanes;
        let ty = Ty::vector(ElemType::F32, lanes);
        let acc: Vec<_> = (0..rows)
            .map(|_| k.let_var("acc", ty, Expr::f32(0.0).splat(lanes)))
            .collect();
        if taps_h.0 < taps_h.1 && taps_w.0 < taps_w.1 {
            // Input element of pixel 0 at tap (0, 0, 0), weight of channel `oc` there.
            let x0 = tile.image.clone() * xs[0]
                + (row.clone() * sh - ph) * xs[2]
                + (col.clone() * sw - pw) * xs[3];
            let x0 = Expr::var(k.let_var("x0", Ty::INDEX, x0));
            let w0 = Expr::var(k.let_var("w0", Ty::INDEX, tile.oc.clone() * ws[0]));
            k.for_range("ci", 0, cin, 1, |k, ci| {
                k.for_range("kh", taps_h.0, taps_h.1, 1, |k, th| {
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
                        for (r, &a) in acc.iter().enumerate() {
                            let at = x_at.clone() + r as i64 * sh * xs[2];
                            let xv = Expr::load(self.x.buf, at, Ty::F32).splat(lanes);
                            k.assign(a, xv.fma(Expr::var(wv), Expr::var(a)));
                        }
                    });
                });
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
    /// for some pixels), dilation, against the reference.
    #[test]
    fn few_input_channel_convs_match_the_reference() {
        let mut rng = rng(47);
        let aarch64 = Target {
            arch: Arch::Aarch64,
            vector_registers: 32,
            ..test_target()
        };
        let cases: [Case; 6] = [
            ([1, 49, 10], 8, [10, 4], [2, 2], [5, 1, 5, 1], 1),
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
