//! Fused kernels against `Fused::eval` (the anchor's reference then each step's):
//! every anchor path (GEMM tiles with their vector and scalar tails, Gemm's dot
//! and column forms, pointwise, tiled and strided convolutions, the row-
//! accumulating convolution) with every kind of step.

use nnc_ir::Op;
use nnc_ir::Tensor;
use nnc_ir::ops::{Binary, Conv, Fused, Gemm, Step, Unary};

use super::super::random_tensors::{random_small as random, rng};
use nnc_ir::DType;

/// Step lists tried on every anchor; extra operands 0 (full), 1 (per channel),
/// 2 (scalar) are always passed.
fn step_lists() -> Vec<Vec<Step>> {
    let bin = |op, operand, swapped| Step::Binary {
        op,
        operand,
        swapped,
    };
    vec![
        vec![Step::Unary(Unary::Relu)],
        vec![Step::Clip {
            min: Some(0.0),
            max: Some(6.0),
        }],
        vec![Step::Unary(Unary::HardSwish)],
        vec![Step::Gate(Unary::Sigmoid)],
        vec![Step::Unary(Unary::Gelu {
            tanh_approximation: false,
        })],
        vec![bin(Binary::Add, 0, false), Step::Unary(Unary::Relu)],
        // Carried by a pointwise convolution's wide tiles beside the bias
        // (two addends); three addends are not.
        vec![
            bin(Binary::Add, 2, true),
            Step::Clip {
                min: Some(-0.25),
                max: Some(0.25),
            },
        ],
        vec![
            bin(Binary::Add, 1, false),
            Step::Unary(Unary::Relu),
            bin(Binary::Add, 0, true),
        ],
        vec![
            bin(Binary::Mul, 1, true),
            bin(Binary::Add, 1, false),
            bin(Binary::Sub, 2, true),
            Step::Unary(Unary::Sigmoid),
            bin(Binary::Max, 0, false),
            Step::Clip {
                min: None,
                max: Some(0.5),
            },
        ],
    ]
}

/// Checks `anchor` on `operands` (those in `constants` are weights) with every
/// step list; `channel_axis` is the output dim of the per-channel operand.
fn check_anchor(anchor: Op, operands: &[Option<Tensor>], constants: &[usize], channel_axis: usize) {
    let target = super::super::testing::test_target();
    check_anchor_for(anchor, operands, constants, channel_axis, &target);
}

/// [`check_anchor`] with the code `target` gets (its tiles).
fn check_anchor_for(
    anchor: Op,
    operands: &[Option<Tensor>],
    constants: &[usize],
    channel_axis: usize,
    target: &nnc_ir::Target,
) {
    let mut rng = rng(91);
    let refs: Vec<Option<&Tensor>> = operands.iter().map(Option::as_ref).collect();
    let out = anchor.eval(&refs, 1).expect("anchor evaluates").remove(0);
    let shape = out.shape().to_vec();
    let residual = random(&mut rng, DType::F32, &shape);
    let per_channel = random(&mut rng, DType::F32, &shape[channel_axis..channel_axis + 1]);
    let mut channel_shape = vec![shape[channel_axis]];
    channel_shape.extend(vec![1; shape.len() - channel_axis - 1]);
    let per_channel = Tensor::from_bytes(
        DType::F32,
        channel_shape,
        per_channel.bytes().to_vec().into(),
    )
    .expect("same size");
    let scalar = random(&mut rng, DType::F32, &[1]);
    for steps in step_lists() {
        let op = Op::Fused(Fused {
            anchor: Box::new(anchor.clone()),
            anchor_operands: operands.len(),
            steps,
        });
        let mut inputs = refs.clone();
        inputs.extend([Some(&residual), Some(&per_channel), Some(&scalar)]);
        let graph = super::super::testing::single_node_graph(op, &inputs, constants, 1);
        super::super::testing::check_lowering_for(&graph, &inputs, 1e-4, 1e-4, target);
    }
}

