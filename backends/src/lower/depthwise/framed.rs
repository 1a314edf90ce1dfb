//! Small depthwise planes at the portable level (a keyword-spotting net's
//! 25 x 5 maps): each input plane is copied, as it is, between zero rows of
//! a scratch *frame*, and the whole output plane is one flattened run of
//! vectors with no border paths.
//!
//! With unit strides and output rows as wide as input rows, output `o = oy *
//! W + ox` reads frame element `o + kh * dh * W + kw * dw` at every tap (the
//! plane starts at `ph * W + pw` in the frame). A lane whose tap row leaves
//! the image reads the frame's zeros; a lane whose tap column leaves its row
//! reads the neighbouring row's element, cleared with a constant bit mask
//! before the FMA (an exact zero, whatever the neighbour holds), as in
//! `flat`. The masks depend on a vector's column phase only, so the run
//! goes in blocks of `lcm(W, lanes)` outputs, each vector with a phase known
//! at compile time. The run takes one pass over the plane per kernel row,
//! accumulating in Y (see `emit_frame_run`).
//!
//! What the frame saves over `flat` is its border rows, run ends and pixels,
//! each a row-tiled path of its own with scalar-built or scalar vectors: the
//! copy in costs a load and a store a vector. Two frames alternate, the next
//! plane copied before the current one is read, so that the run's unaligned
//! loads do not wait on the stores just made.

use nnc_ir::Microkernel;
use nnc_ir::kernel::{BinaryOp, BufId, ElemType, Expr, KernelBuilder, Ty, VarId};

use super::super::gemm::Epilogue;
use super::flat::lcm;
use super::{Depthwise, zero_scratch};

/// Widest input row the frame takes, in columns past a vector: kws_dscnn's
/// 5-wide rows at 4 lanes, the only width measured (its depthwise
/// convolutions 21.7 -> 12.4 ktsc, 0.0083 -> 0.0047 ms); wider small maps
/// (a MobileNet's 7 x 7) keep `flat`.
const MAX_EXTRA_COLUMNS: i64 = 1;

/// Most distinct lane masks (held in registers across the run).
const MAX_MASKS: usize = 4;

/// Largest frame (f32 elements, both copies): it stays in L1.
const MAX_FRAME_ELEMENTS: i64 = 4096;

/// Where the frames lie in the scratch and how the run covers a plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Elements of one frame.
    len: i64,
    /// Where the plane starts in a frame.
    top: i64,
    /// Outputs of a block (`lcm(W, lanes)`).
    block: i64,
    /// Outputs of the plane.
    outputs: i64,
    lanes: i64,
}

impl Frame {
    /// Elements of the scratch: two frames, then the partial sums of the
    /// vectors after the blocks.
    pub fn elements(&self) -> usize {
        (self.rest_at() + self.lanes * self.rest().len() as i64) as usize
    }

    /// Where the partial sums of the vectors after the blocks lie.
    fn rest_at(&self) -> i64 {
        2 * self.len
    }

    /// The outputs the blocks cover: `0..blocks_end()`.
    fn blocks_end(&self) -> i64 {
        self.outputs / self.block * self.block
    }

    /// The first outputs of the vectors after the blocks, the last one
    /// overlapping the others where `lanes` does not divide what is left.
    fn rest(&self) -> Vec<i64> {
        let (end, l) = (self.blocks_end(), self.lanes);
        match self.outputs - end {
            0 => Vec::new(),
            n if n < l => vec![self.outputs - l],
            n => vector_starts(n, l).into_iter().map(|v| end + v).collect(),
        }
    }
}

