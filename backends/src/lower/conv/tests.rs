//! Conv and ConvTranspose lowerings against the reference evaluator on random
//! geometry (1-D, 2-D, 3-D; groups, strides, dilations, pads, bias).

use nnc_ir::ops::{Conv, ConvTranspose};
use nnc_ir::{DType, Op, Tensor};
use rand::Rng;
use rand::rngs::StdRng;

use super::super::random_tensors::{random_small as random, rng};
use super::super::testing::check_op;

fn tolerance(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F16 => (1e-2, 2e-2),
        DType::F32 => (1e-5, 1e-4),
        _ => (1e-12, 1e-12),
    }
}

/// Random geometry for `r` spatial dims: (kernel, strides, dilations, pads).
fn geometry(rng: &mut StdRng, r: usize) -> (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>) {
    let kernel: Vec<usize> = (0..r).map(|_| rng.random_range(1..=3)).collect();
    let strides = (0..r).map(|_| rng.random_range(1..=3)).collect();
    let dilations = (0..r).map(|_| rng.random_range(1..=2)).collect();
    let pads = (0..2 * r).map(|_| rng.random_range(0..=2)).collect();
    (kernel, strides, dilations, pads)
}

fn check(op: Op, x: &Tensor, w: &Tensor, b: Option<&Tensor>) {
    let (rtol, atol) = tolerance(x.dtype());
    check_op(op, &[Some(x), Some(w), b], &[1, 2], 1, rtol, atol);
}

#[test]
fn convs_with_random_geometry() {
    let mut rng = rng(21);
    for round in 0..60 {
        let dtype = [DType::F32, DType::F64, DType::F16][round % 3];
        let r = 1 + round % 3;
        let (kernel, strides, dilations, pads) = geometry(&mut rng, r);
        let group = rng.random_range(1..=3);
        let (cg, mg) = (rng.random_range(1..=3), rng.random_range(1..=3));
        let n = rng.random_range(1..=2);
        let mut x_shape = vec![n, group * cg];
        for d in 0..r {
            let extent = (kernel[d] - 1) * dilations[d] + 1;
            let padded_min = extent.saturating_sub(pads[d] + pads[r + d]).max(1);
            let max = if r == 3 { 5 } else { 9 };
            x_shape.push(rng.random_range(padded_min..=padded_min.max(max)));
        }
        let mut w_shape = vec![group * mg, cg];
        w_shape.extend(&kernel);
        let x = random(&mut rng, dtype, &x_shape);
        let w = random(&mut rng, dtype, &w_shape);
        let b = random(&mut rng, dtype, &[group * mg]);
        let op = Op::Conv(Conv {
            kernel_shape: kernel,
            strides,
            pads,
            dilations,
            group,
        });
        check(op, &x, &w, (round % 2 == 0).then_some(&b));
    }
}

#[test]
fn transposed_convs_with_random_geometry() {
    let mut rng = rng(22);
    for round in 0..45 {
        let dtype = [DType::F32, DType::F64, DType::F16][round % 3];
        let r = 1 + round % 3;
        let (kernel, strides, dilations, mut pads) = geometry(&mut rng, r);
        let output_padding: Vec<usize> = strides
            .iter()
            .map(|&s: &usize| rng.random_range(0..s))
            .collect();
        let group = rng.random_range(1..=2);
        let (cg, mg) = (rng.random_range(1..=3), rng.random_range(1..=3));
        let mut x_shape = vec![1, group * cg];
        for d in 0..r {
            let input = rng.random_range(1..=if r == 3 { 3 } else { 5 });
            let full =
                strides[d] * (input - 1) + output_padding[d] + (kernel[d] - 1) * dilations[d] + 1;
            // Keep at least one output pixel.
            while pads[d] + pads[r + d] >= full {
                pads[d] = pads[d].saturating_sub(1);
                pads[r + d] = pads[r + d].saturating_sub(1);
            }
            x_shape.push(input);
        }
        let mut w_shape = vec![group * cg, mg];
        w_shape.extend(&kernel);
        let x = random(&mut rng, dtype, &x_shape);
        let w = random(&mut rng, dtype, &w_shape);
        let b = random(&mut rng, dtype, &[group * mg]);
        let op = Op::ConvTranspose(ConvTranspose {
            kernel_shape: kernel,
            strides,
            pads,
            dilations,
            output_padding,
            group,
        });
        check(op, &x, &w, (round % 2 == 1).then_some(&b));
    }
}

