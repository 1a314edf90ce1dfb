//! f32 convolutions through the GEMM microkernel (`lower::gemm`).
//!
//! A pointwise (1x1, unit stride, no padding) convolution is one matrix product
//! per image and group: `Y[m, hw] = W[m, c] * X[c, hw]`.
//!
//! Any other is a product per image, group and output row: `Y[m, ow] = sum over
//! taps (c, k...) of W[m, c, k...] * X[c, ih..., ow * stride + kw * dilation -
//! pad]`. A is the weight (its rows are contiguous over the taps), B's rows are
//! input rows shifted by the tap, so a tile of output channels x output columns
//! accumulates in registers over every tap. Outer spatial rows outside the image
//! skip the tap (`if 0 <= ih < H`).
//!
//! With a stride above 1 along the last dim, B's columns are `stride` apart: the
//! kernel IR has no gather or lane shuffle, so the tile is made of scalars. Each
//! accumulator still lives in a register and each load still feeds a row or a
//! column of the tile, about twice as fast as the row-at-a-time direct
//! convolution (which loads and stores the output per multiply-add).
//!
//! The interior columns, whose every tap reads inside the image, form one
//! product; each border column is a one-column product over the taps that stay
//! inside. Output channels are processed in blocks whose weights fit the L2
//! cache, with every output row inside the block.

use nnc_ir::Microkernel;
use nnc_ir::kernel::{
    BinaryOp, BufId, ElemType, Expr, KernelBuilder, ReductionDim, TileAddend, TileMap, TileStep, Ty,
};

use super::super::gemm::{self, A_BLOCK_BYTES};
use super::super::gemm_tiles;
use super::{Convolution, for_channel_chunks, nest, strides, walk_window};

