//! The border columns of a unit-stride row as one vector each side instead
//! of a scalar per column, where there are 3 to `lanes` of them: a row's
//! first `lanes` outputs and its last `lanes`.
//! A tap whose window stays inside the row for every lane is one vector load,
//! as in the interior; a tap that leaves the row for some lanes builds its
//! input from scalar loads of the lanes inside and zeros for the others (the
//! padding), so nothing outside the row is read. A 7 x 7 kernel's left border
//! costs per kernel row 4 vector taps and 6 scalar loads where the scalar
//! columns took 15 FMAs; the lanes that overlap the interior recompute the
//! interior's values over the same taps in the same order.

use nnc_ir::kernel::{ElemType, Expr, KernelBuilder, Ty, VarId};

use super::super::gemm::Epilogue;
use super::{Depthwise, Plane};

/// Fewest border columns a side worth a vector: one or two scalar columns
/// (a 3 x 3 or 5 x 5 kernel's) cost no more than the vector's scalar loads
/// (mobilenet_v2's 3 x 3 convolutions were 7% slower with edge vectors).
const MIN_EDGE_COLUMNS: i64 = 3;

impl Depthwise<'_> {
    /// The output columns `[0, lo)` and `[hi, ow)` outside the interior
    /// `[lo, hi)` that one border vector each covers, as the first column of
    /// that vector: `(left, right)`; `None` where columns stay scalar (a
    /// strided row, scalar lanes, a row narrower than a vector, or a border
    /// narrower than `MIN_EDGE_COLUMNS` or wider than a vector).
    pub(super) fn edge_vectors(
        &self,
        (lo, hi): (i64, i64),
        lanes: u8,
    ) -> (Option<i64>, Option<i64>) {
        let (_, _, _, ow) = self.dims();
        let l = lanes as i64;
        if lanes < 2 || self.strides[1] != 1 || ow < l {
            return (None, None);
        }
        let covers = |columns: i64| (MIN_EDGE_COLUMNS..=l).contains(&columns);
        let left = covers(lo).then_some(0);
        let right = covers(ow - hi).then_some(ow - l);
        (left, right)
    }

    /// A unit-stride row of `lanes` to `2 * lanes` outputs whose interior
    /// `[lo, hi)` is narrower than a vector (a keyword-spotting net's 5-wide
    /// rows, a MobileNet's last 7-wide ones): the whole row as two edge
    /// vectors, the first columns' and the last's (overlapping), where it
    /// was a scalar per column.
    pub(super) fn narrow_row_vectors(&self, (lo, hi): (i64, i64), lanes: u8) -> Option<[i64; 2]> {
        let (_, _, _, ow) = self.dims();
        let l = lanes as i64;
        let narrow = lanes >= 2 && self.strides[1] == 1 && (l..=2 * l).contains(&ow);
        (narrow && hi - lo < l).then_some([0, ow - l])
    }

    /// `rows` output rows from `row` by the `lanes` output columns from `col`,
    /// over kernel rows `taps_h` (inside the image) and every kernel column,
    /// each lane reading only the taps inside its row.
    pub(super) fn emit_edge_vector(
        &self,
        k: &mut KernelBuilder,
        p: &Plane,
        (row, rows): (Expr, usize),
        col: i64,
        (kh0, kh1): (i64, i64),
        (lanes, epi): (u8, Epilogue),
    ) {
        let (_, w, _, ow) = self.dims();
        let [sh, _] = self.strides;
        let [dh, dw] = self.dilations;
        let [ph, pw] = self.pads;
        let kernel_w = self.kernel[1];
        let ty = Ty::vector(ElemType::F32, lanes);
        let acc: Vec<VarId> = (0..rows)
            .map(|_| k.let_var("acc", ty, Expr::f32(0.0).splat(lanes)))
            .collect();
        // Each output row's window at kernel row 0, set before the kernel-row
        // loop: its accesses stay affine in the kernel row (induction pointers).
        let x_tops: Vec<Expr> = (0..rows as i64)
            .map(|r| {
                let at = p.x.clone() + ((row.clone() + r) * sh - ph) * w;
                Expr::var(k.let_var("xtop", Ty::INDEX, at))
            })
            .collect();
        k.for_range("kh", kh0, kh1, 1, |k, th| {
            let x_rows: Vec<Expr> = x_tops
                .iter()
                .map(|top| top.clone() + th.clone() * (dh * w))
                .collect();
            let w_row = p.w.clone() + th * kernel_w;
            for tw in 0..kernel_w {
                // Input column of each lane at this tap.
                let cols: Vec<i64> = (0..lanes as i64).map(|i| col + i + tw * dw - pw).collect();
                let inside = |c: i64| (0..w).contains(&c);
                if !cols.iter().any(|&c| inside(c)) {
                    continue;
                }
                let wv = Expr::load(self.w.buf, w_row.clone() + tw, Ty::F32);
                let wv = k.let_var("w", ty, wv.splat(lanes));
                for (x_row, &a) in x_rows.iter().zip(&acc) {
                    let xv = if cols.iter().all(|&c| inside(c)) {
                        Expr::load(self.x.buf, x_row.clone() + cols[0], ty)
                    } else {
                        let scalars = cols
                            .iter()
                            .map(|&c| match inside(c) {
                                true => Expr::load(self.x.buf, x_row.clone() + c, Ty::F32),
                                false => Expr::f32(0.0),
                            })
                            .collect();
                        Expr::lanes(scalars)
                    };
                    // The input first: x86_64's FMA overwrites its first
                    // multiplicand, a fresh register here (or the lanes just
                    // built), where the shared weight would need a copy.
                    k.assign(a, xv.fma(Expr::var(wv), Expr::var(a)));
                }
            }
        });
        for (r, &a) in acc.iter().enumerate() {
            let at = p.y.clone() + (row.clone() + r as i64) * ow + col;
            let value = epi(k, Expr::var(a), p.channel.clone(), at.clone(), lanes);
            k.store(self.y.buf, at, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::Conv;
    use nnc_ir::{DType, Op, Target};
    use rand::Rng;

    use super::super::super::random_tensors::{random_small as random, rng};
    use super::super::super::testing::{
        check_lowering, check_lowering_for, single_node_graph, test_target,
    };

    /// Borders of 3 to 4 columns a side (7 x 7 and 5 x 5 kernels with wide
    /// pads, dilation 2 too), rows from one vector wide (both edge vectors
    /// overlap) up, odd heights: against the reference evaluator.
    #[test]
    fn edge_vectors_match_the_reference() {
        let mut rng = rng(47);
        for round in 0..16 {
            let (kernel, pad, dilation) = match round % 4 {
                0 => (7, 3, 1),
                1 => (5, 4, 1),
                2 => (7, rng.random_range(3..=4), 1),
                _ => (3, 3, 2),
            };
            let channels = rng.random_range(1..=3);
            let width = rng.random_range(4..=21);
            let height = rng.random_range(1..=9);
            let x = random(&mut rng, DType::F32, &[1, channels, height, width]);
            let w = random(&mut rng, DType::F32, &[channels, 1, kernel, kernel]);
            let b = random(&mut rng, DType::F32, &[channels]);
            let op = Op::Conv(Conv {
                kernel_shape: vec![kernel; 2],
                strides: vec![1, 1],
                pads: vec![pad; 4],
                dilations: vec![dilation; 2],
                group: channels,
            });
            let inputs = [Some(&x), Some(&w), Some(&b)];
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            check_lowering(&graph, &inputs, 1e-5, 1e-4);
        }
    }

    /// Rows of 4 to 8 outputs with an interior narrower than a vector (whole
    /// rows as two edge vectors): kernels 1 to 5 with pads up to the kernel,
    /// row strides 1 and 2, dilation 2, at 128 bits and the wide levels.
    #[test]
    fn narrow_rows_match_the_reference() {
        let mut rng = rng(48);
        let wide = Target {
            cpu_features: vec!["avx512f".into(), "fma".into()],
            ..test_target()
        };
        for round in 0..24 {
            let kernel: usize = 1 + round % 5;
            let dilation = if round % 6 == 5 { 2 } else { 1 };
            let pad = rng.random_range(0..=kernel);
            let extent = (kernel - 1) * dilation + 1;
            // Output widths of 4 to 8.
            let width = (rng.random_range(4..=8) + extent - 1)
                .saturating_sub(2 * pad)
                .max(1);
            let height = rng.random_range(1..=9);
            let x = random(&mut rng, DType::F32, &[1, 2, height.max(extent), width]);
            let w = random(&mut rng, DType::F32, &[2, 1, kernel, kernel]);
            let b = random(&mut rng, DType::F32, &[2]);
            let op = Op::Conv(Conv {
                kernel_shape: vec![kernel; 2],
                strides: vec![1 + round % 2, 1],
                pads: vec![pad; 4],
                dilations: vec![dilation; 2],
                group: 2,
            });
            let inputs = [Some(&x), Some(&w), Some(&b)];
            let graph = single_node_graph(op, &inputs, &[1, 2], 1);
            check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &test_target());
            check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &wide);
        }
    }
}