/// A resnet-sized 3x3 layer (slow in the interpreter).
#[test]
#[ignore]
fn zoo_sized_conv_layer() {
    let mut rng = rng(23);
    let x = random(&mut rng, DType::F32, &[1, 64, 56, 56]);
    let w = random(&mut rng, DType::F32, &[64, 64, 3, 3]);
    let b = random(&mut rng, DType::F32, &[64]);
    let op = Op::Conv(Conv {
        kernel_shape: vec![3, 3],
        strides: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 1,
    });
    check(op, &x, &w, Some(&b));
}

/// 3x3 and 5x1 layers with padding and dilation: the tiled interior, both border
/// strips and every edge tile of the microkernel.
#[test]
fn tiled_convs_with_borders() {
    let mut rng = rng(24);
    // (X shape, W shape, pads, dilations, group)
    type Case = (
        &'static [usize],
        &'static [usize],
        Vec<usize>,
        Vec<usize>,
        usize,
    );
    let cases: [Case; 5] = [
        (
            &[1, 5, 9, 19],
            &[10, 5, 3, 3],
            vec![1, 1, 1, 1],
            vec![1, 1],
            1,
        ),
        (
            &[2, 4, 6, 23],
            &[6, 2, 3, 3],
            vec![0, 2, 1, 2],
            vec![1, 2],
            2,
        ),
        (
            &[1, 3, 7, 8],
            &[5, 3, 5, 1],
            vec![2, 0, 2, 0],
            vec![1, 1],
            1,
        ),
        (&[1, 2, 30], &[9, 2, 4], vec![3, 0], vec![1], 1),
        (
            &[1, 6, 5, 13],
            &[6, 1, 3, 3],
            vec![1, 1, 1, 1],
            vec![1, 1],
            6,
        ),
    ];
    for (x_shape, w_shape, pads, dilations, group) in cases {
        let x = random(&mut rng, DType::F32, x_shape);
        let w = random(&mut rng, DType::F32, w_shape);
        let b = random(&mut rng, DType::F32, &[w_shape[0]]);
        let r = x_shape.len() - 2;
        let op = Op::Conv(Conv {
            kernel_shape: w_shape[2..].to_vec(),
            strides: vec![1; r],
            pads,
            dilations,
            group,
        });
        check(op.clone(), &x, &w, Some(&b));
        check(op, &x, &w, None);
    }
}

