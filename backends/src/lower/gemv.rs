//! Matrix products with few rows (a fully-connected layer at batch 1, a GEMV):
//! `Y[i, j] = epilogue(sum_p A[i, p] * B[p, j])` where each output row is a
//! pass over all of B, so the kernel's speed is how fast it streams B.
//!
//! Two shapes of B, two loops:
//! - B's columns contiguous (Gemm with `trans_b`, the usual weight layout of a
//!   linear layer): dot products along `p`. A block of `lanes` outputs shares
//!   each vector of A; every output keeps [`UNROLL`] accumulators, so a block has
//!   `lanes * UNROLL` independent FMA chains (enough to cover the FMA latency
//!   at two FMAs per cycle) instead of one chain per output. B's loads stay
//!   inside the FMAs (no named temporaries) so they become memory operands
//!   instead of registers held across the step. At the end each output's
//!   accumulators are summed horizontally and the block's `lanes` sums form
//!   one output vector, finished and stored at once.
//! - B's rows contiguous: the GEMM microkernel with a one-row tile as wide as
//!   the registers allow ([`row_tile`]): per step one splat of `A[i, p]` and one
//!   FMA per vector of B's row, each into its own accumulator.
//!
//! The last block of outputs (when `n` is not a multiple of the block) overlaps
//! the previous one and stores the same values again, as the GEMM does.

use nnc_ir::Target;
use nnc_ir::kernel::{ElemType, Expr, KernelBuilder, ReduceOp, Ty};

use super::gemm::{Epilogue, Matrix, Tile};

/// Accumulators per output in the dot-product loop.
const UNROLL: usize = 2;

/// The GEMM tile for a product with one row: a row of as many vectors as keep
/// the accumulators, B's vectors and the splat of A in registers.
pub(super) fn row_tile(target: &Target) -> Tile {
    let vectors = if target.vector_registers >= 32 { 12 } else { 6 };
    Tile {
        rows: 1,
        vectors,
        wide: target.microkernel(),
    }
}

/// Whether a product of `m` rows is better computed row by row: a row reads all
/// of B, so this is for products whose rows are few.
pub(super) fn few_rows(m: usize) -> bool {
    m <= 2
}

/// `Y[M, N] = A[M, K] * B[K, N]` with A's rows and B's columns contiguous along
/// the reduction (`a.col == 1`, `b.row == 1`) and Y's rows contiguous.
pub(super) struct Dots<'a> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Matrix,
    pub b: Matrix,
    pub y: Matrix,
    pub epilogue: Epilogue<'a>,
}

/// Emits the dot-product loops of `d` with `lanes`-wide vectors.
pub(super) fn emit_dots(kb: &mut KernelBuilder, d: &Dots, lanes: u8) {
    debug_assert!(d.a.col == 1 && d.b.row == 1 && d.y.col == 1);
    let block = if lanes > 1 && d.n >= lanes as usize {
        lanes as usize
    } else {
        1
    };
    let n = d.n as i64;
    let main = n - n % block as i64;
    kb.for_range("i", 0, d.m as i64, 1, |kb, i| {
        kb.for_range("j", 0, main, block as i64, |kb, j| {
            emit_block(kb, d, i.clone(), j, block, lanes);
        });
        if main < n {
            // Overlaps the previous block (recomputed from A and B, not from Y).
            emit_block(
                kb,
                d,
                i.clone(),
                Expr::index(n - block as i64),
                block,
                lanes,
            );
        }
    });
}

