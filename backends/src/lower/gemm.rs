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
//! with no copies; see [`column_steps`].
//!
//! A column tile's step broadcasts one A value from each of its rows. When A
//! is a constant (a pointwise Conv's weights) the lowering may pack it at
//! compile time ([`pack_a`], [`emit_packed`]) so that those values are
//! adjacent: each row tile reads one `[k][height]` block front to back instead
//! of `height` rows `4k` bytes apart.

use nnc_ir::kernel::{BufId, ElemType, Expr, KernelBuilder, TileStep, Ty, VarId};
use nnc_ir::{Microkernel, Target};

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
/// slower.) The accumulators start from the first steps ([`first_steps`]), so
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
pub(super) enum Reduction<'a> {
    /// `k` steps: A's column `p` and B's row `p`.
    Dense(usize),
    /// Steps a walk generates (the rows of B need not be evenly spaced).
    Walk(Walk<'a>),
}

/// Emits the tiled loop nests computing `p` with `lanes`-wide vectors.
pub(super) fn emit(kb: &mut KernelBuilder, p: &Product, tile: Tile, lanes: u8) {
    emit_with(kb, p, tile, lanes, false);
}

/// [`emit`] for a product whose A is packed by [`pack_a`] (`p.a`'s offset is
/// where the packed matrix starts; its strides are unused). Only for a dense
/// reduction on a target where [`packs_a`] holds.
pub(super) fn emit_packed(kb: &mut KernelBuilder, p: &Product, tile: Tile, lanes: u8) {
    debug_assert!(packs_a(tile) && matches!(p.reduction, Reduction::Dense(_)));
    emit_with(kb, p, tile, lanes, true);
}

