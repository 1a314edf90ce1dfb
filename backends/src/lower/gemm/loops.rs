//! The loop nests of a portable product: blocks of rows, column panels, and
//! each tile's accumulation over K and its store through the epilogue.

use nnc_ir::kernel::{BufId, ElemType, Expr, KernelBuilder, Ty, VarId};

use super::{A_BLOCK_BYTES, Matrix, Product, Reduction, Tile};

/// Rows of A per block (a multiple of the tile's rows): all of them when A fits
/// the budget.
pub(super) fn chunk_rows(p: &Product, tile: Tile) -> usize {
    let k = match p.reduction {
        Reduction::Dense(k) => k,
        Reduction::Walk(_) => return p.m.max(1),
    };
    let rows = (A_BLOCK_BYTES / (4 * k.max(1))) / tile.rows * tile.rows;
    rows.max(tile.rows).min(p.m.max(1))
}

/// How a product's operands are laid out for its tiles.
#[derive(Clone, Copy, Default)]
pub(super) struct Packing {
    /// A is packed ([`super::pack_a`]).
    pub a: bool,
    /// Scratch each one-vector column panel of B is copied to before the tiles
    /// walk down it ([`super::b_panel_len`]).
    pub b_panels: Option<BufId>,
}

/// Rows `i0..i0 + rows` of the output: column panels outside (a panel of B stays
/// in L1 while the tiles walk down the rows), full-height tiles, one short tile.
pub(super) fn emit_rows(
    kb: &mut KernelBuilder,
    p: &Product,
    tile: Tile,
    lanes: u8,
    i0: Expr,
    rows: usize,
    packing: Packing,
) {
    let packed_a = packing.a;
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
        let dense = matches!(p.reduction, Reduction::Dense(_));
        let panel = packing
            .b_panels
            .filter(|_| dense && vectors == 1 && lanes == l as u8);
        let shape = |rows| TileShape {
            rows,
            vectors,
            lanes,
            column: tile.vectors == 1,
            packed_a,
            panel_b: panel.is_some(),
        };
        let rest = (m - rows_main) as usize;
        let block = column_block(p, step, tile.vectors == 1, panel.is_some());
        if block > step && hi - lo > step {
            // Row tiles outside the columns of a block: each tile's output
            // rows are written a line after another.
            let nest = |kb: &mut KernelBuilder, jb: Expr, width: i64| {
                kb.for_range("i", 0, rows_main, tile.rows as i64, |kb, i| {
                    kb.for_range("j", 0, width, step, |kb, jj| {
                        let (i, j) = (i0.clone() + i, jb.clone() + jj);
                        emit_tile(kb, p, i, j, shape(tile.rows));
                    });
                });
                if rest > 0 {
                    kb.for_range("j", 0, width, step, |kb, jj| {
                        let i = i0.clone() + rows_main;
                        emit_tile(kb, p, i, jb.clone() + jj, shape(rest));
                    });
                }
            };
            let blocked = lo + (hi - lo) / block * block;
            if blocked > lo {
                kb.for_range("jb", lo, blocked, block, |kb, jb| nest(kb, jb, block));
            }
            if hi > blocked {
                nest(kb, Expr::index(blocked), hi - blocked);
            }
            continue;
        }
        kb.for_range("j", lo, hi, step, |kb, j| {
            let packed_b;
            let p = match (panel, p.reduction) {
                (Some(buf), Reduction::Dense(k)) => {
                    copy_b_panel(kb, p, k, buf, j.clone(), lanes);
                    packed_b = Product {
                        b: Matrix {
                            buf,
                            offset: Expr::index(0),
                            row: lanes as i64,
                            col: 1,
                        },
                        a: p.a.clone(),
                        y: p.y.clone(),
                        ..*p
                    };
                    &packed_b
                }
                _ => p,
            };
            kb.for_range("i", 0, rows_main, tile.rows as i64, |kb, i| {
                emit_tile(kb, p, i0.clone() + i, j.clone(), shape(tile.rows));
            });
            if rest > 0 {
                let i = i0.clone() + rows_main;
                emit_tile(kb, p, i, j, shape(rest));
            }
        });
    }
}

/// Columns per block of a column region of one-vector column tiles
/// (`column`): as many as keep the block's part of B in half of L1, so that
/// the row tiles can walk a block's columns inside. Each tile then writes its
/// output rows line after line, where a tile per column panel left each line
/// a quarter written while all the other rows' lines passed: at a plane of
/// 112 x 112 pixels the rows are 49 KB apart and share four L1 sets, so the
/// lines were evicted and read back before the next quarter (mobilenet_v2's
/// 16 -> 96 channel expansion at 112 x 112: 1.14 -> 0.98 ms). Blocks of 4,
/// 8, 16, 32 and 64 KB of B measured within 3% of each other there, 4 KB
/// slower. One tile's columns for long reductions, and when B's panels are
/// copied (they pay where B's rows crowd L1). The 32-register tile keeps the
/// panel order (not measured on aarch64).
fn column_block(p: &Product, step: i64, column: bool, panel: bool) -> i64 {
    const B_BLOCK_BYTES: i64 = 16 * 1024;
    const LINE_BYTES: i64 = 64;
    let k = match p.reduction {
        Reduction::Dense(k) if column && !panel => k as i64,
        _ => return step,
    };
    // A block of `w` columns of a row spans up to `w / 16 + 1` lines.
    let lines_per_row = B_BLOCK_BYTES / (LINE_BYTES * k.max(1));
    let columns = (lines_per_row - 1) * (LINE_BYTES / 4);
    (columns / step * step).max(step)
}

/// Copies the `k` x `lanes` panel of B at column `j` to `buf`, rows adjacent:
/// the tiles below then read one contiguous block instead of `k` rows of B
/// (a row of pixels apart, each on its own cache line).
fn copy_b_panel(kb: &mut KernelBuilder, p: &Product, k: usize, buf: BufId, j: Expr, lanes: u8) {
    let ty = Ty::vector(ElemType::F32, lanes);
    let start = Expr::var(kb.let_var("bp0", Ty::INDEX, p.b.at(Expr::index(0), j)));
    kb.for_range("pb", 0, k as i64, 1, |kb, q| {
        let row = Expr::load(p.b.buf, start.clone() + q.clone() * p.b.row, ty);
        kb.store(buf, q * lanes as i64, row);
    });
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
    /// A is packed ([`super::pack_a`]): the tile's rows are one block, `[k][rows]`.
    packed_a: bool,
    /// B is the tile's column panel alone, copied ([`copy_b_panel`]): its column
    /// 0 is the tile's first.
    panel_b: bool,
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
    // start: its rows are adjacent, its columns `rows` apart ([`super::pack_a`]).
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
    let b_column = if shape.panel_b {
        Expr::index(0)
    } else {
        j.clone()
    };
    let b_start = Expr::var(kb.let_var("b0", Ty::INDEX, p.b.at(Expr::index(0), b_column)));
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
            Some(first_steps(kb, p, &first, shape, a_at, b_vector))
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
fn first_steps(
    kb: &mut KernelBuilder,
    p: &Product,
    steps: &[(Expr, Expr); 2],
    shape: TileShape,
    a_at: impl Fn(&Expr, usize) -> Expr,
    mut b_vector: impl FnMut(&mut KernelBuilder, &Expr, usize) -> VarId,
) -> Vec<Vec<Expr>> {
    let TileShape {
        rows,
        vectors,
        lanes,
        ..
    } = shape;
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
