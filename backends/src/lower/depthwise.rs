//! f32 depthwise convolution (2-D, NCHW, `group == C_in`, any channel
//! multiplier; a single-channel input with one group is the same thing, its
//! output channels a multiplier): each output plane is one input plane
//! convolved with its own `KH x KW` filter, so there is no reduction over
//! channels to tile as a GEMM. Planes too narrow for row tiles are flattened
//! (`flat`).
//!
//! Per plane the output is cut into register tiles of `rows` output rows by
//! `vectors` vectors of output columns (f32x4 along the row with unit stride;
//! scalars otherwise, since the kernel IR has no lane shuffle to de-interleave a
//! stride-2 row). A tile accumulates over the taps in two loops (`kh`, `kw`):
//! per tap it splats one weight and loads one input vector per accumulator. On
//! targets without memory operands the tap loops stay loops: Cranelift keeps
//! loads in program order and sinks the FMAs to their uses, so an unrolled tap
//! body would make every load of the body live at once and spill (see
//! `/work/shared/notes/cranelift.md`). On x86_64 the loads fold into the FMAs
//! and the kernel row is unrolled (`Tile::unroll_taps`).
//!
//! Borders are separate loop nests so that the interior is branch-free: the
//! interior rows and columns, whose every tap reads inside the image, run the
//! full tap loops; each border row and border column is emitted on its own with
//! the (static) range of taps that stay inside. The accumulators start at zero
//! and every stored vector goes through an epilogue (`gemm::Epilogue`: value,
//! output channel, output element index, lanes), which adds the bias and applies
//! the fused steps.
//!
//! Small planes at the portable level (25 x 5) are copied between zero rows
//! and computed as one flattened run (`framed`).
//!
//! Where the target has a wide microkernel, planes with unit row stride are
//! tile statements instead (`wide`), narrow unit-stride ones through a
//! zero-bordered copy of each input plane (`padded`). Without one, unit-stride
//! convolutions with kernels of 5 x 5 and more also read such a copy, in
//! tiles over input rows (`framed_tiles`).

use nnc_ir::kernel::{BufId, ElemType, Expr, KernelBuilder, Ty, VarId};
use nnc_ir::{Microkernel, Target};

use super::gemm::Epilogue;
use super::signature::Operand;

mod edge;
mod flat;
mod framed;
mod framed_tiles;
mod halves;
mod padded;
mod unrolled;
mod wide;

/// A 2-D f32 depthwise convolution: spatial attributes are `[height, width]`.
pub(super) struct Depthwise<'a> {
    pub x: &'a Operand,
    pub w: &'a Operand,
    pub y: &'a Operand,
    pub kernel: [i64; 2],
    pub strides: [i64; 2],
    pub dilations: [i64; 2],
    pub pads: [i64; 2],
}

/// Accumulator tile: `rows` output rows by `vectors` vectors of output columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tile {
    pub rows: usize,
    pub vectors: usize,
    /// Unroll the kernel columns: where loads fold into the FMAs (x86_64
    /// memory operands), an unrolled row of taps costs registers only for its
    /// weights, and the tap loop's index arithmetic (which Cranelift
    /// recomputes inside the innermost loop) is paid once per kernel row.
    pub unroll_taps: bool,
    /// The target's wide microkernel: planes it takes become tile statements.
    pub wide: Microkernel,
}

impl Tile {
    /// A tap keeps `rows * vectors` accumulators, as many loaded inputs (all of
    /// a loop body's loads are live at once) and the splatted weight in
    /// registers: 3 x 4 fits the 32 of aarch64 and riscv64, 2 x 3 the 16 of
    /// the others (convolutions on x86_64 take 2 x 2, see `for_conv`).
    pub fn for_target(target: &Target) -> Tile {
        if target.vector_registers >= 32 {
            Tile {
                rows: 3,
                vectors: 4,
                unroll_taps: false,
                wide: target.microkernel(),
            }
        } else {
            Tile {
                rows: 2,
                vectors: 3,
                unroll_taps: target.arch == nnc_ir::Arch::X86_64,
                wide: target.microkernel(),
            }
        }
    }

