use nnc_ir::Op;
use nnc_ir::ops::{Binary, Reshape, Transpose, Unary};

use super::{Builder, count, optimise};

/// GELU as exporters write it, in each association of its three factors.
#[test]
fn gelu_erf_form_is_recognised() {
    for form in 0..3 {
        let mut b = Builder::new(form);
        let x = b.input(&[2, 3, 5]);
        let sqrt2 = b.scalar(std::f32::consts::SQRT_2);
        let one = b.scalar(1.0);
        let half = b.scalar(0.5);
        let d = b.binary(Binary::Div, x, sqrt2);
        let e = b.node(Op::Unary(Unary::Erf), &[Some(d)]);
        let e = b.binary(Binary::Add, e, one);
        let y = b.half_product(x, half, e, form);
        let (g, mut rng) = b.finish(vec![y]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(count(&out, "Gelu"), 1, "form {form}\n{out}");
        assert_eq!(out.node_count(), 1);
        assert_eq!(report.rewrites["gelu-erf"], 1);
    }
}

/// A near miss (0.6 instead of 0.5) is not GELU.
#[test]
fn gelu_with_wrong_constants_is_left_alone() {
    let mut b = Builder::new(9);
    let x = b.input(&[4, 5]);
    let sqrt2 = b.scalar(std::f32::consts::SQRT_2);
    let one = b.scalar(1.0);
    let not_half = b.scalar(0.6);
    let d = b.binary(Binary::Div, x, sqrt2);
    let e = b.node(Op::Unary(Unary::Erf), &[Some(d)]);
    let e = b.binary(Binary::Add, e, one);
    let h = b.binary(Binary::Mul, not_half, e);
    let y = b.binary(Binary::Mul, x, h);
    let (g, mut rng) = b.finish(vec![y]);
    let (out, _) = optimise(&g, &mut rng);
    assert_eq!(count(&out, "Gelu"), 0);
}

/// Transposes that cancel disappear; others compose into one.
#[test]
fn transpose_chains_collapse() {
    let mut b = Builder::new(2);
    let x = b.input(&[2, 3, 4]);
    let t = |perm: &[usize]| {
        Op::Transpose(Transpose {
            perm: perm.to_vec(),
        })
    };
    let a = b.node(t(&[0, 2, 1]), &[Some(x)]);
    let back = b.node(t(&[0, 2, 1]), &[Some(a)]);
    let r = b.node(Op::Unary(Unary::Relu), &[Some(back)]);
    let c = b.node(t(&[2, 0, 1]), &[Some(x)]);
    let d = b.node(t(&[1, 0, 2]), &[Some(c)]);
    let s = b.node(Op::Unary(Unary::Relu), &[Some(d)]);
    let (g, mut rng) = b.finish(vec![r, s]);
    let (out, _) = optimise(&g, &mut rng);
    assert_eq!(count(&out, "Transpose"), 1, "{out}");
}

/// Reshape of a reshape is one reshape (or none when it comes back).
#[test]
fn reshape_chains_collapse() {
    let mut b = Builder::new(4);
    let x = b.input(&[2, 3, 4]);
    let r = |shape: &[usize]| {
        Op::Reshape(Reshape {
            shape: shape.to_vec(),
        })
    };
    let a = b.node(r(&[6, 4]), &[Some(x)]);
    let c = b.node(r(&[24]), &[Some(a)]);
    let y = b.node(Op::Unary(Unary::Relu), &[Some(c)]);
    let (g, mut rng) = b.finish(vec![y]);
    let (out, _) = optimise(&g, &mut rng);
    assert_eq!(count(&out, "Reshape"), 1, "{out}");
}
