//! Pad folded into pools and average pools as convolutions, over random shapes,
//! windows and pads; every result is checked against `ir::eval`.

use nnc_ir::Op;
use nnc_ir::ops::{Binary, Pad, PadMode, Pool, PoolKind, Unary};
use rand::Rng;

use super::{Builder, count, optimise};

fn pool(kind: PoolKind, k: usize, stride: usize, pads: [usize; 4]) -> Op {
    Op::Pool(Pool {
        kind,
        kernel_shape: vec![k, k],
        strides: vec![stride, stride],
        pads: pads.to_vec(),
        dilations: vec![1, 1],
        ceil_mode: false,
    })
}

fn pad(b: &mut Builder, x: nnc_ir::ValueId, p: [i64; 4], value: f32) -> nnc_ir::ValueId {
    let v = b.scalar(value);
    let op = Op::Pad(Pad {
        mode: PadMode::Constant,
        pads: vec![0, 0, p[0], p[1], 0, 0, p[2], p[3]],
    });
    b.node(op, &[Some(x), Some(v)])
}

/// MaxPool after a -inf Pad (how exporters write asymmetric "same" pooling).
#[test]
fn a_minus_infinity_pad_folds_into_maxpool() {
    for seed in 0..6 {
        let mut b = Builder::new(seed);
        let k = b.rng.random_range(2..4);
        let p = [0, 1, (k - 1) as i64, 0].map(|v: i64| v.min(k as i64 - 1));
        let x = b.input(&[1, 2, 7, 6]);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(x)]);
        let padded = pad(&mut b, r, p, f32::NEG_INFINITY);
        let y = b.node(
            pool(
                PoolKind::Max { storage_order: 0 },
                k,
                1 + seed as usize % 2,
                [0; 4],
            ),
            &[Some(padded)],
        );
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(count(&out, "Pad"), 0, "seed {seed}\n{out}");
        assert_eq!(report.rewrites["pad-into-maxpool"], 1);
    }
}

/// A zero Pad before an AveragePool folds only when the pool then divides by the
/// whole window: count_include_pad, or no pads of its own. A MaxPool after a
/// zero pad is left alone (zero is not -inf).
#[test]
fn a_zero_pad_folds_into_averagepool_only_when_exact() {
    for (seed, (include, own_pads, folds)) in [
        (false, [0; 4], true),
        (true, [1, 1, 1, 1], true),
        (false, [1, 0, 1, 0], false),
    ]
    .into_iter()
    .enumerate()
    {
        let mut b = Builder::new(seed as u64 + 10);
        let x = b.input(&[1, 3, 6, 6]);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(x)]);
        let padded = pad(&mut b, r, [1, 0, 0, 1], 0.0);
        let kind = PoolKind::Average {
            count_include_pad: include,
        };
        let y = b.node(pool(kind, 3, 1, own_pads), &[Some(padded)]);
        let (g, mut rng) = b.finish(vec![y]);
        let (_, report) = optimise(&g, &mut rng);
        assert_eq!(
            report.rewrites.contains_key("pad-into-avgpool"),
            folds,
            "case {seed}"
        );
    }
    let mut b = Builder::new(3);
    let x = b.input(&[1, 2, 5, 5]);
    let padded = pad(&mut b, x, [1, 1, 1, 1], 0.0);
    let y = b.node(
        pool(PoolKind::Max { storage_order: 0 }, 2, 1, [0; 4]),
        &[Some(padded)],
    );
    let (g, mut rng) = b.finish(vec![y]);
    let (_, report) = optimise(&g, &mut rng);
    assert!(!report.rewrites.contains_key("pad-into-maxpool"));
}

/// DBB's average-pool branch: depthwise 3x3 conv + 3x3 average pool (+ identity)
/// on the same input become one depthwise conv.
#[test]
fn an_average_pool_branch_merges_with_a_depthwise_conv() {
    for seed in 0..4 {
        let mut b = Builder::new(seed + 30);
        let c = b.rng.random_range(1..5);
        let x = b.input(&[1, c, 6, 5]);
        let stride = 1 + seed as usize % 2;
        let dw = b.conv(x, c, [3, 3], [1, 1, 1, 1], stride, c, seed % 2 == 0);
        let kind = PoolKind::Average {
            count_include_pad: true,
        };
        let avg = b.node(pool(kind, 3, stride, [1, 1, 1, 1]), &[Some(x)]);
        let y = b.binary(Binary::Add, dw, avg);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(count(&out, "Conv"), 1, "seed {seed}\n{out}");
        assert_eq!(count(&out, "AveragePool"), 0);
        assert_eq!(report.rewrites["avgpool-as-conv"], 1);
    }
}

/// DBB's average-pool branch beside a *dense* KxK conv of the same input (and
/// stride, pads): one dense conv. With count_include_pad off and pads on, the
/// pool does not divide by the whole window at the borders, so it stays.
#[test]
fn an_average_pool_branch_merges_with_a_dense_conv() {
    for seed in 0..12 {
        let mut b = Builder::new(seed + 60);
        let c = b.rng.random_range(1..5);
        let (h, w) = (b.rng.random_range(3..8), b.rng.random_range(3..8));
        let x = b.input(&[1, c, h, w]);
        let stride = 1 + seed as usize % 2;
        let padded = seed % 3 != 0;
        let pads = if padded { [1, 1, 1, 1] } else { [0; 4] };
        let near_miss = padded && seed % 4 == 1;
        let dense = b.conv(x, c, [3, 3], pads, stride, 1, seed % 2 == 0);
        let kind = PoolKind::Average {
            count_include_pad: !near_miss,
        };
        let avg = b.node(pool(kind, 3, stride, pads), &[Some(x)]);
        let y = if seed % 2 == 0 {
            b.binary(Binary::Add, dense, avg)
        } else {
            b.binary(Binary::Add, avg, dense)
        };
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        if near_miss {
            assert_eq!(count(&out, "AveragePool"), 1, "seed {seed}\n{out}");
        } else {
            assert_eq!(count(&out, "Conv"), 1, "seed {seed}\n{out}");
            assert_eq!(count(&out, "AveragePool"), 0, "{out}");
            // One channel: the pool's conv is dense already.
            assert!(
                c == 1 || report.rewrites.contains_key("depthwise-as-dense"),
                "seed {seed} {:?}\n{out}",
                report.rewrites
            );
        }
    }
}

/// A depthwise conv beside a dense conv that reads another input is left alone.
#[test]
fn a_depthwise_branch_over_another_input_stays() {
    let mut b = Builder::new(77);
    let x = b.input(&[1, 3, 5, 5]);
    let x2 = b.input(&[1, 3, 5, 5]);
    let dw = b.conv(x, 3, [3, 3], [1, 1, 1, 1], 1, 3, false);
    let dense = b.conv(x2, 3, [3, 3], [1, 1, 1, 1], 1, 1, false);
    let y = b.binary(Binary::Add, dw, dense);
    let (g, mut rng) = b.finish(vec![y]);
    let (out, report) = optimise(&g, &mut rng);
    assert_eq!(count(&out, "Conv"), 2, "{out}");
    assert!(!report.rewrites.contains_key("depthwise-as-dense"));
}
