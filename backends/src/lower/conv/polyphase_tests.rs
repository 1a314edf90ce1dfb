//! Polyphase convolutions against the reference evaluator on the wide
//! targets (tile statements interpreted as their expansion): stride 2 along
//! the row with row strides 1 and 2, kernels 1, 3, 7 and uneven, pads 0 to 3,
//! odd sizes, narrow rows (several to a tile) and rows wider than a tile, the
//! output channel tails, with and without bias, fused residual Add + ReLU and
//! Clip.

use nnc_ir::ops::{Conv, Fused};
use nnc_ir::{DType, Op};
use rand::Rng;

use super::super::random_tensors::{random_small as random, rng};
use super::super::testing::{
    check_lowering_for, lowered_form as form, residual_relu_and_clip, single_node_graph,
    test_target, wide_targets,
};

fn conv(kernel: [usize; 2], strides: [usize; 2], pads: Vec<usize>) -> Op {
    Op::Conv(Conv {
        kernel_shape: kernel.to_vec(),
        strides: strides.to_vec(),
        pads,
        dilations: vec![],
        group: 1,
    })
}

#[test]
fn polyphase_convs_match_the_reference() {
    let mut rng = rng(41);
    let kernels = [[1, 1], [3, 3], [7, 7], [3, 1], [2, 5], [1, 3]];
    for round in 0..24 {
        let target = &wide_targets()[round % 2];
        let kernel = kernels[round % kernels.len()];
        let strides = [1 + (round / 2) % 2, 2];
        let most = kernel[0].min(kernel[1]) / 2 + 1;
        let mut pads: Vec<usize> = (0..4).map(|_| rng.random_range(0..most)).collect();
        if kernel == [1, 1] && round % 4 == 0 {
            // End pads: the last outputs read outside (not the subsampled form).
            pads = vec![0, 0, 1, 1];
        }
        // One channel is depthwise; whole vectors of output channels in
        // narrow rows take the channel-vector form.
        let (c, m) = (rng.random_range(2..=5), rng.random_range(1..=21));
        let m = if m % 8 == 0 { m + 1 } else { m };
        let h = rng.random_range(kernel[0].max(3)..=kernel[0] + 6);
        let w = [kernel[1] + 2, 17, 40, 111, 23][round % 5].max(kernel[1]);
        let n = 1 + round % 3 / 2;
        let x = random(&mut rng, DType::F32, &[n, c, h, w]);
        let wt = random(&mut rng, DType::F32, &[m, c, kernel[0], kernel[1]]);
        let b = random(&mut rng, DType::F32, &[m]);
        let op = conv(kernel, strides, pads);
        let bias = (round % 2 == 0).then_some(&b);
        let inputs = [Some(&x), Some(&wt), bias];
        assert_eq!(form(op.clone(), &inputs, target), Some("polyphase"));
        let graph = single_node_graph(op, &inputs, &[1, 2], 1);
        check_lowering_for(&graph, &inputs, 1e-4, 1e-4, target);
    }
}

/// The finishing product (odd kernel columns, or the only one of a 1x1)
/// carries a residual Add then ReLU, or a Clip, with and without bias.
#[test]
fn polyphase_with_fused_steps() {
    let mut rng = rng(42);
    let steps = residual_relu_and_clip();
    for (round, target) in wide_targets().iter().enumerate() {
        for (kernel, pad) in [(1, 0), (3, 1), (7, 3)] {
            let (c, m, h, w) = (3, 10, 9, 13 + 4 * round);
            let out = |n: usize| (n + 2 * pad - kernel) / 2 + 1;
            let x = random(&mut rng, DType::F32, &[1, c, h, w]);
            let wt = random(&mut rng, DType::F32, &[m, c, kernel, kernel]);
            let b = random(&mut rng, DType::F32, &[m]);
            let residual = random(&mut rng, DType::F32, &[1, m, out(h), out(w)]);
            for steps in &steps {
                let op = Op::Fused(Fused {
                    anchor: Box::new(conv([kernel; 2], [2, 2], vec![pad; 4])),
                    anchor_operands: 3,
                    steps: steps.clone(),
                });
                for bias in [Some(&b), None] {
                    let inputs = [Some(&x), Some(&wt), bias, Some(&residual)];
                    assert_eq!(form(op.clone(), &inputs, target), Some("polyphase"));
                    let graph = single_node_graph(op.clone(), &inputs, &[1, 2], 1);
                    check_lowering_for(&graph, &inputs, 1e-4, 1e-4, target);
                }
            }
        }
    }
}

/// The portable level takes only the subsampled 1x1 form: a 1x1 stride-2
/// conv reading inside the image, not one with end pads, nor a 3x3 (a short
/// one is `unfolded`'s).
#[test]
fn portable_takes_only_subsampled_pointwise() {
    let mut rng = rng(43);
    let target = test_target();
    for (kernel, pads, form_wanted) in [
        (1, vec![0; 4], Some("polyphase")),
        (1, vec![0, 0, 1, 1], None),
        // A short reduction (6 channels x 9 taps): the unfolded form.
        (3, vec![1; 4], Some("unfolded")),
    ] {
        let x = random(&mut rng, DType::F32, &[1, 6, 10, 13]);
        let wt = random(&mut rng, DType::F32, &[9, 6, kernel, kernel]);
        let b = random(&mut rng, DType::F32, &[9]);
        let op = conv([kernel; 2], [2, 2], pads);
        let inputs = [Some(&x), Some(&wt), Some(&b)];
        assert_eq!(form(op.clone(), &inputs, &target), form_wanted);
        let graph = single_node_graph(op, &inputs, &[1, 2], 1);
        check_lowering_for(&graph, &inputs, 1e-4, 1e-4, &target);
    }
}