    /// The tile of a depthwise convolution: `for_target`'s, but 2 x 2 where
    /// x86_64 unrolls the taps. Only the last unrolled tap's loads fold into
    /// its FMAs (Cranelift issues a body's loads first), so the earlier taps'
    /// inputs are all live at once: a 2 x 2 tile keeps 4 accumulators, 8
    /// inputs and 3 weights in the 16 registers, where 2 x 3 spilled 5 of its
    /// 6 accumulators in every iteration (convnext_atto's 7 x 7 convolutions
    /// at 128 bits: 14 GFLOP/s with 2 x 3, 16 with 2 x 2; the tiled pools,
    /// which unroll kernel rows of up to 3 taps, take it too).
    pub fn for_conv(target: &Target) -> Tile {
        let tile = Tile::for_target(target);
        if tile.unroll_taps {
            Tile { vectors: 2, ..tile }
        } else {
            tile
        }
    }

    /// The tile of this depthwise convolution: `for_conv`'s, but 1 x 3 for a
    /// unit-stride 3 x 3 one where x86_64 unrolls the taps. 2 x 2 needs 15
    /// registers, so a fused Clip's two bounds, held across the loop, spill an
    /// accumulator every kernel row; 1 x 3 needs 12 (mobilenet_v2 at 128
    /// bits, min of 40: 112 x 112 0.88x the time of 2 x 2, 56 x 56 0.95x,
    /// 28 x 28 0.96x, 14 x 14 the same; a stride-2 one 1.14x, and
    /// convnext_atto's 7 x 7 ones, three unrolled groups a row, 1.4x).
    pub fn for_depthwise(target: &Target, dw: &Depthwise) -> Tile {
        let tile = Tile::for_conv(target);
        let three_taps = dw.kernel[1] == UNROLLED_TAPS;
        if tile.unroll_taps && three_taps && dw.strides == [1, 1] {
            Tile {
                rows: 1,
                vectors: 3,
                ..tile
            }
        } else {
            tile
        }
    }
}

/// Taps of a kernel row unrolled together (`Tile::unroll_taps`): 3 keeps the
/// weights and accumulators in x86_64's registers; a 7-tap row unrolled spills.
const UNROLLED_TAPS: i64 = 3;

/// Whether a convolution with these operands and `group` is depthwise in the
/// form this module handles: f32, 2-D, one input channel per group (a
/// single-channel convolution included: each output plane reads the one
/// input plane, as the direct row-tiled form does best for so short a
/// reduction).
pub(super) fn applies(x: &Operand, w: &Operand, y: &Operand, group: usize) -> bool {
    let (xs, ws, ys) = (x.shape(), w.shape(), y.shape());
    x.elem() == ElemType::F32
        && xs.len() == 4
        && ws.len() == 4
        && (group > 1 || xs[1] == 1)
        && group == xs[1]
        && ws[1] == 1
        && ys[1] % group == 0
}

/// Where one output plane's operands start.
struct Plane {
    x: Expr,
    y: Expr,
    w: Expr,
    channel: Expr,
}

/// The output indices `[lo, hi)` along one dim whose every tap reads inside
/// `0..input` (empty: `lo == hi`).
pub(super) fn interior(
    input: i64,
    output: i64,
    kernel: i64,
    stride: i64,
    dilation: i64,
    pad: i64,
) -> (i64, i64) {
    let reach = (kernel - 1) * dilation;
    let lo = (-(-pad).div_euclid(stride)).clamp(0, output);
    let hi = ((input - 1 + pad - reach).div_euclid(stride) + 1).clamp(lo, output);
    (lo, hi)
}

/// The taps `[lo, hi)` of output index `o` that read inside `0..input`.
pub(super) fn taps_inside(
    o: i64,
    input: i64,
    kernel: i64,
    stride: i64,
    dilation: i64,
    pad: i64,
) -> (i64, i64) {
    let inside: Vec<i64> = (0..kernel)
        .filter(|&t| (0..input).contains(&(o * stride + t * dilation - pad)))
        .collect();
    match (inside.first(), inside.last()) {
        (Some(&a), Some(&b)) => (a, b + 1),
        _ => (0, 0),
    }
}

