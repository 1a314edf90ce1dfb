//! Depthwise planes too narrow for the wide form's column panels (a
//! keyword-spotting net's 25 x 5 maps, a MobileNet's last 7 x 7 stage), on
//! targets with a wide microkernel: each input plane is first copied into a
//! scratch plane with a zero border as wide as the pads, so that every tap of
//! every output reads inside it. Flattened, output `o = oy * Wp + ox` of the
//! padded width `Wp` reads padded element `o + kh * dh * Wp + kw * dw` at every
//! tap, whatever the column: the outputs of the whole plane, the border
//! columns' garbage between the rows included, are one run, cut into tile rows
//! of a few vectors (`b_row` = the tile's columns), computed in full vectors
//! whose inputs are memory operands, with no masks. The outputs are then copied out
//! of the run into Y through the epilogue, one row of Y at a time.
//!
//! What it costs is the copies in and out (a load and a store per vector) and
//! `(Wp - W) / W` more multiply-adds; what it saves is the flattened run's
//! masks, splatted weights and 128-bit vectors (`flat`), and the border rows
//! and columns the row-tiled form computes one vector or pixel at a time.
//! The scratch is zeroed once per call: the planes' copies write only the
//! padded plane's interior, so its border and the run's overhang stay zero.
//!
//! Where the AVX-512 microkernel takes the run whole (`cranelift::microkernel::
//! run`: its vectors cross row ends, `vcompressps` drops the border columns'
//! outputs), each output plane is instead one tile (or a few) over the padded
//! plane that writes Y itself, the bias and fused steps in its epilogue: no
//! run in the scratch, no copy out.

use nnc_ir::Microkernel;
use nnc_ir::kernel::{
    BinaryOp, BufId, ColumnBlocks, ElemType, Expr, GemmTile, KernelBuilder, ReductionDim,
    TileOperand, TileStep, Ty,
};

use super::super::gemm::Epilogue;
use super::{Depthwise, zero_scratch};

/// Largest scratch (f32 elements) the padded form takes: it stays in L1.
const MAX_SCRATCH_ELEMENTS: i64 = 8192;

/// Widest output row the padded form takes (wider rows have wide interiors).
const MAX_OUTPUT_COLUMNS: i64 = 48;

/// Tile rows by outputs per tile row of the run, at every wide level: a tile
/// 8 columns wide takes the AVX2 form (one ymm accumulator per row, 12 rows);
/// on this machine's AVX-512 core (a Zen 4, 512-bit FMAs in two halves) it
/// measured faster than 4 rows by 3 zmm vectors (kws_dscnn's depthwise 25 x 5
/// planes: 29 against 25 GFLOP/s) or 6 rows by one zmm (27), mostly in the
/// copy out, whose 128-bit loads read what the tile stored just before.
const RUN_TILE: (i64, i64) = (12, 8);

/// The scratch: one or two copies of the padded plane (`height x width`, then
/// zeros as far as the run reads), then the run of `rows x panel` outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PaddedPlane {
    height: i64,
    width: i64,
    /// Elements of the padded plane with the run's overhang (a copy's).
    run_at: i64,
    /// Copies of the padded plane: 2 where they alternate (`padded_planes`).
    copies: i64,
    /// Tile rows of the run and outputs per tile row.
    rows: i64,
    panel: i64,
}

impl PaddedPlane {
    /// Elements of the scratch buffer: the copies of the padded plane (see
    /// `padded_planes`), each `run_at` elements, then the run.
    pub fn elements(&self) -> usize {
        (self.run_start() + self.rows * self.panel) as usize
    }

    /// Where the run starts in the scratch.
    fn run_start(&self) -> i64 {
        self.copies * self.run_at
    }

    /// Two alternating copies of the padded plane alone, when the tiles write
    /// Y themselves (the last output of a plane reads inside it: see
    /// `padded_plane`).
    pub fn without_run(self) -> PaddedPlane {
        PaddedPlane {
            run_at: self.height * self.width,
            copies: 2,
            rows: 0,
            ..self
        }
    }
}

