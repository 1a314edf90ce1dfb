//! The f32 GEMM microkernel generator shared by MatMul, Gemm and pointwise Conv:
//! `Y[i, j] = epilogue(sum_p A[i, p] * B[p, j])` with B's and Y's rows contiguous.
//!
//! The output is cut into tiles of `rows` x `vectors` vectors of accumulators held
//! in local variables (registers, once Cranelift has built SSA from them). Per
//! step `p` of the reduction a tile loads `vectors` vectors of B's row `p`, and per
//! row splats `A[i, p]` and multiply-adds it into that row's accumulators: the
//! loaded values are each used `rows` or `vectors` times, so the loop does about
//! one load per FMA instead of two. The loop body stays small (one `p`, not
//! unrolled): Cranelift keeps loads in program order, so a long unrolled body
//! makes every load live at once and spills.
//!
//! Bounds are static, so the output is covered by separate loop nests: the full
//! tiles, then a narrower column of whole vectors, then the last `n % lanes`
//! columns as one vector that overlaps the previous one (scalars only when the
//! output is narrower than a vector); each of those with full-height tiles and
//! then one shorter tile for the remaining rows. The overlap computes a few
//! outputs twice, from the operands (never from the output), so the second store
//! writes the same values again. Rows come in blocks whose part of A fits the L2 cache
//! ([`A_BLOCK_BYTES`]); inside a block the column panels are the outer loop, so a
//! panel of B (K x tile width) stays in L1 while the tiles walk down the block.
//!
//! Tile shapes come from the target's vector registers. A step keeps `rows * vectors`
//! accumulators, `vectors` B vectors and `rows` A values live (Cranelift issues all
//! the loads of a step before its FMAs), so with 32 registers (aarch64, riscv64)
//! the tile is 4 x 5 (20 accumulators + 9 = 29; 8 x 3 would need 35 and spills),
//! compiled on aarch64 to by-element `fmla v.4s, v.4s, v.s[0]` with no stack
//! traffic.
//!
//! With 16 (x86_64) the tile is one column of up to 12 rows: Cranelift's x86 FMA
//! writes its result over its first multiplicand, so an A value or B vector that
//! other FMAs still need is copied first. In a one-vector-wide tile every A value
//! feeds one FMA: its `splat(load)` has a single use, becomes a `vbroadcastss`
//! from memory into a fresh register, and the FMA overwrites that. Each step is
//! one B load and one broadcast load per FMA (x86 has the load ports for that),
//! with no copies; see [`loops::column_steps`].
//!
//! A column tile's step broadcasts one A value from each of its rows. When A
//! is a constant (a pointwise Conv's weights) the lowering may pack it at
//! compile time ([`pack_a`], [`emit_packed`]) so that those values are
//! adjacent: each row tile reads one `[k][height]` block front to back instead
//! of `height` rows `4k` bytes apart. B (a pointwise Conv's activations, rows a
//! plane of pixels apart) may then also be copied a column panel at a time into
//! scratch, where its `k` rows would crowd a few L1 sets ([`b_panels_pay`]).

use nnc_ir::kernel::{BufId, Expr, KernelBuilder, TileStep};
use nnc_ir::{Microkernel, Target};

mod loops;

use loops::{Packing, chunk_rows, emit_rows};

/// Accumulator tile: `rows` output rows by `vectors` vectors of columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tile {
    pub rows: usize,
    pub vectors: usize,
    /// The target's wide microkernel: dense products then become tile
    /// statements of its size (`lower::gemm_tiles`).
    pub wide: Microkernel,
}

impl Tile {
    /// The largest tile whose accumulators, B vectors and A values stay in
    /// registers (checked in the disassembly: no stack traffic in the loop).
    pub fn for_target(target: &Target) -> Tile {
        let wide = target.microkernel();
        if target.vector_registers >= 32 {
            Tile {
                rows: 4,
                vectors: 5,
                wide,
            }
        } else {
            // The accumulators, plus two steps' B vectors and broadcasts in
            // flight, fill the 16 registers ([`COLUMN_ROWS`]).
            // Measured against the 4 x 2 and 3 x 3 tiles, whose rows share a
            // `splat` (an FMA and a copy each), with `--kernels portable` on one
            // core: 512^3 in 6.9-7.3 ms against 7.9-8.1, mobilenet_v2 ~19 ms
            // against ~22, convnext_atto ~39 against ~44 (CPU time per run on a
            // loaded machine).
            Tile {
                rows: COLUMN_ROWS,
                vectors: 1,
                wide,
            }
        }
    }

