//! What fuses and what must not, each graph evaluated before and after the pass.

use nnc_ir::ops::{Binary, Conv, Unary};
use nnc_ir::{DType, Tensor, TensorType, eval};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;

fn input(g: &mut Graph, name: &str, dtype: DType, shape: &[usize]) -> ValueId {
    g.add_input(name, TensorType::new(dtype, shape.to_vec()))
        .unwrap()
}

fn node(g: &mut Graph, name: &str, op: Op, inputs: &[ValueId]) -> ValueId {
    let inputs = inputs.iter().map(|&i| Some(i)).collect();
    g.add_node(name, op, inputs, vec![format!("{name}.out")])
        .unwrap()[0]
}

fn random(rng: &mut StdRng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect();
    Tensor::from_vec(shape.to_vec(), v).unwrap()
}

fn conv3x3() -> Op {
    Op::Conv(Conv {
        kernel_shape: vec![3, 3],
        strides: vec![],
        pads: vec![1, 1, 1, 1],
        dilations: vec![],
        group: 1,
    })
}

/// A 3x3 conv of `x` (1x4x6x6) to 5 channels with a bias.
fn conv(g: &mut Graph, rng: &mut StdRng, name: &str, x: ValueId) -> ValueId {
    let w = g
        .add_const(format!("{name}.w"), random(rng, &[5, 4, 3, 3]))
        .unwrap();
    let b = g.add_const(format!("{name}.b"), random(rng, &[5])).unwrap();
    node(g, name, conv3x3(), &[x, w, b])
}

/// Runs the pass, checks the graph, compares outputs on random inputs (exactly)
/// and returns the op labels after it.
fn fuse(g: &Graph, rng: &mut StdRng) -> Vec<String> {
    fuse_within(g, rng, 0.0)
}

/// [`fuse`], outputs within `tolerance` (relative, plus absolute).
fn fuse_within(g: &Graph, rng: &mut StdRng, tolerance: f64) -> Vec<String> {
    let fused = fuse_epilogues(g).unwrap();
    nnc_ir::verify(&fused).unwrap();
    let inputs: Vec<Tensor> = g
        .inputs()
        .iter()
        .map(|&i| {
            let ty = &g.value(i).ty;
            match ty.dtype {
                DType::F32 => random(rng, &ty.shape),
                _ => Tensor::from_vec(ty.shape.clone(), vec![3i32; ty.len()]).unwrap(),
            }
        })
        .collect();
    let (want, got) = (
        eval::run(g, &inputs).unwrap(),
        eval::run(&fused, &inputs).unwrap(),
    );
    assert_eq!(want.len(), got.len());
    for (w, o) in want.iter().zip(&got) {
        assert_eq!(w.shape(), o.shape());
        for (a, b) in w.to_f64_vec().into_iter().zip(o.to_f64_vec()) {
            assert!((a - b).abs() <= tolerance * (1.0 + a.abs()), "{a} vs {b}");
        }
    }
    let names = |g: &Graph| -> Vec<String> {
        g.outputs()
            .iter()
            .map(|&o| g.value(o).name.clone())
            .collect()
    };
    assert_eq!(names(g), names(&fused), "graph outputs keep their names");
    fused.nodes().map(|(_, n)| n.op.label()).collect()
}

#[test]
fn conv_absorbs_residual_add_and_relu() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut g = Graph::new("block");
    let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
    let skip = input(&mut g, "skip", DType::F32, &[1, 5, 6, 6]);
    let c = conv(&mut g, &mut rng, "conv", x);
    let a = node(&mut g, "add", Op::Binary(Binary::Add), &[skip, c]);
    let r = node(&mut g, "relu", Op::Unary(Unary::Relu), &[a]);
    g.set_outputs(vec![r]);
    assert_eq!(fuse(&g, &mut rng), ["Conv+Add+Relu"]);
}

#[test]
fn sigmoid_times_input_is_one_silu_gate() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut g = Graph::new("silu");
    let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
    let c = conv(&mut g, &mut rng, "conv", x);
    let s = node(&mut g, "sigmoid", Op::Unary(Unary::Sigmoid), &[c]);
    let m = node(&mut g, "mul", Op::Binary(Binary::Mul), &[s, c]);
    let six = g.add_const("six", Tensor::scalar(6.0f32)).unwrap();
    let zero = g.add_const("zero", Tensor::scalar(0.0f32)).unwrap();
    let clip = node(&mut g, "relu6", Op::Clip, &[m, zero, six]);
    g.set_outputs(vec![clip]);
    assert_eq!(fuse(&g, &mut rng), ["Conv+SiLU+Clip"]);
}