impl Depthwise<'_> {
    fn dims(&self) -> (i64, i64, i64, i64) {
        let (xs, ys) = (self.x.shape(), self.y.shape());
        (xs[2] as i64, xs[3] as i64, ys[2] as i64, ys[3] as i64)
    }

    /// Images, input channels and output channels.
    fn counts(&self) -> (i64, i64, i64) {
        let (xs, ys) = (self.x.shape(), self.y.shape());
        (xs[0] as i64, xs[1] as i64, ys[1] as i64)
    }

    /// Kernel size, stride, dilation and leading pad along spatial axis `d`
    /// (0: rows, 1: columns).
    fn axis(&self, d: usize) -> (i64, i64, i64, i64) {
        (
            self.kernel[d],
            self.strides[d],
            self.dilations[d],
            self.pads[d],
        )
    }

    /// The whole convolution: every image and output channel, one plane each.
    pub fn emit(&self, k: &mut KernelBuilder, tile: Tile, lanes: u8, epilogue: Epilogue) {
        let (h, w, oh, ow) = self.dims();
        let (images, channels, outputs) = self.counts();
        let multiplier = outputs / channels;
        let taps = self.kernel[0] * self.kernel[1];
        let run = self.flat_run(k, lanes);
        let wide = self.wide_applies(tile.wide);
        if self.unrolls_kernel(tile) {
            // Neither changes while the kernel runs (a convolution never
            // writes over its input): their loads may move.
            k.mark_unchanging(self.x.buf);
            k.mark_unchanging(self.w.buf);
        }
        k.for_range("n", 0, images, 1, |k, image| {
            k.for_range("c", 0, channels, 1, |k, ic| {
                let plane = |k: &mut KernelBuilder, oc: Expr| {
                    let plane = Plane {
                        x: Expr::var(k.let_var(
                            "xplane",
                            Ty::INDEX,
                            (image.clone() * channels + ic.clone()) * (h * w),
                        )),
                        y: Expr::var(k.let_var(
                            "yplane",
                            Ty::INDEX,
                            (image.clone() * outputs + oc.clone()) * (oh * ow),
                        )),
                        w: Expr::var(k.let_var("wplane", Ty::INDEX, oc.clone() * taps)),
                        channel: oc,
                    };
                    match &run {
                        Some(run) => self.emit_flat_plane(k, &plane, run, (tile, lanes), epilogue),
                        None if wide => self.emit_wide_plane(k, &plane, (tile, lanes), epilogue),
                        None => self.emit_plane(k, &plane, tile, lanes, epilogue),
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

    /// Whether tiles unroll every tap, the kernel rows too (`unrolled`):
    /// x86_64's unit-stride 3 x 3 convolutions in 1 x 3 tiles, where no wide
    /// microkernel takes the plane.
    pub(super) fn unrolls_kernel(&self, tile: Tile) -> bool {
        tile.unroll_taps
            && tile.rows == 1
            && self.kernel == [UNROLLED_TAPS; 2]
            && self.strides == [1, 1]
            && !self.wide_applies(tile.wide)
    }

    /// One output plane: border rows alone with their taps, interior rows in
    /// blocks of `tile.rows`, then one at a time.
    fn emit_plane(&self, k: &mut KernelBuilder, p: &Plane, tile: Tile, lanes: u8, epi: Epilogue) {
        let (h, _, oh, _) = self.dims();
        let (kh, sh, dh, ph) = self.axis(0);
        let (lo, hi) = interior(h, oh, kh, sh, dh, ph);
        let border_row = |k: &mut KernelBuilder, row: i64| {
            let taps = taps_inside(row, h, kh, sh, dh, ph);
            self.emit_row_block(k, p, Expr::index(row), 1, taps, tile, lanes, epi);
        };
        for row in 0..lo {
            border_row(k, row);
        }
        let rows = tile.rows as i64;
        let main = lo + (hi - lo) / rows * rows;
        k.for_range("oh", lo, main, rows, |k, row| {
            self.emit_row_block(k, p, row, tile.rows, (0, kh), tile, lanes, epi);
        });
        k.for_range("oh", main, hi, 1, |k, row| {
            self.emit_row_block(k, p, row, 1, (0, kh), tile, lanes, epi);
        });
        for row in hi..oh {
            border_row(k, row);
        }
    }

    /// `rows` output rows from `row`, reading kernel rows `taps_h`: interior
    /// columns in tiles (full ones in a loop, then narrower ones), border
    /// columns one at a time with the taps inside the image.
    #[allow(clippy::too_many_arguments)]
    fn emit_row_block(
        &self,
        k: &mut KernelBuilder,
        p: &Plane,
        row: Expr,
        rows: usize,
        taps_h: (i64, i64),
        tile: Tile,
        lanes: u8,
        epi: Epilogue,
    ) {
        let (_, w, _, ow) = self.dims();
        let (kw, sw, dw, pw) = self.axis(1);
        let (lo, hi) = interior(w, ow, kw, sw, dw, pw);
        let full = (taps_h, (0, kw));
        let rows = (row, rows);
        if let Some(cols) = self.narrow_row_vectors((lo, hi), lanes) {
            for col in cols {
                self.emit_edge_vector(k, p, rows.clone(), col, taps_h, (lanes, epi));
            }
            return;
        }
        let emit = |k: &mut KernelBuilder, span: Span, taps| {
            self.emit_tile(k, p, tile, rows.clone(), span, taps, epi);
        };
        let halved_end = halved_end(w, kw, dw, pw, (lo, hi));
        interior_spans(
            k,
            (lo, hi),
            sw,
            halved_end,
            (tile.vectors, lanes),
            &|k, span| emit(k, span, full),
        );
        // Border columns: one vector a side where it covers them (`edge`).
        let (left, right) = self.edge_vectors((lo, hi), lanes);
        for edge in [left, right].into_iter().flatten() {
            self.emit_edge_vector(k, p, rows.clone(), edge, taps_h, (lanes, epi));
        }
        let scalar_left = if left.is_some() { 0 } else { lo };
        let scalar_right = if right.is_some() { ow } else { hi };
        for col in (0..scalar_left).chain(scalar_right..ow) {
            let taps = (taps_h, taps_inside(col, w, kw, sw, dw, pw));
            emit(k, Span::vectors(Expr::index(col), 1, 1), taps);
        }
    }

    /// One register tile: `rows` output rows from `row` by the columns of
    /// `span`, over kernel rows `taps.0` and columns `taps.1`, every tap inside
    /// the image.
    #[allow(clippy::too_many_arguments)]
    fn emit_tile(
        &self,
        k: &mut KernelBuilder,
        p: &Plane,
        tile: Tile,
        (row, rows): (Expr, usize),
        span: Span,
        ((kh0, kh1), (kw0, kw1)): ((i64, i64), (i64, i64)),
        epi: Epilogue,
    ) {
        let (_, w, _, ow) = self.dims();
        let [sh, sw] = self.strides;
        let [dh, dw] = self.dilations;
        let [ph, pw] = self.pads;
        let kernel_w = self.kernel[1];
        if self.unrolls_kernel(tile) && span.keep == 1 {
            let taps = ((kh0, kh1), (kw0, kw1));
            return self.emit_unrolled_tile(k, p, (row, rows), span, taps, epi);
        }
        let unroll = tile.unroll_taps;
        let Span {
            col,
            vectors,
            lanes,
            keep,
        } = span;
        let ty = Ty::vector(ElemType::F32, lanes);
        let acc: Vec<Vec<VarId>> = (0..rows)
            .map(|_| {
                (0..vectors)
                    .map(|_| k.let_var("acc", ty, Expr::f32(0.0).splat(lanes)))
                    .collect()
            })
            .collect();
        // Input column of the tile's first output column at tap 0; vector `v`
        // reads from `v * step` after it.
        let x_col = col.clone() * sw - pw;
        let step = if lanes > 1 { lanes as i64 } else { sw };
        // Where each output row's window starts (kernel row 0), set before
        // the kernel-row loop so that its accesses are affine in the kernel
        // row: the loop then walks them with induction pointers instead of
        // recomputing every row's address (`cranelift::induction`).
        let x_tops: Vec<Expr> = (0..rows as i64)
            .map(|r| {
                let at = p.x.clone() + ((row.clone() + r) * sh - ph) * w + x_col.clone();
                Expr::var(k.let_var("xtop", Ty::INDEX, at))
            })
            .collect();
        k.for_range("kh", kh0, kh1, 1, |k, th| {
            let x_rows: Vec<Expr> = x_tops
                .iter()
                .map(|top| top.clone() + th.clone() * (dh * w))
                .collect();
            let w_row = p.w.clone() + th * kernel_w;
            let tap = |k: &mut KernelBuilder, tw: Expr| {
                let wv = Expr::load(self.w.buf, w_row.clone() + tw.clone(), Ty::F32);
                let wv = k.let_var("w", ty, wv.splat(lanes));
                for (r, x_row) in x_rows.iter().enumerate() {
                    for (v, &a) in acc[r].iter().enumerate() {
                        let at = x_row.clone() + tw.clone() * dw + v as i64 * step;
                        let xv = Expr::load(self.x.buf, at, ty);
                        // The loaded input first: x86_64's FMA overwrites its
                        // first multiplicand, a fresh register here, where the
                        // shared weight would need a copy per FMA.
                        k.assign(a, xv.fma(Expr::var(wv), Expr::var(a)));
                    }
                }
            };
            if unroll {
                // Rows of taps in chunks of `UNROLLED_TAPS`, the rest unrolled.
                let chunked = kw0 + (kw1 - kw0) / UNROLLED_TAPS * UNROLLED_TAPS;
                if chunked - kw0 > UNROLLED_TAPS {
                    k.for_range("kw", kw0, chunked, UNROLLED_TAPS, |k, tw| {
                        for t in 0..UNROLLED_TAPS {
                            tap(k, tw.clone() + t);
                        }
                    });
                } else {
                    for tw in kw0..chunked {
                        tap(k, Expr::index(tw));
                    }
                }
                for tw in chunked..kw1 {
                    tap(k, Expr::index(tw));
                }
            } else {
                k.for_range("kw", kw0, kw1, 1, |k, tw| tap(k, tw));
            }
        });
        for (r, accs) in acc.iter().enumerate() {
            let y_row = (row.clone() + r as i64) * ow + col.clone();
            for (v, &a) in accs.iter().enumerate() {
                let first = v as i64 * lanes as i64;
                if keep == 1 {
                    let at = p.y.clone() + y_row.clone() + first;
                    let value = epi(k, Expr::var(a), p.channel.clone(), at.clone(), lanes);
                    k.store(self.y.buf, at, value);
                } else {
                    for lane in (0..lanes as i64).step_by(keep as usize) {
                        let at = p.y.clone() + y_row.clone() + (first + lane) / keep;
                        let kept = Expr::var(a).extract(lane as u8);
                        let value = epi(k, kept, p.channel.clone(), at.clone(), 1);
                        k.store(self.y.buf, at, value);
                    }
                }
            }
        }
    }
}

/// Where stride-2 vector tiles (`Span::keep == 2`) of the interior `[lo,
/// hi)` must end: a vector reads one input column past its last output's
/// window, which must still be inside the image.
pub(super) fn halved_end(
    input: i64,
    kernel: i64,
    dilation: i64,
    pad: i64,
    (lo, hi): (i64, i64),
) -> i64 {
    let reach = (kernel - 1) * dilation;
    ((input - 2 + pad - reach).div_euclid(2) + 1).clamp(lo, hi)
}

/// Covers the interior output columns `[lo, hi)` of a row with spans:
/// `vectors` x `lanes` tiles in a loop, then narrower ones; with unit stride
/// the last columns as one vector overlapping the stored ones (it recomputes
/// the same values at a quarter of the cost of scalars); with stride 2,
/// vectors at stride 1 keeping even lanes up to `halved_end`; scalars for what
/// remains. `emit(k, span)` writes one tile.
pub(super) fn interior_spans(
    k: &mut KernelBuilder,
    (lo, hi): (i64, i64),
    stride: i64,
    halved_end: i64,
    (vectors, lanes): (usize, u8),
    emit: &dyn Fn(&mut KernelBuilder, Span),
) {
    // Tiles of `shape` from `at` up to `end`, the first ones in a loop.
    let run = |k: &mut KernelBuilder,
               at: &mut i64,
               (vectors, lanes, keep): (usize, u8, i64),
               end: i64| {
        let width = vectors as i64 * lanes as i64 / keep;
        let stop = *at + (end - *at) / width * width;
        let span = |col| Span {
            col,
            vectors,
            lanes,
            keep,
        };
        if stop - *at > width {
            k.for_range("ow", *at, stop, width, |k, col| emit(k, span(col)));
        } else if stop > *at {
            emit(k, span(Expr::index(*at)));
        }
        *at = stop;
    };
    let mut at = lo;
    let l = lanes as i64;
    if stride == 1 && lanes > 1 {
        run(k, &mut at, (vectors, lanes, 1), hi);
        run(k, &mut at, (1, lanes, 1), hi);
        if hi > at && hi - lo >= l {
            emit(k, Span::vectors(Expr::index(hi - l), 1, lanes));
            at = hi;
        }
    } else if stride == 2 && lanes > 1 {
        run(k, &mut at, (vectors, lanes, 2), halved_end);
        run(k, &mut at, (1, lanes, 2), halved_end);
    }
    run(k, &mut at, (vectors, 1, 1), hi);
    run(k, &mut at, (1, 1, 1), hi);
}

/// The output columns of a tile: `vectors` vectors of `lanes` from output
/// column `col`. With `keep == 1` lane `i` of vector `v` is output column
/// `col + v * lanes + i` (scalars step along the row by the stride); with
/// `keep == 2` (a stride-2 row) the vectors read the input at stride 1 and
/// only their even lanes are outputs, `col + (v * lanes + i) / 2`.
pub(super) struct Span {
    pub col: Expr,
    pub vectors: usize,
    pub lanes: u8,
    pub keep: i64,
}

impl Span {
    pub fn vectors(col: Expr, vectors: usize, lanes: u8) -> Span {
        Span {
            col,
            vectors,
            lanes,
            keep: 1,
        }
    }
}

/// Zeros the first `elements` f32 of `scratch`, `lanes` at a time then the
/// rest one by one: the pads of a staged or framed plane, which its copies
/// never write.
fn zero_scratch(k: &mut KernelBuilder, scratch: BufId, elements: i64, lanes: u8) {
    let vectors_end = elements / lanes as i64 * lanes as i64;
    k.for_range("z", 0, vectors_end, lanes as i64, |k, i| {
        k.store(scratch, i, Expr::f32(0.0).splat(lanes));
    });
    for i in vectors_end..elements {
        k.store(scratch, Expr::index(i), Expr::f32(0.0));
    }
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::Conv;
    use nnc_ir::{Arch, DType, Op, Target};
    use rand::Rng;

    use super::super::random_tensors::{random_small as random, rng};
    use super::super::testing::{
        check_lowering, check_lowering_for, single_node_graph, test_target,
    };

    /// Convolutions (and tiled pools) on x86_64 take 2 x 2 tiles (their
    /// unrolled taps' loads are live at once), `for_target` is 2 x 3;
    /// 32-register targets 3 x 4 for both.
    #[test]
    fn tile_shapes_fit_the_registers() {
        let x86 = test_target();
        let shape = |t: super::Tile| (t.rows, t.vectors, t.unroll_taps);
        assert_eq!(shape(super::Tile::for_conv(&x86)), (2, 2, true));
        assert_eq!(shape(super::Tile::for_target(&x86)), (2, 3, true));
        let aarch64 = Target {
            arch: Arch::Aarch64,
            vector_registers: 32,
            ..test_target()
        };
        assert_eq!(shape(super::Tile::for_conv(&aarch64)), (3, 4, false));
    }

    /// Every kernel size 1..=7 (square and not), strides 1 and 2, dilations 1
    /// and 2, pads from none to past the kernel, odd widths: every tile, tail
    /// and border path runs, against the reference evaluator.
    #[test]
    fn depthwise_convs_with_random_geometry() {
        let mut rng = rng(41);
        let aarch64 = Target {
            arch: Arch::Aarch64,
            vector_registers: 32,
            ..test_target()
        };
        for round in 0..70 {
            let kh = 1 + round % 7;
            let kw = if round % 3 == 0 {
                rng.random_range(1..=7)
            } else {
                kh
            };
            let kernel = [kh, kw];
            let strides: Vec<usize> = (0..2).map(|_| rng.random_range(1..=2)).collect();
            let dilations: Vec<usize> =
                (0..2).map(|_| if round % 5 == 4 { 2 } else { 1 }).collect();
            let pads: Vec<usize> = (0..4)
                .map(|d| rng.random_range(0..=kernel[d % 2]))
                .collect();
            let channels = rng.random_range(2..=4);
            let multiplier = if round % 4 == 3 { 2 } else { 1 };
            let mut x_shape = vec![rng.random_range(1..=2), channels];
            for d in 0..2 {
                let extent = (kernel[d] - 1) * dilations[d] + 1;
                let min = extent.saturating_sub(pads[d] + pads[2 + d]).max(1);
                // Some planes wide enough for full AVX-512 column panels.
                let extra = if round % 6 == 5 { 60 } else { 19 };
                x_shape.push(rng.random_range(min..=min + extra));
            }
            let x = random(&mut rng, DType::F32, &x_shape);
            let w = random(&mut rng, DType::F32, &[channels * multiplier, 1, kh, kw]);
            let b = random(&mut rng, DType::F32, &[channels * multiplier]);
            let op = Op::Conv(Conv {
                kernel_shape: kernel.to_vec(),
                strides,
                pads,
                dilations,
                group: channels,
            });
            let bias = (round % 2 == 0).then_some(&b);
            let inputs = [Some(&x), Some(&w), bias];
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            check_lowering(&graph, &inputs, 1e-5, 1e-4);
            // The tile shape and tap loops of 32-register targets too.
            check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &aarch64);
            // The tile statements of wide x86_64 targets (`wide`).
            for features in [&["avx512f", "fma"][..], &["avx2", "fma"]] {
                let wide = Target {
                    cpu_features: features.iter().map(|f| f.to_string()).collect(),
                    ..test_target()
                };
                check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &wide);
            }
        }
    }

    /// Unit-stride 3 x 3 convolutions, which take the 1 x 3 tile on x86_64:
    /// widths from under one vector to several tiles with every tail, pads
    /// 0 to 2, dilation 2, against the reference evaluator.
    #[test]
    fn unit_stride_three_by_three_in_one_row_tiles() {
        let mut rng = rng(49);
        for round in 0..16 {
            let dilation = if round % 4 == 3 { 2 } else { 1 };
            let pads: Vec<usize> = (0..4).map(|_| rng.random_range(0..=2)).collect();
            let channels = rng.random_range(1..=3);
            let height = rng.random_range(5..=9);
            let width = rng.random_range(5..=40);
            let x = random(&mut rng, DType::F32, &[1, channels, height, width]);
            let w = random(&mut rng, DType::F32, &[channels, 1, 3, 3]);
            let b = random(&mut rng, DType::F32, &[channels]);
            let op = Op::Conv(Conv {
                kernel_shape: vec![3, 3],
                strides: vec![1, 1],
                pads,
                dilations: vec![dilation; 2],
                group: channels,
            });
            let inputs = [Some(&x), Some(&w), Some(&b)];
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            check_lowering(&graph, &inputs, 1e-5, 1e-4);
        }
    }
}