/// Strides 2 and 3 along the last dim: the scalar-tile form (interior columns,
/// border columns, edge tiles), with pads, dilations, groups, 1-D and 2-D, and a
/// layer too narrow for any interior column.
#[test]
fn strided_tiled_convs_with_borders() {
    let mut rng = rng(25);
    // (X shape, W shape, strides, pads, dilations, group)
    type Case = (
        &'static [usize],
        &'static [usize],
        Vec<usize>,
        Vec<usize>,
        Vec<usize>,
        usize,
    );
    let cases: [Case; 8] = [
        // The resnet stem, scaled down: 7x7 / 2, pad 3.
        (
            &[1, 3, 17, 21],
            &[9, 3, 7, 7],
            vec![2, 2],
            vec![3, 3, 3, 3],
            vec![1, 1],
            1,
        ),
        // A 3x3 / 2 downsampling layer.
        (
            &[1, 6, 10, 14],
            &[11, 6, 3, 3],
            vec![2, 2],
            vec![1, 1, 1, 1],
            vec![1, 1],
            1,
        ),
        // Stride 3, asymmetric pads, dilation, groups.
        (
            &[2, 4, 9, 26],
            &[6, 2, 3, 3],
            vec![1, 3],
            vec![0, 2, 1, 2],
            vec![1, 2],
            2,
        ),
        // Stride along the last dim only, depthwise.
        (
            &[1, 5, 6, 19],
            &[5, 1, 3, 3],
            vec![1, 2],
            vec![1, 1, 1, 1],
            vec![1, 1],
            5,
        ),
        // 1-D, stride 2 and 3.
        (&[1, 2, 31], &[9, 2, 4], vec![2], vec![3, 0], vec![1], 1),
        (&[2, 3, 40], &[7, 3, 5], vec![3], vec![2, 2], vec![2], 1),
        // 1x1 / 2 (the resnet shortcut).
        (
            &[1, 8, 9, 9],
            &[10, 8, 1, 1],
            vec![2, 2],
            vec![0, 0, 0, 0],
            vec![1, 1],
            1,
        ),
        // No interior column: every tap reaches outside the image somewhere.
        (&[1, 2, 3], &[4, 2, 5], vec![2], vec![2, 2], vec![1], 1),
    ];
    for (x_shape, w_shape, strides, pads, dilations, group) in cases {
        let x = random(&mut rng, DType::F32, x_shape);
        let w = random(&mut rng, DType::F32, w_shape);
        let b = random(&mut rng, DType::F32, &[w_shape[0]]);
        let op = Op::Conv(Conv {
            kernel_shape: w_shape[2..].to_vec(),
            strides,
            pads,
            dilations,
            group,
        });
        check(op.clone(), &x, &w, Some(&b));
        check(op, &x, &w, None);
    }
}

/// 2-D f32 convolutions on targets with wide microkernels (their tile statements,
/// run by the interpreter as their expansion): border rows and columns, groups,
/// dilations, strides (gathered columns on AVX-512), images wider than one tile
/// and narrower than a vector.
#[test]
fn wide_tiled_convs_match_the_reference() {
    use super::super::testing::{check_lowering_for, single_node_graph, test_target};
    let mut rng = rng(23);
    for (round, features) in [
        &["avx", "avx2", "fma", "avx512f"][..],
        &["avx", "avx2", "fma"],
    ]
    .iter()
    .cycle()
    .take(16)
    .enumerate()
    {
        let target = nnc_ir::Target {
            cpu_features: features.iter().map(|f| f.to_string()).collect(),
            ..test_target()
        };
        let kernel: Vec<usize> = (0..2).map(|_| rng.random_range(1..=3)).collect();
        let strides = vec![rng.random_range(1..=2), rng.random_range(1..=3)];
        let dilations: Vec<usize> = (0..2).map(|_| rng.random_range(1..=2)).collect();
        let pads: Vec<usize> = (0..4).map(|_| rng.random_range(0..=1)).collect();
        let group = rng.random_range(1..=2);
        let (cg, mg) = (rng.random_range(1..=4), rng.random_range(1..=11));
        let (h, w) = (rng.random_range(5..=9), [5, 17, 60][round % 3]);
        let x = random(&mut rng, DType::F32, &[1, group * cg, h, w]);
        let wt = random(
            &mut rng,
            DType::F32,
            &[group * mg, cg, kernel[0], kernel[1]],
        );
        let b = random(&mut rng, DType::F32, &[group * mg]);
        let op = Op::Conv(Conv {
            kernel_shape: kernel,
            strides,
            pads,
            dilations,
            group,
        });
        let bias = (round % 2 == 0).then_some(&b);
        let inputs = [Some(&x), Some(&wt), bias];
        let graph = single_node_graph(op, &inputs, &[1, 2], 1);
        check_lowering_for(&graph, &inputs, 1e-5, 1e-4, &target);
    }
}