#[test]
fn matmul_absorbs_bias_and_gelu_per_column() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut g = Graph::new("mlp");
    let x = input(&mut g, "x", DType::F32, &[2, 3, 8]);
    let w = g.add_const("w", random(&mut rng, &[8, 7])).unwrap();
    let bias = g.add_const("bias", random(&mut rng, &[7])).unwrap();
    let y = node(&mut g, "fc", Op::MatMul, &[x, w]);
    let a = node(&mut g, "bias", Op::Binary(Binary::Add), &[y, bias]);
    let gelu = Op::Unary(Unary::Gelu {
        tanh_approximation: false,
    });
    let z = node(&mut g, "gelu", gelu, &[a]);
    g.set_outputs(vec![z]);
    assert_eq!(fuse(&g, &mut rng), ["MatMul+Add+Gelu"]);
}

#[test]
fn a_value_read_twice_or_exposed_stays_unfused() {
    let mut rng = StdRng::seed_from_u64(4);
    // Two consumers.
    let mut g = Graph::new("fork");
    let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
    let c = conv(&mut g, &mut rng, "conv", x);
    let r = node(&mut g, "relu", Op::Unary(Unary::Relu), &[c]);
    let t = node(&mut g, "tanh", Op::Unary(Unary::Tanh), &[c]);
    g.set_outputs(vec![r, t]);
    assert_eq!(fuse(&g, &mut rng), ["Conv", "Relu", "Tanh"]);

    // The conv output is a graph output: the activation after it stays separate.
    let mut g = Graph::new("exposed");
    let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
    let c = conv(&mut g, &mut rng, "conv", x);
    let r = node(&mut g, "relu", Op::Unary(Unary::Relu), &[c]);
    g.set_outputs(vec![c, r]);
    assert_eq!(fuse(&g, &mut rng), ["Conv", "Relu"]);

    // The activation's output may be a graph output (it keeps its name).
    let mut g = Graph::new("last");
    let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
    let c = conv(&mut g, &mut rng, "conv", x);
    let r = node(&mut g, "relu", Op::Unary(Unary::Relu), &[c]);
    let t = node(&mut g, "tanh", Op::Unary(Unary::Tanh), &[r]);
    g.set_outputs(vec![r, t]);
    assert_eq!(fuse(&g, &mut rng), ["Conv+Relu", "Tanh"]);

    // Sigmoid's output also read elsewhere: no gate.
    let mut g = Graph::new("shared-gate");
    let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
    let c = conv(&mut g, &mut rng, "conv", x);
    let s = node(&mut g, "sigmoid", Op::Unary(Unary::Sigmoid), &[c]);
    let m = node(&mut g, "mul", Op::Binary(Binary::Mul), &[c, s]);
    g.set_outputs(vec![m, s]);
    assert_eq!(fuse(&g, &mut rng), ["Conv", "Sigmoid", "Mul"]);
}

#[test]
fn operands_that_broadcast_the_output_or_are_unreadable_stay_unfused() {
    let mut rng = StdRng::seed_from_u64(5);
    // The residual broadcasts the conv output to a batch of 2: the Add grows it.
    let mut g = Graph::new("grow");
    let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
    let big = input(&mut g, "big", DType::F32, &[2, 5, 6, 6]);
    let c = conv(&mut g, &mut rng, "conv", x);
    let a = node(&mut g, "add", Op::Binary(Binary::Add), &[c, big]);
    g.set_outputs(vec![a]);
    assert_eq!(fuse(&g, &mut rng), ["Conv", "Add"]);

    // Along the width only: not one of the forms a fused kernel reads.
    let mut g = Graph::new("row");
    let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
    let row = input(&mut g, "row", DType::F32, &[6]);
    let c = conv(&mut g, &mut rng, "conv", x);
    let a = node(&mut g, "mul", Op::Binary(Binary::Mul), &[c, row]);
    g.set_outputs(vec![a]);
    assert_eq!(fuse(&g, &mut rng), ["Conv", "Mul"]);

    // Per channel and scalar operands fuse.
    let mut g = Graph::new("affine");
    let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
    let scale = g.add_const("scale", random(&mut rng, &[5, 1, 1])).unwrap();
    let half = g.add_const("half", Tensor::scalar(0.5f32)).unwrap();
    let c = conv(&mut g, &mut rng, "conv", x);
    let m = node(&mut g, "mul", Op::Binary(Binary::Mul), &[c, scale]);
    let d = node(&mut g, "sub", Op::Binary(Binary::Sub), &[half, m]);
    g.set_outputs(vec![d]);
    assert_eq!(fuse(&g, &mut rng), ["Conv+Mul+Sub"]);

    // Clip with bounds computed at run time: not fused.
    let mut g = Graph::new("dynamic-clip");
    let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
    let hi = input(&mut g, "hi", DType::F32, &[]);
    let c = conv(&mut g, &mut rng, "conv", x);
    let outs = g
        .add_node(
            "clip",
            Op::Clip,
            vec![Some(c), None, Some(hi)],
            vec!["y".into()],
        )
        .unwrap();
    g.set_outputs(outs);
    assert_eq!(fuse(&g, &mut rng), ["Conv", "Clip"]);
}

