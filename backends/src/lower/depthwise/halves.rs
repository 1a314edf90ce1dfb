//! Depthwise planes with stride 2 along the row, where no wide microkernel
//! takes them (the portable 128-bit code of aarch64, riscv64, wasm32): each
//! input plane is first staged in scratch, row by row, as its even columns
//! then its odd ones (`conv::parity`), with zero rows and columns where the
//! pads are. Output column `o` at kernel column `kw` reads element `o + kw / 2`
//! of the `kw % 2` half of its staged row, so every tap is one contiguous
//! vector load per accumulator and every computed lane is an output.
//!
//! The row-tiled form instead reads a stride-2 row at stride 1 and keeps the
//! even lanes: twice the multiply-adds, and each output extracted and stored
//! alone (MobileNetV2's stride-2 depthwise layers ran at 19% of the 128-bit
//! peak that way). Staging costs one pass over the input that gathers its
//! lanes (each element once, where the taps read it about `KH * KW / 4` times)
//! and zeroing the staged plane once per call; with the padding in the staged
//! plane there are no border rows or columns to treat apart.
//!
//! A staged vector of even (odd) columns is the even (odd) lanes of two
//! vectors read from the input row, one shuffle each (`parity::stage_row`).

use nnc_ir::Microkernel;
use nnc_ir::kernel::{BufId, ElemType, Expr, KernelBuilder, Ty, VarId};

use super::super::conv::parity::stage_row;
use super::super::gemm::Epilogue;
use super::{Depthwise, Plane, Tile, UNROLLED_TAPS, zero_scratch};

/// Largest staged plane (f32 elements) the form takes: 1 MiB, a 512 x 512
/// input plane.
const MAX_SCRATCH_ELEMENTS: i64 = 1 << 18;

/// The staged plane: `rows` rows from input row `-pad_h`, each the even then
/// the odd columns, `half` elements apiece, from input column `-pad_w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StagedHalves {
    rows: i64,
    half: i64,
}

impl StagedHalves {
    /// Elements of the scratch buffer.
    pub fn elements(&self) -> usize {
        (self.rows * 2 * self.half) as usize
    }
}

/// Where one tile lies: `rows` output rows from `row`, `vectors` vectors of
/// `lanes` output columns from `col`.
struct Block {
    row: Expr,
    rows: usize,
    col: Expr,
    vectors: usize,
    lanes: u8,
}

