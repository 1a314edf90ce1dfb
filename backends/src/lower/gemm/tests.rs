use nnc_ir::kernel::{bounds, check, interp};
use nnc_ir::ops::{Conv, Gemm};
use nnc_ir::{DType, Op, Target, Tensor};

use super::super::random_tensors::{random_small as random, rng};
use super::super::testing::{assert_close, single_node_graph, test_target};

/// A target with 32 vector registers (the aarch64 tile).
fn wide_target() -> Target {
    Target {
        vector_registers: 32,
        ..test_target()
    }
}

/// Lowers `op` for `target`, interprets it and compares with the reference.
fn check_on(target: &Target, op: Op, inputs: &[Option<&Tensor>], constants: &[usize]) {
    let graph = single_node_graph(op, inputs, constants, 1);
    let (_, node) = graph.nodes().next().expect("one node");
    let lowered =
        super::super::lower_node_full(&graph, node, target).unwrap_or_else(|e| panic!("{e}"));
    let kernel = lowered.kernel;
    check::check(&kernel).unwrap_or_else(|e| panic!("type check: {e}"));
    bounds::check(&kernel).unwrap_or_else(|e| panic!("bounds: {e}"));
    let want = node.op.eval(inputs, 1).expect("reference evaluates");
    let mut buffers: Vec<Vec<u8>> = inputs
        .iter()
        .flatten()
        .map(|t| t.bytes().to_vec())
        .collect();
    buffers.push(vec![0xA5; want[0].bytes().len()]);
    // Derived weights (a packed A) after the output.
    let derived = lowered.extras.iter().map(|e| match e {
        super::super::ExtraBuffer::Weight(t) => t.bytes().to_vec(),
        super::super::ExtraBuffer::Scratch { bytes } => vec![0x5A; *bytes],
    });
    buffers.extend(derived);
    let status = interp::run(&kernel, &mut buffers).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 0);
    let bytes = buffers[inputs.iter().flatten().count()].clone().into();
    let got = Tensor::from_bytes(DType::F32, want[0].shape().to_vec(), bytes).expect("size");
    assert_close(&got, &want[0], 1e-5, 1e-4, op_name(node));
}

fn op_name(node: &nnc_ir::Node) -> &'static str {
    node.op.name()
}

fn targets() -> [Target; 2] {
    [test_target(), wide_target()]
}

/// Full tiles, a narrower vector column, scalar columns and short row tiles.
#[test]
fn matmul_covers_every_edge_region() {
    let mut rng = rng(31);
    let cases: [(&[usize], &[usize]); 5] = [
        (&[13, 37], &[37, 23]),
        (&[2, 5, 7], &[7, 19]),
        (&[2, 9, 6], &[2, 6, 30]),
        (&[17, 3], &[3, 40]),
        (&[3, 1, 2, 11], &[1, 4, 11, 5]),
    ];
    for target in targets() {
        for (a, b) in cases {
            let (a, b) = (
                random(&mut rng, DType::F32, a),
                random(&mut rng, DType::F32, b),
            );
            check_on(&target, Op::MatMul, &[Some(&a), Some(&b)], &[1]);
            check_on(&target, Op::MatMul, &[Some(&a), Some(&b)], &[]);
        }
    }
}

/// Short reductions in blocks of columns (`loops::column_block`): several
/// full blocks, a last partial block, short row tiles inside each block and
/// the overlapping last vector after them.
#[test]
fn short_reductions_walk_blocks_of_columns() {
    let mut rng = rng(33);
    let cases: [(&[usize], &[usize]); 3] = [
        (&[13, 2], &[2, 4101]),
        (&[45, 20], &[20, 1000]),
        (&[30, 1], &[1, 2100]),
    ];
    for target in targets() {
        for (a, b) in cases {
            let (a, b) = (
                random(&mut rng, DType::F32, a),
                random(&mut rng, DType::F32, b),
            );
            check_on(&target, Op::MatMul, &[Some(&a), Some(&b)], &[0]);
        }
    }
}

/// The 16-register column tile: heights that divide the rows, and dense
/// reductions in pairs of steps with an odd last one, next to a short tile,
/// a narrower vector column and an overlapping last vector.
#[test]
fn column_tiles_take_dividing_heights_and_pairs_of_steps() {
    let target = test_target();
    assert!(target.vector_registers < 32, "the 16-register tile set");
    let tile = super::Tile::for_target(&target);
    assert_eq!((tile.rows, tile.vectors), (12, 1));
    let heights = [
        (40, 10),
        (18, 10),
        (64, 11),
        (99, 11),
        (160, 12),
        (13, 8),
        (24, 12),
        (320, 12),
        (5, 12),
    ];
    for (m, rows) in heights {
        assert_eq!(tile.for_rows(m, false).rows, rows, "{m} rows");
    }
    // A long epilogue's tiles: at most 8 rows, 6 when they divide evenly.
    for (m, rows) in [(160, 8), (18, 6), (40, 8), (13, 8)] {
        assert_eq!(tile.for_rows(m, true).rows, rows, "{m} rows, long epilogue");
    }
    let mut rng = rng(34);
    // k = 1 (no first pair), 2 (only the first pair), 3 (it and an odd
    // step); n = 3 is scalar columns, three to a tile.
    let cases = [
        (37, 41, 46),
        (24, 8, 16),
        (13, 1, 5),
        (23, 2, 3),
        (12, 3, 7),
        (25, 4, 13),
    ];
    for (m, k, n) in cases {
        let a = random(&mut rng, DType::F32, &[m, k]);
        let b = random(&mut rng, DType::F32, &[k, n]);
        check_on(&target, Op::MatMul, &[Some(&a), Some(&b)], &[1]);
    }
}

#[test]
fn gemm_epilogue_scales_and_adds_c() {
    let mut rng = rng(32);
    for target in targets() {
        for (m, k, n, trans_a) in [(19, 21, 29, false), (10, 5, 27, true), (1, 64, 100, false)] {
            let g = Gemm {
                alpha: 0.5,
                beta: 2.0,
                trans_a,
                trans_b: false,
            };
            let a = random(&mut rng, DType::F32, &if trans_a { [k, m] } else { [m, k] });
            let b = random(&mut rng, DType::F32, &[k, n]);
            for c_shape in [&[n][..], &[m, 1], &[m, n]] {
                let c = random(&mut rng, DType::F32, c_shape);
                check_on(
                    &target,
                    Op::Gemm(g),
                    &[Some(&a), Some(&b), Some(&c)],
                    &[1, 2],
                );
            }
        }
    }
}

#[test]
fn pointwise_conv_adds_bias_per_channel() {
    let mut rng = rng(33);
    for target in targets() {
        for (n, c, m, group, spatial) in [
            (1, 16, 24, 1, &[7, 9][..]),
            (2, 6, 9, 3, &[5, 5]),
            (1, 3, 10, 1, &[11]),
        ] {
            let mut x_shape = vec![n, c];
            x_shape.extend(spatial);
            let mut w_shape = vec![m, c / group];
            w_shape.extend(spatial.iter().map(|_| 1));
            let x = random(&mut rng, DType::F32, &x_shape);
            let w = random(&mut rng, DType::F32, &w_shape);
            let bias = random(&mut rng, DType::F32, &[m]);
            let op = Op::Conv(Conv {
                kernel_shape: vec![],
                strides: vec![],
                pads: vec![],
                dilations: vec![],
                group,
            });
            check_on(
                &target,
                op.clone(),
                &[Some(&x), Some(&w), Some(&bias)],
                &[1, 2],
            );
            check_on(&target, op, &[Some(&x), Some(&w), None], &[1]);
        }
    }
}