#[test]
fn integer_products_stay_unfused() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut g = Graph::new("int");
    let a = input(&mut g, "a", DType::I32, &[3, 4]);
    let b = input(&mut g, "b", DType::I32, &[4, 2]);
    let y = node(&mut g, "mm", Op::MatMul, &[a, b]);
    let r = node(&mut g, "relu", Op::Unary(Unary::Relu), &[y]);
    g.set_outputs(vec![r]);
    assert_eq!(fuse(&g, &mut rng), ["MatMul", "Relu"]);
}

#[test]
fn two_convs_meeting_at_an_add_fuse_it_once() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut g = Graph::new("meet");
    let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
    let c1 = conv(&mut g, &mut rng, "c1", x);
    let c2 = conv(&mut g, &mut rng, "c2", x);
    let a = node(&mut g, "add", Op::Binary(Binary::Add), &[c1, c2]);
    let r = node(&mut g, "relu", Op::Unary(Unary::Relu), &[a]);
    g.set_outputs(vec![r]);
    assert_eq!(fuse(&g, &mut rng), ["Conv", "Conv+Add+Relu"]);
}

/// GELU as PyTorch exports it before opset 20, in both association orders.
fn expanded_gelu(g: &mut Graph, v: ValueId, half_first: bool) -> ValueId {
    let sqrt2 = g.add_const(
        g.fresh_name("sqrt2"),
        Tensor::scalar(std::f32::consts::SQRT_2),
    );
    let one = g.add_const(g.fresh_name("one"), Tensor::scalar(1.0f32));
    let half = g.add_const(g.fresh_name("half"), Tensor::scalar(0.5f32));
    let (sqrt2, one, half) = (sqrt2.unwrap(), one.unwrap(), half.unwrap());
    let d = node(g, "div", Op::Binary(Binary::Div), &[v, sqrt2]);
    let e = node(g, "erf", Op::Unary(Unary::Erf), &[d]);
    let a = node(g, "add1", Op::Binary(Binary::Add), &[e, one]);
    if half_first {
        let h = node(g, "half", Op::Binary(Binary::Mul), &[half, a]);
        node(g, "gelu", Op::Binary(Binary::Mul), &[v, h])
    } else {
        let m = node(g, "xa", Op::Binary(Binary::Mul), &[a, v]);
        node(g, "gelu", Op::Binary(Binary::Mul), &[m, half])
    }
}

#[test]
fn expanded_gelu_is_one_step() {
    let mut rng = StdRng::seed_from_u64(8);
    for half_first in [true, false] {
        let mut g = Graph::new("gelu");
        let x = input(&mut g, "x", DType::F32, &[1, 4, 6, 6]);
        let c = conv(&mut g, &mut rng, "conv", x);
        let y = expanded_gelu(&mut g, c, half_first);
        g.set_outputs(vec![y]);
        assert_eq!(fuse_within(&g, &mut rng, 1e-6), ["Conv+Gelu"]);
    }
    // The same with 0.3 for 1/2: left alone.
    let mut wrong = Graph::new("wrong");
    let x = input(&mut wrong, "x", DType::F32, &[1, 4, 6, 6]);
    let c = conv(&mut wrong, &mut rng, "conv", x);
    let third = wrong.add_const("third", Tensor::scalar(0.3f32)).unwrap();
    let sqrt2 = wrong
        .add_const("sqrt2", Tensor::scalar(std::f32::consts::SQRT_2))
        .unwrap();
    let one = wrong.add_const("one", Tensor::scalar(1.0f32)).unwrap();
    let d = node(&mut wrong, "div", Op::Binary(Binary::Div), &[c, sqrt2]);
    let e = node(&mut wrong, "erf", Op::Unary(Unary::Erf), &[d]);
    let a = node(&mut wrong, "add1", Op::Binary(Binary::Add), &[e, one]);
    let h = node(&mut wrong, "third", Op::Binary(Binary::Mul), &[third, a]);
    let y = node(&mut wrong, "gelu", Op::Binary(Binary::Mul), &[c, h]);
    wrong.set_outputs(vec![y]);
    assert_eq!(
        fuse(&wrong, &mut rng),
        ["Conv", "Div", "Erf", "Add", "Mul", "Mul"]
    );
}