impl Depthwise<'_> {
    /// The frame, when it applies: the portable level with vectors, unit
    /// strides, output rows as wide as input rows and at most `lanes +
    /// MAX_EXTRA_COLUMNS` wide, at least one vector of outputs, few masks.
    pub(crate) fn frame(&self, level: Microkernel, lanes: u8) -> Option<Frame> {
        let (h, w, oh, ow) = self.dims();
        let l = lanes as i64;
        if level != Microkernel::Portable
            || lanes < 2
            || self.strides != [1, 1]
            || ow != w
            || w > l + MAX_EXTRA_COLUMNS
            || oh * ow < l
        {
            return None;
        }
        let ([kh, kw], [dh, dw], [ph, pw]) = (self.kernel, self.dilations, self.pads);
        let top = ph * w + pw;
        let reach = (kh - 1) * dh * w + (kw - 1) * dw;
        // The last vector reads up to `oh * W - 1 + reach`.
        let len = (top + h * w).max(oh * w + reach);
        let frame = Frame {
            len,
            top,
            block: lcm(w, l),
            outputs: oh * w,
            lanes: l,
        };
        let fits = 2 * len <= MAX_FRAME_ELEMENTS && self.masks(lanes).len() <= MAX_MASKS;
        (top >= 0 && fits).then_some(frame)
    }

    /// The distinct lane masks of the run: which lanes of a vector of
    /// outputs from column `phase` read inside their row at kernel column
    /// `tw`, for every phase and kernel column that clears some lane.
    fn masks(&self, lanes: u8) -> Vec<Vec<bool>> {
        let (_, w, _, _) = self.dims();
        let mut masks: Vec<Vec<bool>> = Vec::new();
        for phase in 0..w {
            for tw in 0..self.kernel[1] {
                let keep = self.lanes_kept(phase, tw, lanes);
                if !keep.iter().all(|&b| b) && !masks.contains(&keep) {
                    masks.push(keep);
                }
            }
        }
        masks
    }

    /// The whole convolution through `scratch` (`frame.elements()` f32):
    /// zeroed once, then per input plane its copy into a frame and the run of
    /// each of its output channels. The accumulators start at the `bias`
    /// (loaded once a channel, not once a vector); `epi` applies the steps
    /// after it.
    pub(crate) fn emit_framed(
        &self,
        k: &mut KernelBuilder,
        scratch: BufId,
        frame: Frame,
        lanes: u8,
        (bias, epi): (Option<BufId>, Epilogue),
    ) {
        let (h, w, oh, ow) = self.dims();
        let (images, channels, outputs) = self.counts();
        let multiplier = outputs / channels;
        let l = lanes as i64;
        let total = frame.elements() as i64;
        zero_scratch(k, scratch, total, lanes);
        let masks: Vec<(Vec<bool>, VarId)> = self
            .masks(lanes)
            .into_iter()
            .map(|keep| {
                let bits = keep
                    .iter()
                    .map(|&b| Expr::int(if b { -1 } else { 0 }, ElemType::I32))
                    .collect();
                let ty = Ty::vector(ElemType::I32, lanes);
                let var = k.let_var("mask", ty, Expr::lanes(bits));
                (keep, var)
            })
            .collect();
        let plane = h * w;
        let copy = |k: &mut KernelBuilder, q: Expr, slot: i64| {
            let from = Expr::var(k.let_var("xplane", Ty::INDEX, q * plane));
            let to = slot * frame.len + frame.top;
            for first in vector_starts(plane, l) {
                let ty = Ty::vector(ElemType::F32, lanes);
                let value = Expr::load(self.x.buf, from.clone() + first, ty);
                k.store(scratch, Expr::index(to + first), value);
            }
            // A plane smaller than a vector (its output taller: pads).
            for i in (plane < l).then_some(0..plane).into_iter().flatten() {
                let value = Expr::load(self.x.buf, from.clone() + i, Ty::F32);
                k.store(scratch, Expr::index(to + i), value);
            }
        };
        let run = |k: &mut KernelBuilder, q: Expr, slot: i64| {
            let (image, ic) = if images == 1 {
                (Expr::index(0), q)
            } else {
                let image = q.clone().binary(BinaryOp::Div, Expr::index(channels));
                (image, q.binary(BinaryOp::Rem, Expr::index(channels)))
            };
            k.for_range("mult", 0, multiplier, 1, |k, m| {
                let oc = Expr::var(k.let_var("oc", Ty::INDEX, ic.clone() * multiplier + m));
                let y = (image.clone() * outputs + oc.clone()) * (oh * ow);
                let y = Expr::var(k.let_var("yplane", Ty::INDEX, y));
                let bias = bias.map(|b| {
                    let value = Expr::load(b, oc.clone(), Ty::F32).splat(lanes);
                    k.let_var("bias", Ty::vector(ElemType::F32, lanes), value)
                });
                let run = Run {
                    bias,
                    frame: slot * frame.len,
                    y,
                    channel: oc,
                    scratch,
                    masks: &masks,
                };
                self.emit_frame_run(k, &run, frame, lanes, epi);
            });
        };
        // Plane `q` (image `q / channels`, channel `q % channels`) goes to
        // frame `q % 2`, copied while plane `q - 1` is read: the loop takes
        // the planes in pairs, so that each frame is a constant.
        let count = images * channels;
        copy(k, Expr::index(0), 0);
        let pairs = (count - 1) / 2;
        k.for_range("pair", 0, pairs, 1, |k, pair| {
            let q = Expr::var(k.let_var("q", Ty::INDEX, pair * 2));
            copy(k, q.clone() + 1, 1);
            run(k, q.clone(), 0);
            copy(k, q.clone() + 2, 0);
            run(k, q + 1, 1);
        });
        if count % 2 == 0 {
            copy(k, Expr::index(count - 1), 1);
            run(k, Expr::index(count - 2), 0);
            run(k, Expr::index(count - 1), 1);
        } else {
            run(k, Expr::index(count - 1), 0);
        }
    }

    /// One output channel's run over its frame: a pass per kernel row. Each
    /// vector adds its row of taps to what the earlier passes stored (the
    /// first pass starts from the bias, the last finishes the outputs): the
    /// blocks' vectors in Y, those after the blocks in the scratch (the last
    /// overlaps its neighbours), finished into Y after the blocks. A
    /// vector's loads, FMAs and store stand alone, so that the live values
    /// are the row's weights, the masks and one vector's inputs: a loop over
    /// kernel rows around a few vectors' accumulators made Cranelift spill
    /// and reload them, and reload the weights for each few (kws_dscnn's
    /// 25 x 5 planes at 128 bits: 21.7 ktsc a convolution that way, 13.7
    /// in passes; passes of two kernel rows, 1.09x the time of one, of
    /// three 1.5x: their six or nine inputs and weights spill).
    fn emit_frame_run(
        &self,
        k: &mut KernelBuilder,
        run: &Run,
        frame: Frame,
        lanes: u8,
        epi: Epilogue,
    ) {
        let (_, w, _, _) = self.dims();
        let ([kh, kw], [dh, dw]) = (self.kernel, self.dilations);
        let ty = Ty::vector(ElemType::F32, lanes);
        let l = lanes as i64;
        let (end, block) = (frame.blocks_end(), frame.block);
        for th in 0..kh {
            let last = th + 1 == kh;
            let w_row = run.channel.clone() * (kh * kw) + th * kw;
            let w_row = Expr::var(k.let_var("wrow", Ty::INDEX, w_row));
            let weights: Vec<VarId> = (0..kw)
                .map(|tw| {
                    let wv = Expr::load(self.w.buf, w_row.clone() + tw, Ty::F32);
                    k.let_var("w", ty, wv.splat(lanes))
                })
                .collect();
            // Vector `first` of the outputs from `base` (a multiple of W):
            // the sum so far `acc` plus row `th`'s taps.
            let taps = |base: Expr, first: i64, acc: Expr| {
                let x_row = base + (run.frame + th * dh * w + first);
                let mut acc = acc;
                for (tw, &wv) in (0..kw).zip(&weights) {
                    let xv = Expr::load(run.scratch, x_row.clone() + tw * dw, ty);
                    let xv = self.masked(run, xv, first.rem_euclid(w), tw, lanes);
                    acc = xv.fma(Expr::var(wv), acc);
                }
                acc
            };
            k.for_range("o", 0, end, block, |k, o| {
                let y_at = Expr::var(k.let_var("yat", Ty::INDEX, run.y.clone() + o.clone()));
                for first in (0..block / l).map(|v| v * l) {
                    let at = y_at.clone() + first;
                    let acc = if th == 0 {
                        run.start(lanes)
                    } else {
                        Expr::load(self.y.buf, at.clone(), ty)
                    };
                    let mut value = taps(o.clone(), first, acc);
                    if last {
                        value = epi(k, value, run.channel.clone(), at.clone(), lanes);
                    }
                    k.store(self.y.buf, at, value);
                }
            });
            for (i, first) in frame.rest().into_iter().enumerate() {
                let partial = Expr::index(frame.rest_at() + i as i64 * l);
                let acc = if th == 0 {
                    run.start(lanes)
                } else {
                    Expr::load(run.scratch, partial.clone(), ty)
                };
                let value = taps(Expr::index(0), first, acc);
                if last {
                    let at = run.y.clone() + first;
                    let value = epi(k, value, run.channel.clone(), at.clone(), lanes);
                    k.store(self.y.buf, at, value);
                } else {
                    k.store(run.scratch, partial, value);
                }
            }
        }
    }

    /// `xv`, the inputs of a vector of outputs from column `phase` at kernel
    /// column `tw`, with the lanes that read outside their row cleared.
    fn masked(&self, run: &Run, xv: Expr, phase: i64, tw: i64, lanes: u8) -> Expr {
        let keep = self.lanes_kept(phase, tw, lanes);
        match run.masks.iter().find(|(m, _)| *m == keep) {
            Some(&(_, mask)) => xv
                .bitcast(ElemType::I32)
                .binary(BinaryOp::And, Expr::var(mask))
                .bitcast(ElemType::F32),
            None => xv,
        }
    }
}