/// Fused MatMul and Conv on targets with AVX-512 and AVX2 microkernels: their
/// tile statements with the epilogue over the stored tiles (and, for
/// convolutions split by kernel column, over the finished output row).
#[test]
fn fused_anchors_on_wide_targets() {
    let mut rng = rng(95);
    for features in [
        &["avx", "avx2", "fma", "avx512f"][..],
        &["avx", "avx2", "fma"],
    ] {
        let target = nnc_ir::Target {
            cpu_features: features.iter().map(|f| f.to_string()).collect(),
            ..super::super::testing::test_target()
        };
        for (x_shape, m, kernel, stride, pad) in [
            // Pointwise: the epilogue in the tiles when they can carry it.
            (&[2, 6, 5, 7][..], 9, 1, 1, 0),
            (&[1, 19, 4, 13], 21, 1, 1, 0),
            (&[1, 3, 6, 11], 10, 3, 1, 1),
            (&[1, 4, 9, 9], 5, 3, 2, 1),
            (&[1, 2, 5, 20], 9, 3, 1, 2),
            // Stems (few input channels, stride 2): split by kernel column, the
            // last column reaching every output one carrying the epilogue; no
            // padding (one product per column segment); narrow rows several
            // to a tile (a residual's column blocks).
            (&[1, 3, 23, 30], 15, 7, 2, 3),
            (&[2, 1, 13, 38], 9, 3, 2, 1),
            (&[1, 3, 17, 53], 12, 3, 2, 0),
            (&[1, 5, 9, 9], 7, 3, 1, 1),
        ] {
            let x = random(&mut rng, DType::F32, x_shape);
            let w = random(&mut rng, DType::F32, &[m, x_shape[1], kernel, kernel]);
            let bias = random(&mut rng, DType::F32, &[m]);
            let op = conv(kernel, stride, pad, 1);
            let operands = [Some(x), Some(w), Some(bias)];
            check_anchor_for(op, &operands, &[1, 2], 1, &target);
        }
        let a = random(&mut rng, DType::F32, &[13, 37]);
        let b = random(&mut rng, DType::F32, &[37, 53]);
        check_anchor_for(Op::MatMul, &[Some(a), Some(b)], &[1], 1, &target);
        // Batched: B shared (one product over all rows), and B per entry.
        let cases: [(&[usize], &[usize]); 2] = [(&[2, 5, 7], &[7, 19]), (&[2, 9, 6], &[2, 6, 30])];
        for (a, b) in cases {
            let a = random(&mut rng, DType::F32, a);
            let b = random(&mut rng, DType::F32, b);
            check_anchor_for(Op::MatMul, &[Some(a), Some(b)], &[1], 2, &target);
        }
        // Gemm whose tiles add C (alpha = beta = 1): per column, per row, full.
        let (m, k, n) = (10, 13, 21);
        for (trans_a, c_shape) in [(false, &[n][..]), (true, &[m, 1]), (false, &[m, n])] {
            let g = Gemm {
                alpha: 1.0,
                beta: 1.0,
                trans_a,
                trans_b: false,
            };
            let a = random(&mut rng, DType::F32, &if trans_a { [k, m] } else { [m, k] });
            let b = random(&mut rng, DType::F32, &[k, n]);
            let c = random(&mut rng, DType::F32, c_shape);
            check_anchor_for(
                Op::Gemm(g),
                &[Some(a), Some(b), Some(c)],
                &[1, 2],
                1,
                &target,
            );
        }
    }
}

/// On wide targets a MatMul's per-column bias and exact GELU, and a pointwise
/// or unpadded KxK convolution's GELU, ride in the tiles: no pass over the
/// stored tile.
#[test]
fn gelu_rides_in_the_tiles() {
    let mut rng = rng(96);
    let gelu = Step::Unary(Unary::Gelu {
        tanh_approximation: false,
    });
    let bias_gelu = vec![
        Step::Binary {
            op: Binary::Add,
            operand: 0,
            swapped: false,
        },
        gelu,
    ];
    for features in [
        &["avx", "avx2", "fma", "avx512f"][..],
        &["avx", "avx2", "fma"],
    ] {
        let target = nnc_ir::Target {
            cpu_features: features.iter().map(|f| f.to_string()).collect(),
            ..super::super::testing::test_target()
        };
        let a = random(&mut rng, DType::F32, &[2, 20, 24]);
        let b = random(&mut rng, DType::F32, &[24, 40]);
        let bias = random(&mut rng, DType::F32, &[40]);
        let x = random(&mut rng, DType::F32, &[1, 8, 6, 6]);
        let w = random(&mut rng, DType::F32, &[16, 8, 1, 1]);
        let x3 = random(&mut rng, DType::F32, &[1, 4, 9, 12]);
        let w3 = random(&mut rng, DType::F32, &[6, 4, 3, 3]);
        let cases = [
            (
                Op::MatMul,
                vec![Some(a), Some(b), Some(bias)],
                vec![1, 2],
                2,
                bias_gelu.clone(),
            ),
            (
                conv(1, 1, 0, 1),
                vec![Some(x), Some(w)],
                vec![1],
                2,
                vec![gelu],
            ),
            // Unpadded KxK: every tile finishes its outputs.
            (
                conv(3, 1, 0, 1),
                vec![Some(x3), Some(w3)],
                vec![1],
                2,
                vec![gelu],
            ),
        ];
        for (anchor, operands, constants, anchor_operands, steps) in cases {
            let op = Op::Fused(Fused {
                anchor: Box::new(anchor),
                anchor_operands,
                steps,
            });
            let inputs: Vec<Option<&Tensor>> = operands.iter().map(Option::as_ref).collect();
            let graph = super::super::testing::single_node_graph(op, &inputs, &constants, 1);
            let (_, node) = graph.nodes().next().expect("one node");
            let kernel = super::super::lower_node(&graph, node, &target).expect("lowers");
            let text = kernel.to_string();
            assert!(text.contains("then Gelu"), "{text}");
            // A pass over the stored tile would divide (erf's rational
            // approximation); the tiles' maps are not printed.
            assert!(!text.contains(" / "), "{text}");
            super::super::testing::check_lowering_for(&graph, &inputs, 1e-4, 1e-4, &target);
        }
    }
}

