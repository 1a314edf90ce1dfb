//! Depthwise planes too narrow for row tiles (the last 7 x 7 stage of a
//! MobileNet; a keyword-spotting net's 25 x 5 maps where the portable level's
//! framed form, `framed`, does not take them): with unit strides and an output
//! row as wide as the input row, output pixel `o = oh * W + ow` of a plane reads
//! input element `o + (kh * dh - ph) * W + kw * dw - pw` at every tap, so the
//! interior rows, flattened, are one run of vectors that ignore row ends.
//!
//! A lane whose tap column falls outside its row reads the neighbouring row's
//! element instead of the padding: that lane's input is cleared with a bit mask
//! before the FMA (an exact zero, whatever the neighbour holds). The mask depends
//! on the vector's column phase (`o mod W`) only, so vectors come in blocks of
//! `lcm(W, lanes)` outputs, each vector of a block with a phase known at compile
//! time, and every mask is a constant. The first and last few outputs of the
//! run, whose vectors would read outside the plane, and the border rows take the
//! row-tiled paths of the parent module.

use nnc_ir::kernel::{BinaryOp, ElemType, Expr, KernelBuilder, Ty, VarId};

use super::super::gemm::Epilogue;
use super::{Depthwise, Plane, Span, Tile, interior, taps_inside};

/// Most vectors per block (accumulators held across a block's taps).
const MAX_BLOCK_VECTORS: i64 = 8;

/// Row tiles degenerate when a row's interior is narrower than this many vectors.
const NARROW_VECTORS: i64 = 2;

/// Input vectors one kernel row of the flattened run may load.
const LOADS_PER_ROW: i64 = 12;

/// The flattened run of a plane's interior rows: vectors of outputs `[start,
/// end)`, blocks of `block` outputs; the lane masks it uses, declared once per
/// kernel. (Cranelift still rebuilds each constant mask lane by lane next to
/// its uses inside the loops, four instructions a time; xor-ing them with a
/// loop counter's `min(n, 0)` does not stop it. Masks that stay in registers
/// would make the run's kernel rows about a third shorter.)
pub(super) struct Run {
    start: i64,
    end: i64,
    block: i64,
    masks: Vec<(Vec<bool>, VarId)>,
}