    /// The tile for a product of `m` rows: the height of least
    /// [`column_cost`] between [`MIN_COLUMN_ROWS`] and [`COLUMN_ROWS`] (64
    /// rows as 5 x 11 + 9, 24 as 2 x 12, 320 as 26 x 12 + 8 rather than 29 x
    /// 11 + 1). A long epilogue caps the height at [`LONG_EPILOGUE_ROWS`] on
    /// the portable level, taking a lower height that divides `m` into as many
    /// tiles (the wide levels' own products were tuned as they are).
    fn for_rows(self, m: usize, long_epilogue: bool) -> Tile {
        if self.vectors != 1 || self.rows != COLUMN_ROWS {
            return self;
        }
        if !(long_epilogue && self.wide == Microkernel::Portable) {
            let rows = (MIN_COLUMN_ROWS..=COLUMN_ROWS)
                .rev()
                .min_by_key(|&h| column_cost(m, h))
                .unwrap_or(COLUMN_ROWS);
            return Tile { rows, ..self };
        }
        let most = LONG_EPILOGUE_ROWS;
        let tiles = m.div_ceil(most);
        let rows = (most - most / 3..=most)
            .rev()
            .find(|&r| m.is_multiple_of(r) && m / r == tiles)
            .unwrap_or(most);
        Tile { rows, ..self }
    }
}

/// The greatest height of a column tile on 16 vector registers: 12
/// accumulators, two B vectors and two broadcasts in flight. (13 measured
/// slower.) The accumulators start from the first steps ([`loops::first_steps`]), so
/// no zero vector comes into the loop: with one, a 12-row tile spilled an
/// accumulator.
const COLUMN_ROWS: usize = 12;

/// The least height [`Tile::for_rows`] considers: 8 accumulators of two FMAs
/// per loop iteration keep both FMA units busy through their 4-cycle latency.
const MIN_COLUMN_ROWS: usize = 8;

/// The cost of `m` rows in column tiles of `height`, in tenths of a cycle per
/// loop iteration (two reduction steps) of all of them: an iteration of an
/// `h`-row tile issues `2h` FMAs, two a cycle, but takes no less than the 8
/// cycles of its accumulators' two dependent FMAs, plus about 3 for its B
/// loads, loop and moves (fitted: with 1.5, 160 rows took 16 x 10 and ran 5%
/// slower than 13 x 12 + 4). Checked on kws_dscnn's 64 x 64 x 125 convs
/// (`--cpu avx2,fma --kernels portable`, whole model, min of 2000 runs
/// alternated in one process, kcycles of the time-stamp counter): 12 rows
/// (5 x 12 + 4) 391, 11 (5 x 11 + 9) 371, 10 386, 9 378, 8 377; the old 12-row
/// tile that started from zero 425. On mobilenet_v2 (channels multiples of 8
/// and 12) 12 rows beat 11 by 6% over its pointwise kernels.
fn column_cost(m: usize, height: usize) -> usize {
    let iteration = |h: usize| h.max(8) * 10 + 30;
    let rest = m % height;
    (m / height) * iteration(height) + if rest > 0 { iteration(rest) } else { 0 }
}

/// The height of a column tile whose epilogue is long (GELU's erf). The tile
/// applies it in registers, one accumulator after another, while the others
/// wait in theirs; fewer waiting accumulators leave the polynomial more
/// registers. Measured on convnext_atto (`--cpu avx2,fma --kernels portable`,
/// six alternating rounds, quiet machine): 32.8-34.4 ms median against
/// 34.2-36.2 with 12 rows, its Conv+Gelu kernels 15.5-16.0 ms against
/// 16.8-17.0. (The erf's constants are still reloaded from the stack, about 20
/// per vector either way: they outnumber the registers.)
const LONG_EPILOGUE_ROWS: usize = 8;

/// A strided matrix in a buffer: element `(r, c)` is at `offset + r * row + c * col`.
#[derive(Clone, Debug)]
pub(super) struct Matrix {
    pub buf: BufId,
    pub offset: Expr,
    pub row: i64,
    pub col: i64,
}

impl Matrix {
    /// A row-major matrix with `cols` columns from `offset`.
    pub fn row_major(buf: BufId, offset: Expr, cols: usize) -> Matrix {
        Matrix {
            buf,
            offset,
            row: cols as i64,
            col: 1,
        }
    }

    pub fn at(&self, r: Expr, c: Expr) -> Expr {
        self.offset.clone() + r * self.row + c * self.col
    }
}

/// What happens to a tile's accumulated vector before it is stored: `(k, acc, i,
/// j, lanes) -> value` for rows `i`, columns `j..j + lanes`.
pub(super) type Epilogue<'a> = &'a dyn Fn(&mut KernelBuilder, Expr, Expr, Expr, u8) -> Expr;

