//! Image stems at the portable level: f32 2-D convolutions with stride 2
//! along the row and a short reduction (few input channels times taps, a
//! 3 x 3 RGB stem's 27), as one dense GEMM per output row.
//!
//! The input is staged once as even and odd columns (`parity::stage_row`,
//! zero rows and columns where the pads are), then per output row the
//! reduction's B rows are unfolded into a small scratch matrix: row `(c, kh,
//! kw)` is output row `oh`'s inputs at that tap, `out_w` contiguous floats
//! copied from the staged half `kw % 2` from element `kw / 2`. The product
//! `Y[m, ow] = W[m, (c, kh, kw)] * B[(c, kh, kw), ow]` is then the GEMM tile's
//! dense form (`gemm::emit`): contiguous B vectors and two steps per loop
//! iteration, where the tiled form gathers each B vector lane by lane and
//! walks the taps in three nested loops with border columns apart.
//!
//! The unfolded rows cost `K x out_w` copies per output row, against `M x K x
//! out_w` multiply-adds (32 output channels: about 3%).

use nnc_ir::Microkernel;
use nnc_ir::kernel::{ElemType, Expr, KernelBuilder, Ty};

use super::super::gemm;
use super::super::{ExtraBuffer, LowerCtx};
use super::parity::stage_row;
use super::{Convolution, row_loop, strides};

/// Most reduction steps (input channels x taps) the unfolded form takes: past
/// it the unfolded rows outgrow L1 and the tiled form reuses its loads well.
const MAX_STEPS: usize = 64;

/// Largest staged input (f32 elements): 4 MiB.
const MAX_STAGED_ELEMENTS: usize = 1 << 20;

/// The staged input: per channel `rows` rows from input row `-pad_h`, each
/// the even then the odd columns, `half` elements apiece.
struct Staged {
    rows: i64,
    half: i64,
}

impl Staged {
    fn row(&self) -> i64 {
        2 * self.half
    }
}

