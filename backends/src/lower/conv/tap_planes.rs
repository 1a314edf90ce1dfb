//! Stem convolutions (few input channels, narrow output rows) on wide targets
//! as one GEMM over all of an image's output pixels: `Y[m, p] = W[m, k] *
//! B[k, p]`, `p` the pixel `oh * OW + ow`, so the output comes out in NCHW and
//! the tiles are as wide as the image, not as one narrow row (a keyword
//! spotter's 5-pixel rows leave most of a row tile's lanes idle).
//!
//! B is not gathered per tap (an im2col of `C x KH x KW` rows): the input is
//! staged once per image as *tap planes*, one per (input channel, row phase
//! `kh % stride_h`, kernel column `kw`), plane `(c, phase, kw)` holding
//! `X[c, stride_h * r + phase - pad_h, ow * stride_w + kw * dilation_w -
//! pad_w]` at `(r, ow)` (zero outside the image). Kernel row `kh = stride_h *
//! q + phase` of pixel `(oh, ow)` then reads element `(oh + q) * OW + ow = q *
//! OW + p` of its plane: for every tap, B's row is the plane from `q * OW` on,
//! contiguous over all pixels. The planes take `C x stride_h x KW x (OH +
//! KH / stride_h) x OW` floats, `KH / stride_h` times fewer than an im2col.
//!
//! The reduction's dims: input channels, `q`, and (phase, kw) as one dim (the
//! planes of a channel are in that order, and the weights of kernel row
//! `stride_h * q + phase` are `phase * KW + kw` after those of row `stride_h *
//! q`). When `stride_h` does not divide KH, the last `q` has only the phases
//! below `KH % stride_h`: a second product adds them and finishes Y.
//! The bias and fused steps ride in the finishing product's tiles when they
//! can, else a pass over each stored tile applies them.

use nnc_ir::Microkernel;
use nnc_ir::kernel::{BufId, ColumnBlocks, ElemType, Expr, KernelBuilder, ReductionDim, Ty};

use super::super::gemm;
use super::super::gemm_tiles::{self, TileSteps};
use super::super::{ExtraBuffer, LowerCtx};
use super::{Convolution, row_loop, strides};

/// The most scratch the planes may take: beyond a few times the L2-resident
/// sizes measured (kws_dscnn's stem: 4.8 KB), the channel-vector form, which
/// stages nothing, is left to take the convolution.
const MAX_PLANES_BYTES: usize = 256 * 1024;

/// The fewest output channels for which the planes pay: with fewer, staging
/// them costs more than the GEMM saves (measured on random stems at
/// avx512f: 4 channels 0.3 -> 0.5 us, 8 channels 1.2 -> 0.8 us).
const MIN_OUTPUT_CHANNELS: usize = 8;

/// Where the tap planes lie: per input channel `phases x kernel_w` planes of
/// `rows x cols` floats.
#[derive(Clone, Copy)]
struct Planes {
    phases: i64,
    kernel_w: i64,
    rows: i64,
    cols: i64,
}

impl Planes {
    fn plane(&self) -> i64 {
        self.rows * self.cols
    }

    fn per_channel(&self) -> i64 {
        self.phases * self.kernel_w * self.plane()
    }
}

