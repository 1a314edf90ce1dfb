//! Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (f32, one group): each
//! 2x2 block ("tile") of output pixels costs 16 multiplies per (input channel,
//! output channel) pair instead of 36.
//!
//! With `d` a tile's 4x4 input patch and `g` a 3x3 filter, `Y = A^T [(G g
//! G^T) . (B^T d B)] A` (elementwise product in the middle). The filter
//! transform `U = G g G^T` is done here, at compile time, into a derived
//! weight (`ExtraBuffer::Weight`, laid out `U[xi][m][c]` for the 16 positions
//! `xi` of the 4x4 transform). Per block of tile rows, the kernel then
//!
//! 1. transforms the inputs: `V[xi][c][t] = (B^T d B)[xi]` per input channel and
//!    tile (`transforms`);
//! 2. does the 16 products `M[xi] = U[xi] . V[xi]` (output channels x input
//!    channels times input channels x tiles): plain dense GEMMs, so the wide
//!    microkernels or the portable tiles take them as they take a pointwise
//!    convolution;
//! 3. transforms the products back, `Y = A^T M A` per output channel and tile,
//!    then adds the bias and applies the fused steps. These come after the
//!    transform, never inside the products: the transform is linear, a fused
//!    ReLU or Clip is not, and a bias inside M would be summed 4 times.
//!
//! V and M live in scratch memory (`ExtraBuffer::Scratch`), one block of tile
//! rows at a time, so they stay around the L2 cache's size instead of 4x the
//! input and output ([`BLOCK_BYTES`]). Padding and partial tiles (odd output
//! sizes) are handled by staging a block's input rows, per channel, in
//! zero-padded row buffers (as even and odd columns, see `transforms`), and
//! each tile row's 2 output rows in an output row buffer from which only the
//! real pixels are stored.
//!
//! F(4x4, 3x3) would take the same three stages with 6x6 transforms (36
//! products per 16 outputs: 2.25 multiplies per output against 4 here, against
//! 9 direct), at the price of transform constants up to 8 and a larger V.

#[cfg(test)]
mod tests;
mod transforms;

use nnc_ir::Tensor;
use nnc_ir::kernel::{BufId, ElemType, Expr, KernelBuilder, Ty};

use super::super::gemm;
use super::super::{ExtraBuffer, LowerCtx};
use super::parity::{parity_range, stage_row};
use super::{Convolution, row_loop};

/// Fewest input and output channels for which Winograd is chosen. The
/// transforms cost per (channel, tile) about what the products cost per
/// (channel pair, tile) / 16: with few channels they are not amortised.
pub(super) const MIN_CHANNELS: usize = 16;

/// Bytes of V and M one block of tile rows aims at (L2 is 1 MiB per core on
/// the machines measured).
const BLOCK_BYTES: usize = 1 << 20;

/// Fewest tiles (GEMM columns) a block takes: narrower products leave the
/// microkernel's columns idle and reread U more often.
const MIN_BLOCK_TILES: usize = 48;

/// Where a kernel's working buffers lie in its scratch (f32 elements).
#[derive(Clone, Copy)]
struct Layout {
    scratch: BufId,
    filters: BufId,
    /// The `2 * rows + 2` zero-padded input rows of a block of tile rows (tile
    /// row `r` reads rows `2r..2r + 3`), each as its even and its odd columns
    /// (`half` each): tile `t`'s columns `2t..2t + 3` are then element `t` and
    /// `t + 1` of each, and a vector of tiles one load.
    padded: i64,
    half: i64,
    /// The 2 output rows of a tile row, `2 * tiles_w` each.
    outputs: i64,
    /// `V[xi][c][t]` and `M[xi][m][t]`, `t` over the block's tiles (`block`).
    v: i64,
    m: i64,
    block: i64,
    tiles_w: i64,
}