impl Depthwise<'_> {
    /// The flattened run, when it applies: unit strides, output rows as wide as
    /// input rows, row tiles narrower than two vectors, and at least one vector
    /// of interior outputs whose reads stay inside the plane.
    pub(super) fn flat_run(&self, k: &mut KernelBuilder, lanes: u8) -> Option<Run> {
        let (h, w, oh, ow) = self.dims();
        let l = lanes as i64;
        if lanes < 2 || self.strides != [1, 1] || ow != w {
            return None;
        }
        let (c0, c1) = interior(w, ow, self.kernel[1], 1, self.dilations[1], self.pads[1]);
        if c1 - c0 >= NARROW_VECTORS * l {
            return None;
        }
        let block = lcm(w, l);
        if block / l > MAX_BLOCK_VECTORS {
            return None;
        }
        let (r0, r1) = interior(h, oh, self.kernel[0], 1, self.dilations[0], self.pads[0]);
        let offsets = self.tap_offsets();
        let lowest = offsets.iter().map(|&(_, _, o)| o).min()?;
        let highest = offsets.iter().map(|&(_, _, o)| o).max()?;
        let start = (r0 * w).max(-lowest);
        let end = (r1 * w).min(h * w - highest);
        if end - start < l {
            return None;
        }
        let mut masks: Vec<(Vec<bool>, VarId)> = Vec::new();
        for phase in 0..w {
            for tw in 0..self.kernel[1] {
                let keep = self.lanes_kept(phase, tw, lanes);
                if keep.iter().all(|&b| b) || masks.iter().any(|(m, _)| *m == keep) {
                    continue;
                }
                let bits = keep
                    .iter()
                    .map(|&b| Expr::int(if b { -1 } else { 0 }, ElemType::I32))
                    .collect();
                let ty = Ty::vector(ElemType::I32, lanes);
                masks.push((keep, k.let_var("mask", ty, Expr::lanes(bits))));
            }
        }
        Some(Run {
            start,
            end,
            block,
            masks,
        })
    }

    /// Which lanes of a vector of outputs starting at column `phase` (modulo
    /// W) read inside their row at kernel column `tw`.
    pub(super) fn lanes_kept(&self, phase: i64, tw: i64, lanes: u8) -> Vec<bool> {
        let (_, w, _, _) = self.dims();
        let (dw, pw) = (self.dilations[1], self.pads[1]);
        (0..lanes as i64)
            .map(|l| (0..w).contains(&((phase + l) % w + tw * dw - pw)))
            .collect()
    }

    /// `(kh, kw, offset)` of every tap: its input element relative to the output's.
    fn tap_offsets(&self) -> Vec<(i64, i64, i64)> {
        let (_, w, _, _) = self.dims();
        let ([kh, kw], [dh, dw], [ph, pw]) = (self.kernel, self.dilations, self.pads);
        (0..kh)
            .flat_map(|th| (0..kw).map(move |tw| (th, tw, (th * dh - ph) * w + tw * dw - pw)))
            .collect()
    }

    /// One plane: border rows and the ends of the run as the row-tiled paths
    /// do them, the run in blocks of vectors.
    pub(super) fn emit_flat_plane(
        &self,
        k: &mut KernelBuilder,
        p: &Plane,
        run: &Run,
        (tile, lanes): (Tile, u8),
        epi: Epilogue,
    ) {
        let (h, w, oh, _) = self.dims();
        let ([kh, kw], [dh, dw], [ph, pw]) = (self.kernel, self.dilations, self.pads);
        let (r0, r1) = interior(h, oh, kh, 1, dh, ph);
        let pixel = |k: &mut KernelBuilder, o: i64| {
            let (row, col) = (o / w, o % w);
            let taps = (
                taps_inside(row, h, kh, 1, dh, ph),
                taps_inside(col, w, kw, 1, dw, pw),
            );
            let span = Span::vectors(Expr::index(col), 1, 1);
            let rows = (Expr::index(row), 1);
            self.emit_tile(k, p, tile, rows, span, taps, epi);
        };
        for row in (0..r0).chain(r1..oh) {
            let taps = taps_inside(row, h, kh, 1, dh, ph);
            self.emit_row_block(k, p, Expr::index(row), 1, taps, tile, lanes, epi);
        }
        for o in (r0 * w..run.start).chain(run.end..r1 * w) {
            pixel(k, o);
        }
        let l = lanes as i64;
        let blocks_end = run.start + (run.end - run.start) / run.block * run.block;
        if blocks_end > run.start {
            let per_block = (run.block / l) as usize;
            let phase = run.start % w;
            k.for_range("o", run.start, blocks_end, run.block, |k, o| {
                let firsts: Vec<i64> = (0..per_block as i64).map(|v| v * l).collect();
                for chunk in firsts.chunks(self.chunk_vectors(firsts.len())) {
                    self.emit_vectors(k, p, run, (o.clone(), phase), chunk, lanes, epi);
                }
            });
        }
        // The rest together, the last vector overlapping the stored ones.
        let mut rest = Vec::new();
        let mut at = blocks_end;
        while at < run.end {
            let first = at.min(run.end - l);
            rest.push(first);
            at = first + l;
        }
        for chunk in rest.chunks(self.chunk_vectors(rest.len())) {
            self.emit_vectors(k, p, run, (Expr::index(0), 0), chunk, lanes, epi);
        }
    }

    /// Vectors accumulated together, of `n`: a kernel row's loads (one per
    /// vector and tap) are all live at once, so wide kernels take fewer
    /// vectors at a time (at least two, so that two FMA chains overlap), in
    /// groups of nearly equal size.
    fn chunk_vectors(&self, n: usize) -> usize {
        let most = (LOADS_PER_ROW / self.kernel[1].max(1)).max(2) as usize;
        let groups = n.div_ceil(most);
        n.div_ceil(groups.max(1)).max(1)
    }

    /// Vectors of outputs `base + first` for each of `firsts`, accumulated over
    /// every tap; `base` is `phase` modulo W, so every lane's column is static.
    /// Kernel rows are a loop (a small body: Cranelift issues all of a body's
    /// loads before its FMAs), kernel columns unrolled (their masks differ).
    #[allow(clippy::too_many_arguments)]
    fn emit_vectors(
        &self,
        k: &mut KernelBuilder,
        p: &Plane,
        run: &Run,
        (base, phase): (Expr, i64),
        firsts: &[i64],
        lanes: u8,
        epi: Epilogue,
    ) {
        let (_, w, _, _) = self.dims();
        let ([kh, kw], [dh, dw], [ph, pw]) = (self.kernel, self.dilations, self.pads);
        let ty = Ty::vector(ElemType::F32, lanes);
        let acc: Vec<_> = firsts
            .iter()
            .map(|_| k.let_var("acc", ty, Expr::f32(0.0).splat(lanes)))
            .collect();
        let x0 = Expr::var(k.let_var("x0", Ty::INDEX, p.x.clone() + base.clone() - (ph * w + pw)));
        k.for_range("kh", 0, kh, 1, |k, th| {
            let x_row = Expr::var(k.let_var("xrow", Ty::INDEX, x0.clone() + th.clone() * (dh * w)));
            let w_row = Expr::var(k.let_var("wrow", Ty::INDEX, p.w.clone() + th * kw));
            for tw in 0..kw {
                let wv = Expr::load(self.w.buf, w_row.clone() + tw, Ty::F32);
                let wv = k.let_var("w", ty, wv.splat(lanes));
                for (&first, &a) in firsts.iter().zip(&acc) {
                    let xv = Expr::load(self.x.buf, x_row.clone() + (first + tw * dw), ty);
                    // Lanes whose tap column leaves the row: cleared.
                    let keep = self.lanes_kept(phase + first, tw, lanes);
                    let xv = match run.masks.iter().find(|(m, _)| *m == keep) {
                        Some(&(_, mask)) => xv
                            .bitcast(ElemType::I32)
                            .binary(BinaryOp::And, Expr::var(mask))
                            .bitcast(ElemType::F32),
                        None => xv,
                    };
                    // The (masked) input first: x86_64's FMA overwrites its
                    // first multiplicand, a fresh register here, where the
                    // shared weight would need a copy per FMA.
                    k.assign(a, xv.fma(Expr::var(wv), Expr::var(a)));
                }
            }
        });
        for (&first, &a) in firsts.iter().zip(&acc) {
            let at = p.y.clone() + base.clone() + first;
            let value = epi(k, Expr::var(a), p.channel.clone(), at.clone(), lanes);
            k.store(self.y.buf, at, value);
        }
    }
}

