use nnc_ir::Op;
use nnc_ir::ops::{Binary, LayerNorm, Reduce, ReduceKind, Transpose, Unary};
use rand::Rng;

use super::{Builder, count, optimise};

/// LayerNorm written out (opset < 17 exports), then gamma and beta: one
/// LayerNormalization, over random shapes and normalised axes.
#[test]
fn decomposed_layernorm_is_recognised() {
    for seed in 0..6 {
        let mut b = Builder::new(seed);
        let shape = [2, b.rng.random_range(1..5), b.rng.random_range(2..7)];
        let axis = if seed % 3 == 0 { 1 } else { 2 };
        let x = b.input(&shape);
        let mean = |b: &mut Builder, v| {
            let r = Reduce {
                kind: ReduceKind::Mean,
                axes: (axis..3).collect(),
                keepdims: true,
            };
            b.node(Op::Reduce(r), &[Some(v)])
        };
        let m = mean(&mut b, x);
        let d = b.binary(Binary::Sub, x, m);
        let sq = if seed % 2 == 0 {
            let two = b.scalar(2.0);
            b.binary(Binary::Pow, d, two)
        } else {
            b.binary(Binary::Mul, d, d)
        };
        let v = mean(&mut b, sq);
        let eps = b.scalar(1e-5);
        let ve = b.binary(Binary::Add, v, eps);
        let sd = b.node(Op::Unary(Unary::Sqrt), &[Some(ve)]);
        let n = b.binary(Binary::Div, d, sd);
        let gamma = b.weight(&shape[axis..], 0.5, 1.5);
        let beta = b.weight(&[shape[2]], -1.0, 1.0);
        let y = b.binary(Binary::Mul, n, gamma);
        let y = b.binary(Binary::Add, beta, y);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(count(&out, "LayerNormalization"), 1, "seed {seed}\n{out}");
        assert_eq!(report.kernels_after, 1, "seed {seed}\n{out}");
    }
}

/// A mean over the wrong axis is not a LayerNorm.
#[test]
fn a_mean_over_other_axes_is_not_layernorm() {
    let mut b = Builder::new(1);
    let x = b.input(&[2, 3, 4]);
    let r = |axes: Vec<usize>| {
        Op::Reduce(Reduce {
            kind: ReduceKind::Mean,
            axes,
            keepdims: true,
        })
    };
    let m = b.node(r(vec![1]), &[Some(x)]);
    let d = b.binary(Binary::Sub, x, m);
    let sq = b.binary(Binary::Mul, d, d);
    let v = b.node(r(vec![1]), &[Some(sq)]);
    let eps = b.scalar(1e-5);
    let ve = b.binary(Binary::Add, v, eps);
    let sd = b.node(Op::Unary(Unary::Sqrt), &[Some(ve)]);
    let n = b.binary(Binary::Div, d, sd);
    let (g, mut rng) = b.finish(vec![n]);
    let (out, _) = optimise(&g, &mut rng);
    assert_eq!(count(&out, "LayerNormalization"), 0);
}

/// ConvNeXt's channel norm: NCHW -> NHWC, LayerNorm over C, back to NCHW,
/// becomes one LayerNorm over C in place; a transpose back to another order, or
/// one that moves more than one axis, keeps the transposes.
#[test]
fn layernorm_between_transposes_runs_in_place() {
    for (back, fused) in [(vec![0, 3, 1, 2], true), (vec![0, 3, 2, 1], false)] {
        let mut b = Builder::new(3);
        let x = b.input(&[1, 8, 5, 6]);
        let nhwc = b.node(
            Op::Transpose(Transpose {
                perm: vec![0, 2, 3, 1],
            }),
            &[Some(x)],
        );
        let scale = b.weight(&[8], 0.5, 1.5);
        let bias = b.weight(&[8], -1.0, 1.0);
        let ln = LayerNorm {
            axis: 3,
            epsilon: 1e-6,
            inner_axes: 0,
        };
        let y = b.node(Op::LayerNorm(ln), &[Some(nhwc), Some(scale), Some(bias)]);
        let y = b.node(Op::Transpose(Transpose { perm: back }), &[Some(y)]);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, _) = optimise(&g, &mut rng);
        assert_eq!(count(&out, "Transpose") == 0, fused, "{out}");
        assert_eq!(count(&out, "LayerNormalization"), 1, "{out}");
    }
}