impl Convolution<'_> {
    /// Whether this convolution takes Winograd: 3x3, stride and dilation 1, one
    /// group, f32, enough channels, a constant weight, and not switched off.
    pub(super) fn winograd_applies(&self, ctx: &LowerCtx) -> bool {
        !ctx.target.no_winograd
            && self.x.elem() == ElemType::F32
            && self.rank() == 2
            && self.geo.kernel == [3, 3]
            && self.geo.strides == [1, 1]
            && self.geo.dilations == [1, 1]
            && self.group == 1
            && self.x.shape()[1] >= MIN_CHANNELS
            && self.y.shape()[1] >= MIN_CHANNELS
            && self.weight(ctx).is_some()
    }

    fn weight<'g>(&self, ctx: &LowerCtx<'g>) -> Option<&'g Tensor> {
        let w = ctx.node.inputs.get(1).copied().flatten()?;
        ctx.graph
            .known_value(w)
            .filter(|t| t.dtype() == nnc_ir::DType::F32)
    }

    /// Emits the Winograd form (see the module doc); `winograd_applies` holds.
    pub(super) fn emit_winograd(
        &self,
        k: &mut KernelBuilder,
        ctx: &LowerCtx,
    ) -> Result<(), super::super::LowerError> {
        let weight = self
            .weight(ctx)
            .ok_or_else(|| ctx.unsupported("Winograd needs a constant f32 weight"))?;
        let (c, m) = (self.x.shape()[1], self.y.shape()[1]);
        let (out_h, out_w) = (self.y.shape()[2], self.y.shape()[3]);
        let (tiles_h, tiles_w) = (out_h.div_ceil(2), out_w.div_ceil(2));
        // Tile rows per block: V and M near BLOCK_BYTES, at least MIN_BLOCK_TILES.
        let row_bytes = 16 * 4 * (c + m) * tiles_w;
        let rows = (BLOCK_BYTES / row_bytes)
            .max(MIN_BLOCK_TILES.div_ceil(tiles_w))
            .clamp(1, tiles_h);
        let block = rows * tiles_w;
        let half = tiles_w + 1;
        let align = |n: usize| n.div_ceil(16) * 16;
        let staged = 2 * (2 * rows + 2) * half;
        let outputs = align(staged);
        let v = outputs + align(4 * tiles_w);
        let m_at = v + 16 * c * block;
        let total = m_at + 16 * m * block;

        let filters = filter_transform(weight, m, c)
            .map_err(|e| ctx.unsupported(format!("Winograd filter transform: {e}")))?;
        let filters_buf = k.buffer("winograd_filters", ElemType::F32, filters.len(), false);
        ctx.add_extra(ExtraBuffer::Weight(filters));
        // U (16 values per filter) replaces W (9): W is not kept.
        ctx.set_unread(1);
        let scratch = k.buffer("scratch", ElemType::F32, total, true);
        ctx.add_extra(ExtraBuffer::Scratch { bytes: 4 * total });
        ctx.set_form("winograd");
        let layout = Layout {
            scratch,
            filters: filters_buf,
            padded: 0,
            half: half as i64,
            outputs: outputs as i64,
            v: v as i64,
            m: m_at as i64,
            block: block as i64,
            tiles_w: tiles_w as i64,
        };
        let tile = gemm::Tile::for_target(ctx.target);
        let full = tiles_h / rows * rows;
        k.for_range("n", 0, self.x.shape()[0] as i64, 1, |k, image| {
            // Columns outside the image stay zero in the padded rows.
            row_loop(k, 0, staged as i64, self.lanes, &mut |k, i, n| {
                k.store(scratch, i, Expr::f32(0.0).splat(n));
            });
            k.for_range("tb", 0, full as i64, rows as i64, |k, th0| {
                self.winograd_block(k, &layout, tile, &image, th0, rows);
            });
            if full < tiles_h {
                let th0 = Expr::index(full as i64);
                self.winograd_block(k, &layout, tile, &image, th0, tiles_h - full);
            }
        });
        Ok(())
    }

    /// The three stages for tile rows `th0..th0 + rows` of one image.
    fn winograd_block(
        &self,
        k: &mut KernelBuilder,
        at: &Layout,
        tile: gemm::Tile,
        image: &Expr,
        th0: Expr,
        rows: usize,
    ) {
        let (c, m) = (self.x.shape()[1], self.y.shape()[1]);
        k.for_range("c", 0, c as i64, 1, |k, ci| {
            self.stage_input_rows(k, at, image, &ci, &th0, rows);
            k.for_range("r", 0, rows as i64, 1, |k, r| {
                self.transform_inputs(k, at, &ci, &r);
            });
        });
        let identity = |_: &mut KernelBuilder, acc: Expr, _: Expr, _: Expr, _: u8| acc;
        k.for_range("xi", 0, 16, 1, |k, xi| {
            let product = gemm::Product {
                m,
                n: rows * at.tiles_w as usize,
                reduction: gemm::Reduction::Dense(c),
                a: gemm::Matrix::row_major(at.filters, xi.clone() * (m * c) as i64, c),
                b: gemm::Matrix {
                    buf: at.scratch,
                    offset: xi.clone() * (c as i64 * at.block) + at.v,
                    row: at.block,
                    col: 1,
                },
                y: gemm::Matrix {
                    buf: at.scratch,
                    offset: xi * (m as i64 * at.block) + at.m,
                    row: at.block,
                    col: 1,
                },
                epilogue: &identity,
                long_epilogue: false,
            };
            gemm::emit(k, &product, tile, self.lanes);
        });
        k.for_range("m", 0, m as i64, 1, |k, co| {
            k.for_range("r", 0, rows as i64, 1, |k, r| {
                self.transform_outputs(k, at, &co, &r);
                self.store_output_rows(k, at, image, &co, th0.clone() + r);
            });
        });
    }

    /// Copies the input rows of tile rows `th0..th0 + rows` (channel `ci`)
    /// into the padded rows, split into even and odd columns (`parity`); rows
    /// outside the image become zeros.
    fn stage_input_rows(
        &self,
        k: &mut KernelBuilder,
        at: &Layout,
        image: &Expr,
        ci: &Expr,
        th0: &Expr,
        rows: usize,
    ) {
        let xshape = self.x.shape();
        let (h, w) = (xshape[2] as i64, xshape[3] as i64);
        let (pad_h, pad_w) = (self.geo.pads[0], self.geo.pads[1]);
        let channel = image.clone() * (xshape[1] as i64 * h * w) + ci.clone() * (h * w);
        k.for_range("i", 0, 2 * rows as i64 + 2, 1, |k, i| {
            let ih = th0.clone() * 2 + i.clone() - pad_h;
            let ih = Expr::var(k.let_var("ih", Ty::INDEX, ih));
            let inside = ih
                .clone()
                .ge(Expr::index(0))
                .binary(nnc_ir::kernel::BinaryOp::And, ih.clone().lt(Expr::index(h)));
            k.if_else(
                inside,
                |k| {
                    let from =
                        Expr::var(k.let_var("xrow", Ty::INDEX, channel.clone() + ih.clone() * w));
                    let to = i.clone() * (2 * at.half) + at.padded;
                    stage_row(
                        k, self.lanes, self.x.buf, &from, w, pad_w, at.scratch, &to, at.half,
                    );
                },
                |k| {
                    for parity in 0..2 {
                        let (q0, q1) = parity_range(at.half, w, parity - pad_w);
                        let row = (i.clone() * 2 + parity) * at.half + at.padded;
                        row_loop(k, q0, q1, self.lanes, &mut |k, q, n| {
                            k.store(at.scratch, q + row.clone(), Expr::f32(0.0).splat(n));
                        });
                    }
                },
            );
        });
    }

    /// Stores the 2 output rows of tile row `th` (channel `co`) that lie in the
    /// output, finished: bias, then the fused steps.
    fn store_output_rows(
        &self,
        k: &mut KernelBuilder,
        at: &Layout,
        image: &Expr,
        co: &Expr,
        th: Expr,
    ) {
        let yshape = self.y.shape();
        let (out_h, out_w) = (yshape[2] as i64, yshape[3] as i64);
        let channel =
            image.clone() * (yshape[1] as i64 * out_h * out_w) + co.clone() * (out_h * out_w);
        for i in 0..2 {
            let oh = Expr::var(k.let_var("oh", Ty::INDEX, th.clone() * 2 + i));
            let store = |k: &mut KernelBuilder| {
                let from = at.outputs + i * 2 * at.tiles_w;
                let to = channel.clone() + oh.clone() * out_w;
                row_loop(k, 0, out_w, self.lanes, &mut |k, ow, n| {
                    let acc =
                        Expr::load(at.scratch, ow.clone() + from, Ty::vector(ElemType::F32, n));
                    let index = to.clone() + ow;
                    let value = self.finish(k, acc, co.clone(), index.clone(), n);
                    k.store(self.y.buf, index, value);
                });
            };
            if out_h % 2 == 0 {
                store(k);
            } else {
                k.if_then(oh.clone().lt(Expr::index(out_h)), store);
            }
        }
    }
}

