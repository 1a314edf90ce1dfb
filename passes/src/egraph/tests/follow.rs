//! Scales and shifts folded into the linear op after them, over random shapes,
//! groups and weights; every result is checked against `ir::eval`.

use nnc_ir::Op;
use nnc_ir::ops::{Binary, Unary};
use rand::Rng;

use super::{Builder, count, optimise};

/// BatchNorm then an unpadded conv (dense, grouped or depthwise): the conv absorbs
/// the whole BatchNorm.
#[test]
fn batchnorm_folds_into_the_following_unpadded_conv() {
    for seed in 0..8 {
        let mut b = Builder::new(seed);
        let group = [1, 2, 4][seed as usize % 3];
        let cin = group * b.rng.random_range(1..3);
        let out = group * b.rng.random_range(1..3);
        let k = b.rng.random_range(1..4);
        let x = b.input(&[1, cin, 6, 7]);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(x)]);
        let n = b.bn(r);
        let stride = 1 + seed as usize % 2;
        let y = b.conv(n, out, [k, k], [0, 0, 0, 0], stride, group, seed % 2 == 0);
        let (g, mut rng) = b.finish(vec![y]);
        let (out_graph, report) = optimise(&g, &mut rng);
        assert_eq!(
            count(&out_graph, "BatchNormalization"),
            0,
            "seed {seed}\n{out_graph}"
        );
        assert_eq!(count(&out_graph, "Conv"), 1);
        assert!(report.rewrites.contains_key("add-into-following-conv"));
        assert!(report.rewrites.contains_key("mul-into-following-conv"));
    }
}

/// With padding only the scale may move into the conv (a shift would miss the
/// zero border); the result must still be exact.
#[test]
fn a_shift_stays_out_of_a_padded_conv() {
    for seed in 0..4 {
        let mut b = Builder::new(seed + 20);
        let x = b.input(&[1, 3, 5, 5]);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(x)]);
        let n = b.bn(r);
        let y = b.conv(n, 4, [3, 3], [1, 1, 1, 1], 1, 1, true);
        let (g, mut rng) = b.finish(vec![y]);
        let (_, report) = optimise(&g, &mut rng);
        assert!(!report.rewrites.contains_key("add-into-following-conv"));
    }
}

/// A per-feature scale and shift before a MatMul with constant weights (the
/// LayerNorm-free "affine then linear" of MLP heads).
#[test]
fn affine_folds_into_the_following_matmul() {
    for seed in 0..6 {
        let mut b = Builder::new(seed + 40);
        let (m, k, n) = (
            b.rng.random_range(1..5),
            b.rng.random_range(2..9),
            b.rng.random_range(1..9),
        );
        let x = b.input(&[2, m, k]);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(x)]);
        let s = if seed % 2 == 0 {
            b.weight(&[k], 0.5, 1.5)
        } else {
            b.weight(&[1], 0.5, 1.5)
        };
        let t = b.weight(&[1, k], -1.0, 1.0);
        let v = b.binary(Binary::Mul, r, s);
        let v = b.binary(Binary::Add, t, v);
        let w = b.weight(&[k, n], -1.0, 1.0);
        let y = b.node(Op::MatMul, &[Some(v), Some(w)]);
        let (g, mut rng) = b.finish(vec![y]);
        let (_, report) = optimise(&g, &mut rng);
        assert!(
            report.rewrites.contains_key("mul-into-following-matmul"),
            "seed {seed}: {:?}",
            report.rewrites
        );
        assert!(report.rewrites.contains_key("add-into-following-matmul"));
    }
}

/// A per-feature scale and shift before a Gemm (random transposed B, alpha, beta,
/// bias or none): the Gemm absorbs both.
#[test]
fn affine_folds_into_the_following_gemm() {
    use nnc_ir::ops::Gemm;
    for seed in 0..8 {
        let mut b = Builder::new(seed + 60);
        let (m, k, n) = (
            b.rng.random_range(1..5),
            b.rng.random_range(2..9),
            b.rng.random_range(1..9),
        );
        let x = b.input(&[m, k]);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(x)]);
        let s = b.weight(&[k], 0.5, 1.5);
        let t = if seed % 3 == 0 {
            b.weight(&[1], -1.0, 1.0)
        } else {
            b.weight(&[k], -1.0, 1.0)
        };
        let v = b.binary(Binary::Mul, r, s);
        let v = b.binary(Binary::Add, v, t);
        let g = Gemm {
            alpha: [1.0, 0.5][seed as usize % 2],
            beta: [1.0, 2.0][seed as usize / 2 % 2],
            trans_a: false,
            trans_b: seed % 4 >= 2,
        };
        let w = if g.trans_b {
            b.weight(&[n, k], -1.0, 1.0)
        } else {
            b.weight(&[k, n], -1.0, 1.0)
        };
        let c = (seed < 6).then(|| b.weight(&[n], -1.0, 1.0));
        let y = b.node(Op::Gemm(g), &[Some(v), Some(w), c]);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        assert!(
            report.rewrites.contains_key("mul-into-following-gemm"),
            "seed {seed}: {:?}",
            report.rewrites
        );
        assert!(report.rewrites.contains_key("add-into-following-gemm"));
        assert_eq!(count(&out, "Gemm"), 1, "seed {seed}\n{out}");
        assert_eq!(
            out.node_count(),
            2,
            "seed {seed}: Relu and Gemm left\n{out}"
        );
    }
}