impl Convolution<'_> {
    fn unfolded_staging(&self) -> Staged {
        let (out_h, out_w) = (self.y.shape()[2] as i64, self.y.shape()[3] as i64);
        let (kernel_h, kernel_w) = (self.geo.kernel[0] as i64, self.geo.kernel[1] as i64);
        Staged {
            rows: (out_h - 1) * self.geo.strides[0] + (kernel_h - 1) * self.geo.dilations[0] + 1,
            half: out_w + (kernel_w - 1) / 2,
        }
    }

    /// Whether the unfolded form applies: the portable level, f32, 2-D, one
    /// group, stride 2 and no dilation along the row, a short reduction over
    /// more than one tap (a 1 x 1 stride-2 convolution is `polyphase`'s), an
    /// output row of at least a vector, and a staged input of bounded size.
    pub(super) fn unfolded_applies(&self, level: Microkernel) -> bool {
        let (xs, ws) = (self.x.shape(), self.w.shape());
        if level != Microkernel::Portable
            || self.x.elem() != ElemType::F32
            || xs.len() != 4
            || self.group != 1
            || self.lanes < 2
            || self.geo.strides[1] != 2
            || self.geo.dilations[1] != 1
            || ws[1] * ws[2] * ws[3] > MAX_STEPS
            || ws[2] * ws[3] == 1
            || self.y.shape()[3] < self.lanes as usize
        {
            return false;
        }
        let staged = self.unfolded_staging();
        xs[1] * (staged.rows * staged.row()) as usize <= MAX_STAGED_ELEMENTS
    }

    /// Emits the unfolded form (see the module doc); `unfolded_applies` holds.
    pub(super) fn emit_unfolded(&self, k: &mut KernelBuilder, ctx: &LowerCtx, tile: gemm::Tile) {
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (c, m) = (xshape[1] as i64, yshape[1]);
        let (in_h, in_w) = (xshape[2] as i64, xshape[3] as i64);
        let (out_h, out_w) = (yshape[2] as i64, yshape[3] as i64);
        let (kernel_h, kernel_w) = (self.geo.kernel[0] as i64, self.geo.kernel[1] as i64);
        let (stride_h, dil_h) = (self.geo.strides[0], self.geo.dilations[0]);
        let (pad_h, pad_w) = (self.geo.pads[0], self.geo.pads[1]);
        let ys = strides(yshape);
        let steps = (c * kernel_h * kernel_w) as usize;
        let staged = self.unfolded_staging();
        let plane = staged.rows * staged.row();
        let staged_len = (c * plane) as usize;
        let unfolded_len = steps * out_w as usize;
        let scratch = k.buffer("scratch", ElemType::F32, staged_len + unfolded_len, true);
        ctx.add_extra(ExtraBuffer::Scratch {
            bytes: 4 * (staged_len + unfolded_len),
        });
        ctx.set_form("unfolded");
        let unfolded_at = staged_len as i64;
        let lanes = self.lanes;
        // The padding: staged positions outside the image stay zero.
        row_loop(k, 0, staged_len as i64, lanes, &mut |k, i, n| {
            k.store(scratch, i, Expr::f32(0.0).splat(n));
        });
        let (r0, r1) = (pad_h.min(staged.rows), (in_h + pad_h).min(staged.rows));
        k.for_range("n", 0, xshape[0] as i64, 1, |k, image| {
            k.for_range("c", 0, c, 1, |k, ci| {
                let channel = image.clone() * (c * in_h * in_w) + ci.clone() * (in_h * in_w);
                k.for_range("r", r0, r1, 1, |k, r| {
                    let from = channel.clone() + (r.clone() - pad_h) * in_w;
                    let from = Expr::var(k.let_var("xrow", Ty::INDEX, from));
                    let to = ci.clone() * plane + r * staged.row();
                    let to = Expr::var(k.let_var("srow", Ty::INDEX, to));
                    stage_row(
                        k,
                        lanes,
                        self.x.buf,
                        &from,
                        in_w,
                        pad_w,
                        scratch,
                        &to,
                        staged.half,
                    );
                });
            });
            k.for_range("oh", 0, out_h, 1, |k, oh| {
                // B's row (ci, th, tw): the staged half `tw % 2` of input row
                // `oh * stride + th * dilation`, from element `tw / 2`.
                k.for_range("c", 0, c, 1, |k, ci| {
                    k.for_range("kh", 0, kernel_h, 1, |k, th| {
                        let row = ci.clone() * plane
                            + (oh.clone() * stride_h + th.clone() * dil_h) * staged.row();
                        let row = Expr::var(k.let_var("srow", Ty::INDEX, row));
                        let step = (ci.clone() * kernel_h + th) * kernel_w;
                        let step = Expr::var(k.let_var("step", Ty::INDEX, step));
                        for tw in 0..kernel_w {
                            let from = row.clone() + (tw % 2) * staged.half + tw / 2;
                            let to = (step.clone() + tw) * out_w + unfolded_at;
                            copy_row(k, scratch, (from, to), out_w, lanes);
                        }
                    });
                });
                let y_row = image.clone() * ys[0] + oh * ys[2];
                let y_row = Expr::var(k.let_var("yrow", Ty::INDEX, y_row));
                let epilogue = |k: &mut KernelBuilder, acc: Expr, i: Expr, j: Expr, lanes| {
                    let at = y_row.clone() + i.clone() * ys[1] + j;
                    self.finish(k, acc, i, at, lanes)
                };
                let product = gemm::Product {
                    m,
                    n: out_w as usize,
                    reduction: gemm::Reduction::Dense(steps),
                    a: gemm::Matrix::row_major(self.w.buf, Expr::index(0), steps),
                    b: gemm::Matrix::row_major(scratch, Expr::index(unfolded_at), out_w as usize),
                    y: gemm::Matrix {
                        buf: self.y.buf,
                        offset: y_row.clone(),
                        row: ys[1],
                        col: 1,
                    },
                    epilogue: &epilogue,
                    long_epilogue: self.fusion.is_long(),
                };
                gemm::emit(k, &product, tile, lanes);
            });
        });
    }
}