/// Outputs `(i, j..j + rows)`: `rows` dot products side by side.
fn emit_block(kb: &mut KernelBuilder, d: &Dots, i: Expr, j: Expr, rows: usize, lanes: u8) {
    let ty = Ty::vector(ElemType::F32, lanes);
    let vector_lanes = if lanes > 1 { lanes as i64 } else { 0 };
    let k = d.k as i64;
    let (unrolled, vectors) = if vector_lanes > 0 {
        let span = vector_lanes * UNROLL as i64;
        (k - k % span, k - k % vector_lanes)
    } else {
        (0, 0)
    };
    let a0 = Expr::var(kb.let_var("a0", Ty::INDEX, d.a.offset.clone() + i.clone() * d.a.row));
    let b0 = Expr::var(kb.let_var("b0", Ty::INDEX, d.b.offset.clone() + j.clone() * d.b.col));
    let mut sums = Vec::with_capacity(rows);
    if vector_lanes > 0 {
        let zero = Expr::f32(0.0).splat(lanes);
        let acc: Vec<Vec<_>> = (0..rows)
            .map(|_| {
                (0..UNROLL)
                    .map(|_| kb.let_var("acc", ty, zero.clone()))
                    .collect()
            })
            .collect();
        let step = |kb: &mut KernelBuilder, p: Expr, unroll: usize| {
            let av: Vec<_> = (0..unroll)
                .map(|u| {
                    let at = a0.clone() + p.clone() + u as i64 * vector_lanes;
                    kb.let_var("a", ty, Expr::load(d.a.buf, at, ty))
                })
                .collect();
            for (r, row) in acc.iter().enumerate() {
                for (u, &a) in av.iter().enumerate() {
                    let at = b0.clone() + r as i64 * d.b.col + p.clone() + u as i64 * vector_lanes;
                    let bv = Expr::load(d.b.buf, at, ty);
                    kb.assign(row[u], Expr::var(a).fma(bv, Expr::var(row[u])));
                }
            }
        };
        kb.for_range("p", 0, unrolled, vector_lanes * UNROLL as i64, |kb, p| {
            step(kb, p, UNROLL)
        });
        kb.for_range("p", unrolled, vectors, vector_lanes, |kb, p| step(kb, p, 1));
        for row in &acc {
            let total = row
                .iter()
                .map(|&v| Expr::var(v))
                .reduce(|x, y| x + y)
                .expect("UNROLL > 0");
            sums.push(kb.let_var("sum", Ty::F32, total.reduce(ReduceOp::Add)));
        }
    } else {
        for _ in 0..rows {
            sums.push(kb.let_var("sum", Ty::F32, Expr::f32(0.0)));
        }
    }
    kb.for_range("p", vectors, k, 1, |kb, p| {
        let av = kb.let_var(
            "a",
            Ty::F32,
            Expr::load(d.a.buf, a0.clone() + p.clone(), Ty::F32),
        );
        for (r, &s) in sums.iter().enumerate() {
            let at = b0.clone() + r as i64 * d.b.col + p.clone();
            let bv = Expr::load(d.b.buf, at, Ty::F32);
            kb.assign(s, Expr::var(av).fma(bv, Expr::var(s)));
        }
    });
    let value = if rows > 1 {
        Expr::lanes(sums.iter().map(|&s| Expr::var(s)).collect())
    } else {
        Expr::var(sums[0])
    };
    let value = (d.epilogue)(kb, value, i.clone(), j.clone(), rows as u8);
    kb.store(d.y.buf, d.y.at(i, j), value);
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::Gemm;
    use nnc_ir::{DType, Op, Target};

    use super::super::random_tensors::{random_small as random, rng};
    use super::super::testing::{check_lowering_for, single_node_graph, test_target};

    fn targets() -> [Target; 2] {
        let wide = Target {
            vector_registers: 32,
            ..test_target()
        };
        [test_target(), wide]
    }

    /// Dot products of every length class (unrolled, one more vector, scalar
    /// tail), blocks of outputs with and without the overlapping last block,
    /// outputs narrower than a vector, and B's rows contiguous at one row.
    #[test]
    fn few_row_products_match_the_reference() {
        let mut rng = rng(41);
        let shapes = [
            (1, 784, 10),
            (1, 37, 3),
            (1, 12, 4),
            (2, 13, 9),
            (3, 5, 1),
            (1, 1, 6),
            (1, 64, 100),
            (2, 9, 27),
        ];
        for target in targets() {
            for (round, &(m, k, n)) in shapes.iter().enumerate() {
                for trans_b in [true, false] {
                    let g = Gemm {
                        alpha: [1.0, 0.5][round % 2],
                        beta: 1.0,
                        trans_a: false,
                        trans_b,
                    };
                    let a = random(&mut rng, DType::F32, &[m, k]);
                    let b_shape = if trans_b { [n, k] } else { [k, n] };
                    let b = random(&mut rng, DType::F32, &b_shape);
                    let c = random(&mut rng, DType::F32, &[n]);
                    let inputs = [Some(&a), Some(&b), Some(&c)];
                    let graph = single_node_graph(Op::Gemm(g), &inputs, &[1, 2], 1);
                    check_lowering_for(&graph, &inputs, 1e-5, 1e-5, &target);
                    if !trans_b {
                        let inputs = [Some(&a), Some(&b)];
                        let graph = single_node_graph(Op::MatMul, &inputs, &[], 1);
                        check_lowering_for(&graph, &inputs, 1e-5, 1e-5, &target);
                    }
                }
            }
        }
    }
}
