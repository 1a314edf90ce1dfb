//! Fusion rules: anchors and the elementwise ops after them become one `Fused`
//! kernel, checked against `ir::eval` on random shapes and weights; a value also
//! needed elsewhere is not fused (the anchor would run twice).

use nnc_ir::ops::{Binary, Unary};
use nnc_ir::{Graph, Op, ValueId};
use rand::Rng;

use super::{Builder, count, fused_labels, optimise, optimise_checked};
use crate::egraph::EgraphOptions;

/// Kernels that compute the anchor `name` (bare or fused).
fn anchors(graph: &Graph, name: &str) -> usize {
    graph
        .nodes()
        .filter(|(_, n)| match &n.op {
            Op::Fused(f) => f.anchor.name() == name,
            op => op.name() == name,
        })
        .count()
}

/// A random NCHW input and a 3x3 conv of it (no bias).
fn conv_input(b: &mut Builder) -> (ValueId, ValueId) {
    let (c, h, w) = (
        b.rng.random_range(1..5),
        b.rng.random_range(3..7),
        b.rng.random_range(3..7),
    );
    let x = b.input(&[1, c, h, w]);
    let out = b.rng.random_range(1..6);
    let y = b.conv(x, out, [3, 3], [1, 1, 1, 1], 1, 1, false);
    (x, y)
}

/// Conv, per-channel shift, ReLU, residual add: one kernel.
#[test]
fn conv_shift_relu_residual_is_one_kernel() {
    for seed in 0..6 {
        let mut b = Builder::new(seed);
        let (_, y) = conv_input(&mut b);
        let shape = b.g.value(y).ty.shape.clone();
        let residual = b.input(&shape);
        let shift = b.weight(&[shape[1], 1, 1], -1.0, 1.0);
        let z = b.binary(Binary::Add, y, shift);
        let z = b.node(Op::Unary(Unary::Relu), &[Some(z)]);
        let z = if seed % 2 == 0 {
            b.binary(Binary::Add, z, residual)
        } else {
            b.binary(Binary::Add, residual, z)
        };
        let (g, mut rng) = b.finish(vec![z]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(report.kernels_after, 1, "seed {seed}\n{out}");
        assert_eq!(fused_labels(&out).len(), 1, "{out}");
        assert!(report.rewrites.contains_key("fuse-relu"));
    }
}

/// MatMul, bias over the last dim, GELU (both forms): one kernel.
#[test]
fn matmul_bias_gelu_is_one_kernel() {
    for seed in 0..4 {
        let mut b = Builder::new(seed);
        let (m, k, n) = (
            b.rng.random_range(1..6),
            b.rng.random_range(1..6),
            b.rng.random_range(1..6),
        );
        let x = b.input(&[2, m, k]);
        let w = b.weight(&[k, n], -1.0, 1.0);
        let bias = b.weight(&[n], -1.0, 1.0);
        let y = b.node(Op::MatMul, &[Some(x), Some(w)]);
        let y = b.binary(Binary::Add, bias, y);
        let gelu = Unary::Gelu {
            tanh_approximation: seed % 2 == 1,
        };
        let z = b.node(Op::Unary(gelu), &[Some(y)]);
        let (g, mut rng) = b.finish(vec![z]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(report.kernels_after, 1, "seed {seed}\n{out}");
        assert_eq!(fused_labels(&out), ["MatMul+Add+Gelu"], "{out}");
    }
}

/// Gemm, then SiLU written as `y * Sigmoid(y)`, then Clip: one kernel.
#[test]
fn gemm_silu_clip_is_one_kernel() {
    for seed in 0..4 {
        let mut b = Builder::new(seed);
        let (m, k, n) = (3, b.rng.random_range(1..6), b.rng.random_range(1..6));
        let a = b.input(&[m, k]);
        let w = b.weight(&[k, n], -1.0, 1.0);
        let c = b.weight(&[n], -1.0, 1.0);
        let g = nnc_ir::ops::Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        };
        let y = b.node(Op::Gemm(g), &[Some(a), Some(w), Some(c)]);
        let s = b.node(Op::Unary(Unary::Sigmoid), &[Some(y)]);
        let z = if seed % 2 == 0 {
            b.binary(Binary::Mul, y, s)
        } else {
            b.binary(Binary::Mul, s, y)
        };
        let (lo, hi) = (b.scalar(-0.5), b.scalar(0.75));
        let z = b.node(Op::Clip, &[Some(z), Some(lo), Some(hi)]);
        let (gr, mut rng) = b.finish(vec![z]);
        let (out, report) = optimise(&gr, &mut rng);
        assert_eq!(report.kernels_after, 1, "seed {seed}\n{out}");
        assert_eq!(fused_labels(&out), ["Gemm+SiLU+Clip"], "{out}");
    }
}

/// The conv's output is also a graph output: fusing the ReLU would compute the
/// conv twice, so the ReLU stays a kernel of its own.
#[test]
fn anchor_needed_elsewhere_is_not_fused() {
    for seed in 0..4 {
        let mut b = Builder::new(seed);
        let (_, y) = conv_input(&mut b);
        let z = b.node(Op::Unary(Unary::Relu), &[Some(y)]);
        let (g, mut rng) = b.finish(vec![z, y]);
        let (out, _) = optimise(&g, &mut rng);
        assert_eq!(anchors(&out, "Conv"), 1, "seed {seed}\n{out}");
        assert_eq!(count(&out, "Relu"), 1, "{out}");
    }
}

/// A fused prefix needed by two consumers: it is computed once (fused as far as
/// it is used alone), and each consumer reads it.
#[test]
fn shared_fused_prefix_is_computed_once() {
    for seed in 0..4 {
        let mut b = Builder::new(seed);
        let (_, y) = conv_input(&mut b);
        let c = b.g.value(y).ty.shape[1];
        let shift = b.weight(&[c, 1, 1], -1.0, 1.0);
        let a = b.binary(Binary::Add, y, shift);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(a)]);
        let s = b.node(Op::Unary(Unary::Sigmoid), &[Some(a)]);
        let z = b.binary(Binary::Mul, r, s);
        let (g, mut rng) = b.finish(vec![z]);
        let (out, _) = optimise(&g, &mut rng);
        assert_eq!(anchors(&out, "Conv"), 1, "seed {seed}\n{out}");
    }
}

