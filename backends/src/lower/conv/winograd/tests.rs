//! Winograd convolutions against the reference evaluator: random channel
//! counts and image sizes (odd output sizes leave partial tiles), padding 0, 1
//! and uneven, with and without bias, fused residual Add + ReLU and Clip, on
//! the portable target and with the AVX-512 and AVX2 tiles (their tile
//! statements interpreted as their expansion); and when it is (not) chosen.

use nnc_ir::ops::{Conv, Fused};
use nnc_ir::{DType, Op, Target, Tensor};
use rand::Rng;

use super::super::super::random_tensors::{random_small as random, rng};
use super::super::super::testing::{
    check_lowering_for, residual_relu_and_clip, single_node_graph, test_target,
};
use super::MIN_CHANNELS;

fn targets() -> [Target; 3] {
    let with = |features: &[&str]| Target {
        cpu_features: features.iter().map(|f| f.to_string()).collect(),
        ..test_target()
    };
    [
        test_target(),
        with(&["avx", "avx2", "fma", "avx512f"]),
        with(&["avx", "avx2", "fma"]),
    ]
}

fn conv3x3(pads: Vec<usize>, strides: usize) -> Op {
    Op::Conv(Conv {
        kernel_shape: vec![3, 3],
        strides: vec![strides; 2],
        pads,
        dilations: vec![],
        group: 1,
    })
}

/// The form the node's lowering took for `target`.
fn form(
    op: Op,
    inputs: &[Option<&Tensor>],
    constants: &[usize],
    target: &Target,
) -> Option<&'static str> {
    let graph = single_node_graph(op, inputs, constants, 1);
    let (_, node) = graph.nodes().next().expect("one node");
    let lowered = super::super::super::lower_node_full(&graph, node, target).expect("lowers");
    lowered.form
}

#[test]
fn winograd_convs_match_the_reference() {
    let mut rng = rng(31);
    for round in 0..9 {
        let target = &targets()[round % 3];
        let (c, m) = (rng.random_range(16..=21), rng.random_range(16..=19));
        let pads: Vec<usize> = match round % 3 {
            0 => vec![1; 4],
            1 => vec![0; 4],
            _ => vec![1, 0, 0, 1],
        };
        let (h, w) = (rng.random_range(3..=10), rng.random_range(3..=12));
        let n = 1 + round % 2;
        let x = random(&mut rng, DType::F32, &[n, c, h, w]);
        let wt = random(&mut rng, DType::F32, &[m, c, 3, 3]);
        let b = random(&mut rng, DType::F32, &[m]);
        let op = conv3x3(pads, 1);
        let bias = (round % 2 == 0).then_some(&b);
        let inputs = [Some(&x), Some(&wt), bias];
        assert_eq!(form(op.clone(), &inputs, &[1, 2], target), Some("winograd"));
        let graph = single_node_graph(op, &inputs, &[1, 2], 1);
        check_lowering_for(&graph, &inputs, 1e-4, 1e-4, target);
    }
}

/// A tall image: several blocks of tile rows and a last, shorter block.
#[test]
fn winograd_blocks_of_tile_rows() {
    let mut rng = rng(32);
    let x = random(&mut rng, DType::F32, &[1, 16, 37, 9]);
    let wt = random(&mut rng, DType::F32, &[16, 16, 3, 3]);
    let b = random(&mut rng, DType::F32, &[16]);
    let inputs = [Some(&x), Some(&wt), Some(&b)];
    let graph = single_node_graph(conv3x3(vec![1; 4], 1), &inputs, &[1, 2], 1);
    check_lowering_for(&graph, &inputs, 1e-4, 1e-4, &targets()[1]);
}

/// Fused steps come after the output transform: a residual Add then ReLU, and
/// a Clip, with and without bias.
#[test]
fn winograd_with_fused_steps() {
    let mut rng = rng(33);
    let steps = residual_relu_and_clip();
    for (round, target) in targets().iter().enumerate() {
        let (c, m, h, w) = (17, 16, 7, 5 + round);
        let x = random(&mut rng, DType::F32, &[1, c, h, w]);
        let wt = random(&mut rng, DType::F32, &[m, c, 3, 3]);
        let b = random(&mut rng, DType::F32, &[m]);
        let residual = random(&mut rng, DType::F32, &[1, m, h, w]);
        for steps in &steps {
            let op = Op::Fused(Fused {
                anchor: Box::new(conv3x3(vec![1; 4], 1)),
                anchor_operands: 3,
                steps: steps.clone(),
            });
            for bias in [Some(&b), None] {
                let inputs = [Some(&x), Some(&wt), bias, Some(&residual)];
                assert_eq!(form(op.clone(), &inputs, &[1, 2], target), Some("winograd"));
                let graph = single_node_graph(op.clone(), &inputs, &[1, 2], 1);
                check_lowering_for(&graph, &inputs, 1e-4, 1e-4, target);
            }
        }
    }
}

/// Strided, narrow or switched-off convolutions keep the direct forms.
#[test]
fn winograd_only_where_it_applies() {
    let mut rng = rng(34);
    let c = MIN_CHANNELS;
    let x = random(&mut rng, DType::F32, &[1, c, 8, 8]);
    let wt = random(&mut rng, DType::F32, &[c, c, 3, 3]);
    let narrow = random(&mut rng, DType::F32, &[c, c - 1, 3, 3]);
    let x_narrow = random(&mut rng, DType::F32, &[1, c - 1, 8, 8]);
    let target = test_target();
    let off = Target {
        no_winograd: true,
        ..test_target()
    };
    let inputs = [Some(&x), Some(&wt)];
    assert_eq!(
        form(conv3x3(vec![1; 4], 1), &inputs, &[1], &target),
        Some("winograd")
    );
    assert_eq!(form(conv3x3(vec![1; 4], 1), &inputs, &[1], &off), None);
    assert_eq!(form(conv3x3(vec![1; 4], 2), &inputs, &[1], &target), None);
    // A weight computed at run time has no compile-time transform.
    assert_eq!(form(conv3x3(vec![1; 4], 1), &inputs, &[], &target), None);
    let inputs = [Some(&x_narrow), Some(&narrow)];
    assert_eq!(form(conv3x3(vec![1; 4], 1), &inputs, &[1], &target), None);
}