/// Copies `n` (at least `lanes`) contiguous floats of `buf` from `from` to
/// `to`: whole vectors, then one vector ending at the last float.
fn copy_row(
    k: &mut KernelBuilder,
    buf: nnc_ir::kernel::BufId,
    (from, to): (Expr, Expr),
    n: i64,
    lanes: u8,
) {
    let l = lanes as i64;
    let ty = Ty::vector(ElemType::F32, lanes);
    let whole = n / l * l;
    let copy = |k: &mut KernelBuilder, at: i64| {
        let value = Expr::load(buf, from.clone() + at, ty);
        k.store(buf, to.clone() + at, value);
    };
    for at in (0..whole).step_by(lanes as usize) {
        copy(k, at);
    }
    if whole < n {
        copy(k, n - l);
    }
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::Conv;
    use nnc_ir::{DType, Op};

    use super::super::super::lower_node_full;
    use super::super::super::random_tensors::{random_small as random, rng};
    use super::super::super::testing::{
        check_lowering_on_16_and_32_registers, round_pads, single_node_graph, test_target,
    };

    /// Stems with one to four input channels, kernels 1 x 2 to 5 x 5, row
    /// strides 1 to 3 with dilation, pads from none to past the kernel,
    /// output widths with and without a partial last vector, against the
    /// reference, at the portable level on 16 and 32 registers.
    #[test]
    fn stride_two_stems_unfolded_per_output_row() {
        let mut rng = rng(61);
        for round in 0..18 {
            let kernel = [[3, 3], [5, 5], [3, 2], [1, 4], [2, 3], [4, 1]][round % 6];
            let channels = 1 + round % 4;
            let outputs = [4, 8, 13, 32, 13][round % 5];
            let width = [8, 9, 17, 24, 31, 40][(round / 2) % 6];
            let height = 3 + (round * 7) % 11;
            let pads = round_pads(round, kernel);
            let (stride_h, dilation_h) = [(2, 1), (1, 1), (3, 2)][(round / 6) % 3];
            if height + pads[0] + pads[2] < (kernel[0] - 1) * dilation_h + 1
                || width + pads[1] + pads[3] < kernel[1]
            {
                continue;
            }
            let x = random(
                &mut rng,
                DType::F32,
                &[1 + round % 2, channels, height, width],
            );
            let w = random(
                &mut rng,
                DType::F32,
                &[outputs, channels, kernel[0], kernel[1]],
            );
            let b = random(&mut rng, DType::F32, &[outputs]);
            let op = Op::Conv(Conv {
                kernel_shape: kernel.to_vec(),
                strides: vec![stride_h, 2],
                pads: pads.to_vec(),
                dilations: vec![dilation_h, 1],
                group: 1,
            });
            let bias = (round % 3 != 2).then_some(&b);
            let inputs = [Some(&x), Some(&w), bias];
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            // Output channels not in whole vectors (not the channel-vector
            // form), a short reduction, a row of at least a vector.
            let out_w = (width + pads[1] + pads[3] - kernel[1]) / 2 + 1;
            let steps = channels * kernel[0] * kernel[1];
            if outputs == 13 && channels > 1 && steps <= super::MAX_STEPS && out_w >= 4 {
                let (_, node) = graph.nodes().next().expect("one node");
                let lowered = lower_node_full(&graph, node, &test_target()).expect("lowers");
                assert_eq!(lowered.form, Some("unfolded"), "round {round}");
            }
            check_lowering_on_16_and_32_registers(&graph, &inputs, 1e-5, 1e-4);
        }
    }
}
