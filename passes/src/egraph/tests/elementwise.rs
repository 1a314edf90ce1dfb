//! Elementwise chains: consecutive elementwise ops with no other users become one
//! `Fused` kernel anchored on the first op, checked against `ir::eval` on random
//! shapes, chains and operands that broadcast in every way; and the near misses
//! (an intermediate needed elsewhere, a step that widens the value by broadcast,
//! a shape-changing op in the chain) that must stay separate kernels.

use nnc_ir::ops::{Binary, Unary};
use nnc_ir::{Op, ValueId};
use rand::Rng;

use super::{Builder, fused_labels, optimise, optimise_checked};
use crate::egraph::EgraphOptions;

/// A random operand that broadcasts into `shape` (NCHW): full, per channel, per
/// row, a scalar, as an input or a weight.
fn operand(b: &mut Builder, shape: &[usize]) -> ValueId {
    let form: Vec<usize> = match b.rng.random_range(0..4) {
        0 => shape.to_vec(),
        1 => vec![shape[1], 1, 1],
        2 => vec![shape[3]],
        _ => vec![],
    };
    if b.rng.random_bool(0.5) {
        b.input(&form)
    } else {
        b.weight(&form, 0.5, 1.5)
    }
}

/// One random elementwise step on `v` (no op that can give NaN on inputs in
/// [-2, 2]: the comparison against `ir::eval` would not be meaningful).
fn step(b: &mut Builder, v: ValueId, shape: &[usize]) -> ValueId {
    match b.rng.random_range(0..9) {
        0 => b.node(Op::Unary(Unary::Relu), &[Some(v)]),
        1 => b.node(Op::Unary(Unary::Sigmoid), &[Some(v)]),
        2 => b.node(Op::Unary(Unary::Tanh), &[Some(v)]),
        3 => {
            let (lo, hi) = (b.scalar(-1.0), b.scalar(1.5));
            b.node(Op::Clip, &[Some(v), Some(lo), Some(hi)])
        }
        4 => {
            let s = b.node(Op::Unary(Unary::Sigmoid), &[Some(v)]);
            b.binary(Binary::Mul, v, s)
        }
        k => {
            let e = operand(b, shape);
            let op = [Binary::Add, Binary::Sub, Binary::Mul, Binary::Max][k - 5];
            if b.rng.random_bool(0.5) {
                b.binary(op, v, e)
            } else {
                b.binary(op, e, v)
            }
        }
    }
}

/// A random NCHW shape.
fn shape(b: &mut Builder) -> Vec<usize> {
    vec![
        b.rng.random_range(1..3),
        b.rng.random_range(1..6),
        b.rng.random_range(1..5),
        b.rng.random_range(1..9),
    ]
}

/// A chain of 2 to 6 random elementwise ops over an input: one kernel.
#[test]
fn random_chains_are_one_kernel() {
    for seed in 0..24 {
        let mut b = Builder::new(seed);
        let shape = shape(&mut b);
        let x = b.input(&shape);
        let y = operand(&mut b, &shape);
        let mut v = b.binary(Binary::Add, x, y);
        for _ in 0..b.rng.random_range(1..6) {
            v = step(&mut b, v, &shape);
        }
        let (g, mut rng) = b.finish(vec![v]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(
            report.kernels_after, 1,
            "seed {seed}\n{g}\n{out}\n{report:?}"
        );
        assert!(
            report.rewrites.keys().any(|r| r.starts_with("ew-")),
            "{:?}",
            report.rewrites
        );
    }
}

/// An intermediate that is also a graph output is computed once: the chain is
/// fused up to it and from it, not through it.
#[test]
fn intermediate_needed_elsewhere_splits_the_chain() {
    for seed in 0..8 {
        let mut b = Builder::new(seed);
        let shape = shape(&mut b);
        let x = b.input(&shape);
        let y = operand(&mut b, &shape);
        let a = b.binary(Binary::Add, x, y);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(a)]);
        let e = operand(&mut b, &shape);
        let m = b.binary(Binary::Mul, r, e);
        let t = b.node(Op::Unary(Unary::Tanh), &[Some(m)]);
        let (g, mut rng) = b.finish(vec![t, r]);
        let (out, _) = optimise(&g, &mut rng);
        assert_eq!(super::count(&out, "Add"), 1, "seed {seed}\n{out}");
        assert_eq!(super::count(&out, "Relu"), 1, "seed {seed}\n{out}");
        assert!(
            fused_labels(&out).contains(&"Add+Relu".to_string()),
            "{out}"
        );
    }
}

/// A step whose other operand is larger than the running value (the value is
/// broadcast, not kept) starts a new kernel; so does a Reshape in the chain.
#[test]
fn widening_steps_and_reshapes_are_not_fused() {
    for seed in 0..8 {
        let mut b = Builder::new(seed);
        let c = b.rng.random_range(2..5);
        let small = b.input(&[1, c, 1, 1]);
        let s = b.node(Op::Unary(Unary::Sigmoid), &[Some(small)]);
        let big = b.input(&[1, c, 3, 4]);
        let m = b.binary(Binary::Mul, big, s);
        let r = b.node(Op::Unary(Unary::Relu), &[Some(m)]);
        let flat = b.node(
            Op::Reshape(nnc_ir::ops::Reshape {
                shape: vec![1, c * 12],
            }),
            &[Some(r)],
        );
        let t = b.node(Op::Unary(Unary::Tanh), &[Some(flat)]);
        let (g, mut rng) = b.finish(vec![t]);
        let (out, _) = optimise(&g, &mut rng);
        let labels = fused_labels(&out);
        assert_eq!(labels, ["Mul+Relu"], "seed {seed}\n{out}");
        assert_eq!(super::count(&out, "Sigmoid"), 1, "{out}");
        assert_eq!(super::count(&out, "Tanh"), 1, "{out}");
    }
}

/// `--disable-rules elementwise` leaves every op a kernel of its own.
#[test]
fn elementwise_group_can_be_disabled() {
    let mut b = Builder::new(4);
    let x = b.input(&[1, 3, 4, 4]);
    let y = b.input(&[1, 3, 4, 4]);
    let a = b.binary(Binary::Add, x, y);
    let r = b.node(Op::Unary(Unary::Relu), &[Some(a)]);
    let (g, mut rng) = b.finish(vec![r]);
    let options = EgraphOptions {
        disabled_rules: vec!["elementwise".into()],
        ..EgraphOptions::default()
    };
    let (out, report) = optimise_checked(&g, &mut rng, &options);
    assert!(fused_labels(&out).is_empty(), "{out}{:?}", report.rewrites);
    assert_eq!(report.kernels_after, 2);
    assert!(!report.rewrites.keys().any(|r| r.starts_with("ew-")));
}