/// One f32 product `Y[M, N] = A[M, K] * B[K, N]`; Y has unit column stride. B's
/// columns may be strided (a strided convolution's input): its vectors are then
/// gathered lane by lane, once per step for all the tile's rows. A may be
/// strided either way.
pub(super) struct Product<'a> {
    pub m: usize,
    pub n: usize,
    pub reduction: Reduction<'a>,
    pub a: Matrix,
    pub b: Matrix,
    pub y: Matrix,
    pub epilogue: Epilogue<'a>,
    /// Whether the epilogue is long (polynomial exp / erf of a fused activation):
    /// the tile is then stored as accumulated and finished by a loop over it,
    /// so the kernel holds one copy of the epilogue per tile shape instead of
    /// one per accumulator. The tile is still in L1 when it is reloaded. (Column
    /// tiles finish in registers all the same: see `emit_tile`.)
    pub long_epilogue: bool,
}

/// A convolution's walk over its taps: calls `step(k, a_offset, b_offset)` once
/// per reduction step, offsets relative to A's `(i, 0)` and B's `(0, j)`.
pub(super) type Walk<'a> =
    &'a dyn Fn(&mut KernelBuilder, &mut dyn FnMut(&mut KernelBuilder, Expr, Expr));

/// The steps of the reduction.
#[derive(Clone, Copy)]
pub(super) enum Reduction<'a> {
    /// `k` steps: A's column `p` and B's row `p`.
    Dense(usize),
    /// Steps a walk generates (the rows of B need not be evenly spaced).
    Walk(Walk<'a>),
}

/// Emits the tiled loop nests computing `p` with `lanes`-wide vectors.
pub(super) fn emit(kb: &mut KernelBuilder, p: &Product, tile: Tile, lanes: u8) {
    emit_with(kb, p, tile, lanes, Packing::default());
}

/// [`emit`] for a product whose A is packed by [`pack_a`] (`p.a`'s offset is
/// where the packed matrix starts; its strides are unused). Only for a dense
/// reduction on a target where [`packs_a`] holds.
/// `b_panels`, when given, is scratch of [`b_panel_len`] elements: each column
/// panel of B is copied there before the tiles walk down it.
pub(super) fn emit_packed(
    kb: &mut KernelBuilder,
    p: &Product,
    tile: Tile,
    lanes: u8,
    b_panels: Option<BufId>,
) {
    debug_assert!(packs_a(tile) && matches!(p.reduction, Reduction::Dense(_)));
    let packing = Packing {
        a: true,
        b_panels: b_panels.filter(|_| p.b.col == 1 && p.n >= lanes as usize && lanes > 1),
    };
    emit_with(kb, p, tile, lanes, packing);
}

/// The elements of the scratch a column panel of B is copied to for
/// [`emit_packed`]: a `k` x `lanes` panel.
pub(super) fn b_panel_len(k: usize, lanes: u8) -> usize {
    k * lanes as usize
}

/// Whether copying each column panel of a `k`-deep B whose rows are
/// `row_elements` f32 apart pays for a product of `m` rows in column tiles.
///
/// A panel read in place is `k` cache lines, one per row, which every row
/// tile reads again: they stay in L1 unless too many of them share a set
/// (with the A block streaming through the same sets). Copied, the panel is
/// `k / 4` adjacent lines, at the price of a load and a store per vector,
/// about a cycle, against the six cycles of each row tile's step.
pub(super) fn b_panels_pay(k: usize, m: usize, row_elements: usize) -> bool {
    const L1_SETS: usize = 64;
    const LINE_BYTES: usize = 64;
    let mut per_set = [0usize; L1_SETS];
    for p in 0..k {
        per_set[(p * row_elements * 4 / LINE_BYTES) % L1_SETS] += 1;
    }
    let crowded = per_set.iter().max().copied().unwrap_or(0) >= MIN_PANEL_LINES_PER_SET;
    crowded && m >= MIN_PANEL_ROWS
}

/// The most B lines of a panel in one L1 set (of 8 ways) that stay in L1 beside
/// the A block's stream, plus one.
const MIN_PANEL_LINES_PER_SET: usize = 5;

/// The least rows (about four tiles) over which copying a panel pays.
const MIN_PANEL_ROWS: usize = 40;

