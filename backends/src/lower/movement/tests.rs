//! Movement lowerings against the reference evaluator, on random shapes and
//! every dtype.

use nnc_ir::kernel::interp;
use nnc_ir::ops::{
    Concat, ConstantOfShape, DepthToSpace, Expand, Gather, GatherElements, Pad, PadMode, Reshape,
    Shape, Slice, SpaceToDepth, Split, Tile, Transpose,
};
use nnc_ir::{DType, Op, Tensor};
use rand::Rng;
use rand::seq::SliceRandom;

use super::super::random_tensors::{ALL_DTYPES, random_small as random, rng, shape};
use super::super::testing::{check_op, single_node_graph, test_target};

fn check(op: Op, inputs: &[&Tensor], outputs: usize) {
    let inputs: Vec<Option<&Tensor>> = inputs.iter().map(|t| Some(*t)).collect();
    check_op(op, &inputs, &[], outputs, 0.0, 0.0);
}

#[test]
fn reshape_and_transpose_every_dtype() {
    let mut rng = rng(1);
    for dtype in ALL_DTYPES {
        for rank in 0..5 {
            let s = shape(&mut rng, rank, 5);
            let x = random(&mut rng, dtype, &s);
            let len: usize = s.iter().product();
            check(Op::Reshape(Reshape { shape: vec![len] }), &[&x], 1);
            let mut perm: Vec<usize> = (0..rank).collect();
            perm.shuffle(&mut rng);
            check(Op::Transpose(Transpose { perm }), &[&x], 1);
        }
    }
}

#[test]
fn concat_and_split() {
    let mut rng = rng(2);
    for dtype in ALL_DTYPES {
        for rank in 1..4 {
            let s = shape(&mut rng, rank, 5);
            let axis = rng.random_range(0..rank);
            let parts: Vec<Tensor> = (0..rng.random_range(1..4))
                .map(|_| {
                    let mut p = s.clone();
                    p[axis] = rng.random_range(0..4);
                    random(&mut rng, dtype, &p)
                })
                .collect();
            let refs: Vec<&Tensor> = parts.iter().collect();
            check(Op::Concat(Concat { axis }), &refs, 1);
            let n = s[axis];
            let cut = rng.random_range(0..=n);
            let x = random(&mut rng, dtype, &s);
            let split = Split {
                axis,
                sizes: vec![cut, n - cut],
            };
            check(Op::Split(split), &[&x], 2);
        }
    }
}

#[test]
fn slices_with_negative_steps() {
    let mut rng = rng(3);
    for round in 0..60 {
        let dtype = ALL_DTYPES[round % ALL_DTYPES.len()];
        let rank = rng.random_range(1..4);
        let s = shape(&mut rng, rank, 7);
        let x = random(&mut rng, dtype, &s);
        let mut pick = || rng.random_range(-9i64..9);
        let starts: Vec<i64> = (0..rank).map(|_| pick()).collect();
        let ends: Vec<i64> = (0..rank).map(|_| pick()).collect();
        let steps: Vec<i64> = (0..rank)
            .map(|_| match pick() {
                0 => 1,
                v => v.clamp(-3, 3),
            })
            .collect();
        let op = Slice::resolve(&s, &starts, &ends, None, Some(&steps)).unwrap();
        check(Op::Slice(op), &[&x], 1);
    }
}

#[test]
fn expand_and_tile() {
    let mut rng = rng(4);
    for dtype in ALL_DTYPES {
        let x = random(&mut rng, dtype, &[3, 1, 2]);
        check(
            Op::Expand(Expand {
                shape: vec![2, 1, 4, 1],
            }),
            &[&x],
            1,
        );
        check(
            Op::Expand(Expand {
                shape: vec![3, 5, 2],
            }),
            &[&x],
            1,
        );
        check(
            Op::Tile(Tile {
                repeats: vec![2, 3, 1],
            }),
            &[&x],
            1,
        );
        check(
            Op::Tile(Tile {
                repeats: vec![1, 0, 2],
            }),
            &[&x],
            1,
        );
    }
}

