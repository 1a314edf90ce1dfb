//! x86_64's unit-stride 3 x 3 depthwise tiles with every tap unrolled, the
//! kernel rows too (`Depthwise::unrolls_kernel`).
//!
//! The input, weights and bias are marked unchanging, so their loads are
//! pure: Cranelift issues each input load with the chain that uses it instead
//! of all of a body's loads first (which made an unrolled kernel spill), and
//! hoists the nine splatted weights and the bias out of the plane's loops
//! (mobilenet_v2 at 128 bits: ~31 instructions per output vector, where the
//! kernel-row loop took ~42 with its weight splats, pointers and branches;
//! a plain unroll without pure loads spilled and ran 1.25x slower). Each
//! output vector sums
//! one short FMA chain per kernel row: Cranelift emits an output's whole
//! computation at once, so one 9-deep chain per output would be a latency
//! chain the next outputs wait behind; three 3-deep chains and two adds
//! overlap.

use nnc_ir::kernel::{ElemType, Expr, KernelBuilder, Ty};

use super::super::gemm::Epilogue;
use super::{Depthwise, Plane, Span};

/// Lanes of the splatted weights: f32x4, the vectors of 128-bit targets.
const WEIGHT_LANES: u8 = 4;

impl Depthwise<'_> {
    /// `rows` output rows from `row` by the vectors of `span` (unit stride,
    /// `span.keep == 1`), over kernel rows `taps.0` and columns `taps.1`,
    /// every tap inside the image.
    pub(super) fn emit_unrolled_tile(
        &self,
        k: &mut KernelBuilder,
        p: &Plane,
        (row, rows): (Expr, usize),
        span: Span,
        ((kh0, kh1), (kw0, kw1)): ((i64, i64), (i64, i64)),
        epi: Epilogue,
    ) {
        let (_, w, _, ow) = self.dims();
        let [dh, dw] = self.dilations;
        let [ph, pw] = self.pads;
        let kernel_w = self.kernel[1];
        let Span {
            col,
            vectors,
            lanes,
            ..
        } = span;
        let ty = Ty::vector(ElemType::F32, lanes);
        for r in 0..rows as i64 {
            let top = p.x.clone() + (row.clone() + r - ph) * w + col.clone() - pw;
            let top = Expr::var(k.let_var("xtop", Ty::INDEX, top));
            let mut sums: Vec<Option<Expr>> = vec![None; vectors];
            for th in kh0..kh1 {
                for (v, sum) in sums.iter_mut().enumerate() {
                    let mut part: Option<Expr> = None;
                    for tw in kw0..kw1 {
                        let at = p.w.clone() + (th * kernel_w + tw);
                        let wv = Expr::load(self.w.buf, at, Ty::F32);
                        // A scalar column (a border's) takes lane 0 of the
                        // vector tiles' splat, free on x86_64, where its own
                        // scalar weight would keep nine more registers live.
                        let wv = match lanes {
                            1 => wv.splat(WEIGHT_LANES).extract(0),
                            _ => wv.splat(lanes),
                        };
                        let at = top.clone() + (th * dh * w + tw * dw + v as i64 * lanes as i64);
                        let xv = Expr::load(self.x.buf, at, ty);
                        // The loaded input first: x86_64's FMA overwrites its
                        // first multiplicand, a fresh register here.
                        part = Some(match part {
                            None => xv * wv,
                            Some(s) => xv.fma(wv, s),
                        });
                    }
                    *sum = match (sum.take(), part) {
                        (Some(s), Some(part)) => Some(s + part),
                        (s, part) => s.or(part),
                    };
                }
            }
            let y_row = p.y.clone() + (row.clone() + r) * ow + col.clone();
            for (v, sum) in sums.into_iter().enumerate() {
                let sum = sum.unwrap_or_else(|| Expr::f32(0.0).splat(lanes));
                let sum = k.let_var("sum", ty, sum);
                let at = y_row.clone() + v as i64 * lanes as i64;
                let value = epi(k, Expr::var(sum), p.channel.clone(), at.clone(), lanes);
                k.store(self.y.buf, at, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::Conv;
    use nnc_ir::{Arch, DType, Op, Target};
    use rand::Rng;

    use super::super::super::random_tensors::{random_small as random, rng};
    use super::super::super::testing::{check_lowering, single_node_graph, test_target};

    fn conv(channels: usize, pads: Vec<usize>) -> Op {
        Op::Conv(Conv {
            kernel_shape: vec![3, 3],
            strides: vec![1, 1],
            pads,
            dilations: vec![1, 1],
            group: channels,
        })
    }

    /// Which buffers a lowering marks unchanging: the input, weights and bias
    /// of x86_64's unrolled form, never the output; none on aarch64, whose
    /// tiles keep their tap loops.
    #[test]
    fn input_weights_and_bias_are_unchanging_only_in_the_unrolled_form() {
        let mut rng = rng(53);
        let x = random(&mut rng, DType::F32, &[1, 2, 9, 20]);
        let w = random(&mut rng, DType::F32, &[2, 1, 3, 3]);
        let b = random(&mut rng, DType::F32, &[2]);
        let inputs = [Some(&x), Some(&w), Some(&b)];
        let graph = single_node_graph(conv(2, vec![1; 4]), &inputs, &[1, 2], 1);
        let (_, node) = graph.nodes().next().expect("one node");
        let aarch64 = Target {
            arch: Arch::Aarch64,
            vector_registers: 32,
            ..test_target()
        };
        for (target, unrolled) in [(test_target(), true), (aarch64, false)] {
            let kernel = super::super::super::lower_node_full(&graph, node, &target)
                .expect("lowers")
                .kernel;
            let marks: Vec<bool> = kernel.buffers.iter().map(|b| b.unchanging).collect();
            assert_eq!(
                marks,
                [unrolled, unrolled, unrolled, false],
                "{:?}",
                target.arch
            );
        }
    }

    /// Maps from 1 x 1 to wider than a tile, every pad from 0 to 2, with and
    /// without bias, against the reference evaluator: border rows and
    /// columns, scalar columns and every tail of the unrolled form.
    #[test]
    fn unrolled_tiles_on_small_and_odd_maps() {
        let mut rng = rng(59);
        for round in 0..24 {
            let pads: Vec<usize> = (0..4).map(|_| rng.random_range(0..=2)).collect();
            let (height, width) = if round < 8 {
                (1 + round % 4, 1 + round / 2)
            } else {
                (rng.random_range(1..=6), rng.random_range(1..=30))
            };
            let height = height.max(3_usize.saturating_sub(pads[0] + pads[2])).max(1);
            let width = width.max(3_usize.saturating_sub(pads[1] + pads[3])).max(1);
            let channels = rng.random_range(1..=3);
            let x = random(&mut rng, DType::F32, &[1, channels, height, width]);
            let w = random(&mut rng, DType::F32, &[channels, 1, 3, 3]);
            let b = random(&mut rng, DType::F32, &[channels]);
            let bias = (round % 2 == 0).then_some(&b);
            let inputs = [Some(&x), Some(&w), bias];
            let graph = single_node_graph(conv(channels, pads), &inputs, &[1, 2], 1);
            check_lowering(&graph, &inputs, 1e-5, 1e-4);
        }
    }
}