/// The least common multiple of two positive numbers.
pub(super) fn lcm(a: i64, b: i64) -> i64 {
    let gcd = |mut x: i64, mut y: i64| {
        while y != 0 {
            (x, y) = (y, x % y);
        }
        x
    };
    a / gcd(a, b) * b
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::Conv;
    use nnc_ir::{Arch, DType, Op, Target};

    use super::super::super::random_tensors::{random_small as random, rng};
    use super::super::super::testing::{check_lowering_for, single_node_graph, test_target};

    /// (height, width, kernel, dilation, pads [top, left, bottom, right],
    /// channels, group)
    type Case = (usize, usize, [usize; 2], usize, [usize; 4], usize, usize);

    /// Narrow planes with "same" padding along the row (the flattened run),
    /// kernels from 1 to 7, dilation 2, channel multipliers, a single-channel
    /// convolution (a depthwise one with one group), against the reference.
    #[test]
    fn narrow_planes_match_the_reference() {
        let mut rng = rng(43);
        let aarch64 = Target {
            arch: Arch::Aarch64,
            vector_registers: 32,
            ..test_target()
        };
        let cases: [Case; 10] = [
            (25, 5, [3, 3], 1, [1, 1, 1, 1], 3, 3),
            (7, 7, [3, 3], 1, [1, 1, 1, 1], 2, 2),
            (9, 3, [3, 3], 1, [1, 1, 1, 1], 2, 2),
            (11, 2, [3, 1], 1, [1, 0, 1, 0], 2, 2),
            (13, 1, [5, 1], 1, [2, 0, 2, 0], 2, 2),
            (10, 6, [5, 5], 1, [2, 2, 2, 2], 2, 2),
            (12, 5, [3, 3], 2, [2, 2, 2, 2], 2, 2),
            (9, 7, [7, 7], 1, [3, 3, 3, 3], 2, 2),
            (8, 4, [2, 2], 1, [0, 1, 1, 0], 2, 2),
            (20, 5, [3, 3], 1, [1, 1, 1, 1], 1, 1),
        ];
        for (round, (h, w, kernel, dilation, pads, channels, group)) in
            cases.into_iter().enumerate()
        {
            let multiplier = if round % 3 == 1 { 2 } else { 1 };
            let outputs = if group == 1 { 4 } else { channels * multiplier };
            let x = random(&mut rng, DType::F32, &[2, channels, h, w]);
            let wt = random(&mut rng, DType::F32, &[outputs, 1, kernel[0], kernel[1]]);
            let b = random(&mut rng, DType::F32, &[outputs]);
            let op = Op::Conv(Conv {
                kernel_shape: kernel.to_vec(),
                strides: vec![],
                pads: pads.to_vec(),
                dilations: vec![dilation; 2],
                group,
            });
            let inputs = [Some(&x), Some(&wt), Some(&b)];
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &test_target());
            check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &aarch64);
        }
    }
}