#[test]
fn pads_in_every_mode() {
    let mut rng = rng(5);
    let modes = [
        PadMode::Constant,
        PadMode::Reflect,
        PadMode::Edge,
        PadMode::Wrap,
    ];
    for round in 0..48 {
        let dtype = ALL_DTYPES[round % ALL_DTYPES.len()];
        let mode = modes[round % 4];
        let rank = rng.random_range(1..4);
        let s = shape(&mut rng, rank, 5);
        let x = random(&mut rng, dtype, &s);
        let mut pads = Vec::new();
        for _side in 0..2 {
            for &d in &s {
                // Crop at most half a dim so that something is kept.
                pads.push(rng.random_range(-((d as i64) / 2)..4));
            }
        }
        let op = Op::Pad(Pad { mode, pads });
        check(op.clone(), &[&x], 1);
        if mode == PadMode::Constant {
            let value = random(&mut rng, dtype, &[]);
            check(op, &[&x, &value], 1);
        }
    }
}

#[test]
fn depth_and_space() {
    let mut rng = rng(6);
    for dtype in [DType::F32, DType::U8, DType::F16, DType::I64] {
        let x = random(&mut rng, dtype, &[2, 8, 3, 2]);
        for crd in [false, true] {
            check(
                Op::DepthToSpace(DepthToSpace { blocksize: 2, crd }),
                &[&x],
                1,
            );
        }
        let x = random(&mut rng, dtype, &[1, 3, 4, 6]);
        check(Op::SpaceToDepth(SpaceToDepth { blocksize: 2 }), &[&x], 1);
    }
}

#[test]
fn gathers_with_negative_indices() {
    let mut rng = rng(7);
    for round in 0..40 {
        let dtype = ALL_DTYPES[round % ALL_DTYPES.len()];
        let rank = rng.random_range(1..4);
        let s = shape(&mut rng, rank, 5);
        let axis = rng.random_range(0..rank);
        let x = random(&mut rng, dtype, &s);
        let len = s[axis] as i64;
        let index_rank = rng.random_range(0..3);
        let index_shape = shape(&mut rng, index_rank, 3);
        let n: usize = index_shape.iter().product();
        let values: Vec<i64> = (0..n).map(|_| rng.random_range(-len..len)).collect();
        let index_dtype = if round % 2 == 0 {
            DType::I64
        } else {
            DType::I32
        };
        let indices = Tensor::from_i64_values(index_dtype, index_shape, &values).unwrap();
        check(Op::Gather(Gather { axis }), &[&x, &indices], 1);
        // GatherElements: indices as big as the data outside the axis.
        let mut es = s.clone();
        es[axis] = rng.random_range(1..4);
        let m: usize = es.iter().product();
        let values: Vec<i64> = (0..m).map(|_| rng.random_range(-len..len)).collect();
        let indices = Tensor::from_i64_values(index_dtype, es, &values).unwrap();
        check(
            Op::GatherElements(GatherElements { axis }),
            &[&x, &indices],
            1,
        );
    }
}

#[test]
fn out_of_range_index_fails_the_kernel() {
    let x = Tensor::from_vec(vec![2, 3], vec![1.0f32, 2., 3., 4., 5., 6.]).unwrap();
    for (op, bad) in [
        (Op::Gather(Gather { axis: 1 }), vec![0i64, 3]),
        (Op::Gather(Gather { axis: 1 }), vec![-4, 0]),
        (
            Op::GatherElements(GatherElements { axis: 0 }),
            vec![0, 1, 2, 0, 0, 0],
        ),
    ] {
        let shape = if matches!(op, Op::Gather(_)) {
            vec![2]
        } else {
            vec![2, 3]
        };
        let indices = Tensor::from_vec(shape, bad).unwrap();
        // The graph is built with in-range indices' types; only the values differ.
        let graph = single_node_graph(op, &[Some(&x), Some(&indices)], &[], 1);
        let (_, node) = graph.nodes().next().unwrap();
        let kernel = super::super::lower_node(&graph, node, &test_target()).unwrap();
        let out = graph.value(node.outputs[0]).ty.bytes();
        let mut buffers = vec![x.bytes().to_vec(), indices.bytes().to_vec(), vec![0; out]];
        assert_eq!(interp::run(&kernel, &mut buffers).unwrap(), 2);
    }
}

