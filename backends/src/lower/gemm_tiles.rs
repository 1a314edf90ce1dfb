//! The f32 GEMM of `lower::gemm` as tile statements, for targets whose tiles
//! become wide microkernels (x86_64 with AVX-512F or AVX2+FMA): the loop nest
//! walks the output in tiles as large as the wide registers hold (8 x 48 for
//! AVX-512: 24 zmm accumulators; 6 x 16 for AVX2: 12 ymm), each one
//! [`GemmTile`] statement computing `Y = A * B` for its block over the given
//! reduction dims (one for a matrix product, kernel rows x kernel columns x
//! channels for a convolution, `lower::conv::wide`); the edge tiles are the same
//! statement, shorter or narrower (the microkernel masks the column tail). The
//! epilogue, unless it is the identity, then runs over the stored tile while it
//! is in L1, as the portable "long epilogue" does; or, when the caller gives it
//! as tile steps ([`emit_finished`]: bias, ReLU, Clip, added operands), the
//! tiles apply it in registers before their stores.
//!
//! A convolution's narrow output rows make tiles of several column blocks
//! ([`blocks_for`]), as tall as the accumulators left allow ([`tile_rows`]).
//!
//! Rows come in blocks whose part of A fits the L2 cache; inside a block the
//! column panels are the outer loop, so a panel of B stays in L1 while the
//! tiles walk down the rows.

use nnc_ir::Microkernel;
use nnc_ir::kernel::{
    ColumnBlocks, ElemType, Expr, GemmTile, KernelBuilder, ReductionDim, TileOperand, TileStep, Ty,
    VarId,
};

use super::gemm::{A_BLOCK_BYTES, Epilogue, Product};

/// Rows and columns of the output tile of each microkernel level.
pub(super) fn tile_size(level: Microkernel) -> (usize, usize) {
    match level {
        Microkernel::Avx512 => (8, 48),
        Microkernel::Avx2 => (6, 16),
        Microkernel::Portable => (4, 8),
    }
}

/// How many column blocks of `cols` columns `stride` apart (a convolution's
/// consecutive output rows) one tile of `level` should take: as many as fill
/// the vector registers when a block alone leaves them mostly empty.
pub(super) fn blocks_for(level: Microkernel, cols: usize, stride: i64) -> usize {
    match level {
        // At most 8 columns apart by at most 2: the tile takes the AVX2 form
        // (`cranelift::microkernel`), 12 ymm accumulators, 2 B vectors.
        Microkernel::Avx512 if cols <= 8 && stride <= 2 => 2,
        Microkernel::Avx512 if cols <= 16 => 3,
        Microkernel::Avx512 if cols <= 32 => 2,
        Microkernel::Avx2 if cols <= 8 => 2,
        _ => 1,
    }
}

/// Rows of a tile of `blocks` column blocks of `cols` columns: as many as the
/// accumulator registers hold, at most the level's tile height (up to 12 for
/// the AVX2 form of a narrow AVX-512 tile: one ymm accumulator per row).
pub(super) fn tile_rows(level: Microkernel, cols: usize, stride: i64, blocks: usize) -> usize {
    let (rows, width) = tile_size(level);
    // A wider product is cut in column panels of the level's width.
    let cols = cols.min(width);
    let (lanes, accumulators, most) = match level {
        Microkernel::Avx512 if cols <= 8 && stride <= 2 => (8, 12, 12),
        Microkernel::Avx512 => (16, 24, rows),
        Microkernel::Avx2 => (8, 12, rows),
        Microkernel::Portable => return rows,
    };
    (accumulators / (cols.div_ceil(lanes) * blocks)).clamp(1, most)
}

/// Emits `p` as tile statements reducing over `k` (the reduction of `p` is not
/// read: `k`'s dims say how A and B move; A's origin is `p.a.offset + i *
/// p.a.row`, B's `p.b.offset + j * p.b.col`).
pub(super) fn emit(
    kb: &mut KernelBuilder,
    p: &Product,
    k: &[ReductionDim],
    level: Microkernel,
    lanes: u8,
) {
    emit_into(kb, p, k, level, lanes, false, ColumnBlocks::ONE);
}

/// The most addends a tile's epilogue may have to become a microkernel
/// (`cranelift::microkernel`: argument registers).
pub(super) const MAX_TILE_ADDENDS: usize = 2;

/// The epilogue steps of the tile at rows `i`, columns `j` of a product.
pub(super) type TileSteps<'a> = &'a dyn Fn(Expr, Expr) -> Vec<TileStep>;

/// [`emit`] with `p`'s epilogue carried by every tile as `steps` (which must
/// compute it) instead of a pass over the stored tile.
pub(super) fn emit_finished(
    kb: &mut KernelBuilder,
    p: &Product,
    k: &[ReductionDim],
    level: Microkernel,
    lanes: u8,
    steps: TileSteps,
) {
    emit_tiles(
        kb,
        p,
        k,
        level,
        lanes,
        false,
        ColumnBlocks::ONE,
        Some(steps),
    );
}