impl Convolution<'_> {
    /// A tile's accumulated `acc` of output channel `oc` at output index `at`,
    /// finished for the store: the bias added, then the fused steps.
    pub(super) fn finish(
        &self,
        k: &mut KernelBuilder,
        acc: Expr,
        oc: Expr,
        at: Expr,
        lanes: u8,
    ) -> Expr {
        let value = match self.bias {
            Some(b) => {
                let bv = Expr::load(b, oc.clone(), Ty::F32);
                let bv = k.let_var("bias", Ty::F32, bv);
                acc.binary(BinaryOp::Add, Expr::var(bv).splat(lanes))
            }
            None => acc,
        };
        if self.fusion.is_empty() {
            return value;
        }
        self.fusion.apply(k, value, at, oc, lanes)
    }

    /// [`Convolution::finish`] as a wide tile's epilogue for the tile whose first
    /// row is output channel `oc` and first element at `at`, Y's rows `y_row`
    /// apart, when the tile can carry every step (the activations those of
    /// `maps`, from `Epilogue::tile_maps`); its column blocks `y_block` apart.
    pub(super) fn tile_finish(
        &self,
        maps: &[Option<TileMap>],
        oc: Expr,
        at: Expr,
        (y_row, y_block): (i64, i64),
    ) -> Option<Vec<TileStep>> {
        let bias = self.bias.map(|buf| {
            TileStep::Add(TileAddend {
                buf,
                offset: oc.clone(),
                row: 1,
                col: 0,
                block: 0,
            })
        });
        let steps: Vec<TileStep> = bias
            .into_iter()
            .chain(self.fusion.tile_steps(maps, oc, at, (y_row, y_block))?)
            .collect();
        let addends = steps
            .iter()
            .filter(|s| matches!(s, TileStep::Add(_)))
            .count();
        (addends <= gemm_tiles::MAX_TILE_ADDENDS).then_some(steps)
    }

    /// An f32 1x1 convolution with unit strides and no padding: per image and
    /// group, the matrix product `Y[m, hw] = W[m, c] * X[c, hw]`.
    pub(super) fn is_pointwise(&self) -> bool {
        let spatial = |shape: &[usize]| shape[2..].to_vec();
        self.x.elem() == ElemType::F32
            && self.geo.kernel.iter().all(|&k| k == 1)
            && self.geo.strides.iter().all(|&s| s == 1)
            && self.geo.pads.iter().all(|&p| p == 0)
            && spatial(self.x.shape()) == spatial(self.y.shape())
    }

    /// Pointwise convolution through the GEMM microkernel, the bias added as
    /// the tiles are stored.
    pub(super) fn emit_pointwise(&self, k: &mut KernelBuilder, tile: gemm::Tile) {
        self.emit_pointwise_with(k, tile, None, None);
    }

    /// [`Convolution::emit_pointwise`], reading the weights from `packed` when
    /// given (`gemm::pack_a`'s order, see `packed`).
    pub(super) fn emit_pointwise_with(
        &self,
        k: &mut KernelBuilder,
        tile: gemm::Tile,
        packed: Option<BufId>,
        b_panels: Option<BufId>,
    ) {
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (c, m) = (xshape[1], yshape[1]);
        let (cg, mg) = (c / self.group, m / self.group);
        let pixels: usize = xshape[2..].iter().product();
        // The activations a tile carries, their statements shared by all.
        let maps = if tile.wide == Microkernel::Portable {
            Vec::new()
        } else {
            self.fusion.tile_maps(k, self.lanes)
        };
        k.for_range("n", 0, xshape[0] as i64, 1, |k, image| {
            k.for_range("g", 0, self.group as i64, 1, |k, g| {
                let first = g.clone() * mg as i64;
                let x_offset =
                    image.clone() * (c * pixels) as i64 + g.clone() * (cg * pixels) as i64;
                let y_offset = image.clone() * (m * pixels) as i64 + first.clone() * pixels as i64;
                let epilogue = |k: &mut KernelBuilder, acc: Expr, i: Expr, j: Expr, lanes| {
                    let at = y_offset.clone() + i.clone() * pixels as i64 + j;
                    self.finish(k, acc, first.clone() + i, at, lanes)
                };
                let product = gemm::Product {
                    m: mg,
                    n: pixels,
                    reduction: gemm::Reduction::Dense(cg),
                    a: gemm::Matrix::row_major(
                        packed.unwrap_or(self.w.buf),
                        first.clone() * cg as i64,
                        cg,
                    ),
                    b: gemm::Matrix::row_major(self.x.buf, x_offset, pixels),
                    y: gemm::Matrix::row_major(self.y.buf, y_offset.clone(), pixels),
                    epilogue: &epilogue,
                    long_epilogue: self.fusion.is_long(),
                };
                // On wide targets the tiles finish their outputs in registers
                // when they can.
                let in_tile = |i: Expr, j: Expr| {
                    let at = y_offset.clone() + i.clone() * pixels as i64 + j;
                    self.tile_finish(&maps, first.clone() + i, at, (pixels as i64, 0))
                };
                let carried = tile.wide != Microkernel::Portable
                    && in_tile(Expr::index(0), Expr::index(0)).is_some();
                if carried {
                    let dims = [ReductionDim {
                        count: cg,
                        a: 1,
                        b: pixels as i64,
                    }];
                    let steps = |i, j| in_tile(i, j).unwrap_or_default();
                    gemm_tiles::emit_finished(k, &product, &dims, tile.wide, self.lanes, &steps);
                } else if packed.is_some() {
                    gemm::emit_packed(k, &product, tile, self.lanes, b_panels);
                } else {
                    gemm::emit(k, &product, tile, self.lanes);
                }
            });
        });
    }

    /// The output columns `[lo, hi)` whose every tap reads inside the image,
    /// when the tiled form applies (f32, any stride) and that range is not empty.
    pub(super) fn tiled_interior(&self) -> Option<(i64, i64)> {
        let last = self.rank().checked_sub(1)?;
        if self.x.elem() != ElemType::F32 {
            return None;
        }
        let in_w = self.x.shape()[2 + last] as i64;
        let out_w = self.y.shape()[2 + last] as i64;
        let (stride, dil, pad) = (
            self.geo.strides[last],
            self.geo.dilations[last],
            self.geo.pads[last],
        );
        if stride < 1 {
            return None;
        }
        // Column `ow` reads `ow * stride + kw * dil - pad` for kw in 0..=reach/dil.
        let reach = (self.geo.kernel[last] as i64 - 1) * dil;
        let lo = (-(-pad).div_euclid(stride)).min(out_w);
        let hi = ((in_w - 1 + pad - reach).div_euclid(stride) + 1).min(out_w);
        (lo < hi).then_some((lo, hi))
    }

    /// The interior columns tiled, then each border column as a one-column
    /// product over the taps that stay inside the image.
    pub(super) fn emit_tiled(&self, k: &mut KernelBuilder, tile: gemm::Tile, (lo, hi): (i64, i64)) {
        let last = self.rank() - 1;
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (c, m) = (xshape[1], yshape[1]);
        let (cg, mg) = (c / self.group, m / self.group);
        let (xs, ys, ws) = (strides(xshape), strides(yshape), strides(self.w.shape()));
        let out_w = yshape[2 + last] as i64;
        let (stride, dil, pad) = (
            self.geo.strides[last],
            self.geo.dilations[last],
            self.geo.pads[last],
        );
        // A strided input row is not a vector load: its vectors are gathered lane
        // by lane, each gather shared by the tile's rows.
        let lanes = self.lanes;
        let kernel_w = self.geo.kernel[last] as i64;
        let in_w = xshape[2 + last] as i64;
        // The interior, then each border column alone (its taps known statically).
        let segments: Vec<(i64, i64)> = std::iter::once((lo, hi))
            .chain((0..lo).chain(hi..out_w).map(|ow| (ow, ow + 1)))
            .collect();
        // Output channels per block: their weights stay in L2 while every output
        // row passes by.
        let chunk = (A_BLOCK_BYTES / (4 * ws[0].max(1) as usize)) / tile.rows * tile.rows;
        let chunk = chunk.max(tile.rows).min(mg.max(1));
        k.for_range("n", 0, xshape[0] as i64, 1, |k, image| {
            k.for_range("g", 0, self.group as i64, 1, |k, g| {
                let rows_block = |k: &mut KernelBuilder, m0: Expr, rows: usize| {
                    let first = g.clone() * mg as i64 + m0;
                    nest(k, &yshape[2..2 + last], &mut Vec::new(), &mut |k, outer| {
                        let y_row = (0..last)
                            .fold(image.clone() * ys[0] + first.clone() * ys[1], |acc, d| {
                                acc + outer[d].clone() * ys[2 + d]
                            });
                        let x_chans = image.clone() * xs[0] + g.clone() * (cg as i64 * xs[1]);
                        let dims = self.window_dims(&outer[..last]);
                        for &(c0, c1) in &segments {
                            // The taps every column of the segment reads inside the image.
                            let taps: Vec<i64> = (0..kernel_w)
                                .filter(|&kw| {
                                    c0 * stride + kw * dil - pad >= 0
                                        && (c1 - 1) * stride + kw * dil - pad < in_w
                                })
                                .collect();
                            // A contiguous range (each bound is monotone in the tap).
                            let (t0, t1) = match (taps.first(), taps.last()) {
                                (Some(&a), Some(&b)) => (a, b + 1),
                                _ => (0, 0),
                            };
                            let walk = |k: &mut KernelBuilder,
                                step: &mut dyn FnMut(&mut KernelBuilder, Expr, Expr)| {
                        // Taps outside, input channels inside: the innermost loop
                        // runs over all the channels (not a kernel row of 3 taps),
                        // and whether a kernel row is inside the image is decided
                        // once per tap, not once per channel.
                        let zero = || Expr::index(0);
                        walk_window(k, &dims, zero(), zero(), &mut |k, x_row, w_row| {
                            let x_row = Expr::var(k.let_var("xrow", Ty::INDEX, x_row));
                            let w_row = Expr::var(k.let_var("wrow", Ty::INDEX, w_row));
                            k.for_range("kw", t0, t1, 1, |k, kw| {
                                let x_tap = x_row.clone() + kw.clone() * dil;
                                let w_tap = w_row.clone() + kw;
                                let x_tap = Expr::var(k.let_var("xtap", Ty::INDEX, x_tap));
                                let w_tap = Expr::var(k.let_var("wtap", Ty::INDEX, w_tap));
                                k.for_range("c", 0, cg as i64, 1, |k, ic| {
                                    let w = w_tap.clone() + ic.clone() * ws[1];
                                    step(k, w, x_tap.clone() + ic * xs[1]);
                                });
                            });
                        });
                    };
                            let epilogue =
                                |k: &mut KernelBuilder, acc: Expr, i: Expr, j: Expr, lanes| {
                                    let at = y_row.clone() + c0 + i.clone() * ys[1] + j;
                                    self.finish(k, acc, first.clone() + i, at, lanes)
                                };
                            let product = gemm::Product {
                                m: rows,
                                n: (c1 - c0) as usize,
                                reduction: gemm::Reduction::Walk(&walk),
                                a: gemm::Matrix::row_major(
                                    self.w.buf,
                                    first.clone() * ws[0],
                                    ws[0] as usize,
                                ),
                                b: gemm::Matrix {
                                    buf: self.x.buf,
                                    offset: x_chans.clone() + (c0 * stride - pad),
                                    row: 0,
                                    col: stride,
                                },
                                y: gemm::Matrix {
                                    buf: self.y.buf,
                                    offset: y_row.clone() + c0,
                                    row: ys[1],
                                    col: 1,
                                },
                                epilogue: &epilogue,
                                long_epilogue: self.fusion.is_long(),
                            };
                            gemm::emit(k, &product, tile, lanes);
                        }
                    });
                };
                for_channel_chunks(k, mg, chunk, &rows_block);
            });
        });
    }
}
