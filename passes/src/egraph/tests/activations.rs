//! Activation patterns and algebra, on random shapes, checked against `ir::eval`
//! before and after.

use nnc_ir::Op;
use nnc_ir::ops::{Binary, Reduce, ReduceKind, Unary};
use rand::Rng;

use super::{Builder, count, optimise};

fn random_shape(b: &mut Builder) -> Vec<usize> {
    let rank = b.rng.random_range(1..4);
    (0..rank).map(|_| b.rng.random_range(1..6)).collect()
}

/// `x³` as the exporter wrote it: Pow, or two products.
fn cube(b: &mut Builder, x: nnc_ir::ValueId, form: u64) -> nnc_ir::ValueId {
    if form.is_multiple_of(2) {
        let three = b.scalar(3.0);
        b.binary(Binary::Pow, x, three)
    } else {
        let sq = b.binary(Binary::Mul, x, x);
        b.binary(Binary::Mul, x, sq)
    }
}

/// GELU's tanh form, in three associations of its outer product and two ways of
/// writing the cube: one Gelu(tanh).
#[test]
fn gelu_tanh_form_is_recognised() {
    for form in 0..6 {
        let mut b = Builder::new(form);
        let shape = random_shape(&mut b);
        let x = b.input(&shape);
        let x3 = cube(&mut b, x, form);
        let c = b.scalar(0.044715);
        let cx3 = b.binary(Binary::Mul, c, x3);
        let inner = b.binary(Binary::Add, x, cx3);
        let k = b.scalar((2.0 / std::f32::consts::PI).sqrt());
        let u = b.binary(Binary::Mul, inner, k);
        let t = b.node(Op::Unary(Unary::Tanh), &[Some(u)]);
        let one = b.scalar(1.0);
        let e = b.binary(Binary::Add, one, t);
        let half = b.scalar(0.5);
        let y = b.half_product(x, half, e, form);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(out.node_count(), 1, "form {form}\n{out}");
        assert_eq!(count(&out, "Gelu"), 1);
        assert_eq!(report.rewrites["gelu-tanh"], 1);
    }
}

/// A wrong cubic coefficient is not GELU.
#[test]
fn gelu_tanh_with_wrong_constant_is_left_alone() {
    let mut b = Builder::new(1);
    let x = b.input(&[3, 4]);
    let x3 = cube(&mut b, x, 0);
    let c = b.scalar(0.05);
    let cx3 = b.binary(Binary::Mul, c, x3);
    let inner = b.binary(Binary::Add, x, cx3);
    let k = b.scalar((2.0 / std::f32::consts::PI).sqrt());
    let u = b.binary(Binary::Mul, inner, k);
    let t = b.node(Op::Unary(Unary::Tanh), &[Some(u)]);
    let one = b.scalar(1.0);
    let e = b.binary(Binary::Add, one, t);
    let half = b.scalar(0.5);
    let h = b.binary(Binary::Mul, half, e);
    let y = b.binary(Binary::Mul, x, h);
    let (g, mut rng) = b.finish(vec![y]);
    let (out, _) = optimise(&g, &mut rng);
    assert_eq!(count(&out, "Gelu"), 0);
}

/// HardSwish as `x * relu6(x + 3) / 6`, `x * (relu6(x + 3) * 1/6)`,
/// `(x * relu6(x + 3)) * 1/6` and `x * HardSigmoid(x)`.
#[test]
fn hard_swish_forms_are_recognised() {
    for form in 0..4 {
        let mut b = Builder::new(form);
        let shape = random_shape(&mut b);
        let x = b.input(&shape);
        let (three, zero, six) = (b.scalar(3.0), b.scalar(0.0), b.scalar(6.0));
        let sixth = b.scalar(1.0 / 6.0);
        let s = b.binary(Binary::Add, x, three);
        let r = b.node(Op::Clip, &[Some(s), Some(zero), Some(six)]);
        let y = match form {
            0 => {
                let xr = b.binary(Binary::Mul, x, r);
                b.binary(Binary::Div, xr, six)
            }
            1 => {
                let h = b.binary(Binary::Mul, r, sixth);
                b.binary(Binary::Mul, x, h)
            }
            2 => {
                let xr = b.binary(Binary::Mul, r, x);
                b.binary(Binary::Mul, xr, sixth)
            }
            _ => {
                let hs = Unary::HardSigmoid {
                    alpha: 1.0 / 6.0,
                    beta: 0.5,
                };
                let h = b.node(Op::Unary(hs), &[Some(x)]);
                b.binary(Binary::Mul, h, x)
            }
        };
        let (g, mut rng) = b.finish(vec![y]);
        let (out, _) = optimise(&g, &mut rng);
        assert_eq!(out.node_count(), 1, "form {form}\n{out}");
        assert_eq!(count(&out, "HardSwish"), 1);
    }
}

/// relu6(x + 2) is not HardSwish's shift.
#[test]
fn hard_swish_with_wrong_shift_is_left_alone() {
    let mut b = Builder::new(2);
    let x = b.input(&[2, 5]);
    let (two, zero, six) = (b.scalar(2.0), b.scalar(0.0), b.scalar(6.0));
    let s = b.binary(Binary::Add, x, two);
    let r = b.node(Op::Clip, &[Some(s), Some(zero), Some(six)]);
    let xr = b.binary(Binary::Mul, x, r);
    let y = b.binary(Binary::Div, xr, six);
    let (g, mut rng) = b.finish(vec![y]);
    let (out, _) = optimise(&g, &mut rng);
    assert_eq!(count(&out, "HardSwish"), 0);
}