/// [`emit_finished`] for tiles that add to Y (`accumulate`) and take
/// `blocks` of columns, as [`emit_into`]: the steps then apply to `Y + A.B`,
/// so only the product that completes Y may carry them.
#[allow(clippy::too_many_arguments)]
pub(super) fn emit_finished_into(
    kb: &mut KernelBuilder,
    p: &Product,
    k: &[ReductionDim],
    level: Microkernel,
    lanes: u8,
    accumulate: bool,
    blocks: ColumnBlocks,
    steps: TileSteps,
) {
    emit_tiles(kb, p, k, level, lanes, accumulate, blocks, Some(steps));
}

/// [`emit`], adding to Y (`accumulate`) instead of overwriting it, every tile
/// computing the `blocks` of its columns (`p` is their first block; with more
/// than one, `p.n` must fit one tile and Y's columns be contiguous).
pub(super) fn emit_into(
    kb: &mut KernelBuilder,
    p: &Product,
    k: &[ReductionDim],
    level: Microkernel,
    lanes: u8,
    accumulate: bool,
    blocks: ColumnBlocks,
) {
    emit_tiles(kb, p, k, level, lanes, accumulate, blocks, None);
}

#[allow(clippy::too_many_arguments)]
fn emit_tiles(
    kb: &mut KernelBuilder,
    p: &Product,
    k: &[ReductionDim],
    level: Microkernel,
    lanes: u8,
    accumulate: bool,
    blocks: ColumnBlocks,
    in_tile: Option<TileSteps>,
) {
    let tile_rows = tile_rows(level, p.n, p.b.col, blocks.count);
    let steps: usize = k.iter().map(|d| d.count).product();
    let block = ((A_BLOCK_BYTES / (4 * steps.max(1))) / tile_rows * tile_rows)
        .max(tile_rows)
        .min(p.m.max(1));
    let blocked = p.m - p.m % block;
    let how = How {
        lanes,
        identity: in_tile.is_some() || is_identity(p.epilogue, lanes),
        accumulate,
        steps: in_tile,
        blocks,
        tile_rows,
    };
    let rows = |kb: &mut KernelBuilder, i0: Expr, rows: usize| {
        emit_rows(kb, p, k, level, how, i0, rows);
    };
    if blocked > block {
        kb.for_range("ic", 0, blocked as i64, block as i64, |kb, i0| {
            rows(kb, i0, block)
        });
    } else if blocked > 0 {
        rows(kb, Expr::index(0), blocked);
    }
    if p.m > blocked {
        rows(kb, Expr::index(blocked as i64), p.m - blocked);
    }
}

/// Rows `i0..i0 + rows`: full-width column panels, then the narrower last one;
/// in each, full-height tiles, then one shorter tile.
fn emit_rows(
    kb: &mut KernelBuilder,
    p: &Product,
    k: &[ReductionDim],
    level: Microkernel,
    how: How,
    i0: Expr,
    rows: usize,
) {
    let (_, width) = tile_size(level);
    let tile_rows = how.tile_rows;
    let full = p.n - p.n % width;
    let rows_main = rows - rows % tile_rows;
    let panel = |kb: &mut KernelBuilder, j: Expr, cols: usize| {
        kb.for_range("i", 0, rows_main as i64, tile_rows as i64, |kb, i| {
            emit_tile(kb, p, k, how, i0.clone() + i, j.clone(), tile_rows, cols);
        });
        if rows > rows_main {
            let i = i0.clone() + rows_main as i64;
            emit_tile(kb, p, k, how, i, j, rows - rows_main, cols);
        }
    };
    kb.for_range("j", 0, full as i64, width as i64, |kb, j| {
        panel(kb, j, width)
    });
    if p.n > full {
        panel(kb, Expr::index(full as i64), p.n - full);
    }
}

/// The `rows x cols` tile at `(i, j)`, then its epilogue over the stored values.
#[allow(clippy::too_many_arguments)]
fn emit_tile(
    kb: &mut KernelBuilder,
    p: &Product,
    k: &[ReductionDim],
    how: How,
    i: Expr,
    j: Expr,
    rows: usize,
    cols: usize,
) {
    let y_at = |r: Expr, c: Expr| p.y.offset.clone() + r * p.y.row + c;
    kb.tile(GemmTile {
        rows,
        cols,
        a: TileOperand {
            buf: p.a.buf,
            offset: p.a.offset.clone() + i.clone() * p.a.row,
            stride: p.a.row,
        },
        b: TileOperand {
            buf: p.b.buf,
            offset: p.b.offset.clone() + j.clone() * p.b.col,
            stride: p.b.col,
        },
        b_row: 0,
        y: TileOperand {
            buf: p.y.buf,
            offset: y_at(i.clone(), j.clone()),
            stride: p.y.row,
        },
        reduction: k.to_vec(),
        accumulate: how.accumulate,
        lanes: how.lanes,
        blocks: how.blocks,
        epilogue: how
            .steps
            .map(|f| f(i.clone(), j.clone()))
            .unwrap_or_default(),
    });
    if !how.identity {
        for q in 0..how.blocks.count as i64 {
            let jq = j.clone() + q * how.blocks.y;
            finish(kb, p, i.clone(), jq, rows, cols, how.lanes);
        }
    }
}

