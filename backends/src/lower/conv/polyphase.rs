//! Stride-2 convolutions (along the row) on wide targets as stride-1 tiles:
//! each input row is staged once in scratch as its even and its odd columns
//! (`parity`), zero-padded, so kernel column `kw` of output column `ow` reads
//! element `ow + kw / 2` of the `kw % 2` half. Every tap then reads a
//! stride-1 B (the fast tile form, no gathered columns), and the padding is in
//! the staged rows: no border rows or columns.
//!
//! Per image, group, output channel block and output row (narrow rows two or
//! three to a tile, `ColumnBlocks`), two products: the even kernel columns
//! overwrite Y, the odd ones add to it and finish it (the bias and fused
//! steps ride in their tiles when they can). The kernel columns of a parity
//! are weights two apart: a reduction dim with A's stride 2.
//!
//! A 1x1 stride-2 convolution reading inside the image (a ResNet downsample)
//! instead gathers the pixels it reads into a dense image and takes the
//! pointwise product over all of them; this one form also pays at the
//! portable level (`polyphase_applies`).
//!
//! The staged image costs `C x rows x 2 x half` floats of scratch, one pass
//! over the input to fill, and zeroing once per call for the padding.

use nnc_ir::Microkernel;
use nnc_ir::kernel::{ColumnBlocks, ElemType, Expr, KernelBuilder, ReductionDim, Ty};

use super::super::gemm::{self, A_BLOCK_BYTES};
use super::super::gemm_tiles::{self, TileSteps};
use super::super::signature::Operand;
use super::super::{ExtraBuffer, LowerCtx};
use super::parity::stage_row;
use super::{Convolution, Geometry, for_channel_chunks, row_loop, strides};
use nnc_ir::{DType, TensorType};

/// Where the staged image lies: `rows` rows per channel from input row
/// `-pad_h`, each `2 * half` floats (even columns, then odd).
struct Staged {
    rows: i64,
    half: i64,
}