impl Depthwise<'_> {
    /// The staged layout, when this form applies: stride 2 and no dilation
    /// along the row, a plane the wide form (at `level`) does not take, and a
    /// staged plane of bounded size.
    pub(crate) fn staged_halves(&self, level: Microkernel, lanes: u8) -> Option<StagedHalves> {
        let (_, _, oh, ow) = self.dims();
        let ([kh, kw], [sh, sw], [dh, dw]) = (self.kernel, self.strides, self.dilations);
        if lanes < 2 || sw != 2 || dw != 1 || oh < 1 || ow < 1 || self.wide_applies(level) {
            return None;
        }
        let staged = StagedHalves {
            rows: (oh - 1) * sh + (kh - 1) * dh + 1,
            half: ow + (kw - 1) / 2,
        };
        (staged.elements() as i64 <= MAX_SCRATCH_ELEMENTS).then_some(staged)
    }

    /// The whole convolution through `scratch` (`staged.elements()` f32):
    /// zeroed once, then per input channel its plane staged and each of its
    /// output channels computed from the staged halves.
    pub(crate) fn emit_halves(
        &self,
        k: &mut KernelBuilder,
        scratch: BufId,
        staged: StagedHalves,
        tile: Tile,
        lanes: u8,
        epi: Epilogue,
    ) {
        let (h, w, oh, ow) = self.dims();
        let (images, channels, outputs) = self.counts();
        let multiplier = outputs / channels;
        let taps = self.kernel[0] * self.kernel[1];
        // Zeros where the pads are: staging writes only the image's elements.
        let elements = staged.elements() as i64;
        zero_scratch(k, scratch, elements, lanes);
        let ph = self.pads[0];
        // Staged rows that hold an input row.
        let (first, end) = (ph.max(0), (ph + h).min(staged.rows));
        k.for_range("n", 0, images, 1, |k, image| {
            k.for_range("c", 0, channels, 1, |k, ic| {
                let x_plane = (image.clone() * channels + ic.clone()) * (h * w);
                let x_plane = Expr::var(k.let_var("xplane", Ty::INDEX, x_plane));
                k.for_range("sr", first, end, 1, |k, r| {
                    let from = x_plane.clone() + (r.clone() - ph) * w;
                    let from = Expr::var(k.let_var("from", Ty::INDEX, from));
                    let to = Expr::var(k.let_var("to", Ty::INDEX, r * (2 * staged.half)));
                    let (x, pw) = (self.x.buf, self.pads[1]);
                    stage_row(k, lanes, x, &from, w, pw, scratch, &to, staged.half);
                });
                let plane = |k: &mut KernelBuilder, oc: Expr| {
                    let y_plane = (image.clone() * outputs + oc.clone()) * (oh * ow);
                    let plane = Plane {
                        x: Expr::index(0),
                        y: Expr::var(k.let_var("yplane", Ty::INDEX, y_plane)),
                        w: Expr::var(k.let_var("wplane", Ty::INDEX, oc.clone() * taps)),
                        channel: oc,
                    };
                    self.emit_halves_plane(k, scratch, staged, &plane, (tile, lanes), epi);
                };
                if multiplier == 1 {
                    plane(k, ic.clone());
                } else {
                    k.for_range("mult", 0, multiplier, 1, |k, m| {
                        plane(k, ic.clone() * multiplier + m);
                    });
                }
            });
        });
    }

    /// One output plane from the staged one: blocks of `tile.rows` rows (the
    /// rest one row at a time), each cut into tiles of `tile.vectors` vectors
    /// in a loop, then single vectors, then one vector ending at the row's
    /// end (it overlaps stored outputs and recomputes the same values); rows
    /// narrower than a vector take one column at a time.
    fn emit_halves_plane(
        &self,
        k: &mut KernelBuilder,
        scratch: BufId,
        staged: StagedHalves,
        p: &Plane,
        (tile, lanes): (Tile, u8),
        epi: Epilogue,
    ) {
        let (_, _, oh, ow) = self.dims();
        let l = lanes as i64;
        let width = tile.vectors as i64 * l;
        let row_block = |k: &mut KernelBuilder, row: Expr, rows: usize| {
            let tile_at = |k: &mut KernelBuilder, col: Expr, vectors: usize, lanes: u8| {
                let block = Block {
                    row: row.clone(),
                    rows,
                    col,
                    vectors,
                    lanes,
                };
                self.emit_halves_tile(k, scratch, staged, p, &block, tile.unroll_taps, epi);
            };
            if ow < l {
                for col in 0..ow {
                    tile_at(k, Expr::index(col), 1, 1);
                }
                return;
            }
            let main = ow / width * width;
            if main > width {
                k.for_range("ow", 0, main, width, |k, col| {
                    tile_at(k, col, tile.vectors, lanes)
                });
            } else if main > 0 {
                tile_at(k, Expr::index(0), tile.vectors, lanes);
            }
            let vectors_end = ow / l * l;
            for col in (main..vectors_end).step_by(lanes as usize) {
                tile_at(k, Expr::index(col), 1, lanes);
            }
            if vectors_end < ow {
                tile_at(k, Expr::index(ow - l), 1, lanes);
            }
        };
        let rows = tile.rows as i64;
        let blocked = oh / rows * rows;
        if blocked > 0 {
            k.for_range("oh", 0, blocked, rows, |k, row| {
                row_block(k, row, tile.rows)
            });
        }
        if blocked < oh {
            k.for_range("oh", blocked, oh, 1, |k, row| row_block(k, row, 1));
        }
    }

    /// One register tile over every tap: per kernel row, the even kernel
    /// columns read the even half, the odd ones the odd half, each tap one
    /// splatted weight and one vector load per accumulator. Where the target
    /// unrolls taps, a half's taps are unrolled when they are few.
    #[allow(clippy::too_many_arguments)]
    fn emit_halves_tile(
        &self,
        k: &mut KernelBuilder,
        scratch: BufId,
        staged: StagedHalves,
        p: &Plane,
        b: &Block,
        unroll: bool,
        epi: Epilogue,
    ) {
        let (_, _, _, ow) = self.dims();
        let ([kh, kw], [sh, _], [dh, _]) = (self.kernel, self.strides, self.dilations);
        let ty = Ty::vector(ElemType::F32, b.lanes);
        let l = b.lanes as i64;
        let acc: Vec<Vec<VarId>> = (0..b.rows)
            .map(|_| {
                (0..b.vectors)
                    .map(|_| k.let_var("acc", ty, Expr::f32(0.0).splat(b.lanes)))
                    .collect()
            })
            .collect();
        let row_len = 2 * staged.half;
        // Each output row's staged window at kernel row 0, set before the
        // kernel-row loop: its accesses stay affine in the kernel row
        // (induction pointers instead of recomputed addresses).
        let tops: Vec<Expr> = (0..b.rows as i64)
            .map(|r| {
                let at = (b.row.clone() + r) * sh * row_len + b.col.clone();
                Expr::var(k.let_var("stop", Ty::INDEX, at))
            })
            .collect();
        k.for_range("kh", 0, kh, 1, |k, th| {
            let starts: Vec<Expr> = tops
                .iter()
                .map(|top| top.clone() + th.clone() * (dh * row_len))
                .collect();
            let w_row = p.w.clone() + th * kw;
            for parity in 0..2 {
                // Kernel column `2 j + parity` reads element `o + j` of the half.
                let count = (kw - parity + 1) / 2;
                let tap = |k: &mut KernelBuilder, j: Expr| {
                    let wv =
                        Expr::load(self.w.buf, w_row.clone() + j.clone() * 2 + parity, Ty::F32);
                    let wv = k.let_var("w", ty, wv.splat(b.lanes));
                    for (r, start) in starts.iter().enumerate() {
                        for (v, &a) in acc[r].iter().enumerate() {
                            let at =
                                start.clone() + parity * staged.half + j.clone() + v as i64 * l;
                            let xv = Expr::load(scratch, at, ty);
                            // The loaded input first: x86_64's FMA overwrites its
                            // first multiplicand, a fresh register here, where the
                            // shared weight would need a copy per FMA.
                            k.assign(a, xv.fma(Expr::var(wv), Expr::var(a)));
                        }
                    }
                };
                if unroll && count <= UNROLLED_TAPS {
                    for j in 0..count {
                        tap(k, Expr::index(j));
                    }
                } else if count > 0 {
                    k.for_range("kw", 0, count, 1, tap);
                }
            }
        });
        for (r, accs) in acc.iter().enumerate() {
            let y_row = p.y.clone() + (b.row.clone() + r as i64) * ow + b.col.clone();
            for (v, &a) in accs.iter().enumerate() {
                let at = y_row.clone() + v as i64 * l;
                let value = epi(k, Expr::var(a), p.channel.clone(), at.clone(), b.lanes);
                k.store(self.y.buf, at, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::Conv;
    use nnc_ir::{DType, Op};

    use super::super::super::random_tensors::{random_small as random, rng};
    use super::super::super::testing::{
        check_lowering_on_16_and_32_registers, round_pads, single_node_graph,
    };

    /// Stride-2 rows of every width from narrower than a vector to several
    /// staged vector blocks with tails, odd and even pads up to past the
    /// kernel, row strides 1 and 2 with dilation, channel multipliers, against
    /// the reference, at the portable level on 16 and 32 registers.
    #[test]
    fn stride_two_rows_from_staged_halves() {
        let mut rng = rng(53);
        for round in 0..24 {
            let kernel = [[3, 3], [5, 5], [3, 2], [1, 4], [7, 3], [2, 1]][round % 6];
            let width = [3, 9, 16, 17, 23, 40, 31, 112][round % 8];
            let height = 2 + (round * 5) % 13;
            let pads = round_pads(round, kernel);
            let (stride_h, dilation_h) = [(2, 1), (1, 1), (2, 2), (1, 2)][(round / 6) % 4];
            if height + pads[0] + pads[2] < (kernel[0] - 1) * dilation_h + 1
                || width + pads[1] + pads[3] < kernel[1]
            {
                continue;
            }
            let channels = 1 + round % 3;
            let multiplier = if round % 5 == 4 { 2 } else { 1 };
            let outputs = channels * multiplier;
            let x = random(
                &mut rng,
                DType::F32,
                &[1 + round % 2, channels, height, width],
            );
            let w = random(&mut rng, DType::F32, &[outputs, 1, kernel[0], kernel[1]]);
            let b = random(&mut rng, DType::F32, &[outputs]);
            let op = Op::Conv(Conv {
                kernel_shape: kernel.to_vec(),
                strides: vec![stride_h, 2],
                pads: pads.to_vec(),
                dilations: vec![dilation_h, 1],
                group: channels,
            });
            let inputs = [Some(&x), Some(&w), Some(&b)];
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            check_lowering_on_16_and_32_registers(&graph, &inputs, 1e-5, 1e-4);
        }
    }
}