impl Convolution<'_> {
    /// Whether the tap-plane form applies (where the channel-vector form
    /// would, `channel_vectors_apply`): no dilation along the rows (the row
    /// phases are those of the kernel rows), at least
    /// [`MIN_OUTPUT_CHANNELS`], planes within [`MAX_PLANES_BYTES`]. Every
    /// level: at the portable one (128-bit vectors, 4 x 8 tiles) kws_dscnn's
    /// stem took 0.80x the time of the channel vectors (min of 2000 calls).
    pub(super) fn tap_planes_apply(&self) -> bool {
        self.w.shape()[0] >= MIN_OUTPUT_CHANNELS
            && self.x.elem() == ElemType::F32
            && self.rank() == 2
            && self.group == 1
            && self.geo.dilations[0] == 1
            && self.geo.strides.iter().all(|&s| s >= 1)
            && 4 * self.x.shape()[1] * self.planes().per_channel() as usize <= MAX_PLANES_BYTES
    }

    fn planes(&self) -> Planes {
        let (out_h, out_w) = (self.y.shape()[2] as i64, self.y.shape()[3] as i64);
        let (kernel_h, stride_h) = (self.geo.kernel[0] as i64, self.geo.strides[0]);
        Planes {
            // A kernel shorter than the stride has fewer phases.
            phases: stride_h.min(kernel_h),
            kernel_w: self.geo.kernel[1] as i64,
            // Output row `oh` reads plane rows `oh..oh + ceil(KH / stride_h)`.
            rows: out_h + (kernel_h + stride_h - 1) / stride_h - 1,
            cols: out_w,
        }
    }

    /// Emits the tap-plane form (see the module doc); `tap_planes_apply` holds.
    pub(super) fn emit_tap_planes(
        &self,
        k: &mut KernelBuilder,
        ctx: &LowerCtx,
        level: Microkernel,
    ) {
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (c, m) = (xshape[1] as i64, yshape[1]);
        let (ys, ws) = (strides(yshape), strides(self.w.shape()));
        let (kernel_h, kernel_w) = (self.geo.kernel[0] as i64, self.geo.kernel[1] as i64);
        let stride_h = self.geo.strides[0];
        let at = self.planes();
        let total = (c * at.per_channel()) as usize;
        let scratch = k.buffer("planes", ElemType::F32, total, true);
        ctx.add_extra(ExtraBuffer::Scratch { bytes: 4 * total });
        ctx.set_form("tap planes");
        let maps = self.fusion.tile_maps(k, self.lanes);
        let full_q = kernel_h / stride_h;
        let rest = kernel_h % stride_h;
        k.for_range("n", 0, xshape[0] as i64, 1, |k, image| {
            self.stage_planes(k, &image, scratch, at);
            let y0 = image.clone() * ys[0];
            let y0 = Expr::var(k.let_var("y0", Ty::INDEX, y0));
            let in_tile = |i: Expr, j: Expr| {
                let at = y0.clone() + i.clone() * ys[1] + j;
                self.tile_finish(&maps, i, at, (ys[1], 0))
            };
            let carried = in_tile(Expr::index(0), Expr::index(0)).is_some();
            let finish = |k: &mut KernelBuilder, acc: Expr, i: Expr, j: Expr, lanes| {
                let at = y0.clone() + i.clone() * ys[1] + j;
                self.finish(k, acc, i, at, lanes)
            };
            // (first q, q count, phases) of each product: the whole kernel
            // rows' phases, then the last kernel rows' few.
            let parts: Vec<(i64, i64, i64)> = [(0, full_q, stride_h), (full_q, 1, rest)]
                .into_iter()
                .filter(|&(_, q, phases)| q > 0 && phases > 0)
                .collect();
            for (n, &(q0, qs, phases)) in parts.iter().enumerate() {
                let finishing = n + 1 == parts.len();
                let reduction = [
                    ReductionDim {
                        count: c as usize,
                        a: ws[1],
                        b: at.per_channel(),
                    },
                    ReductionDim {
                        count: qs as usize,
                        a: stride_h * ws[2],
                        b: at.cols,
                    },
                    ReductionDim {
                        count: (phases * kernel_w) as usize,
                        a: 1,
                        b: at.plane(),
                    },
                ];
                let product = gemm::Product {
                    m,
                    n: (at.cols * yshape[2] as i64) as usize,
                    reduction: gemm::Reduction::Dense(0),
                    a: gemm::Matrix {
                        buf: self.w.buf,
                        offset: Expr::index(q0 * stride_h * ws[2]),
                        row: ws[0],
                        col: 0,
                    },
                    b: gemm::Matrix {
                        buf: scratch,
                        offset: Expr::index(q0 * at.cols),
                        row: 0,
                        col: 1,
                    },
                    y: gemm::Matrix {
                        buf: self.y.buf,
                        offset: y0.clone(),
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
                    self.lanes,
                    n > 0,
                    ColumnBlocks::ONE,
                    steps,
                );
            }
        });
    }

    /// Writes image `image`'s tap planes, each element once: the pixels, and
    /// zeros where the taps fall in the padding (the scratch is shared with
    /// other kernels). Which rows and columns of a plane read inside the image
    /// is known at compile time.
    fn stage_planes(&self, k: &mut KernelBuilder, image: &Expr, scratch: BufId, at: Planes) {
        let xshape = self.x.shape();
        let xs = strides(xshape);
        let (in_h, in_w) = (xshape[2] as i64, xshape[3] as i64);
        let (pad_h, pad_w) = (self.geo.pads[0], self.geo.pads[1]);
        let (stride_h, stride_w, dil_w) = (
            self.geo.strides[0],
            self.geo.strides[1],
            self.geo.dilations[1],
        );
        let lanes = self.lanes;
        let zeros = |k: &mut KernelBuilder, to: &Expr, c0: i64, c1: i64| {
            row_loop(k, c0, c1, lanes, &mut |k, i, n| {
                k.store(scratch, to.clone() + i, Expr::f32(0.0).splat(n));
            });
        };
        k.for_range("c", 0, xshape[1] as i64, 1, |k, ci| {
            let from_channel = image.clone() * xs[0] + ci.clone() * xs[1];
            let from_channel = Expr::var(k.let_var("xchan", Ty::INDEX, from_channel));
            let to_channel = Expr::var(k.let_var("pchan", Ty::INDEX, ci * at.per_channel()));
            for phase in 0..at.phases {
                // Plane row `r` is input row `stride_h * r + phase - pad_h`.
                let (r0, r1) = inside(phase - pad_h, in_h, at.rows, stride_h);
                for kw in 0..at.kernel_w {
                    // Plane column `ow` is input column `ow * stride_w + shift`.
                    let shift = kw * dil_w - pad_w;
                    let (c0, c1) = inside(shift, in_w, at.cols, stride_w);
                    let (r0, r1) = if c0 < c1 { (r0, r1) } else { (0, 0) };
                    let plane = to_channel.clone() + (phase * at.kernel_w + kw) * at.plane();
                    // Rows wholly in the padding: contiguous zeros.
                    zeros(k, &plane, 0, r0 * at.cols);
                    zeros(k, &plane, r1 * at.cols, at.plane());
                    if r0 >= r1 {
                        continue;
                    }
                    k.for_range("r", r0, r1, 1, |k, r| {
                        let from = from_channel.clone()
                            + (r.clone() * stride_h + (phase - pad_h)) * in_w
                            + shift;
                        let from = Expr::var(k.let_var("xrow", Ty::INDEX, from));
                        let to = plane.clone() + r * at.cols;
                        let to = Expr::var(k.let_var("prow", Ty::INDEX, to));
                        zeros(k, &to, 0, c0);
                        row_loop(k, c0, c1, lanes, &mut |k, ow, n| {
                            let column = |l: i64| {
                                let at = from.clone() + (ow.clone() + l) * stride_w;
                                Expr::load(self.x.buf, at, Ty::F32)
                            };
                            let value = if n == 1 {
                                column(0)
                            } else if stride_w == 1 {
                                let ty = Ty::vector(ElemType::F32, n);
                                Expr::load(self.x.buf, from.clone() + ow.clone(), ty)
                            } else {
                                Expr::lanes((0..n as i64).map(column).collect())
                            };
                            k.store(scratch, to.clone() + ow, value);
                        });
                        zeros(k, &to, c1, at.cols);
                    });
                }
            }
        });
    }
}