impl Convolution<'_> {
    /// Whether the polyphase form applies: f32, two spatial dims, stride 2
    /// along the row, no dilation; at the portable level only the subsampled
    /// 1x1 form (measured on resnet18 with `--kernels portable`: its
    /// downsamples 1.7 -> 1.2 ms, but the 3x3 and 7x7 convs 61 -> 73 ms, the
    /// expanded tiles of narrow rows being slower than the portable tiled form).
    pub(super) fn polyphase_applies(&self, level: Microkernel) -> bool {
        self.x.elem() == ElemType::F32
            && self.rank() == 2
            && self.geo.strides[1] == 2
            && self.geo.dilations == [1, 1]
            && (level != Microkernel::Portable || self.reads_inside_pointwise())
    }

    fn staged(&self) -> Staged {
        let (out_h, out_w) = (self.y.shape()[2] as i64, self.y.shape()[3] as i64);
        let (kernel_h, kernel_w) = (self.geo.kernel[0] as i64, self.geo.kernel[1] as i64);
        Staged {
            rows: (out_h - 1) * self.geo.strides[0] + kernel_h,
            half: out_w + (kernel_w - 1) / 2,
        }
    }

    /// Emits the polyphase form (see the module doc); `polyphase_applies` holds.
    pub(super) fn emit_polyphase(&self, k: &mut KernelBuilder, ctx: &LowerCtx, level: Microkernel) {
        if self.reads_inside_pointwise() {
            self.emit_subsampled(k, ctx);
            return;
        }
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (c, m) = (xshape[1], yshape[1]);
        let (cg, mg) = (c / self.group, m / self.group);
        let (in_h, in_w) = (xshape[2] as i64, xshape[3] as i64);
        let (out_h, out_w) = (yshape[2] as i64, yshape[3] as i64);
        let (kernel_h, kernel_w) = (self.geo.kernel[0] as i64, self.geo.kernel[1] as i64);
        let (stride_h, pad_h, pad_w) = (self.geo.strides[0], self.geo.pads[0], self.geo.pads[1]);
        let (ys, ws) = (strides(yshape), strides(self.w.shape()));
        let at = self.staged();
        let (row, plane) = (2 * at.half, 2 * at.half * at.rows);
        let total = c * plane as usize;
        let scratch = k.buffer("scratch", ElemType::F32, total, true);
        ctx.add_extra(ExtraBuffer::Scratch { bytes: 4 * total });
        ctx.set_form("polyphase");
        // The padding: staged positions outside the image stay zero.
        row_loop(k, 0, total as i64, self.lanes, &mut |k, i, n| {
            k.store(scratch, i, Expr::f32(0.0).splat(n));
        });
        // Staged rows inside the image.
        let (r0, r1) = (pad_h.min(at.rows), (in_h + pad_h).min(at.rows));
        let lanes = self.lanes;
        let count = gemm_tiles::blocks_for(level, out_w as usize, 1) as i64;
        let row_blocks = ColumnBlocks {
            count: count as usize,
            b: stride_h * row,
            y: ys[2],
        };
        let tile_rows = gemm_tiles::tile_rows(level, out_w as usize, 1, count as usize);
        let chunk = (A_BLOCK_BYTES / (4 * ws[0].max(1) as usize)) / tile_rows * tile_rows;
        let chunk = chunk.max(tile_rows).min(mg.max(1));
        let maps = self.fusion.tile_maps(k, self.lanes);
        k.for_range("n", 0, xshape[0] as i64, 1, |k, image| {
            k.for_range("c", 0, c as i64, 1, |k, ci| {
                let channel = image.clone() * (c as i64 * in_h * in_w) + ci.clone() * (in_h * in_w);
                k.for_range("r", r0, r1, 1, |k, r| {
                    let from = channel.clone() + (r.clone() - pad_h) * in_w;
                    let from = Expr::var(k.let_var("xrow", Ty::INDEX, from));
                    let to = Expr::var(k.let_var("srow", Ty::INDEX, ci.clone() * plane + r * row));
                    stage_row(
                        k, lanes, self.x.buf, &from, in_w, pad_w, scratch, &to, at.half,
                    );
                });
            });
            k.for_range("g", 0, self.group as i64, 1, |k, g| {
                let x_chans = g.clone() * (cg as i64 * plane);
                // Output rows `oh..oh + blocks.count` of channels `first..first + rows`.
                let out_row = |k: &mut KernelBuilder,
                               first: &Expr,
                               rows: usize,
                               oh: Expr,
                               blocks: ColumnBlocks| {
                    let y_row = image.clone() * ys[0] + first.clone() * ys[1] + oh.clone() * ys[2];
                    let in_tile = |i: Expr, j: Expr| {
                        let at = y_row.clone() + i.clone() * ys[1] + j;
                        self.tile_finish(&maps, first.clone() + i, at, (ys[1], blocks.y))
                    };
                    let carried = in_tile(Expr::index(0), Expr::index(0)).is_some();
                    let finish = |k: &mut KernelBuilder, acc: Expr, i: Expr, j: Expr, lanes| {
                        let at = y_row.clone() + i.clone() * ys[1] + j;
                        self.finish(k, acc, first.clone() + i, at, lanes)
                    };
                    let parities: Vec<i64> = (0..kernel_w.min(2)).collect();
                    let last = parities.len() - 1;
                    for &parity in &parities {
                        let reduction = [
                            ReductionDim {
                                count: cg,
                                a: ws[1],
                                b: plane,
                            },
                            ReductionDim {
                                count: kernel_h as usize,
                                a: ws[2],
                                b: row,
                            },
                            ReductionDim {
                                count: ((kernel_w - parity + 1) / 2) as usize,
                                a: 2,
                                b: 1,
                            },
                        ];
                        let finishing = parity as usize == last;
                        let product = gemm::Product {
                            m: rows,
                            n: out_w as usize,
                            reduction: gemm::Reduction::Dense(0),
                            a: gemm::Matrix {
                                buf: self.w.buf,
                                offset: first.clone() * ws[0] + parity,
                                row: ws[0],
                                col: 0,
                            },
                            b: gemm::Matrix {
                                buf: scratch,
                                offset: x_chans.clone()
                                    + oh.clone() * (stride_h * row)
                                    + parity * at.half,
                                row: 0,
                                col: 1,
                            },
                            y: gemm::Matrix {
                                buf: self.y.buf,
                                offset: y_row.clone(),
                                row: ys[1],
                                col: 1,
                            },
                            epilogue: if finishing && !carried {
                                &finish
                            } else {
                                &store_as_accumulated
                            },
                            long_epilogue: true,
                        };
                        let steps = |i, j| in_tile(i, j).unwrap_or_default();
                        let steps = (finishing && carried).then_some(&steps as TileSteps);
                        gemm_tiles::emit_into(
                            k,
                            &product,
                            &reduction,
                            level,
                            lanes,
                            parity > 0,
                            blocks,
                            steps,
                        );
                    }
                };
                let block = |k: &mut KernelBuilder, m0: Expr, rows: usize| {
                    let first = g.clone() * mg as i64 + m0;
                    let grouped = out_h / count * count;
                    k.for_range("oh", 0, grouped, count, |k, oh| {
                        out_row(k, &first, rows, oh, row_blocks);
                    });
                    if grouped < out_h {
                        k.for_range("oh", grouped, out_h, 1, |k, oh| {
                            out_row(k, &first, rows, oh, ColumnBlocks::ONE);
                        });
                    }
                };
                for_channel_chunks(k, mg, chunk, &block);
            });
        });
    }
}

