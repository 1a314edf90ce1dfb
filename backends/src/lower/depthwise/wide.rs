//! Depthwise planes as tile statements, for targets whose tiles become wide
//! microkernels (x86_64 with AVX-512F or AVX2+FMA; `cranelift::microkernel`).
//!
//! A block of output rows by a panel of interior output columns is one
//! [`GemmTile`] whose rows read their own input row (`b_row`: the row stride
//! times the input width) and share one weight per tap (A's row stride 0); its
//! reduction is the kernel rows times the kernel columns. The accumulators are
//! the tile's rows times its vectors, so a block of rows keeps the FMAs
//! independent however narrow the plane: 8 rows by up to 3 zmm vectors, 6 rows
//! by up to 2 ymm ones. Border rows are one-row tiles over the kernel rows
//! inside the image; border columns are 128-bit edge vectors where they cover
//! 3 or more columns (`edge`), else scalar (`Depthwise::emit_tile`), as in the
//! row-tiled form. The epilogue (bias, fused steps) then runs over the
//! stored tile while it is in L1.
//!
//! Strides 1 and 2 along the rows (the microkernel picks a stride-2 row's
//! columns out of pair loads); wider ones keep the row-tiled form.

use nnc_ir::Microkernel;
use nnc_ir::kernel::{
    ColumnBlocks, ElemType, Expr, GemmTile, KernelBuilder, ReductionDim, TileOperand, Ty,
};

use super::super::gemm::Epilogue;
use super::super::gemm_tiles;
use super::{Depthwise, Plane, Span, Tile, interior, taps_inside};

/// Output rows per tile and the widest column panel, per microkernel level:
/// `rows x panel / lanes` accumulators fill most of the registers.
fn tile_shape(level: Microkernel) -> (usize, usize) {
    match level {
        Microkernel::Avx512 => (8, 48),
        _ => (6, 16),
    }
}

/// Interior columns below which the row-tiled portable form is kept (a tile
/// narrower than a vector wastes most of its lanes).
const MIN_INTERIOR_COLUMNS: i64 = 8;