fn reduce(b: &mut Builder, kind: ReduceKind, x: nnc_ir::ValueId, axis: usize) -> nnc_ir::ValueId {
    let op = Op::Reduce(Reduce {
        kind,
        axes: vec![axis],
        keepdims: true,
    });
    b.node(op, &[Some(x)])
}

/// Softmax written out, with and without the max subtraction, along a random
/// axis: one Softmax.
#[test]
fn decomposed_softmax_is_recognised() {
    for seed in 0..6 {
        let mut b = Builder::new(seed);
        let shape = random_shape(&mut b);
        let axis = b.rng.random_range(0..shape.len());
        let x = b.input(&shape);
        let d = if seed % 2 == 0 {
            let m = reduce(&mut b, ReduceKind::Max, x, axis);
            b.binary(Binary::Sub, x, m)
        } else {
            x
        };
        let e = b.node(Op::Unary(Unary::Exp), &[Some(d)]);
        let s = reduce(&mut b, ReduceKind::Sum, e, axis);
        let y = b.binary(Binary::Div, e, s);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(out.node_count(), 1, "seed {seed}\n{out}");
        assert_eq!(count(&out, "Softmax"), 1);
        assert_eq!(report.rewrites["softmax"], 1);
    }
}

/// A max over another axis than the sum is not Softmax's shift.
#[test]
fn softmax_with_mismatched_axes_is_left_alone() {
    let mut b = Builder::new(4);
    let x = b.input(&[3, 4]);
    let m = reduce(&mut b, ReduceKind::Max, x, 0);
    let d = b.binary(Binary::Sub, x, m);
    let e = b.node(Op::Unary(Unary::Exp), &[Some(d)]);
    let s = reduce(&mut b, ReduceKind::Sum, e, 1);
    let y = b.binary(Binary::Div, e, s);
    let (g, mut rng) = b.finish(vec![y]);
    let (out, _) = optimise(&g, &mut rng);
    // Exp over x - max stays; the softmax found (if any) must be over x - max.
    assert_eq!(count(&out, "ReduceMax"), 1, "{out}");
}

/// Attention's scores: `(q * s) @ (k * s)` becomes one MatMul kernel with both
/// scales in its epilogue.
#[test]
fn scalar_factors_leave_the_matmul_and_fuse() {
    for seed in 0..4 {
        let mut b = Builder::new(seed);
        let (h, n, d) = (
            b.rng.random_range(1..4),
            b.rng.random_range(1..7),
            b.rng.random_range(1..7),
        );
        let q = b.input(&[1, h, n, d]);
        let k = b.input(&[1, h, d, n]);
        let scale = b.rng.random_range(0.1..1.0);
        let s = b.scalar(scale);
        let qs = b.binary(Binary::Mul, q, s);
        let ks = if seed % 2 == 0 {
            b.binary(Binary::Mul, k, s)
        } else {
            b.binary(Binary::Mul, s, k)
        };
        let y = b.node(Op::MatMul, &[Some(qs), Some(ks)]);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(report.kernels_after, 1, "seed {seed}\n{out}");
        assert!(report.rewrites["scalar-out-of-matmul"] >= 2);
    }
}

/// A transpose, an elementwise op and the inverse transpose: the op alone; with
/// a different second transpose, one composed transpose after the op.
#[test]
fn transposes_sink_through_elementwise_ops_and_cancel() {
    use nnc_ir::ops::Transpose;
    for seed in 0..6 {
        let mut b = Builder::new(seed);
        let x = b.input(&[2, 3, 4]);
        let p = Transpose {
            perm: vec![2, 0, 1],
        };
        let t = b.node(Op::Transpose(p), &[Some(x)]);
        let f = match seed % 3 {
            0 => b.node(Op::Unary(Unary::Relu), &[Some(t)]),
            1 => {
                let c = b.scalar(1.5);
                b.binary(Binary::Mul, c, t)
            }
            _ => {
                let c = b.scalar(-0.5);
                b.binary(Binary::Sub, t, c)
            }
        };
        let (q, transposes) = if seed < 3 {
            (vec![1, 2, 0], 0)
        } else {
            (vec![0, 2, 1], 1)
        };
        let y = b.node(Op::Transpose(Transpose { perm: q }), &[Some(f)]);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, _) = optimise(&g, &mut rng);
        assert_eq!(count(&out, "Transpose"), transposes, "seed {seed}\n{out}");
        assert_eq!(out.node_count(), 1 + transposes, "{out}");
    }
}

/// Identity nodes disappear (a graph output keeps its name).
#[test]
fn identities_disappear() {
    let mut b = Builder::new(0);
    let x = b.input(&[2, 3]);
    let i = b.node(Op::Identity, &[Some(x)]);
    let y = b.node(Op::Unary(Unary::Relu), &[Some(i)]);
    let (g, mut rng) = b.finish(vec![y]);
    let (out, _) = optimise(&g, &mut rng);
    assert_eq!(count(&out, "Identity"), 0, "{out}");
}