impl Convolution<'_> {
    /// A 1x1 convolution whose every output reads inside the image (a ResNet
    /// downsample): only the even columns of every `stride_h`-th row are read.
    fn reads_inside_pointwise(&self) -> bool {
        let (in_h, in_w) = (self.x.shape()[2] as i64, self.x.shape()[3] as i64);
        let (out_h, out_w) = (self.y.shape()[2] as i64, self.y.shape()[3] as i64);
        self.geo.kernel == [1, 1]
            && self.geo.pads == [0, 0]
            && (out_h - 1) * self.geo.strides[0] < in_h
            && (out_w - 1) * 2 < in_w
    }

    /// The pixels a 1x1 convolution reads, gathered into scratch as a dense
    /// `N x C x out_h x out_w` image, then the pointwise product over all of
    /// an image's output pixels at once (narrow rows need no column blocks).
    fn emit_subsampled(&self, k: &mut KernelBuilder, ctx: &LowerCtx) {
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (n, c) = (xshape[0], xshape[1]);
        let (in_h, in_w) = (xshape[2] as i64, xshape[3] as i64);
        let (out_h, out_w) = (yshape[2], yshape[3]);
        let total = n * c * out_h * out_w;
        let scratch = k.buffer("scratch", ElemType::F32, total, true);
        ctx.add_extra(ExtraBuffer::Scratch { bytes: 4 * total });
        ctx.set_form("polyphase");
        let stride_h = self.geo.strides[0];
        let lanes = self.lanes;
        k.for_range("nc", 0, (n * c) as i64, 1, |k, nc| {
            k.for_range("oh", 0, out_h as i64, 1, |k, oh| {
                let from = nc.clone() * (in_h * in_w) + oh.clone() * (stride_h * in_w);
                let from = Expr::var(k.let_var("xrow", Ty::INDEX, from));
                let to = (nc.clone() * out_h as i64 + oh) * out_w as i64;
                let to = Expr::var(k.let_var("srow", Ty::INDEX, to));
                row_loop(k, 0, out_w as i64, lanes, &mut |k, ow, width| {
                    let column = |l: i64| {
                        Expr::load(self.x.buf, from.clone() + (ow.clone() + l) * 2, Ty::F32)
                    };
                    let value = if width == 1 {
                        column(0)
                    } else {
                        Expr::lanes((0..width as i64).map(column).collect())
                    };
                    k.store(scratch, to.clone() + ow, value);
                });
            });
        });
        let staged = Operand {
            buf: scratch,
            ty: TensorType::new(DType::F32, vec![n, c, out_h, out_w]),
        };
        let pointwise = Convolution {
            x: &staged,
            geo: Geometry {
                kernel: vec![1, 1],
                strides: vec![1, 1],
                dilations: vec![1, 1],
                pads: vec![0, 0],
            },
            ..*self
        };
        pointwise.emit_pointwise(k, gemm::Tile::for_target(ctx.target));
    }
}

/// The epilogue of the even kernel columns' product: the accumulators as they
/// are (the odd columns' product finishes the outputs).
fn store_as_accumulated(_: &mut KernelBuilder, acc: Expr, _: Expr, _: Expr, _: u8) -> Expr {
    acc
}
