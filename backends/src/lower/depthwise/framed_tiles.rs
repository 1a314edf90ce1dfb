//! Depthwise convolutions with large kernels (a ConvNeXt's 7 x 7, pad 3) on
//! the portable 128-bit path: each input plane is first copied into a scratch
//! plane inside a zero frame as wide as the pads, so that every tap of every
//! output reads inside the frame and no output row or column is a border. On
//! a 7 x 7 map with pad 3 every row and column of the row-tiled form is a
//! border, computed one vector or pixel at a time with its own tap ranges (18%
//! of the 128-bit peak); on a 56 x 56 map the border rows and columns still
//! hold a fifth of the outputs.
//!
//! Over the framed plane a tile is `rows` output rows by `vectors` vectors
//! whose loop runs over the input rows the tile reads, not over kernel rows:
//! input row `i` of the tile feeds output row `r` through kernel row `i - r`,
//! so each loaded input vector serves up to `rows` accumulators (the row-tiled
//! form loads one input vector per multiply-add). The input rows every output
//! row of the tile reads are one loop; the first and last few, which only some
//! rows read, are emitted apart with their (static) rows.
//!
//! What it costs is the copy (a load and a store per input vector, once per
//! input channel), the weights splatted into the scratch once per output
//! channel, and zeroing the scratch once per call. convnext_atto's twelve
//! 7 x 7 convolutions at 128 bits: 3.16 ms -> 1.72 ms (sum of per-call
//! medians); per kernel, min of 100 calls, 56 x 56 maps 0.67x the time of
//! the row-tiled form, 28 x 28 0.50x, 14 x 14 0.49x, 7 x 7 0.39x.

use nnc_ir::Microkernel;
use nnc_ir::kernel::{BufId, ElemType, Expr, KernelBuilder, Ty, VarId};

use super::super::gemm::Epilogue;
use super::padded::{row_blocks, row_pieces};
use super::{Depthwise, interior_spans, zero_scratch};

/// Smallest kernel (both axes) that takes the framed form: the 3 x 3 ones
/// keep their row-tiled forms (tuned apart for MobileNets and keyword nets).
const MIN_KERNEL: i64 = 5;

/// Largest framed plane (f32 elements): 64 KiB, in L2 with room to spare.
const MAX_SCRATCH_ELEMENTS: i64 = 1 << 14;

/// The framed plane: the input plane at `(pad_h, pad_w)` inside zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FramedPlane {
    height: i64,
    width: i64,
    /// Elements of an output channel's splatted weights (after the frame).
    splats: i64,
}

impl FramedPlane {
    /// Elements of the scratch buffer: the frame, then the weights.
    pub fn elements(&self) -> usize {
        (self.height * self.width + self.splats) as usize
    }
}

/// Output rows by vectors of a framed tile for rows of `row_vectors`
/// vectors. Per kernel tap the tile keeps `rows * vectors` accumulators,
/// `vectors` inputs and `rows` weights live (all of a loop body's loads are
/// live at once), at most 14 of x86_64's 16 registers: as many vectors as a
/// row has up to 4, the rest rows (convnext_atto at 128 bits, min of 60
/// calls against 4 x 2: 56 x 56 maps 2 x 4 the same, 3 x 3 0.96x; 28 x 28
/// 2 x 4 0.96x; 14 x 14 2 x 4 0.97x; 7 x 7, two vectors a row, 4 x 2 and
/// 2 x 4 1.26x). 4 x 4 is 24 of the 32 of aarch64 and riscv64.
fn tile_shape(vector_registers: usize, row_vectors: i64) -> (usize, usize) {
    if vector_registers >= 32 {
        return (4, 4);
    }
    match row_vectors {
        ..=1 => (6, 1),
        2 => (4, 2),
        3 => (3, 3),
        _ => (2, 4),
    }
}

