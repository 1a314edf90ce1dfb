use nnc_ir::Op;
use nnc_ir::ops::{Binary, Gemm};
use rand::Rng;

use super::{Builder, count, optimise};

/// MatMul by a constant matrix, then a per-column scale: one MatMul.
#[test]
fn per_column_scale_folds_into_matmul() {
    for seed in 0..4 {
        let mut b = Builder::new(seed);
        let (k, n) = (b.rng.random_range(1..6), b.rng.random_range(1..6));
        let x = b.input(&[2, 3, k]);
        let w = b.weight(&[k, n], -1.0, 1.0);
        let y = b.node(Op::MatMul, &[Some(x), Some(w)]);
        let s = if seed % 2 == 0 {
            b.weight(&[n], 0.5, 2.0)
        } else {
            b.weight(&[1, 1, 1], 0.5, 2.0)
        };
        let z = b.binary(Binary::Mul, y, s);
        let (g, mut rng) = b.finish(vec![z]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(report.kernels_after, 1, "{out}");
        assert_eq!(count(&out, "MatMul"), 1);
    }
}

/// Gemm (any transposition, alpha, beta, with or without C), then a per-column
/// scale and shift: one Gemm.
#[test]
fn per_column_scale_and_shift_fold_into_gemm() {
    for seed in 0..8 {
        let mut b = Builder::new(seed);
        let (m, k, n) = (3, b.rng.random_range(1..5), b.rng.random_range(1..5));
        let g = Gemm {
            alpha: b.rng.random_range(0.5..2.0),
            beta: if seed % 4 == 0 {
                1.0
            } else {
                b.rng.random_range(0.5..2.0)
            },
            trans_a: seed % 2 == 1,
            trans_b: seed % 3 == 1,
        };
        let a = b.input(&if g.trans_a { [k, m] } else { [m, k] });
        let w = b.weight(&if g.trans_b { [n, k] } else { [k, n] }, -1.0, 1.0);
        let c = (seed % 4 < 2).then(|| b.weight(&[n], -1.0, 1.0));
        let y = b.node(Op::Gemm(g), &[Some(a), Some(w), c]);
        let s = b.weight(&[1, n], 0.5, 2.0);
        let t = b.weight(&[n], -1.0, 1.0);
        let z = b.binary(Binary::Mul, s, y);
        let z = b.binary(Binary::Add, z, t);
        let (gr, mut rng) = b.finish(vec![z]);
        let (out, report) = optimise(&gr, &mut rng);
        assert_eq!(report.kernels_after, 1, "seed {seed}\n{out}");
        assert_eq!(count(&out, "Gemm"), 1);
    }
}