impl Depthwise<'_> {
    /// Whether the wide form applies at `level`: a microkernel level, a stride
    /// of 1 or 2 along the rows and an interior at least a vector wide.
    pub(super) fn wide_applies(&self, level: Microkernel) -> bool {
        let (_, w, _, ow) = self.dims();
        let (c0, c1) = interior(
            w,
            ow,
            self.kernel[1],
            self.strides[1],
            self.dilations[1],
            self.pads[1],
        );
        level != Microkernel::Portable
            && (1..=2).contains(&self.strides[1])
            && c1 - c0 >= MIN_INTERIOR_COLUMNS
    }

    /// One output plane: border rows one by one over the kernel rows inside,
    /// interior rows in blocks of the tile's rows, the last block shorter.
    pub(super) fn emit_wide_plane(
        &self,
        k: &mut KernelBuilder,
        p: &Plane,
        (tile, lanes): (Tile, u8),
        epi: Epilogue,
    ) {
        let (h, _, oh, _) = self.dims();
        let (kh, sh, dh, ph) = self.axis(0);
        let (lo, hi) = interior(h, oh, kh, sh, dh, ph);
        let (block, _) = tile_shape(tile.wide);
        let rows = |k: &mut KernelBuilder, row: Expr, count: usize, taps: (i64, i64)| {
            self.emit_wide_rows(k, p, (row, count), taps, (tile, lanes), epi);
        };
        for row in (0..lo).chain(hi..oh) {
            rows(k, Expr::index(row), 1, taps_inside(row, h, kh, sh, dh, ph));
        }
        let blocked = lo + (hi - lo) / block as i64 * block as i64;
        if blocked - lo > block as i64 {
            k.for_range("oh", lo, blocked, block as i64, |k, row| {
                rows(k, row, block, (0, kh));
            });
        } else if blocked > lo {
            rows(k, Expr::index(lo), block, (0, kh));
        }
        if hi > blocked {
            rows(k, Expr::index(blocked), (hi - blocked) as usize, (0, kh));
        }
    }

    /// `count` output rows from `row` over kernel rows `[kh0, kh1)`: the
    /// interior columns in panels of tiles, the border columns scalar.
    fn emit_wide_rows(
        &self,
        k: &mut KernelBuilder,
        p: &Plane,
        (row, count): (Expr, usize),
        (kh0, kh1): (i64, i64),
        (tile, lanes): (Tile, u8),
        epi: Epilogue,
    ) {
        let (_, w, _, ow) = self.dims();
        let (kw, sw, dw, pw) = self.axis(1);
        let (c0, c1) = interior(w, ow, kw, sw, dw, pw);
        if kh1 <= kh0 {
            // No kernel row reads inside: the row-tiled form stores the
            // epilogue of zero.
            self.emit_row_block(k, p, row, count, (kh0, kh1), tile, lanes, epi);
            return;
        }
        let (_, panel) = tile_shape(tile.wide);
        let full = c0 + (c1 - c0) / panel as i64 * panel as i64;
        let columns = |k: &mut KernelBuilder, col: Expr, cols: usize| {
            self.emit_wide_tile(
                k,
                p,
                (row.clone(), count),
                (col, cols),
                (kh0, kh1),
                lanes,
                epi,
            );
        };
        if full - c0 > panel as i64 {
            k.for_range("ow", c0, full, panel as i64, |k, col| {
                columns(k, col, panel)
            });
        } else if full > c0 {
            columns(k, Expr::index(c0), panel);
        }
        if c1 > full {
            columns(k, Expr::index(full), (c1 - full) as usize);
        }
        // Border columns: one 128-bit vector a side where it covers them
        // (`edge`), `tile.rows` rows at a time (its loads all live at once);
        // else scalar.
        let (left, right) = self.edge_vectors((c0, c1), lanes);
        for edge in [left, right].into_iter().flatten() {
            for first in (0..count).step_by(tile.rows) {
                let rows = (row.clone() + first as i64, tile.rows.min(count - first));
                self.emit_edge_vector(k, p, rows, edge, (kh0, kh1), (lanes, epi));
            }
        }
        let scalar_left = if left.is_some() { 0 } else { c0 };
        let scalar_right = if right.is_some() { ow } else { c1 };
        for col in (0..scalar_left).chain(scalar_right..ow) {
            let taps = ((kh0, kh1), taps_inside(col, w, kw, sw, dw, pw));
            let span = Span::vectors(Expr::index(col), 1, 1);
            self.emit_tile(k, p, tile, (row.clone(), count), span, taps, epi);
        }
    }

    /// One tile statement: `rows` output rows from `row` by `cols` interior
    /// columns from `col`, then the epilogue over what it stored.
    #[allow(clippy::too_many_arguments)]
    fn emit_wide_tile(
        &self,
        k: &mut KernelBuilder,
        p: &Plane,
        (row, rows): (Expr, usize),
        (col, cols): (Expr, usize),
        (kh0, kh1): (i64, i64),
        lanes: u8,
        epi: Epilogue,
    ) {
        let (_, w, _, ow) = self.dims();
        let (kernel_w, sh, dh, ph) = (
            self.kernel[1],
            self.strides[0],
            self.dilations[0],
            self.pads[0],
        );
        let (sw, dw, pw) = (self.strides[1], self.dilations[1], self.pads[1]);
        let y_origin = Expr::var(k.let_var(
            "ytile",
            Ty::INDEX,
            p.y.clone() + row.clone() * ow + col.clone(),
        ));
        let ih = row * sh + (kh0 * dh - ph);
        k.tile(GemmTile {
            rows,
            cols,
            a: TileOperand {
                buf: self.w.buf,
                offset: p.w.clone() + kh0 * kernel_w,
                stride: 0,
            },
            b: TileOperand {
                buf: self.x.buf,
                offset: p.x.clone() + ih * w + (col * sw - pw),
                stride: sw,
            },
            b_row: sh * w,
            blocks: ColumnBlocks::ONE,
            epilogue: Vec::new(),
            y: TileOperand {
                buf: self.y.buf,
                offset: y_origin.clone(),
                stride: ow,
            },
            reduction: vec![
                ReductionDim {
                    count: (kh1 - kh0) as usize,
                    a: kernel_w,
                    b: dh * w,
                },
                ReductionDim {
                    count: kernel_w as usize,
                    a: 1,
                    b: dw,
                },
            ],
            accumulate: false,
            lanes,
        });
        if gemm_tiles::is_identity(epi, lanes) {
            return;
        }
        // Whole vectors, then the last columns one by one.
        let vectors = cols - cols % lanes as usize;
        for (lo, hi, width) in [(0, vectors, lanes), (vectors, cols, 1)] {
            if lo >= hi {
                continue;
            }
            let ty = Ty::vector(ElemType::F32, width);
            k.for_range("r", 0, rows as i64, 1, |k, r| {
                k.for_range("c", lo as i64, hi as i64, width as i64, |k, c| {
                    let at = y_origin.clone() + r * ow + c;
                    let stored = Expr::load(self.y.buf, at.clone(), ty);
                    let value = epi(k, stored, p.channel.clone(), at.clone(), width);
                    k.store(self.y.buf, at, value);
                });
            });
        }
    }
}