impl Depthwise<'_> {
    /// The framed plane, when the form applies: the portable kernels, unit
    /// strides and dilations, a kernel of at least [`MIN_KERNEL`] both ways,
    /// vectors of more than one lane and a frame that stays small.
    pub(crate) fn framed_plane(&self, level: Microkernel, lanes: u8) -> Option<FramedPlane> {
        let (h, w, oh, ow) = self.dims();
        let [kh, kw] = self.kernel;
        if level != Microkernel::Portable
            || lanes < 2
            || self.strides != [1, 1]
            || self.dilations != [1, 1]
            || kh < MIN_KERNEL
            || kw < MIN_KERNEL
            || oh < 1
            || ow < 1
        {
            return None;
        }
        // Output `o` reads framed rows and columns `o .. o + k`: the frame
        // holds the last output's window, and the whole input plane.
        let [ph, pw] = self.pads;
        let framed = FramedPlane {
            height: (oh + kh - 1).max(ph + h),
            width: (ow + kw - 1).max(pw + w),
            splats: kh * kw * lanes as i64,
        };
        (framed.elements() as i64 <= MAX_SCRATCH_ELEMENTS).then_some(framed)
    }

    /// The whole convolution through `scratch` (of `framed.elements()` f32):
    /// zeroed once, then per image and input channel its plane copied into
    /// the frame and each of its output channels computed from the copy.
    pub(crate) fn emit_framed_tiles(
        &self,
        k: &mut KernelBuilder,
        scratch: BufId,
        framed: FramedPlane,
        (vector_registers, lanes): (usize, u8),
        epi: Epilogue,
    ) {
        let (h, w, oh, ow) = self.dims();
        let (images, channels, outputs) = self.counts();
        let multiplier = outputs / channels;
        let [kh, kw] = self.kernel;
        let [ph, pw] = self.pads;
        let wp = framed.width;
        let l = lanes as i64;
        let elements = framed.height * wp;
        zero_scratch(k, scratch, elements, lanes);
        let row_vectors = (ow + l - 1) / l;
        let (tile_rows, tile_vectors) = tile_shape(vector_registers, row_vectors);
        k.for_range("n", 0, images, 1, |k, image| {
            k.for_range("c", 0, channels, 1, |k, ic| {
                let x_plane = Expr::var(k.let_var(
                    "xplane",
                    Ty::INDEX,
                    (image.clone() * channels + ic.clone()) * (h * w),
                ));
                row_blocks(k, h, &mut |k, iy, rows| {
                    let from =
                        Expr::var(k.let_var("from", Ty::INDEX, x_plane.clone() + iy.clone() * w));
                    let to = Expr::var(k.let_var("to", Ty::INDEX, (iy + ph) * wp + pw));
                    for r in 0..rows {
                        for (col, width) in row_pieces(w, lanes) {
                            let ty = Ty::vector(ElemType::F32, width);
                            let value = Expr::load(self.x.buf, from.clone() + (r * w + col), ty);
                            k.store(scratch, to.clone() + (r * wp + col), value);
                        }
                    }
                });
                let plane = |k: &mut KernelBuilder, oc: Expr| {
                    let w_plane = Expr::var(k.let_var("wplane", Ty::INDEX, oc.clone() * (kh * kw)));
                    // The weights splatted once a channel: a tap's weight is
                    // then one vector load (a scalar load and a shuffle
                    // otherwise; 56 x 56 maps 0.93x the time).
                    k.for_range("tap", 0, kh * kw, 1, |k, t| {
                        let wv = Expr::load(self.w.buf, w_plane.clone() + t.clone(), Ty::F32);
                        k.store(scratch, t * l + elements, wv.splat(lanes));
                    });
                    let frame = Frame {
                        scratch,
                        width: wp,
                        y: Expr::var(k.let_var(
                            "yplane",
                            Ty::INDEX,
                            (image.clone() * outputs + oc.clone()) * (oh * ow),
                        )),
                        splats: elements,
                        lanes: l,
                        channel: oc,
                    };
                    let rows = tile_rows as i64;
                    let main = oh / rows * rows;
                    let block = |k: &mut KernelBuilder, row: Expr, rows: usize| {
                        self.emit_framed_rows(k, &frame, (row, rows), (tile_vectors, lanes), epi);
                    };
                    k.for_range("oh", 0, main, rows, |k, row| block(k, row, tile_rows));
                    if oh > main {
                        block(k, Expr::index(main), (oh - main) as usize);
                    }
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

    /// `rows` output rows from `row`: their vectors in groups of `vectors`
    /// (the regular ones in a loop, a row's last vector overlapping its
    /// neighbour where the row is not a whole number of vectors), scalars in
    /// rows narrower than a vector.
    fn emit_framed_rows(
        &self,
        k: &mut KernelBuilder,
        f: &Frame,
        (row, rows): (Expr, usize),
        (vectors, lanes): (usize, u8),
        epi: Epilogue,
    ) {
        let (_, _, _, ow) = self.dims();
        let l = lanes as i64;
        if ow < l {
            interior_spans(k, (0, ow), 1, 0, (vectors, lanes), &|k, span| {
                let offsets: Vec<i64> = (0..span.vectors as i64)
                    .map(|v| v * span.lanes as i64)
                    .collect();
                let tile = (span.col, offsets.as_slice(), span.lanes);
                self.emit_framed_tile(k, f, (row.clone(), rows), tile, epi);
            });
            return;
        }
        let mut starts: Vec<i64> = (0..ow / l).map(|v| v * l).collect();
        if ow % l != 0 {
            starts.push(ow - l);
        }
        let group = vectors as i64 * l;
        let regular = ow / group;
        let regular_offsets: Vec<i64> = (0..vectors as i64).map(|v| v * l).collect();
        let tile = |k: &mut KernelBuilder, col: Expr| {
            let tile = (col, regular_offsets.as_slice(), lanes);
            self.emit_framed_tile(k, f, (row.clone(), rows), tile, epi);
        };
        if regular > 1 {
            k.for_range("ow", 0, regular * group, group, |k, col| tile(k, col));
        } else if regular == 1 {
            tile(k, Expr::index(0));
        }
        for rest in starts[(regular * vectors as i64) as usize..].chunks(vectors) {
            let offsets: Vec<i64> = rest.iter().map(|&c| c - rest[0]).collect();
            let tile = (Expr::index(rest[0]), offsets.as_slice(), lanes);
            self.emit_framed_tile(k, f, (row.clone(), rows), tile, epi);
        }
    }

    /// One tile: `rows` output rows from `row` by the vectors at `offsets`
    /// from column `col`, over the framed plane. Input row `i` of the tile
    /// (framed row `row + i`) feeds output rows `r` with `0 <= i - r < kh`.
    fn emit_framed_tile(
        &self,
        k: &mut KernelBuilder,
        f: &Frame,
        (row, rows): (Expr, usize),
        (col, offsets, lanes): (Expr, &[i64], u8),
        epi: Epilogue,
    ) {
        let [kh, kw] = self.kernel;
        let (_, _, _, ow) = self.dims();
        let ty = Ty::vector(ElemType::F32, lanes);
        let acc: Vec<Vec<VarId>> = (0..rows)
            .map(|_| {
                offsets
                    .iter()
                    .map(|_| k.let_var("acc", ty, Expr::f32(0.0).splat(lanes)))
                    .collect()
            })
            .collect();
        let x_at = Expr::var(k.let_var("xat", Ty::INDEX, row.clone() * f.width + col.clone()));
        // Input row `i` (an index expression) feeding output rows `outs`;
        // output row `r` reads kernel row `i - r`, `r * kw` weights before
        // kernel row `i`'s.
        let input_row = |k: &mut KernelBuilder, i: Expr, outs: (usize, usize)| {
            let x_row = Expr::var(k.let_var("xrow", Ty::INDEX, x_at.clone() + i.clone() * f.width));
            let w_row = Expr::var(k.let_var("wrow", Ty::INDEX, i * (kw * f.lanes) + f.splats));
            k.for_range("kw", 0, kw, 1, |k, tw| {
                let xs: Vec<Expr> = offsets
                    .iter()
                    .map(|&o| {
                        let x = Expr::load(f.scratch, x_row.clone() + tw.clone() + o, ty);
                        Expr::var(k.let_var("x", ty, x))
                    })
                    .collect();
                for (r, accs) in acc.iter().enumerate().take(outs.1).skip(outs.0) {
                    let at = w_row.clone() + tw.clone() * f.lanes - r as i64 * kw * f.lanes;
                    let wv = Expr::var(k.let_var("w", ty, Expr::load(f.scratch, at, ty)));
                    for (x, &a_var) in xs.iter().zip(accs) {
                        let a = Expr::var(a_var);
                        // x86_64's FMA overwrites its first multiplicand, which
                        // takes a copy unless this is its last use: first the
                        // operand of fewer uses, the weight (`vectors` uses)
                        // in tall tiles, the input (`rows`) in wide ones
                        // (2 x 4 on 56 x 56 maps: 0.95x the time).
                        let value = if rows >= offsets.len() {
                            wv.clone().fma(x.clone(), a)
                        } else {
                            x.clone().fma(wv.clone(), a)
                        };
                        k.assign(a_var, value);
                    }
                }
            });
        };
        // Output rows reading input row `i`: `i - kh < r <= i`.
        let outs = |i: i64| {
            (
                (i - kh + 1).max(0) as usize,
                (i + 1).min(rows as i64) as usize,
            )
        };
        let (all_lo, all_hi) = (rows as i64 - 1, kh);
        let span_rows = rows as i64 + kh - 1;
        if all_hi - all_lo >= 2 {
            for i in 0..all_lo {
                input_row(k, Expr::index(i), outs(i));
            }
            k.for_range("ih", all_lo, all_hi, 1, |k, i| input_row(k, i, (0, rows)));
            for i in all_hi..span_rows {
                input_row(k, Expr::index(i), outs(i));
            }
        } else {
            for i in 0..span_rows {
                input_row(k, Expr::index(i), outs(i));
            }
        }
        for (r, accs) in acc.iter().enumerate() {
            let y_row = f.y.clone() + (row.clone() + r as i64) * ow + col.clone();
            for (&o, &a) in offsets.iter().zip(accs) {
                let at = y_row.clone() + o;
                let value = epi(k, Expr::var(a), f.channel.clone(), at.clone(), lanes);
                k.store(self.y.buf, at, value);
            }
        }
    }
}

/// Where one output plane's operands start, its input in the frame.
struct Frame {
    scratch: BufId,
    /// Elements per framed row.
    width: i64,
    y: Expr,
    /// Where the splatted weights start in the scratch.
    splats: i64,
    /// Lanes of each splatted weight.
    lanes: i64,
    channel: Expr,
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::Conv;
    use nnc_ir::{DType, Op, Target};
    use rand::Rng;

    use super::super::super::random_tensors::{random_small as random, rng};
    use super::super::super::testing::{
        check_lowering_on_16_and_32_registers, single_node_graph, test_target,
    };
    use super::super::super::{ExtraBuffer, lower_node_full};

    /// A depthwise convolution of `kernel` with `pads` (top, left, bottom,
    /// right) on `channels` planes of `map`, with a bias.
    fn conv(
        rng: &mut rand::rngs::StdRng,
        kernel: [usize; 2],
        pads: [usize; 4],
        (images, channels, multiplier): (usize, usize, usize),
        map: [usize; 2],
    ) -> (nnc_ir::Graph, [nnc_ir::Tensor; 3]) {
        let outputs = channels * multiplier;
        let x = random(rng, DType::F32, &[images, channels, map[0], map[1]]);
        let w = random(rng, DType::F32, &[outputs, 1, kernel[0], kernel[1]]);
        let b = random(rng, DType::F32, &[outputs]);
        let op = Op::Conv(Conv {
            kernel_shape: kernel.to_vec(),
            strides: vec![],
            pads: pads.to_vec(),
            dilations: vec![],
            group: channels,
        });
        let graph = single_node_graph(op, &[Some(&x), Some(&w), Some(&b)], &[1, 2], 1);
        (graph, [x, w, b])
    }

    /// ConvNeXt's 7 x 7 pad-3 convolution takes the framed form (one scratch
    /// buffer, the frame) with the portable kernels only; a 3 x 3 one never.
    #[test]
    fn large_kernels_take_the_frame_with_portable_kernels() {
        let mut rng = rng(71);
        for (kernel, portable, wide, framed) in [
            (7, true, false, true),
            (7, false, false, true),
            (7, false, true, false),
            (3, true, false, false),
        ] {
            let pad = kernel / 2;
            let (graph, _) = conv(&mut rng, [kernel; 2], [pad; 4], (1, 4, 1), [14, 14]);
            let (_, node) = graph.nodes().next().unwrap();
            let features = if wide {
                vec!["avx2".into(), "fma".into()]
            } else {
                vec![]
            };
            let target = Target {
                cpu_features: features,
                portable_kernels: portable,
                ..test_target()
            };
            let lowered = lower_node_full(&graph, node, &target).unwrap();
            let scratch = matches!(lowered.extras[..], [ExtraBuffer::Scratch { .. }]);
            assert_eq!(scratch, framed, "{kernel} x {kernel}, portable {portable}");
        }
    }

    /// Kernels 5 to 7 (square and not), maps from 1 x 1 to wider than two
    /// tiles with every column and row tail, pads from none to past the
    /// kernel on each side, channel multipliers and two images, on 16 and
    /// 32 registers, against the reference evaluator.
    #[test]
    fn framed_convs_match_the_reference() {
        let mut rng = rng(73);
        for round in 0..40 {
            let kernel = [5 + round % 3, 5 + (round / 3) % 3];
            let pads: Vec<usize> = (0..4)
                .map(|d| match round % 4 {
                    0 => kernel[d % 2] / 2,
                    _ => rng.random_range(0..=kernel[d % 2]),
                })
                .collect();
            let pads = [pads[0], pads[1], pads[2], pads[3]];
            let map: Vec<usize> = (0..2)
                .map(|d| {
                    let min = kernel[d].saturating_sub(pads[d] + pads[2 + d]).max(1);
                    let extra = if round % 5 == 0 { 0 } else { 20 };
                    rng.random_range(min..=min + extra)
                })
                .collect();
            let images = 1 + round % 2;
            let channels = rng.random_range(1..=3);
            let multiplier = if round % 6 == 5 { 2 } else { 1 };
            let (graph, [x, w, b]) = conv(
                &mut rng,
                kernel,
                pads,
                (images, channels, multiplier),
                [map[0], map[1]],
            );
            let inputs = [Some(&x), Some(&w), Some(&b)];
            check_lowering_on_16_and_32_registers(&graph, &inputs, 1e-5, 1e-4);
        }
    }
}
