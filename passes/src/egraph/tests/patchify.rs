//! Convolutions over non-overlapping patches as matrix products, over random
//! channels, kernels and patch grids; every result is checked against `ir::eval`.

use nnc_ir::Op;
use nnc_ir::ops::{Conv, Reshape, Transpose, Unary};
use rand::Rng;

use super::{Builder, count, optimise};

/// The convolutions of `graph` whose kernel is larger than 1x1.
fn windowed_convs(graph: &nnc_ir::Graph) -> usize {
    graph
        .nodes()
        .filter(|(_, n)| {
            let anchor = match &n.op {
                Op::Fused(f) => &f.anchor,
                op => op,
            };
            matches!(anchor, Op::Conv(c) if c.kernel_shape.iter().any(|&k| k > 1))
        })
        .count()
}

/// A stride-equals-kernel convolution (with or without bias) of a size where the
/// vector-wide product pays for rearranging the input becomes a product over
/// the rearranged patches: in a CNN, whose output stays channels-first, the
/// pointwise form (no transpose after it).
#[test]
fn a_patch_convolution_becomes_a_matrix_product() {
    for seed in 0..8 {
        let mut b = Builder::new(seed);
        let kh = b.rng.random_range(2..5);
        let kw = b.rng.random_range(2..5);
        // Large enough that the product pays for the two rearranging kernels.
        let (gh, gw) = (b.rng.random_range(6..10), b.rng.random_range(6..10));
        let c = b.rng.random_range(4..8);
        let m = b.rng.random_range(48..96);
        let n = 1 + seed as usize % 2;
        let x = b.input(&[n, c, gh * kh, gw * kw]);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(x)]);
        let w = b.weight(&[m, c, kh, kw], -1.0, 1.0);
        let bias = (seed % 2 == 0).then(|| b.weight(&[m], -1.0, 1.0));
        let attrs = Conv {
            kernel_shape: vec![kh, kw],
            strides: vec![kh, kw],
            pads: vec![0; 4],
            dilations: vec![1; 2],
            group: 1,
        };
        let y = b.node(Op::Conv(attrs), &[Some(r), Some(w), bias]);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        assert!(
            report.rewrites.contains_key("conv-as-patch-pointwise"),
            "seed {seed}\n{out}"
        );
        assert_eq!(windowed_convs(&out), 0, "seed {seed}\n{out}");
        assert_eq!(count(&out, "Conv"), 1, "seed {seed}\n{out}");
        assert_eq!(count(&out, "Transpose"), 1, "seed {seed}\n{out}");
    }
}

/// A patch embedding whose output goes on as tokens, channels last (ViT's
/// `flatten(2).transpose(1, 2)`), keeps the matrix product: its transpose back
/// to NCHW cancels against the model's own.
#[test]
fn patches_going_on_as_tokens_stay_a_matrix_product() {
    for seed in 0..4 {
        let mut b = Builder::new(seed + 20);
        let (k, g, c, m) = (4, 6, 3, 64);
        let x = b.input(&[1, c, g * k, g * k]);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(x)]);
        let y = b.conv(r, m, [k, k], [0; 4], k, 1, seed % 2 == 0);
        let flat = b.node(
            Op::Reshape(Reshape {
                shape: vec![1, m, g * g],
            }),
            &[Some(y)],
        );
        let tokens = b.node(
            Op::Transpose(Transpose {
                perm: vec![0, 2, 1],
            }),
            &[Some(flat)],
        );
        let (graph, mut rng) = b.finish(vec![tokens]);
        let (out, report) = optimise(&graph, &mut rng);
        assert!(
            report.rewrites.contains_key("conv-as-patch-matmul"),
            "seed {seed}\n{out}"
        );
        assert_eq!(windowed_convs(&out), 0, "seed {seed}\n{out}");
        assert_eq!(count(&out, "MatMul"), 1, "seed {seed}\n{out}");
        assert_eq!(count(&out, "Transpose"), 1, "seed {seed}\n{out}");
    }
}

/// Overlapping windows, padding, or an image that is not a whole number of
/// patches keep the convolution.
#[test]
fn overlapping_or_padded_windows_stay_convolutions() {
    // (kernel, pads, stride, image)
    for (seed, (k, pads, stride, hw)) in [
        (2, [0; 4], 1, 6),
        (3, [1, 1, 1, 1], 3, 6),
        (2, [0; 4], 2, 5),
    ]
    .into_iter()
    .enumerate()
    {
        let mut b = Builder::new(seed as u64 + 40);
        let x = b.input(&[1, 3, hw, hw]);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(x)]);
        let y = b.conv(r, 8, [k, k], pads, stride, 1, true);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        for rule in ["conv-as-patch-matmul", "conv-as-patch-pointwise"] {
            assert!(!report.rewrites.contains_key(rule), "case {seed}\n{out}");
        }
        assert_eq!(count(&out, "Conv"), 1, "case {seed}\n{out}");
    }
}