#[test]
fn fused_matmul_tiles_and_tails() {
    let mut rng = rng(92);
    let cases: [(&[usize], &[usize]); 4] = [
        (&[13, 37], &[37, 23]),
        (&[2, 5, 7], &[7, 19]),
        (&[2, 9, 6], &[2, 6, 30]),
        (&[3, 4], &[4, 3]),
    ];
    for (a, b) in cases {
        let a = random(&mut rng, DType::F32, a);
        let b = random(&mut rng, DType::F32, b);
        let rank = a.shape().len().max(b.shape().len());
        check_anchor(Op::MatMul, &[Some(a), Some(b)], &[1], rank - 1);
    }
}

#[test]
fn fused_gemm_tiled_dot_and_column_forms() {
    let mut rng = rng(93);
    for (trans_a, trans_b) in [(false, false), (false, true), (true, true), (true, false)] {
        let (m, k, n) = (9, 11, 14);
        let g = Gemm {
            alpha: 0.5,
            beta: 2.0,
            trans_a,
            trans_b,
        };
        let a = random(&mut rng, DType::F32, &if trans_a { [k, m] } else { [m, k] });
        let b = random(&mut rng, DType::F32, &if trans_b { [n, k] } else { [k, n] });
        let c = random(&mut rng, DType::F32, &[n]);
        check_anchor(Op::Gemm(g), &[Some(a), Some(b), Some(c)], &[1, 2], 1);
        let a = random(&mut rng, DType::F32, &if trans_a { [k, m] } else { [m, k] });
        let b = random(&mut rng, DType::F32, &if trans_b { [n, k] } else { [k, n] });
        check_anchor(Op::Gemm(g), &[Some(a), Some(b), None], &[1], 1);
    }
}

fn conv(kernel: usize, stride: usize, pad: usize, group: usize) -> Op {
    Op::Conv(Conv {
        kernel_shape: vec![kernel, kernel],
        strides: vec![stride, stride],
        pads: vec![pad; 4],
        dilations: vec![],
        group,
    })
}

#[test]
fn fused_convolutions_on_every_path() {
    let mut rng = rng(94);
    // (x shape, m, kernel, stride, pad, group): pointwise, tiled with border
    // columns, strided (gathered vectors), depthwise (stride 1, stride 2 over
    // two images with a channel multiplier of 2, 5x5), and too narrow for any
    // interior column (the row-accumulating form).
    type Case<'a> = (&'a [usize], usize, usize, usize, usize, usize);
    let cases: [Case; 7] = [
        (&[2, 6, 5, 7], 9, 1, 1, 0, 1),
        (&[1, 3, 6, 11], 10, 3, 1, 1, 1),
        (&[1, 4, 9, 9], 5, 3, 2, 1, 1),
        (&[1, 6, 7, 10], 6, 3, 1, 1, 6),
        (&[2, 4, 9, 11], 8, 3, 2, 1, 4),
        (&[1, 8, 12, 13], 8, 5, 1, 2, 8),
        (&[1, 2, 4, 2], 3, 5, 1, 2, 1),
    ];
    for (x_shape, m, kernel, stride, pad, group) in cases {
        let x = random(&mut rng, DType::F32, x_shape);
        let w = random(
            &mut rng,
            DType::F32,
            &[m, x_shape[1] / group, kernel, kernel],
        );
        let bias = random(&mut rng, DType::F32, &[m]);
        let op = conv(kernel, stride, pad, group);
        check_anchor(
            op.clone(),
            &[Some(x.clone()), Some(w.clone()), Some(bias)],
            &[1, 2],
            1,
        );
        check_anchor(op, &[Some(x), Some(w), None], &[1], 1);
    }
}