fn emit_with(kb: &mut KernelBuilder, p: &Product, tile: Tile, lanes: u8, packing: Packing) {
    debug_assert!(p.y.col == 1, "Y rows are contiguous");
    if let (Reduction::Dense(k), true) = (
        &p.reduction,
        tile.wide != Microkernel::Portable && p.b.col == 1,
    ) {
        let k = [nnc_ir::kernel::ReductionDim {
            count: *k,
            a: p.a.col,
            b: p.b.row,
        }];
        super::gemm_tiles::emit(kb, p, &k, tile.wide, lanes);
        return;
    }
    let tile = tile.for_rows(p.m, p.long_epilogue);
    let chunk = chunk_rows(p, tile);
    let chunked = p.m - p.m % chunk;
    if chunked > chunk {
        kb.for_range("ic", 0, chunked as i64, chunk as i64, |kb, i0| {
            emit_rows(kb, p, tile, lanes, i0, chunk, packing);
        });
    } else if chunked > 0 {
        emit_rows(kb, p, tile, lanes, Expr::index(0), chunked, packing);
    }
    if p.m > chunked {
        emit_rows(
            kb,
            p,
            tile,
            lanes,
            Expr::index(chunked as i64),
            p.m - chunked,
            packing,
        );
    }
}

/// The epilogue steps a wide tile at rows `i`, columns `j` of a product carries
/// instead of the product's epilogue, `None` when it cannot carry them all.
pub(super) type CarriedSteps<'a> = &'a dyn Fn(Expr, Expr) -> Option<Vec<TileStep>>;

/// [`emit`], the epilogue applied by the wide tiles in registers as `steps`
/// (which must compute what `p.epilogue` does) when the target has tiles for
/// `p` and they can carry it; else as [`emit`] does.
pub(super) fn emit_carrying(
    kb: &mut KernelBuilder,
    p: &Product,
    tile: Tile,
    lanes: u8,
    steps: CarriedSteps,
) {
    let carried = steps(Expr::index(0), Expr::index(0)).is_some_and(|s| {
        s.iter().filter(|s| matches!(s, TileStep::Add(_))).count()
            <= super::gemm_tiles::MAX_TILE_ADDENDS
    });
    if let (Reduction::Dense(k), true) = (
        &p.reduction,
        carried && tile.wide != Microkernel::Portable && p.b.col == 1,
    ) {
        let k = [nnc_ir::kernel::ReductionDim {
            count: *k,
            a: p.a.col,
            b: p.b.row,
        }];
        let steps = |i, j| steps(i, j).unwrap_or_default();
        super::gemm_tiles::emit_finished(kb, p, &k, tile.wide, lanes, &steps);
        return;
    }
    emit(kb, p, tile, lanes);
}

/// Whether a product's constant A is packed at compile time for `tile`
/// ([`pack_a`]): for the 16-register column tile of the portable level, whose
/// step broadcasts one A value from each of its rows. Row-major, those rows are
/// `4k` bytes apart, and at spacings of 1 KB and its multiples they fall in
/// few L1 sets: an assembly copy of the loop ran at 27-57% of FMA peak there
/// against 83-86% with the addresses fixed.
/// Measured (`--cpu avx2,fma --kernels portable`, whole model, min rdtsc of
/// 40 runs alternated in one process, four repeats): mobilenet_v2 3.1-3.4%
/// faster, convnext_atto 1.1-2.2%, kws_dscnn 0.9%; single 1x1 convs from
/// 4% faster (384 -> 64 channels, 14 x 14) to neutral within noise (960 ->
/// 320 and 960 -> 160 at 7 x 7, whose `[k][12]` blocks exceed L1).
pub(super) fn packs_a(tile: Tile) -> bool {
    tile.wide == Microkernel::Portable && tile.vectors == 1 && tile.rows == COLUMN_ROWS
}

/// The row-major `m` x `k` matrix `a` in the order [`emit_packed`]'s column
/// tiles read it: per row tile (the heights [`Tile::for_rows`] chooses for `m`
/// rows), `[k][height]`, each tile's block where its first row started. The
/// result is as long as `a`, so it replaces it.
pub(super) fn pack_a(a: &[f32], m: usize, k: usize, tile: Tile, long_epilogue: bool) -> Vec<f32> {
    debug_assert_eq!(a.len(), m * k);
    let height = tile.for_rows(m, long_epilogue).rows.max(1);
    let mut packed = Vec::with_capacity(a.len());
    for first in (0..m).step_by(height) {
        let rows = height.min(m - first);
        for p in 0..k {
            packed.extend((first..first + rows).map(|r| a[r * k + p]));
        }
    }
    packed
}

/// Bytes of A a block of rows may take, so that it stays in the L2 cache while
/// every column panel of B passes by.
pub(super) const A_BLOCK_BYTES: usize = 256 * 1024;

#[cfg(test)]
mod tests;