#[test]
fn values_known_at_compile_time() {
    let mut rng = rng(8);
    let x = random(&mut rng, DType::F32, &[2, 3, 4]);
    check(
        Op::Shape(Shape {
            start: 0,
            end: None,
        }),
        &[&x],
        1,
    );
    check(
        Op::Shape(Shape {
            start: -2,
            end: Some(-1),
        }),
        &[&x],
        1,
    );
    check(Op::Size, &[&x], 1);
    let dims = Tensor::from_vec(vec![3], vec![2i64, 5, 3]).unwrap();
    for value in [
        Tensor::scalar(1.5f32),
        Tensor::scalar(7i64),
        Tensor::scalar(true),
    ] {
        let op = Op::ConstantOfShape(ConstantOfShape { value });
        check_op(op, &[Some(&dims)], &[0], 1, 0.0, 0.0);
    }
    let range = [
        Tensor::scalar(3i32),
        Tensor::scalar(40i32),
        Tensor::scalar(3i32),
    ];
    check_op(
        Op::Range,
        &[Some(&range[0]), Some(&range[1]), Some(&range[2])],
        &[0, 1, 2],
        1,
        0.0,
        0.0,
    );
    let range = [
        Tensor::scalar(1.0f32),
        Tensor::scalar(-2.0f32),
        Tensor::scalar(-0.25f32),
    ];
    check_op(
        Op::Range,
        &[Some(&range[0]), Some(&range[1]), Some(&range[2])],
        &[0, 1, 2],
        1,
        0.0,
        0.0,
    );
}

/// Patch-splitting transposes (a 2 x 2 downsampling's `[n, c, h, kh, w,
/// kw] -> [n, h, w, c, kh, kw]`) whose innermost runs are written out (one
/// to four accesses) or looped over, in every element width.
#[test]
fn patch_splits_with_short_runs() {
    let mut rng = rng(5);
    for dtype in [DType::F32, DType::U8, DType::F16, DType::I64] {
        for kw in [1, 2, 3, 5, 9, 17] {
            let x = random(&mut rng, dtype, &[1, 3, 2, 2, 3, kw]);
            let perm = vec![0, 2, 4, 1, 3, 5];
            check(Op::Transpose(Transpose { perm }), &[&x], 1);
        }
    }
}

/// Transposes of the last two axes (a patch product `[n, h * w, c]` back to
/// `[n, c, h * w]`), which 4-byte elements copy in 4 x 4 blocks: extents from
/// one block to several with every edge, against the reference, in every
/// element width.
#[test]
fn transposed_pairs_in_blocks() {
    let mut rng = rng(7);
    for dtype in [DType::F32, DType::I32, DType::U8, DType::F16, DType::I64] {
        for (rows, cols) in [(4, 4), (5, 4), (4, 7), (9, 13), (3, 8), (16, 2)] {
            let x = random(&mut rng, dtype, &[2, rows, cols]);
            check(
                Op::Transpose(Transpose {
                    perm: vec![0, 2, 1],
                }),
                &[&x],
                1,
            );
            let x = random(&mut rng, dtype, &[rows, 3, cols]);
            check(
                Op::Transpose(Transpose {
                    perm: vec![2, 1, 0],
                }),
                &[&x],
                1,
            );
        }
    }
}