/// One output channel's operands.
struct Run<'a> {
    /// The frame's first element in the scratch.
    frame: i64,
    /// The output plane's first element.
    y: Expr,
    channel: Expr,
    scratch: BufId,
    masks: &'a [(Vec<bool>, VarId)],
    /// The channel's bias, splatted.
    bias: Option<VarId>,
}

impl Run<'_> {
    /// What the accumulators start from: the bias, or zero.
    fn start(&self, lanes: u8) -> Expr {
        match self.bias {
            Some(b) => Expr::var(b),
            None => Expr::f32(0.0).splat(lanes),
        }
    }
}

/// First elements of the vectors covering `0..n`, the last one overlapping
/// its neighbour where `lanes` does not divide `n` (none when `n < lanes`).
fn vector_starts(n: i64, lanes: i64) -> Vec<i64> {
    let mut starts: Vec<i64> = (0..n / lanes).map(|v| v * lanes).collect();
    if n % lanes != 0 && n >= lanes {
        starts.push(n - lanes);
    }
    starts
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::{Conv, Fused, Step, Unary};
    use nnc_ir::{Arch, DType, Op, Target};
    use rand::Rng;

    use super::super::super::random_tensors::{random_small as random, rng};
    use super::super::super::testing::{
        check_lowering_for, lowered_form, single_node_graph, test_target, wide_targets,
    };

    fn depthwise(kernel: [usize; 2], dilation: usize, pads: Vec<usize>, group: usize) -> Op {
        Op::Conv(Conv {
            kernel_shape: kernel.to_vec(),
            strides: vec![1, 1],
            pads,
            dilations: vec![dilation; 2],
            group,
        })
    }

    /// Narrow planes (widths 1 to 9, heights 1 to 27), kernels 1 to 5 on
    /// either axis, pads 0 to 2 on each side (output rows as wide as the
    /// input's or not), dilations 1 and 2, one to five channels, channel
    /// multipliers, one or two images (odd and even plane counts: the pairs
    /// of frames and the last plane alone), with and without bias, on the
    /// portable x86_64 target and aarch64's, against the reference; the
    /// planes up to 5 wide with symmetric "same" rows take the frame.
    #[test]
    fn narrow_planes_in_frames_match_the_reference() {
        let mut rng = rng(71);
        let aarch64 = Target {
            arch: Arch::Aarch64,
            vector_registers: 32,
            ..test_target()
        };
        let mut framed = 0;
        for round in 0..60 {
            let w = 1 + round % 9;
            let kw = rng.random_range(1..=3.min(w + 2));
            let kh: usize = rng.random_range(1..=5);
            let dilation = if round % 7 == 6 { 2 } else { 1 };
            let same = round % 4 != 3;
            let reach_w = (kw - 1) * dilation;
            let (left, right) = if same {
                let left = rng.random_range(0..=reach_w);
                (left, reach_w - left)
            } else {
                (rng.random_range(0..=2), rng.random_range(0..=2))
            };
            let pads = vec![
                rng.random_range(0..=2),
                left,
                rng.random_range(0..=2),
                right,
            ];
            let min_h = ((kh - 1) * dilation + 1)
                .saturating_sub(pads[0] + pads[2])
                .max(1);
            let h = rng.random_range(min_h..=min_h + 26);
            if w + pads[1] + pads[3] < reach_w + 1 {
                continue;
            }
            let channels = 1 + round % 5;
            let multiplier = if round % 3 == 2 { 2 } else { 1 };
            let images = 1 + round % 2;
            let x = random(&mut rng, DType::F32, &[images, channels, h, w]);
            let outputs = channels * multiplier;
            let wt = random(&mut rng, DType::F32, &[outputs, 1, kh, kw]);
            let b = random(&mut rng, DType::F32, &[outputs]);
            let op = depthwise([kh, kw], dilation, pads.clone(), channels);
            let bias = (round % 2 == 0).then_some(&b);
            let inputs = [Some(&x), Some(&wt), bias];
            let form = lowered_form(op.clone(), &inputs, &test_target());
            let oh = h + pads[0] + pads[2] - (kh - 1) * dilation;
            // Symmetric pads: at most 4 masks (`MAX_MASKS`).
            if same && left == right && dilation == 1 && w <= 5 && oh * w >= 4 {
                assert_eq!(form, Some("framed"), "{op:?} {h}x{w}");
            }
            framed += (form == Some("framed")) as usize;
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &test_target());
            check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &aarch64);
        }
        assert!(framed >= 15, "{framed} framed planes");
    }

    /// Planes smaller than a vector whose outputs, with pads, are not (1 x
    /// 3 and 1 x 2 inputs, three or four rows out), and a single row.
    #[test]
    fn planes_smaller_than_a_vector() {
        let mut rng = rng(73);
        let cases: [(usize, usize, [usize; 2], [usize; 4]); 3] = [
            (1, 3, [1, 3], [1, 1, 1, 1]),
            (1, 2, [1, 1], [2, 0, 1, 0]),
            (1, 5, [1, 3], [0, 1, 0, 1]),
        ];
        for (h, w, kernel, pads) in cases {
            let x = random(&mut rng, DType::F32, &[1, 3, h, w]);
            let wt = random(&mut rng, DType::F32, &[3, 1, kernel[0], kernel[1]]);
            let b = random(&mut rng, DType::F32, &[3]);
            let op = depthwise(kernel, 1, pads.to_vec(), 3);
            let inputs = [Some(&x), Some(&wt), Some(&b)];
            assert_eq!(
                lowered_form(op.clone(), &inputs, &test_target()),
                Some("framed"),
                "{h}x{w}"
            );
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &test_target());
        }
    }

    /// kws_dscnn's depthwise convolution (64 channels of 25 x 5, 3 x 3, pad
    /// 1) with its fused ReLU takes the frame at the portable level only.
    #[test]
    fn kws_planes_take_the_frame_at_the_portable_level() {
        let mut rng = rng(72);
        let x = random(&mut rng, DType::F32, &[1, 64, 25, 5]);
        let wt = random(&mut rng, DType::F32, &[64, 1, 3, 3]);
        let b = random(&mut rng, DType::F32, &[64]);
        let op = Op::Fused(Fused {
            anchor: Box::new(depthwise([3, 3], 1, vec![1; 4], 64)),
            anchor_operands: 3,
            steps: vec![Step::Unary(Unary::Relu)],
        });
        let inputs = [Some(&x), Some(&wt), Some(&b)];
        assert_eq!(
            lowered_form(op.clone(), &inputs, &test_target()),
            Some("framed")
        );
        for wide in wide_targets() {
            assert_ne!(lowered_form(op.clone(), &inputs, &wide), Some("framed"));
        }
        let graph = single_node_graph(op, &inputs, &[1, 2], 1);
        check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &test_target());
    }
}
