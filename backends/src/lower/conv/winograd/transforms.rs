//! The F(2x2, 3x3) input and output transforms, vectorised across tiles: lane
//! `l` of every vector is tile `tw + l` of a tile row.
//!
//! Tile `t` reads padded columns `2t..2t + 3` and writes output columns `2t,
//! 2t + 1`: two apart across lanes. The kernel IR has no lane shuffle, so the
//! padded rows are staged as their even and their odd columns (gathered once
//! per input element, `Expr::Lanes`), from which every operand of the input
//! transform is one vector load; the outputs are scattered lane by lane into
//! the output rows. The arithmetic, 32 adds per tile and channel each way, is
//! on vectors.
//!
//! `B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]` and
//! `A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]`: additions and subtractions only,
//! exact in f32 but for the rounding of each sum.

use nnc_ir::kernel::{ElemType, Expr, KernelBuilder, Ty};

use super::super::{Convolution, row_loop};
use super::Layout;

/// `B^T x` for a column `x` of 4 values.
fn input_rows(x: [Expr; 4]) -> [Expr; 4] {
    let [x0, x1, x2, x3] = x;
    [
        x0 - x2.clone(),
        x1.clone() + x2.clone(),
        x2 - x1.clone(),
        x1 - x3,
    ]
}

/// `A^T x` for a column `x` of 4 values.
fn output_rows(x: [Expr; 4]) -> [Expr; 2] {
    let [x0, x1, x2, x3] = x;
    [x0 + x1.clone() + x2.clone(), x1 - x2 - x3]
}

/// Binds `value` to a fresh local, so that its uses share one computation.
fn bind(k: &mut KernelBuilder, value: Expr, lanes: u8) -> Expr {
    Expr::var(k.let_var("wt", Ty::vector(ElemType::F32, lanes), value))
}

impl Convolution<'_> {
    /// `V[xi][ci][r * tiles_w + tw] = (B^T d B)[xi]` for every tile of tile
    /// row `r` of the block, `d` from its padded rows `2r..2r + 3`.
    pub(super) fn transform_inputs(&self, k: &mut KernelBuilder, at: &Layout, ci: &Expr, r: &Expr) {
        let c = self.x.shape()[1] as i64;
        row_loop(k, 0, at.tiles_w, self.lanes, &mut |k, tw, n| {
            let ty = Ty::vector(ElemType::F32, n);
            // Column `2t + j` of row `i`: element `t + j / 2` of its parity.
            let load = |i: i64, j: i64| {
                let row = (i * 2 + j % 2) * at.half + j / 2 + at.padded;
                Expr::load(at.scratch, r.clone() * (4 * at.half) + tw.clone() + row, ty)
            };
            // B^T d, column by column, then (B^T d) B row by row.
            let columns: Vec<[Expr; 4]> = (0..4)
                .map(|j| {
                    let column = [0, 1, 2, 3].map(|i| bind(k, load(i, j), n));
                    input_rows(column).map(|value| bind(k, value, n))
                })
                .collect();
            let e = [0, 1, 2, 3].map(|i| [0, 1, 2, 3].map(|j| columns[j][i].clone()));
            let column = r.clone() * at.tiles_w + tw;
            for (i, row) in e.into_iter().enumerate() {
                for (j, value) in input_rows(row).into_iter().enumerate() {
                    let xi = (i * 4 + j) as i64;
                    let index = (ci.clone() + xi * c) * at.block + at.v + column.clone();
                    k.store(at.scratch, index, value);
                }
            }
        });
    }

    /// The output rows of tile row `r` of the block: `A^T M A` per tile
    /// (channel `co`), scattered to columns `2 tw`, `2 tw + 1`.
    pub(super) fn transform_outputs(
        &self,
        k: &mut KernelBuilder,
        at: &Layout,
        co: &Expr,
        r: &Expr,
    ) {
        let m = self.y.shape()[1] as i64;
        row_loop(k, 0, at.tiles_w, self.lanes, &mut |k, tw, n| {
            let ty = Ty::vector(ElemType::F32, n);
            let column = r.clone() * at.tiles_w + tw.clone();
            let product = |xi: i64| {
                let index = (co.clone() + xi * m) * at.block + at.m + column.clone();
                Expr::load(at.scratch, index, ty)
            };
            // A^T M, column by column, then (A^T M) A row by row.
            let columns: Vec<[Expr; 2]> = (0..4)
                .map(|j| {
                    let column = [0, 1, 2, 3].map(|i| bind(k, product(i * 4 + j), n));
                    output_rows(column).map(|value| bind(k, value, n))
                })
                .collect();
            let s = [0, 1].map(|i| [0, 1, 2, 3].map(|j| columns[j][i].clone()));
            for (i, row) in s.into_iter().enumerate() {
                for (j, value) in output_rows(row).into_iter().enumerate() {
                    let y = bind(k, value, n);
                    let to = |l: i64| {
                        (tw.clone() + l) * 2 + (at.outputs + i as i64 * 2 * at.tiles_w + j as i64)
                    };
                    if n == 1 {
                        k.store(at.scratch, to(0), y);
                    } else {
                        for l in 0..n {
                            k.store(at.scratch, to(l as i64), y.clone().extract(l));
                        }
                    }
                }
            }
        });
    }
}