/// `U[xi][m][c] = (G g G^T)[xi]` for each filter `g = W[m][c]`, with `G` the
/// F(2x2, 3x3) filter transform (rows `[1, 0, 0]`, `[1/2, 1/2, 1/2]`, `[1/2,
/// -1/2, 1/2]`, `[0, 0, 1]`), computed in f64.
fn filter_transform(weight: &Tensor, m: usize, c: usize) -> Result<Tensor, nnc_ir::OpError> {
    const G: [[f64; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    let w = weight.to_f64_vec();
    let mut u = vec![0f32; 16 * m * c];
    for (mc, g) in w.chunks_exact(9).enumerate().take(m * c) {
        // G g: 4 x 3, then (G g) G^T: 4 x 4.
        let mut gg = [[0f64; 3]; 4];
        for (a, row) in gg.iter_mut().enumerate() {
            for (j, value) in row.iter_mut().enumerate() {
                *value = (0..3).map(|i| G[a][i] * g[i * 3 + j]).sum();
            }
        }
        for a in 0..4 {
            for b in 0..4 {
                let value: f64 = (0..3).map(|j| gg[a][j] * G[b][j]).sum();
                u[(a * 4 + b) * m * c + mc] = value as f32;
            }
        }
    }
    Tensor::from_vec(vec![16, m, c], u)
}