/// `--disable-rules fusion` leaves every step a kernel of its own.
#[test]
fn fusion_group_can_be_disabled() {
    let mut b = Builder::new(3);
    let (_, y) = conv_input(&mut b);
    let z = b.node(Op::Unary(Unary::Relu), &[Some(y)]);
    let (g, mut rng) = b.finish(vec![z]);
    let options = EgraphOptions {
        disabled_rules: vec!["fusion".into()],
        ..EgraphOptions::default()
    };
    let (out, report) = optimise_checked(&g, &mut rng, &options);
    assert!(fused_labels(&out).is_empty(), "{out}");
    assert_eq!(count(&out, "Relu"), 1);
    assert!(!report.rewrites.keys().any(|r| r.starts_with("fuse-")));
}

/// An operand the fused kernel cannot read in place (it broadcasts along a
/// spatial dim) stays a separate Add.
#[test]
fn unreadable_operand_is_not_fused() {
    let mut b = Builder::new(5);
    let x = b.input(&[1, 2, 4, 4]);
    let y = b.conv(x, 3, [3, 3], [1, 1, 1, 1], 1, 1, true);
    let row = b.weight(&[1, 1, 4, 1], -1.0, 1.0);
    let z = b.binary(Binary::Add, y, row);
    let (g, mut rng) = b.finish(vec![z]);
    let (out, _) = optimise(&g, &mut rng);
    assert_eq!(count(&out, "Add"), 1, "{out}");
    assert!(
        fused_labels(&out).iter().all(|l| !l.contains("Add")),
        "{out}"
    );
}