/// A plane's outputs finished in its tiles: the epilogue steps of the tile
/// of output channel `oc` whose first output is at `at` in Y.
pub(crate) type PlaneSteps<'a> = &'a dyn Fn(Expr, Expr) -> Vec<TileStep>;

/// Zmm accumulators of the AVX-512 run microkernel, and its lanes: a run tile
/// spans at most `RUN_VECTORS * RUN_LANES` positions of the padded plane.
const RUN_VECTORS: i64 = 24;
const RUN_LANES: i64 = 16;

impl Depthwise<'_> {
    /// The scratch layout, when the padded form applies: a wide microkernel,
    /// unit strides, a plane the wide form leaves to the portable paths (its
    /// interior columns narrower than a vector), narrow output rows and a
    /// scratch that stays small.
    pub(crate) fn padded_plane(&self, level: Microkernel) -> Option<PaddedPlane> {
        let (h, w, oh, ow) = self.dims();
        let ([kh, kw], [dh, dw], [ph, pw]) = (self.kernel, self.dilations, self.pads);
        if level == Microkernel::Portable
            || self.strides != [1, 1]
            || self.wide_applies(level)
            || ow > MAX_OUTPUT_COLUMNS
            || oh < 1
            || ow < 1
        {
            return None;
        }
        // The last output reads `(o - 1) + (k - 1) * d` of the padded plane.
        let height = (ph + h).max(oh + (kh - 1) * dh);
        let width = (pw + w).max(ow + (kw - 1) * dw);
        let panel = RUN_TILE.1;
        let outputs = (oh - 1) * width + ow;
        let rows = (outputs + panel - 1) / panel;
        let reach = (kh - 1) * dh * width + (kw - 1) * dw;
        let run_at = (height * width).max(rows * panel + reach);
        let padded = PaddedPlane {
            height,
            width,
            run_at,
            copies: 1,
            rows,
            panel,
        };
        (padded.elements() as i64 <= MAX_SCRATCH_ELEMENTS).then_some(padded)
    }

    /// Output rows per tile when the AVX-512 run microkernel takes this
    /// plane's tiles whole (its vectors span the rows end to end, fewer than
    /// one per row), in as few tiles of as even heights as its 24
    /// accumulators allow; `None` where it would not (planes of one row,
    /// rows as wide as a vector).
    pub(crate) fn run_tile_rows(&self, padded: PaddedPlane, level: Microkernel) -> Option<i64> {
        let (_, _, oh, ow) = self.dims();
        let width = padded.width;
        let most = (RUN_VECTORS * RUN_LANES - ow) / width + 1;
        let tiles = (oh + most - 1) / most.max(1);
        let rows = (oh + tiles - 1) / tiles.max(1);
        let vectors = |rows: i64| ((rows - 1) * width + ow + RUN_LANES - 1) / RUN_LANES;
        let per_row = (ow + RUN_LANES - 1) / RUN_LANES;
        // The shortest tile (the last) must gain too.
        let last = oh - (tiles - 1) * rows;
        (level == Microkernel::Avx512
            && most >= 2
            && last >= 2
            && vectors(rows) < rows * per_row
            && vectors(last) < last * per_row)
            .then_some(rows)
    }

    /// The whole convolution through `scratch` (of `padded.without_run()`'s
    /// elements): zeroed once, then per input channel its plane copied in and
    /// each of its output channels computed from the copy by tiles of
    /// `rows` output rows that write Y, finished by `steps`.
    pub(crate) fn emit_padded_in_tiles(
        &self,
        k: &mut KernelBuilder,
        scratch: BufId,
        (padded, rows): (PaddedPlane, i64),
        lanes: u8,
        steps: PlaneSteps,
    ) {
        let (_, _, oh, ow) = self.dims();
        let (_, _, outputs) = self.counts();
        let [kh, kw] = self.kernel;
        let wp = padded.width;
        self.padded_planes(k, scratch, padded, lanes, &mut |k, plane_at, image, oc| {
            let y_plane = Expr::var(k.let_var(
                "yplane",
                Ty::INDEX,
                (image * outputs + oc.clone()) * (oh * ow),
            ));
            let w_plane = Expr::var(k.let_var("wplane", Ty::INDEX, oc.clone() * (kh * kw)));
            for first in (0..oh).step_by(rows as usize) {
                let count = rows.min(oh - first);
                let y_at = y_plane.clone() + first * ow;
                k.tile(GemmTile {
                    rows: count as usize,
                    cols: ow as usize,
                    a: TileOperand {
                        buf: self.w.buf,
                        offset: w_plane.clone(),
                        stride: 0,
                    },
                    b: TileOperand {
                        buf: scratch,
                        offset: plane_at.clone() + first * wp,
                        stride: 1,
                    },
                    b_row: wp,
                    blocks: ColumnBlocks::ONE,
                    epilogue: steps(oc.clone(), y_at.clone()),
                    y: TileOperand {
                        buf: self.y.buf,
                        offset: y_at,
                        stride: ow,
                    },
                    reduction: self.window_over_rows(wp),
                    accumulate: false,
                    lanes,
                });
            }
        });
    }

    /// The whole convolution through `scratch` (of `padded.elements()` f32):
    /// zeroed once, then per input channel its plane copied in and each of its
    /// output channels computed from the copy as a run of tiles and copied out.
    pub(crate) fn emit_padded(
        &self,
        k: &mut KernelBuilder,
        scratch: BufId,
        padded: PaddedPlane,
        lanes: u8,
        epi: Epilogue,
    ) {
        let (_, _, oh, ow) = self.dims();
        let (_, _, outputs) = self.counts();
        let wp = padded.width;
        self.padded_planes(k, scratch, padded, lanes, &mut |k, plane_at, image, oc| {
            let y_plane = Expr::var(k.let_var(
                "yplane",
                Ty::INDEX,
                (image * outputs + oc.clone()) * (oh * ow),
            ));
            self.emit_run(k, (scratch, plane_at), padded, oc.clone(), lanes);
            row_blocks(k, oh, &mut |k, oy, rows| {
                let from =
                    Expr::var(k.let_var("from", Ty::INDEX, oy.clone() * wp + padded.run_start()));
                let to = Expr::var(k.let_var("to", Ty::INDEX, y_plane.clone() + oy * ow));
                for r in 0..rows {
                    for (col, width) in row_pieces(ow, lanes) {
                        let ty = Ty::vector(ElemType::F32, width);
                        let value = Expr::load(scratch, from.clone() + (r * wp + col), ty);
                        let at = to.clone() + (r * ow + col);
                        let value = epi(k, value, oc.clone(), at.clone(), width);
                        k.store(self.y.buf, at, value);
                    }
                }
            });
        });
    }

    /// `scratch` zeroed once, then per image and input channel the input
    /// plane copied into a padded plane's interior and `plane(k, padded
    /// plane's first element, image, output channel)` for each of its output
    /// channels. With two copies, the planes alternate between them,
    /// the next one written before the current one is read, so that the
    /// tiles' wide loads do not read what narrow stores just wrote (the run
    /// microkernel on kws_dscnn's 25 x 5 planes: 3.8 -> 3.6 us a
    /// convolution; the run and copy out of the AVX2 level measured no
    /// better, 4.8 -> 4.9 us).
    fn padded_planes(
        &self,
        k: &mut KernelBuilder,
        scratch: BufId,
        padded: PaddedPlane,
        lanes: u8,
        plane: &mut dyn FnMut(&mut KernelBuilder, Expr, Expr, Expr),
    ) {
        let alternate = padded.copies == 2;
        let (h, w, _, _) = self.dims();
        let (images, channels, outputs) = self.counts();
        let multiplier = outputs / channels;
        let elements = padded.elements() as i64;
        zero_scratch(k, scratch, elements, lanes);
        let [ph, pw] = self.pads;
        let wp = padded.width;
        // Plane `q` of the input (image `q / channels`, channel `q % channels`)
        // copied into copy `q % 2`.
        let slot = |q: Expr| {
            if alternate {
                q.binary(BinaryOp::Rem, Expr::index(2)) * padded.run_at
            } else {
                Expr::index(0)
            }
        };
        let copy = |k: &mut KernelBuilder, q: Expr| {
            let x_plane = Expr::var(k.let_var("xplane", Ty::INDEX, q.clone() * (h * w)));
            let to_plane = Expr::var(k.let_var("toplane", Ty::INDEX, slot(q)));
            row_blocks(k, h, &mut |k, iy, rows| {
                let from =
                    Expr::var(k.let_var("from", Ty::INDEX, x_plane.clone() + iy.clone() * w));
                let to =
                    Expr::var(k.let_var("to", Ty::INDEX, to_plane.clone() + (iy + ph) * wp + pw));
                for r in 0..rows {
                    for (col, width) in row_pieces(w, lanes) {
                        let ty = Ty::vector(ElemType::F32, width);
                        let value = Expr::load(self.x.buf, from.clone() + (r * w + col), ty);
                        k.store(scratch, to.clone() + (r * wp + col), value);
                    }
                }
            });
        };
        let mut planes = |k: &mut KernelBuilder, q: Expr| {
            let at = Expr::var(k.let_var("padplane", Ty::INDEX, slot(q.clone())));
            let (image, ic) = if images == 1 {
                (Expr::index(0), q)
            } else {
                (
                    q.clone().binary(BinaryOp::Div, Expr::index(channels)),
                    q.binary(BinaryOp::Rem, Expr::index(channels)),
                )
            };
            if multiplier == 1 {
                plane(k, at, image, ic);
            } else {
                k.for_range("mult", 0, multiplier, 1, |k, m| {
                    plane(k, at.clone(), image.clone(), ic.clone() * multiplier + m);
                });
            }
        };
        let count = images * channels;
        if !alternate {
            k.for_range("q", 0, count, 1, |k, q| {
                copy(k, q.clone());
                planes(k, q);
            });
            return;
        }
        copy(k, Expr::index(0));
        k.for_range("q", 0, count - 1, 1, |k, q| {
            copy(k, q.clone() + 1);
            planes(k, q);
        });
        planes(k, Expr::index(count - 1));
    }

    /// The kernel window as a tile's reduction over a plane whose rows are
    /// `row` elements apart: A the weights row by row, B a tap's rows `dh`
    /// plane rows apart and its columns `dw` apart. Every tile over a padded
    /// plane (the plane in tiles of rows, the run) reads the window so.
    fn window_over_rows(&self, row: i64) -> Vec<ReductionDim> {
        let ([kh, kw], [dh, dw]) = (self.kernel, self.dilations);
        vec![
            ReductionDim {
                count: kh as usize,
                a: kw,
                b: dh * row,
            },
            ReductionDim {
                count: kw as usize,
                a: 1,
                b: dw,
            },
        ]
    }

    /// Output channel `oc`'s run over the padded plane, in tiles of
    /// [`RUN_TILE`].
    fn emit_run(
        &self,
        k: &mut KernelBuilder,
        (scratch, plane_at): (BufId, Expr),
        padded: PaddedPlane,
        oc: Expr,
        lanes: u8,
    ) {
        let [kh, kw] = self.kernel;
        let block = RUN_TILE.0 as usize;
        let w_plane = Expr::var(k.let_var("wplane", Ty::INDEX, oc * (kh * kw)));
        let panel = padded.panel;
        for first in (0..padded.rows).step_by(block) {
            let rows = (padded.rows - first).min(block as i64);
            let at = first * panel;
            k.tile(GemmTile {
                rows: rows as usize,
                cols: panel as usize,
                a: TileOperand {
                    buf: self.w.buf,
                    offset: w_plane.clone(),
                    stride: 0,
                },
                b: TileOperand {
                    buf: scratch,
                    offset: plane_at.clone() + at,
                    stride: 1,
                },
                b_row: panel,
                blocks: ColumnBlocks::ONE,
                epilogue: Vec::new(),
                y: TileOperand {
                    buf: scratch,
                    offset: Expr::index(padded.run_start() + at),
                    stride: panel,
                },
                reduction: self.window_over_rows(padded.width),
                accumulate: false,
                lanes,
            });
        }
    }
}