/// The `i` in `[0, count)` with `i * stride + shift` in `[0, size)` (empty as
/// `(0, 0)`).
fn inside(shift: i64, size: i64, count: i64, stride: i64) -> (i64, i64) {
    let lo = ((-shift).max(0) + stride - 1) / stride;
    let hi = ((size - 1 - shift).div_euclid(stride) + 1).min(count);
    if lo < hi { (lo, hi) } else { (0, 0) }
}

/// The epilogue of a product that does not finish Y: the accumulators as they
/// are.
fn store_as_accumulated(_: &mut KernelBuilder, acc: Expr, _: Expr, _: Expr, _: u8) -> Expr {
    acc
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::{Conv, Fused};
    use nnc_ir::{DType, Op};
    use rand::Rng;

    use super::super::super::random_tensors::{random_small as random, rng};
    use super::super::super::testing::{
        check_lowering_for, lowered_form as form, residual_relu_and_clip, single_node_graph,
        test_target, wide_targets,
    };

    fn conv(kernel: [usize; 2], strides: [usize; 2], pads: Vec<usize>, dilation_w: usize) -> Op {
        Op::Conv(Conv {
            kernel_shape: kernel.to_vec(),
            strides: strides.to_vec(),
            pads,
            dilations: vec![1, dilation_w],
            group: 1,
        })
    }

    /// Random stems on both wide levels and the portable one against the
    /// reference: one to three input channels, row strides 1 to 3 (dividing
    /// the kernel height or not: the second product), column strides 2 and
    /// 3, column dilation, pads on every side up to a whole kernel (planes
    /// with empty rows and columns), odd sizes, one or two images, output
    /// channels and pixel counts leaving every tail of the tiles, with and
    /// without bias.
    #[test]
    fn tap_plane_convs_match_the_reference() {
        let mut rng = rng(61);
        let [avx512, avx2] = wide_targets();
        let targets = [avx512, avx2, test_target()];
        for round in 0..36 {
            let target = &targets[round % 3];
            // At most 64 reduction steps: the channel-vector form's reach.
            let c = rng.random_range(1..=3);
            let kernel_w = rng.random_range(1..=5);
            let kernel = [
                rng.random_range(1..=(64 / (c * kernel_w)).min(10)),
                kernel_w,
            ];
            let strides = [1 + round % 3, 2 + (round / 3) % 2];
            let dilation_w = 1 + (round % 5 == 4) as usize;
            let pads: Vec<usize> = (0..4)
                .map(|d| rng.random_range(0..=kernel[d % 2]))
                .collect();
            let m = 4 * rng.random_range(2..=17);
            let h = rng.random_range(kernel[0]..=kernel[0] + 40);
            let w = rng.random_range((kernel[1] - 1) * dilation_w + 1..=12);
            let n = 1 + round % 4 / 3;
            let x = random(&mut rng, DType::F32, &[n, c, h, w]);
            let wt = random(&mut rng, DType::F32, &[m, c, kernel[0], kernel[1]]);
            let b = random(&mut rng, DType::F32, &[m]);
            let op = conv(kernel, strides, pads, dilation_w);
            let bias = (round % 2 == 0).then_some(&b);
            let inputs = [Some(&x), Some(&wt), bias];
            assert_eq!(
                form(op.clone(), &inputs, target),
                Some("tap planes"),
                "{op:?} {c}"
            );
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            check_lowering_for(&graph, &inputs, 1e-4, 1e-4, target);
        }
    }

    /// kws_dscnn's stem (1 x 49 x 10, 64 x 10 x 4, stride 2, pads 5 / 1) with
    /// its ReLU and, as any fused Conv may, a residual Add then ReLU, or a
    /// Clip, with and without bias: carried by the finishing tiles.
    #[test]
    fn tap_planes_with_fused_steps() {
        let mut rng = rng(62);
        let relu = vec![nnc_ir::ops::Step::Unary(nnc_ir::ops::Unary::Relu)];
        let [residual_relu, clip] = residual_relu_and_clip();
        let [avx512, avx2] = wide_targets();
        for target in &[avx512, avx2, test_target()] {
            // Kernel heights 10 (stride 2 divides it) and 9 (the second product).
            for kernel_h in [10, 9] {
                let x = random(&mut rng, DType::F32, &[1, 1, 49, 10]);
                let wt = random(&mut rng, DType::F32, &[64, 1, kernel_h, 4]);
                let b = random(&mut rng, DType::F32, &[64]);
                let out_h = (49 + 10 - kernel_h) / 2 + 1;
                let residual = random(&mut rng, DType::F32, &[1, 64, out_h, 5]);
                for steps in [&relu, &residual_relu, &clip] {
                    let op = Op::Fused(Fused {
                        anchor: Box::new(conv([kernel_h, 4], [2, 2], vec![5, 1, 5, 1], 1)),
                        anchor_operands: 3,
                        steps: steps.clone(),
                    });
                    for bias in [Some(&b), None] {
                        let inputs = [Some(&x), Some(&wt), bias, Some(&residual)];
                        let inputs = if steps == &relu {
                            &inputs[..3]
                        } else {
                            &inputs[..]
                        };
                        assert_eq!(form(op.clone(), inputs, target), Some("tap planes"));
                        let graph = single_node_graph(op.clone(), inputs, &[1, 2], 1);
                        check_lowering_for(&graph, inputs, 1e-4, 1e-4, target);
                    }
                }
            }
        }
    }

    /// A row dilation (phases that are not the kernel rows') and fewer than 8
    /// output channels keep the channel-vector form; the portable level takes
    /// the planes too.
    #[test]
    fn other_stems_keep_the_channel_vectors() {
        let mut rng = rng(63);
        let x = random(&mut rng, DType::F32, &[1, 1, 30, 10]);
        let wt = random(&mut rng, DType::F32, &[8, 1, 4, 3]);
        let inputs = [Some(&x), Some(&wt), None];
        let dilated = Op::Conv(Conv {
            kernel_shape: vec![4, 3],
            strides: vec![2, 2],
            pads: vec![1; 4],
            dilations: vec![2, 1],
            group: 1,
        });
        let plain = conv([4, 3], [2, 2], vec![1; 4], 1);
        assert_eq!(form(dilated.clone(), &inputs, &wide_targets()[0]), None);
        assert_eq!(
            form(plain.clone(), &inputs, &test_target()),
            Some("tap planes")
        );
        let four = random(&mut rng, DType::F32, &[4, 1, 4, 3]);
        let few = [Some(&x), Some(&four), None];
        assert_eq!(form(plain.clone(), &few, &wide_targets()[0]), None);
        assert_eq!(form(plain, &inputs, &wide_targets()[0]), Some("tap planes"));
        let graph = single_node_graph(dilated, &inputs, &[1], 1);
        check_lowering_for(&graph, &inputs, 1e-4, 1e-4, &wide_targets()[0]);
    }
}
