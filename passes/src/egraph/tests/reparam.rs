use nnc_ir::Op;
use nnc_ir::ops::{Binary, Pad, PadMode, Unary};
use rand::Rng;

use super::{Builder, count, optimise, optimise_checked};
use crate::egraph::EgraphOptions;

/// Conv -> BN, over random shapes, strides, groups and bias presence.
#[test]
fn batchnorm_folds_into_the_preceding_conv() {
    for seed in 0..8 {
        let mut b = Builder::new(seed);
        let c = b.rng.random_range(1..5) * 2;
        let out = b.rng.random_range(1..4) * 2;
        let k = if seed % 2 == 0 { 3 } else { 1 };
        let p = k / 2;
        let group = if seed % 3 == 0 { 2 } else { 1 };
        let stride = 1 + (seed as usize % 2);
        let bias = seed % 4 < 2;
        let x = b.input(&[1, c, 7, 6]);
        let y = b.conv(x, out, [k, k], [p, p, p, p], stride, group, bias);
        let z = b.bn(y);
        let (g, mut rng) = b.finish(vec![z]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(count(&out, "BatchNormalization"), 0, "seed {seed}\n{out}");
        assert_eq!(count(&out, "Conv"), 1);
        assert_eq!(report.kernels_after, 1);
        assert!(report.rewrites["bn-to-scale-shift"] >= 1);
        assert!(report.rewrites["mul-into-conv"] >= 1);
    }
}

/// Conv -> Mul by a per-channel constant -> Add of a per-channel constant.
#[test]
fn per_channel_scale_and_shift_fold_into_the_conv() {
    for seed in 0..6 {
        let mut b = Builder::new(seed);
        let c = b.rng.random_range(1..6);
        let x = b.input(&[1, 3, 5, 5]);
        let y = b.conv(x, c, [3, 3], [1, 1, 1, 1], 1, 1, seed % 2 == 0);
        let s = if seed % 3 == 0 {
            b.weight(&[1], 0.5, 2.0)
        } else {
            b.weight(&[c, 1, 1], 0.5, 2.0)
        };
        let t = b.weight(&[1, c, 1, 1], -1.0, 1.0);
        let m = b.binary(Binary::Mul, s, y);
        let z = b.binary(Binary::Add, m, t);
        let (g, mut rng) = b.finish(vec![z]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(report.kernels_after, 1, "seed {seed}\n{out}");
        assert_eq!(count(&out, "Conv"), 1);
    }
}

/// A RepVGG block: 3x3 + BN, 1x1 + BN and an identity BN, summed; with groups
/// (dense or depthwise) and strides drawn at random. With stride 2 there is no
/// identity branch.
#[test]
fn repvgg_branches_merge_into_one_conv() {
    for seed in 0..8 {
        let mut b = Builder::new(seed);
        let c = b.rng.random_range(1..5) * 2;
        let group = if seed % 2 == 0 { 1 } else { c };
        let stride = if seed % 4 == 3 { 2 } else { 1 };
        let x = b.input(&[1, c, 6, 7]);
        let k3 = b.conv(x, c, [3, 3], [1, 1, 1, 1], stride, group, false);
        let k3 = b.bn(k3);
        let k1 = b.conv(x, c, [1, 1], [0, 0, 0, 0], stride, group, false);
        let k1 = b.bn(k1);
        let mut sum = b.binary(Binary::Add, k1, k3);
        if stride == 1 {
            let id = b.bn(x);
            sum = b.binary(Binary::Add, sum, id);
        }
        let y = b.node(Op::Unary(Unary::Relu), &[Some(sum)]);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(count(&out, "Conv"), 1, "seed {seed}\n{out}");
        assert_eq!(count(&out, "Add"), 0);
        assert_eq!(count(&out, "BatchNormalization"), 0);
        // The merged conv with its ReLU fused.
        assert_eq!(report.kernels_after, 1);
        assert!(report.rewrites["merge-parallel-convs"] >= 1);
        if stride == 1 {
            assert!(report.rewrites["identity-into-conv"] >= 1);
        }
    }
}

/// A MobileOne block: k over-parameterised 3x3 branches and a 1x1 scale branch,
/// each with BN, an identity BN and a constant added, depthwise or dense.
#[test]
fn mobileone_branches_merge_into_one_conv() {
    for seed in 0..6 {
        let mut b = Builder::new(seed);
        let c = b.rng.random_range(1..4) * 2;
        let group = if seed % 2 == 0 { c } else { 1 };
        let branches = b.rng.random_range(1..5);
        let x = b.input(&[1, c, 5, 5]);
        let scale = b.conv(x, c, [1, 1], [0, 0, 0, 0], 1, group, false);
        let mut sum = b.bn(scale);
        let konst = b.weight(&[1, c, 1, 1], -0.1, 0.1);
        for k in 0..branches {
            let y = b.conv(x, c, [3, 3], [1, 1, 1, 1], 1, group, false);
            let y = b.bn(y);
            sum = b.binary(Binary::Add, sum, y);
            if k == 0 {
                sum = b.binary(Binary::Add, sum, konst);
            }
        }
        let id = b.bn(x);
        sum = b.binary(Binary::Add, sum, id);
        let (g, mut rng) = b.finish(vec![sum]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(
            report.kernels_after, 1,
            "seed {seed}, {branches} branches\n{out}"
        );
        assert_eq!(count(&out, "Conv"), 1);
    }
}

/// ACNet: 1x3 + 3x1 + 3x3 with their own paddings merge into one 3x3.
#[test]
fn asymmetric_kernels_merge_into_the_square_one() {
    for seed in 0..4 {
        let mut b = Builder::new(seed);
        let x = b.input(&[1, 3, 6, 6]);
        let a = b.conv(x, 4, [1, 3], [0, 1, 0, 1], 1, 1, true);
        let v = b.conv(x, 4, [3, 1], [1, 0, 1, 0], 1, 1, false);
        let s = b.conv(x, 4, [3, 3], [1, 1, 1, 1], 1, 1, true);
        let (a, v, s) = (b.bn(a), b.bn(v), b.bn(s));
        let av = b.binary(Binary::Add, a, v);
        let y = b.binary(Binary::Add, av, s);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, _) = optimise(&g, &mut rng);
        assert_eq!(count(&out, "Conv"), 1, "{out}");
        assert_eq!(count(&out, "Add"), 0);
    }
}

/// Branches that cannot be one conv stay apart: different inputs, and a dilated
/// kernel next to a dense one.
#[test]
fn branches_that_cannot_merge_stay_apart() {
    let mut b = Builder::new(1);
    let x = b.input(&[1, 4, 6, 6]);
    let x2 = b.input(&[1, 4, 6, 6]);
    let p = b.conv(x, 4, [3, 3], [1, 1, 1, 1], 1, 1, false);
    let q = b.conv(x2, 4, [1, 1], [0, 0, 0, 0], 1, 1, false);
    let y = b.binary(Binary::Add, p, q);
    let w = b.weight(&[4, 4, 3, 3], -1.0, 1.0);
    let dilated = nnc_ir::ops::Conv {
        kernel_shape: vec![3, 3],
        strides: vec![1, 1],
        pads: vec![2, 2, 2, 2],
        dilations: vec![2, 2],
        group: 1,
    };
    let r = b.node(Op::Conv(dilated), &[Some(x), Some(w), None]);
    let s = b.conv(x, 4, [3, 3], [1, 1, 1, 1], 1, 1, false);
    let z = b.binary(Binary::Add, r, s);
    let (g, mut rng) = b.finish(vec![y, z]);
    let (out, _) = optimise(&g, &mut rng);
    assert_eq!(count(&out, "Conv"), 4, "{out}");
    assert_eq!(count(&out, "Add"), 2);
}

/// A zero Pad before a conv becomes the conv's own padding.
#[test]
fn zero_pad_folds_into_the_conv() {
    for seed in 0..4 {
        let mut b = Builder::new(seed);
        let x = b.input(&[1, 2, 5, 6]);
        let t = b.rng.random_range(0..3) as i64;
        let l = b.rng.random_range(0..3) as i64;
        let pad = Pad {
            mode: PadMode::Constant,
            pads: vec![0, 0, t, l, 0, 0, 1, 2],
        };
        let p = b.node(Op::Pad(pad), &[Some(x)]);
        let y = b.conv(p, 3, [3, 3], [1, 0, 0, 1], 1, 1, true);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(count(&out, "Pad"), 0, "{out}");
        assert_eq!(report.rewrites["pad-into-conv"], 1);
    }
}

/// A reflect pad is not zeros: it stays.
#[test]
fn reflect_pad_stays() {
    let mut b = Builder::new(3);
    let x = b.input(&[1, 2, 5, 6]);
    let pad = Pad {
        mode: PadMode::Reflect,
        pads: vec![0, 0, 1, 1, 0, 0, 1, 1],
    };
    let p = b.node(Op::Pad(pad), &[Some(x)]);
    let y = b.conv(p, 3, [3, 3], [0, 0, 0, 0], 1, 1, true);
    let (g, mut rng) = b.finish(vec![y]);
    let (out, _) = optimise(&g, &mut rng);
    assert_eq!(count(&out, "Pad"), 1);
}

/// `--disable-rules`: without branch merging, the branches stay.
#[test]
fn a_disabled_rule_does_not_fire() {
    let mut b = Builder::new(5);
    let x = b.input(&[1, 4, 6, 6]);
    let p = b.conv(x, 4, [3, 3], [1, 1, 1, 1], 1, 1, false);
    let q = b.conv(x, 4, [1, 1], [0, 0, 0, 0], 1, 1, false);
    let y = b.binary(Binary::Add, p, q);
    let (g, mut rng) = b.finish(vec![y]);
    let options = EgraphOptions {
        disabled_rules: vec!["merge-parallel-convs".into()],
        ..EgraphOptions::default()
    };
    let (out, report) = optimise_checked(&g, &mut rng, &options);
    assert_eq!(count(&out, "Conv"), 2);
    assert!(!report.rewrites.contains_key("merge-parallel-convs"));
}