/// How the tiles of one product are emitted.
#[derive(Clone, Copy)]
struct How<'a> {
    /// Vector width of the portable code (expansions, epilogue).
    lanes: u8,
    /// The epilogue is the identity: no pass over the stored tile.
    identity: bool,
    accumulate: bool,
    blocks: ColumnBlocks,
    /// Rows of a full tile.
    tile_rows: usize,
    /// The epilogue as the tiles' own steps (then `identity`: no pass).
    steps: Option<TileSteps<'a>>,
}

/// The epilogue of `p` over the stored `rows x cols` block of Y at `(i, j)`.
pub(super) fn finish(
    kb: &mut KernelBuilder,
    p: &Product,
    i: Expr,
    j: Expr,
    rows: usize,
    cols: usize,
    lanes: u8,
) {
    let y_at = |r: Expr, c: Expr| p.y.offset.clone() + r * p.y.row + c;
    // Whole vectors, then the last columns one by one.
    let vectors = cols - cols % lanes as usize;
    for (lo, hi, width) in [(0, vectors, lanes), (vectors, cols, 1)] {
        if lo >= hi {
            continue;
        }
        let ty = Ty::vector(ElemType::F32, width);
        kb.for_range("r", 0, rows as i64, 1, |kb, r| {
            kb.for_range("c", lo as i64, hi as i64, width as i64, |kb, c| {
                let (ir, jc) = (i.clone() + r, j.clone() + c);
                let at = y_at(ir.clone(), jc.clone());
                let stored = Expr::load(p.y.buf, at.clone(), ty);
                let value = (p.epilogue)(kb, stored, ir, jc, width);
                kb.store(p.y.buf, at, value);
            });
        });
    }
}

/// Whether `epilogue` returns the accumulator unchanged and emits nothing (a
/// plain product): then the stored tile needs no second pass.
pub(super) fn is_identity(epilogue: Epilogue, lanes: u8) -> bool {
    let mut probe = KernelBuilder::new("probe");
    let acc = Expr::var(VarId(u32::MAX));
    let out = epilogue(
        &mut probe,
        acc.clone(),
        Expr::index(0),
        Expr::index(0),
        lanes,
    );
    out == acc && probe.finish().body.is_empty()
}

/// The largest column stride of B an AVX-512 tile gathers (what
/// `cranelift::microkernel` accepts; a wider one would fall back to the tile's
/// portable expansion).
pub(super) const MAX_GATHER_STRIDE: i64 = 16;

/// Whether `level`'s microkernel reads B columns `stride` elements apart:
/// contiguous ones always, two apart by pair loads, further apart by AVX-512
/// gathers.
pub(super) fn reads_columns_apart(level: Microkernel, stride: i64) -> bool {
    match level {
        Microkernel::Portable => false,
        Microkernel::Avx2 => (1..=2).contains(&stride),
        Microkernel::Avx512 => (1..=MAX_GATHER_STRIDE).contains(&stride),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiles as tall as the accumulators allow: wide products in panels of the
    /// level's width, narrow rows several to a tile, the AVX2 form of narrow
    /// AVX-512 tiles up to 12 rows.
    #[test]
    fn tile_heights_fill_the_accumulators() {
        let rows = |level, cols, stride| {
            let blocks = blocks_for(level, cols, stride);
            (blocks, tile_rows(level, cols, stride, blocks))
        };
        assert_eq!(rows(Microkernel::Avx512, 3136, 1), (1, 8));
        assert_eq!(rows(Microkernel::Avx2, 3136, 1), (1, 6));
        assert_eq!(rows(Microkernel::Avx512, 28, 1), (2, 6));
        assert_eq!(rows(Microkernel::Avx512, 14, 2), (3, 8));
        assert_eq!(rows(Microkernel::Avx512, 7, 1), (2, 6));
        assert_eq!(rows(Microkernel::Avx512, 7, 3), (3, 8));
        assert_eq!(rows(Microkernel::Avx2, 7, 1), (2, 6));
        assert_eq!(rows(Microkernel::Avx2, 14, 1), (1, 6));
        assert_eq!(tile_rows(Microkernel::Avx512, 7, 1, 1), 12);
    }
}