fn emit_with(kb: &mut KernelBuilder, p: &Product, tile: Tile, lanes: u8, packed_a: bool) {
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
            emit_rows(kb, p, tile, lanes, i0, chunk, packed_a);
        });
    } else if chunked > 0 {
        emit_rows(kb, p, tile, lanes, Expr::index(0), chunked, packed_a);
    }
    if p.m > chunked {
        emit_rows(
            kb,
            p,
            tile,
            lanes,
            Expr::index(chunked as i64),
            p.m - chunked,
            packed_a,
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

/// Rows of A per block (a multiple of the tile's rows): all of them when A fits
/// the budget.
fn chunk_rows(p: &Product, tile: Tile) -> usize {
    let k = match p.reduction {
        Reduction::Dense(k) => k,
        Reduction::Walk(_) => return p.m.max(1),
    };
    let rows = (A_BLOCK_BYTES / (4 * k.max(1))) / tile.rows * tile.rows;
    rows.max(tile.rows).min(p.m.max(1))
}

/// Rows `i0..i0 + rows` of the output: column panels outside (a panel of B stays
/// in L1 while the tiles walk down the rows), full-height tiles, one short tile.
fn emit_rows(
    kb: &mut KernelBuilder,
    p: &Product,
    tile: Tile,
    lanes: u8,
    i0: Expr,
    rows: usize,
    packed_a: bool,
) {
    let (m, n, l) = (rows as i64, p.n as i64, lanes as i64);
    let width = tile.vectors as i64 * l;
    let n_tiles = n - n % width;
    let n_vectors = n - n % l;
    // (start, end, vectors per tile, lanes per vector) of each column region.
    let columns = [
        (0, n_tiles, tile.vectors, lanes),
        (
            n_tiles,
            n_vectors,
            ((n_vectors - n_tiles) / l) as usize,
            lanes,
        ),
        // The last few columns: one vector ending at the last column when the
        // output is at least a vector wide (it overlaps columns already done, and
        // stores the same values there again), else scalars.
        if n_vectors < n && n >= l && l > 1 {
            (n - l, n, 1, lanes)
        } else {
            (n_vectors, n, (n - n_vectors) as usize, 1)
        },
    ];
    let rows_main = m - m % tile.rows as i64;
    for (lo, hi, vectors, lanes) in columns {
        if lo >= hi || vectors == 0 {
            continue;
        }
        let step = vectors as i64 * lanes as i64;
        let shape = |rows| TileShape {
            rows,
            vectors,
            lanes,
            column: tile.vectors == 1,
            packed_a,
        };
        kb.for_range("j", lo, hi, step, |kb, j| {
            kb.for_range("i", 0, rows_main, tile.rows as i64, |kb, i| {
                emit_tile(kb, p, i0.clone() + i, j.clone(), shape(tile.rows));
            });
            let rest = (m - rows_main) as usize;
            if rest > 0 {
                let i = i0.clone() + rows_main;
                emit_tile(kb, p, i, j, shape(rest));
            }
        });
    }
}

/// One tile's accumulators and how its reduction is stepped.
#[derive(Clone, Copy)]
struct TileShape {
    rows: usize,
    vectors: usize,
    lanes: u8,
    /// Part of a column tile's product (16 registers, [`Tile::for_target`]): a
    /// dense reduction goes two steps per loop iteration ([`column_steps`]),
    /// and a long epilogue is applied in registers.
    column: bool,
    /// A is packed ([`pack_a`]): the tile's rows are one block, `[k][rows]`.
    packed_a: bool,
}

/// The `rows` x `vectors` tile at `(i, j)`: accumulate over K, then store.
fn emit_tile(kb: &mut KernelBuilder, p: &Product, i: Expr, j: Expr, shape: TileShape) {
    let TileShape {
        rows,
        vectors,
        lanes,
        ..
    } = shape;
    let ty = Ty::vector(ElemType::F32, lanes);
    // A packed A holds this tile's rows as one `[k][rows]` block from row `i`'s
    // start: its rows are adjacent, its columns `rows` apart ([`pack_a`]).
    let (a_first, a_row, a_col) = match p.reduction {
        Reduction::Dense(k) if shape.packed_a => {
            (p.a.offset.clone() + i.clone() * k as i64, 1, rows as i64)
        }
        _ => (p.a.at(i.clone(), Expr::index(0)), p.a.row, p.a.col),
    };
    // Element (i, 0) of A and (0, j) of B, once per tile. Inside the loop every
    // index is one shared `start + p * stride` plus a constant, which becomes an
    // address-mode displacement.
    let a_start = Expr::var(kb.let_var("a0", Ty::INDEX, a_first));
    let b_start = Expr::var(kb.let_var("b0", Ty::INDEX, p.b.at(Expr::index(0), j.clone())));
    let a_at = |a_offset: &Expr, r: usize| a_start.clone() + a_offset.clone() + r as i64 * a_row;
    let b_vector = |kb: &mut KernelBuilder, b_offset: &Expr, c: usize| {
        let at = b_start.clone() + b_offset.clone() + (c * lanes as usize) as i64 * p.b.col;
        kb.let_var("b", ty, load_row_vector(&p.b, at, lanes))
    };
    let dense_step = |q: Expr| (q.clone() * a_col, q * p.b.row);
    // A column tile's dense reduction starts its accumulators with its first
    // two steps ([`first_steps`]); the others start at zero, and so do column
    // tiles with a long epilogue: convnext_atto's Conv+Gelu kernels ran
    // 1.2-1.5x slower started (min of 40 calls alternated in one process).
    let from_first = |k: usize| shape.column && k >= 2 && !p.long_epilogue;
    let started = match p.reduction {
        Reduction::Dense(k) if from_first(k) => {
            let first = [dense_step(Expr::index(0)), dense_step(Expr::index(1))];
            Some(first_steps(
                kb, p, &first, rows, vectors, lanes, a_at, b_vector,
            ))
        }
        _ => None,
    };
    let acc: Vec<Vec<_>> = match started {
        Some(values) => values
            .into_iter()
            .map(|row| row.into_iter().map(|v| kb.let_var("acc", ty, v)).collect())
            .collect(),
        None => {
            let zero = Expr::f32(0.0).splat(lanes);
            (0..rows)
                .map(|_| {
                    (0..vectors)
                        .map(|_| kb.let_var("acc", ty, zero.clone()))
                        .collect()
                })
                .collect()
        }
    };
    let steps = |kb: &mut KernelBuilder, steps: &[(Expr, Expr)]| {
        // B's vectors of every step, then the FMAs.
        let bv: Vec<Vec<_>> = steps
            .iter()
            .map(|(_, b_offset)| (0..vectors).map(|c| b_vector(kb, b_offset, c)).collect())
            .collect();
        if vectors == 1 {
            let steps: Vec<_> = steps.iter().zip(&bv).map(|((a, _), b)| (a, b[0])).collect();
            column_steps(kb, p, &acc, &steps, a_at, lanes);
            return;
        }
        for ((a_offset, _), bv) in steps.iter().zip(&bv) {
            for (r, row) in acc.iter().enumerate() {
                let av = Expr::load(p.a.buf, a_at(a_offset, r), Ty::F32).splat(lanes);
                let av = kb.let_var("a", ty, av);
                for (c, &b) in bv.iter().enumerate() {
                    let next = Expr::var(av).fma(Expr::var(b), Expr::var(row[c]));
                    kb.assign(row[c], next);
                }
            }
        }
    };
    match p.reduction {
        Reduction::Dense(k) if shape.column => {
            // Pairs of steps after the first pair (which started the
            // accumulators, or is the only, odd step), then the odd last one.
            let first = if from_first(k) { 2 } else { 0 };
            let even = (k - k % 2) as i64;
            kb.for_range("p", first, even, 2, |kb, q| {
                steps(kb, &[dense_step(q.clone()), dense_step(q + 1)]);
            });
            if k % 2 == 1 {
                steps(kb, &[dense_step(Expr::index(even))]);
            }
        }
        Reduction::Dense(k) => kb.for_range("p", 0, k as i64, 1, |kb, q| {
            steps(kb, &[dense_step(q)]);
        }),
        Reduction::Walk(walk) => walk(kb, &mut |kb, a_offset, b_offset| {
            steps(kb, &[(a_offset, b_offset)])
        }),
    }
    // A column tile applies even a long epilogue in registers: on a 40 -> 160
    // channel pointwise Conv+Gelu over 56 x 56 pixels (x86_64) that took 1.82
    // ms and 8.4 KB of code, the loop over the stored tile 2.30 ms and 3.7 KB
    // (a Gelu alone on that output takes 0.85 ms).
    if p.long_epilogue && !shape.column {
        for (r, row) in acc.iter().enumerate() {
            for (c, &a) in row.iter().enumerate() {
                let (ir, jc) = (
                    i.clone() + r as i64,
                    j.clone() + (c * lanes as usize) as i64,
                );
                kb.store(p.y.buf, p.y.at(ir, jc), Expr::var(a));
            }
        }
        let width = (vectors * lanes as usize) as i64;
        kb.for_range("r", 0, rows as i64, 1, |kb, r| {
            kb.for_range("c", 0, width, lanes as i64, |kb, c| {
                let (ir, jc) = (i.clone() + r, j.clone() + c);
                let at = p.y.at(ir.clone(), jc.clone());
                let stored = Expr::load(p.y.buf, at.clone(), ty);
                let value = (p.epilogue)(kb, stored, ir, jc, lanes);
                kb.store(p.y.buf, at, value);
            });
        });
        return;
    }
    for (r, row) in acc.iter().enumerate() {
        let ir = i.clone() + r as i64;
        for (c, &a) in row.iter().enumerate() {
            let jc = j.clone() + (c * lanes as usize) as i64;
            let value = (p.epilogue)(kb, Expr::var(a), ir.clone(), jc.clone(), lanes);
            kb.store(p.y.buf, p.y.at(ir.clone(), jc), value);
        }
    }
}

/// The accumulators' starting values: the products of the two `steps` (A
/// column and B row offsets), `value[r][c]` for row `r`, vector `c`. Starting
/// from them rather than from zero leaves no zero vector live into the loop,
/// where it took a register from the 16: with the zero a ReLU's epilogue
/// shares, a 12-row tile spilled an accumulator to the stack, a store and a
/// reload in its chain every iteration.
#[allow(clippy::too_many_arguments)]
fn first_steps(
    kb: &mut KernelBuilder,
    p: &Product,
    steps: &[(Expr, Expr); 2],
    rows: usize,
    vectors: usize,
    lanes: u8,
    a_at: impl Fn(&Expr, usize) -> Expr,
    mut b_vector: impl FnMut(&mut KernelBuilder, &Expr, usize) -> VarId,
) -> Vec<Vec<Expr>> {
    let [(a0, b0), (a1, b1)] = steps;
    let b0: Vec<_> = (0..vectors).map(|c| b_vector(kb, b0, c)).collect();
    let b1: Vec<_> = (0..vectors).map(|c| b_vector(kb, b1, c)).collect();
    let ty = Ty::vector(ElemType::F32, lanes);
    (0..rows)
        .map(|r| {
            let splat = |kb: &mut KernelBuilder, a: &Expr| {
                let av = Expr::load(p.a.buf, a_at(a, r), Ty::F32).splat(lanes);
                // One vector: each splat feeds one product (a broadcast load
                // on x86, [`column_steps`]); else the row's products share it.
                if vectors == 1 {
                    av
                } else {
                    Expr::var(kb.let_var("a", ty, av))
                }
            };
            let (s0, s1) = (splat(kb, a0), splat(kb, a1));
            (0..vectors)
                .map(|c| {
                    s1.clone()
                        .fma(Expr::var(b1[c]), s0.clone() * Expr::var(b0[c]))
                })
                .collect()
        })
        .collect()
}

/// Reduction steps of a one-vector-wide tile: `steps` holds each step's A
/// column offset and its B vector; `a_at(offset, r)` is row `r`'s element.
///
/// Every FMA gets its own `splat(load)` as its first multiplicand, the operand
/// x86 overwrites: single-use, it becomes a `vbroadcastss` from memory into a
/// register that nothing else reads, so no copy is made (a shared splat costs a
/// `movdqa` per FMA). With two steps the later step's FMA is the outer one:
/// Cranelift places each broadcast right before the FMA that consumes it, in
/// the order the loads are written here, which lets each load fold into its
/// broadcast. And two steps per iteration halve the moves that carry each
/// accumulator from the register of its last FMA back to the loop's.
fn column_steps(
    kb: &mut KernelBuilder,
    p: &Product,
    acc: &[Vec<VarId>],
    steps: &[(&Expr, VarId)],
    a_at: impl Fn(&Expr, usize) -> Expr,
    lanes: u8,
) {
    for (r, row) in acc.iter().enumerate() {
        let value = steps.iter().fold(Expr::var(row[0]), |sum, &(a, b)| {
            let av = Expr::load(p.a.buf, a_at(a, r), Ty::F32).splat(lanes);
            av.fma(Expr::var(b), sum)
        });
        kb.assign(row[0], value);
    }
}

/// `lanes` consecutive columns of a row of `m` from element `at`: one vector load
/// when the columns are contiguous, a lane-by-lane gather when strided.
fn load_row_vector(m: &Matrix, at: Expr, lanes: u8) -> Expr {
    let ty = Ty::vector(ElemType::F32, lanes);
    if m.col == 1 || lanes == 1 {
        return Expr::load(m.buf, at, ty);
    }
    let scalars = (0..lanes as i64)
        .map(|l| Expr::load(m.buf, at.clone() + l * m.col, Ty::F32))
        .collect();
    Expr::lanes(scalars)
}

#[cfg(test)]
mod tests {
    use nnc_ir::kernel::{bounds, check, interp};
    use nnc_ir::ops::{Conv, Gemm};
    use nnc_ir::{DType, Op, Target, Tensor};

    use super::super::random_tensors::{random_small as random, rng};
    use super::super::testing::{assert_close, single_node_graph, test_target};

    /// A target with 32 vector registers (the aarch64 tile).
    fn wide_target() -> Target {
        Target {
            vector_registers: 32,
            ..test_target()
        }
    }

    /// Lowers `op` for `target`, interprets it and compares with the reference.
    fn check_on(target: &Target, op: Op, inputs: &[Option<&Tensor>], constants: &[usize]) {
        let graph = single_node_graph(op, inputs, constants, 1);
        let (_, node) = graph.nodes().next().expect("one node");
        let lowered =
            super::super::lower_node_full(&graph, node, target).unwrap_or_else(|e| panic!("{e}"));
        let kernel = lowered.kernel;
        check::check(&kernel).unwrap_or_else(|e| panic!("type check: {e}"));
        bounds::check(&kernel).unwrap_or_else(|e| panic!("bounds: {e}"));
        let want = node.op.eval(inputs, 1).expect("reference evaluates");
        let mut buffers: Vec<Vec<u8>> = inputs
            .iter()
            .flatten()
            .map(|t| t.bytes().to_vec())
            .collect();
        buffers.push(vec![0xA5; want[0].bytes().len()]);
        // Derived weights (a packed A) after the output.
        let derived = lowered.extras.iter().map(|e| match e {
            super::super::ExtraBuffer::Weight(t) => t.bytes().to_vec(),
            super::super::ExtraBuffer::Scratch { bytes } => vec![0x5A; *bytes],
        });
        buffers.extend(derived);
        let status = interp::run(&kernel, &mut buffers).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, 0);
        let bytes = buffers[inputs.iter().flatten().count()].clone().into();
        let got = Tensor::from_bytes(DType::F32, want[0].shape().to_vec(), bytes).expect("size");
        assert_close(&got, &want[0], 1e-5, 1e-4, op_name(node));
    }

    fn op_name(node: &nnc_ir::Node) -> &'static str {
        node.op.name()
    }

    fn targets() -> [Target; 2] {
        [test_target(), wide_target()]
    }

    /// Full tiles, a narrower vector column, scalar columns and short row tiles.
    #[test]
    fn matmul_covers_every_edge_region() {
        let mut rng = rng(31);
        let cases: [(&[usize], &[usize]); 5] = [
            (&[13, 37], &[37, 23]),
            (&[2, 5, 7], &[7, 19]),
            (&[2, 9, 6], &[2, 6, 30]),
            (&[17, 3], &[3, 40]),
            (&[3, 1, 2, 11], &[1, 4, 11, 5]),
        ];
        for target in targets() {
            for (a, b) in cases {
                let (a, b) = (
                    random(&mut rng, DType::F32, a),
                    random(&mut rng, DType::F32, b),
                );
                check_on(&target, Op::MatMul, &[Some(&a), Some(&b)], &[1]);
                check_on(&target, Op::MatMul, &[Some(&a), Some(&b)], &[]);
            }
        }
    }

    /// The 16-register column tile: heights that divide the rows, and dense
    /// reductions in pairs of steps with an odd last one, next to a short tile,
    /// a narrower vector column and an overlapping last vector.
    #[test]
    fn column_tiles_take_dividing_heights_and_pairs_of_steps() {
        let target = test_target();
        assert!(target.vector_registers < 32, "the 16-register tile set");
        let tile = super::Tile::for_target(&target);
        assert_eq!((tile.rows, tile.vectors), (12, 1));
        let heights = [
            (40, 10),
            (18, 10),
            (64, 11),
            (99, 11),
            (160, 12),
            (13, 8),
            (24, 12),
            (320, 12),
            (5, 12),
        ];
        for (m, rows) in heights {
            assert_eq!(tile.for_rows(m, false).rows, rows, "{m} rows");
        }
        // A long epilogue's tiles: at most 8 rows, 6 when they divide evenly.
        for (m, rows) in [(160, 8), (18, 6), (40, 8), (13, 8)] {
            assert_eq!(tile.for_rows(m, true).rows, rows, "{m} rows, long epilogue");
        }
        let mut rng = rng(34);
        // k = 1 (no first pair), 2 (only the first pair), 3 (it and an odd
        // step); n = 3 is scalar columns, three to a tile.
        let cases = [
            (37, 41, 46),
            (24, 8, 16),
            (13, 1, 5),
            (23, 2, 3),
            (12, 3, 7),
            (25, 4, 13),
        ];
        for (m, k, n) in cases {
            let a = random(&mut rng, DType::F32, &[m, k]);
            let b = random(&mut rng, DType::F32, &[k, n]);
            check_on(&target, Op::MatMul, &[Some(&a), Some(&b)], &[1]);
        }
    }

    #[test]
    fn gemm_epilogue_scales_and_adds_c() {
        let mut rng = rng(32);
        for target in targets() {
            for (m, k, n, trans_a) in [(19, 21, 29, false), (10, 5, 27, true), (1, 64, 100, false)]
            {
                let g = Gemm {
                    alpha: 0.5,
                    beta: 2.0,
                    trans_a,
                    trans_b: false,
                };
                let a = random(&mut rng, DType::F32, &if trans_a { [k, m] } else { [m, k] });
                let b = random(&mut rng, DType::F32, &[k, n]);
                for c_shape in [&[n][..], &[m, 1], &[m, n]] {
                    let c = random(&mut rng, DType::F32, c_shape);
                    check_on(
                        &target,
                        Op::Gemm(g),
                        &[Some(&a), Some(&b), Some(&c)],
                        &[1, 2],
                    );
                }
            }
        }
    }

    #[test]
    fn pointwise_conv_adds_bias_per_channel() {
        let mut rng = rng(33);
        for target in targets() {
            for (n, c, m, group, spatial) in [
                (1, 16, 24, 1, &[7, 9][..]),
                (2, 6, 9, 3, &[5, 5]),
                (1, 3, 10, 1, &[11]),
            ] {
                let mut x_shape = vec![n, c];
                x_shape.extend(spatial);
                let mut w_shape = vec![m, c / group];
                w_shape.extend(spatial.iter().map(|_| 1));
                let x = random(&mut rng, DType::F32, &x_shape);
                let w = random(&mut rng, DType::F32, &w_shape);
                let bias = random(&mut rng, DType::F32, &[m]);
                let op = Op::Conv(Conv {
                    kernel_shape: vec![],
                    strides: vec![],
                    pads: vec![],
                    dilations: vec![],
                    group,
                });
                check_on(
                    &target,
                    op.clone(),
                    &[Some(&x), Some(&w), Some(&bias)],
                    &[1, 2],
                );
                check_on(&target, op, &[Some(&x), Some(&w), None], &[1]);
            }
        }
    }
}