/// Rows copied per loop iteration: the copies' loop counter and index
/// arithmetic are paid once per block (two or three vectors a row alone are
/// fewer instructions than the loop around them).
const ROWS_PER_BLOCK: i64 = 4;

/// `body(k, first row, rows)` over `count` rows: blocks of [`ROWS_PER_BLOCK`]
/// in a loop, then the last rows together.
pub(super) fn row_blocks(
    k: &mut KernelBuilder,
    count: i64,
    body: &mut dyn FnMut(&mut KernelBuilder, Expr, i64),
) {
    let blocked = count / ROWS_PER_BLOCK * ROWS_PER_BLOCK;
    if blocked > 0 {
        k.for_range("rows", 0, blocked, ROWS_PER_BLOCK, |k, row| {
            body(k, row, ROWS_PER_BLOCK)
        });
    }
    if count > blocked {
        body(k, Expr::index(blocked), count - blocked);
    }
}

/// `(first column, width)` of the loads that copy a row of `w` elements:
/// whole vectors, the last one overlapping its neighbour where `w` is not a
/// multiple of `lanes` (the same values stored twice), scalars in a row
/// narrower than a vector.
pub(super) fn row_pieces(w: i64, lanes: u8) -> Vec<(i64, u8)> {
    let l = lanes as i64;
    if w < l || lanes < 2 {
        return (0..w).map(|c| (c, 1)).collect();
    }
    let mut pieces: Vec<(i64, u8)> = (0..w / l).map(|v| (v * l, lanes)).collect();
    if w % l != 0 {
        pieces.push((w - l, lanes));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use nnc_ir::kernel::{GemmTile, Stmt};
    use nnc_ir::ops::Conv;
    use nnc_ir::{DType, Op, Target};

    use super::super::super::random_tensors::{random_small as random, rng};
    use super::super::super::testing::{check_lowering_for, single_node_graph, test_target};
    use super::super::super::{ExtraBuffer, lower_node_full};
    use super::row_pieces;

    /// A keyword-spotting net's 3 x 3 depthwise convolution on 25 x 5 maps
    /// takes the padded form at both wide levels (a scratch buffer of the
    /// padded plane and the run); on portable targets it takes the frames.
    #[test]
    fn narrow_planes_take_the_padded_form_on_wide_targets() {
        let mut rng = rng(61);
        let x = random(&mut rng, DType::F32, &[1, 4, 25, 5]);
        let wt = random(&mut rng, DType::F32, &[4, 1, 3, 3]);
        let op = Op::Conv(Conv {
            kernel_shape: vec![3, 3],
            strides: vec![],
            pads: vec![1; 4],
            dilations: vec![],
            group: 4,
        });
        let graph = single_node_graph(op, &[Some(&x), Some(&wt)], &[1], 1);
        let (_, node) = graph.nodes().next().unwrap();
        for (features, padded) in [
            (&["avx512f", "fma"][..], true),
            (&["avx2", "fma"], true),
            // The portable level's scratch: the frames (`framed`).
            (&[], true),
        ] {
            let target = Target {
                cpu_features: features.iter().map(|f| f.to_string()).collect(),
                ..test_target()
            };
            let lowered = lower_node_full(&graph, node, &target).unwrap();
            let scratch = matches!(lowered.extras[..], [ExtraBuffer::Scratch { .. }]);
            assert_eq!(scratch, padded, "{features:?}");
        }
    }

    /// At AVX-512 the 25 x 5 planes are tiles that write Y with the bias in
    /// their epilogue (the run microkernel's form: one tile a plane, no run
    /// in the scratch); at AVX2 the run and the copy out stay.
    #[test]
    fn avx512_tiles_write_the_output_planes() {
        let mut rng = rng(67);
        let x = random(&mut rng, DType::F32, &[1, 4, 25, 5]);
        let wt = random(&mut rng, DType::F32, &[4, 1, 3, 3]);
        let b = random(&mut rng, DType::F32, &[4]);
        let op = Op::Conv(Conv {
            kernel_shape: vec![3, 3],
            strides: vec![],
            pads: vec![1; 4],
            dilations: vec![],
            group: 4,
        });
        let graph = single_node_graph(op, &[Some(&x), Some(&wt), Some(&b)], &[1, 2], 1);
        let (_, node) = graph.nodes().next().unwrap();
        for (features, in_tiles) in [(&["avx512f", "fma"][..], true), (&["avx2", "fma"], false)] {
            let target = Target {
                cpu_features: features.iter().map(|f| f.to_string()).collect(),
                ..test_target()
            };
            let lowered = lower_node_full(&graph, node, &target).unwrap();
            let tiles = tiles_of(&lowered.kernel.body);
            let writes_y = |t: &GemmTile| t.rows == 25 && t.cols == 5 && t.epilogue.len() == 1;
            assert_eq!(tiles.iter().all(writes_y), in_tiles, "{features:?}");
            assert!(!tiles.is_empty());
        }
    }

    fn tiles_of(stmts: &[Stmt]) -> Vec<GemmTile> {
        stmts
            .iter()
            .flat_map(|s| match s {
                Stmt::Tile(t) => vec![(**t).clone()],
                Stmt::Loop { body, .. } => tiles_of(body),
                Stmt::If {
                    then_body,
                    else_body,
                    ..
                } => [tiles_of(then_body), tiles_of(else_body)].concat(),
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn row_pieces_cover_the_row_once_or_twice() {
        assert_eq!(row_pieces(5, 4), vec![(0, 4), (1, 4)]);
        assert_eq!(row_pieces(8, 4), vec![(0, 4), (4, 4)]);
        assert_eq!(row_pieces(3, 4), vec![(0, 1), (1, 1), (2, 1)]);
    }

    /// Narrow planes (widths 1 to 9, heights 1 to 26) with pads 0 to 2 on
    /// either side, dilations 1 and 2, kernels 1 x 1 to 5 x 5, channel
    /// multipliers, at both wide levels, against the reference.
    #[test]
    fn padded_planes_match_the_reference() {
        let mut rng = rng(59);
        for round in 0..40 {
            let width = 1 + round % 9;
            let height = 1 + (round * 7) % 26;
            let kernel = [1 + (round / 3) % 5, 1 + (round / 2) % 4];
            let dilation = 1 + (round / 5) % 2;
            let pads = [
                (round % 3).min(kernel[0] - 1),
                ((round / 2) % 3).min(kernel[1] - 1),
                ((round / 4) % 3).min(kernel[0] - 1),
                (round % 2).min(kernel[1] - 1),
            ];
            let (ih, iw) = (height + pads[0] + pads[2], width + pads[1] + pads[3]);
            if ih < (kernel[0] - 1) * dilation + 1 || iw < (kernel[1] - 1) * dilation + 1 {
                continue;
            }
            let channels = 1 + round % 3;
            let multiplier = if round % 4 == 3 { 2 } else { 1 };
            let outputs = channels * multiplier;
            let x = random(
                &mut rng,
                DType::F32,
                &[1 + round % 2, channels, height, width],
            );
            let wt = random(&mut rng, DType::F32, &[outputs, 1, kernel[0], kernel[1]]);
            let b = random(&mut rng, DType::F32, &[outputs]);
            let op = Op::Conv(Conv {
                kernel_shape: kernel.to_vec(),
                strides: vec![],
                pads: pads.to_vec(),
                dilations: vec![dilation; 2],
                group: channels,
            });
            let inputs = [Some(&x), Some(&wt), Some(&b)];
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            for features in [&["avx512f", "fma"][..], &["avx2", "fma"]] {
                let target = Target {
                    cpu_features: features.iter().map(|f| f.to_string()).collect(),
                    ..test_target()
                };
                check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &target);
            }
        }
    }
}
