//! Op conversions across opset versions, checked by evaluating the imported graph
//! with the reference evaluator on hand-computed cases.

mod support;

use std::path::Path;

use bytes::Bytes;
use nnc_frontend::proto::AttributeProto;
use nnc_frontend::{ImportOptions, load_bytes};
use nnc_ir::Tensor;
use support::*;

fn run(model: ModelBuilder, inputs: Vec<Tensor>) -> Vec<Tensor> {
    let loaded = load_bytes(
        Bytes::from(model.encode()),
        Path::new("m.onnx"),
        &ImportOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    nnc_ir::verify(&loaded.graph).unwrap();
    nnc_ir::eval::run(&loaded.graph, &inputs).unwrap_or_else(|e| panic!("{e}"))
}

fn floats(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().unwrap()
}

fn vector(values: &[f32]) -> Tensor {
    Tensor::from_vec(vec![values.len()], values.to_vec()).unwrap()
}

/// One node `op` over input x (dims) with attributes, output y.
fn unary_model(opset: i64, op: &str, dims: &[i64], attrs: Vec<AttributeProto>) -> ModelBuilder {
    let mut n = node(op, "n", &["x"], &["y"]);
    n.attribute = attrs;
    ModelBuilder::new(opset)
        .input("x", dims)
        .node(n)
        .output("y")
}

#[test]
fn clip_bounds_are_attributes_before_11_and_inputs_after() {
    let x = vector(&[-1.0, 3.0, 8.0]);
    let old = unary_model(
        7,
        "Clip",
        &[3],
        vec![attr_float("min", 0.0), attr_float("max", 6.0)],
    );
    assert_eq!(floats(&run(old, vec![x.clone()])[0]), [0.0, 3.0, 6.0]);

    let new = ModelBuilder::new(13)
        .input("x", &[3])
        .initializer(f32_tensor("lo", &[], &[0.0]))
        .initializer(f32_tensor("hi", &[], &[6.0]))
        .node(node("Clip", "clip", &["x", "lo", "hi"], &["y"]))
        .output("y");
    assert_eq!(floats(&run(new, vec![x.clone()])[0]), [0.0, 3.0, 6.0]);

    let only_max = ModelBuilder::new(13)
        .input("x", &[3])
        .initializer(f32_tensor("hi", &[], &[6.0]))
        .node(node("Clip", "clip", &["x", "", "hi"], &["y"]))
        .output("y");
    assert_eq!(floats(&run(only_max, vec![x])[0]), [-1.0, 3.0, 6.0]);
}

#[test]
fn old_softmax_coerces_to_2d() {
    // Opset 11, axis 1 on [1, 2, 2]: one softmax over all four elements.
    let x = Tensor::from_vec(vec![1, 2, 2], vec![0.0f32, 1.0, 2.0, 3.0]).unwrap();
    let y = floats(
        &run(
            unary_model(11, "Softmax", &[1, 2, 2], vec![]),
            vec![x.clone()],
        )[0],
    );
    let total: f32 = [0.0f32, 1.0, 2.0, 3.0].iter().map(|v| v.exp()).sum();
    for (i, v) in y.iter().enumerate() {
        assert!((v - (i as f32).exp() / total).abs() < 1e-6, "{y:?}");
    }
    // Opset 13: along the last axis only.
    let y = floats(&run(unary_model(13, "Softmax", &[1, 2, 2], vec![]), vec![x])[0]);
    let pair = 1.0 / (1.0 + 1f32.exp());
    for (v, want) in y.iter().zip([pair, 1.0 - pair, pair, 1.0 - pair]) {
        assert!((v - want).abs() < 1e-6, "{y:?}");
    }
}

#[test]
fn squeeze_and_unsqueeze_axes_move_to_inputs_at_13() {
    let x = Tensor::from_vec(vec![1, 3, 1], vec![1.0f32, 2.0, 3.0]).unwrap();
    let old = unary_model(11, "Squeeze", &[1, 3, 1], vec![attr_ints("axes", &[0])]);
    assert_eq!(run(old, vec![x.clone()])[0].shape(), [3, 1]);

    let new = ModelBuilder::new(13)
        .input("x", &[1, 3, 1])
        .initializer(i64_tensor("axes", &[1], &[-1]))
        .node(node("Squeeze", "sq", &["x", "axes"], &["s"]))
        .node(node("Unsqueeze", "unsq", &["s", "axes"], &["y"]))
        .output("y");
    assert_eq!(run(new, vec![x.clone()])[0].shape(), [1, 3, 1]);

    let all = unary_model(13, "Squeeze", &[1, 3, 1], vec![]);
    assert_eq!(run(all, vec![x])[0].shape(), [3]);
}

#[test]
fn split_sizes_by_attribute_input_and_num_outputs() {
    let x = vector(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let three = ["a", "b", "c"];
    let mut old = node("Split", "split", &["x"], &three);
    old.attribute.push(attr_ints("split", &[1, 2, 4]));
    let model = three
        .iter()
        .fold(ModelBuilder::new(11).input("x", &[7]).node(old), |m, o| {
            m.output(o)
        });
    let out = run(model, vec![x.clone()]);
    assert_eq!(out.iter().map(Tensor::len).collect::<Vec<_>>(), [1, 2, 4]);

    let model = three.iter().fold(
        ModelBuilder::new(13)
            .input("x", &[7])
            .initializer(i64_tensor("sizes", &[3], &[4, 2, 1]))
            .node(node("Split", "split", &["x", "sizes"], &three)),
        |m, o| m.output(o),
    );
    let out = run(model, vec![x.clone()]);
    assert_eq!(out.iter().map(Tensor::len).collect::<Vec<_>>(), [4, 2, 1]);

    let mut even = node("Split", "split", &["x"], &three);
    even.attribute.push(attr_int("num_outputs", 3));
    let model = three
        .iter()
        .fold(ModelBuilder::new(18).input("x", &[7]).node(even), |m, o| {
            m.output(o)
        });
    let out = run(model, vec![x]);
    assert_eq!(out.iter().map(Tensor::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(floats(&out[2]), [6.0]);
}

#[test]
fn reduce_axes_attribute_then_input() {
    let x = Tensor::from_vec(vec![2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let old = unary_model(
        13,
        "ReduceMean",
        &[2, 2],
        vec![attr_ints("axes", &[1]), attr_int("keepdims", 0)],
    );
    assert_eq!(floats(&run(old, vec![x.clone()])[0]), [1.5, 3.5]);

    let sum = ModelBuilder::new(13)
        .input("x", &[2, 2])
        .initializer(i64_tensor("axes", &[1], &[0]))
        .node(node("ReduceSum", "sum", &["x", "axes"], &["y"]))
        .output("y");
    let y = &run(sum, vec![x.clone()])[0];
    assert_eq!((y.shape(), floats(y)), (&[1usize, 2][..], vec![4.0, 6.0]));

    let all = unary_model(18, "ReduceMax", &[2, 2], vec![attr_int("keepdims", 0)]);
    assert_eq!(floats(&run(all, vec![x.clone()])[0]), [4.0]);

    let noop = unary_model(
        18,
        "ReduceMax",
        &[2, 2],
        vec![attr_int("noop_with_empty_axes", 1)],
    );
    assert_eq!(floats(&run(noop, vec![x])[0]), [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn pad_and_slice_attribute_forms() {
    let x = vector(&[1.0, 2.0]);
    let pad = unary_model(
        7,
        "Pad",
        &[2],
        vec![attr_ints("pads", &[1, 2]), attr_float("value", 5.0)],
    );
    assert_eq!(floats(&run(pad, vec![x])[0]), [5.0, 1.0, 2.0, 5.0, 5.0]);

    let x = vector(&[0.0, 1.0, 2.0, 3.0, 4.0]);
    let slice = unary_model(
        9,
        "Slice",
        &[5],
        vec![attr_ints("starts", &[1]), attr_ints("ends", &[-1])],
    );
    assert_eq!(floats(&run(slice, vec![x.clone()])[0]), [1.0, 2.0, 3.0]);

    let slice = ModelBuilder::new(13)
        .input("x", &[5])
        .initializer(i64_tensor("starts", &[1], &[i64::MAX]))
        .initializer(i64_tensor("ends", &[1], &[i64::MIN]))
        .initializer(i64_tensor("axes", &[1], &[0]))
        .initializer(i64_tensor("steps", &[1], &[-2]))
        .node(node(
            "Slice",
            "s",
            &["x", "starts", "ends", "axes", "steps"],
            &["y"],
        ))
        .output("y");
    assert_eq!(floats(&run(slice, vec![x])[0]), [4.0, 2.0, 0.0]);
}

#[test]
fn dropout_is_identity_with_a_true_mask() {
    let model = ModelBuilder::new(13)
        .input("x", &[3])
        .node(node("Dropout", "drop", &["x"], &["y", "mask"]))
        .output("y")
        .output("mask");
    let out = run(model, vec![vector(&[1.0, -2.0, 3.0])]);
    assert_eq!(floats(&out[0]), [1.0, -2.0, 3.0]);
    assert_eq!(out[1].to_vec::<bool>().unwrap(), [true, true, true]);
}

#[test]
fn variadic_mean_and_max() {
    let model = ModelBuilder::new(13)
        .input("a", &[2])
        .input("b", &[2])
        .input("c", &[1])
        .node(node("Mean", "mean", &["a", "b", "c"], &["m"]))
        .node(node("Max", "max", &["a", "b", "c"], &["x"]))
        .output("m")
        .output("x");
    let out = run(
        model,
        vec![vector(&[1.0, 2.0]), vector(&[3.0, 4.0]), vector(&[5.0])],
    );
    assert_eq!(floats(&out[0]), [3.0, 11.0 / 3.0]);
    assert_eq!(floats(&out[1]), [5.0, 5.0]);
}

#[test]
fn constants_and_shape_arithmetic_resolve_reshape() {
    // y = Reshape(x, Concat(Shape(x)[0:1], [-1])), the shape computed in-graph.
    let mut shape = node("Shape", "shape", &["x"], &["dims"]);
    shape.attribute.push(attr_int("end", 1));
    let mut minus_one = node("Constant", "c", &[], &["rest"]);
    minus_one.attribute.push(attr_ints("value_ints", &[-1]));
    let mut concat = node("Concat", "cat", &["dims", "rest"], &["target"]);
    concat.attribute.push(attr_int("axis", 0));
    let model = ModelBuilder::new(17)
        .input("x", &[2, 3, 4])
        .node(shape)
        .node(minus_one)
        .node(concat)
        .node(node("Reshape", "reshape", &["x", "target"], &["y"]))
        .output("y");
    let x = Tensor::from_vec(vec![2, 3, 4], vec![0.0f32; 24]).unwrap();
    assert_eq!(run(model, vec![x])[0].shape(), [2, 12]);
}

#[test]
fn upsample_and_resize_scales() {
    let x = Tensor::from_vec(vec![1, 1, 1, 2], vec![1.0f32, 2.0]).unwrap();
    let model = ModelBuilder::new(9)
        .input("x", &[1, 1, 1, 2])
        .initializer(f32_tensor("scales", &[4], &[1.0, 1.0, 2.0, 2.0]))
        .node(node("Upsample", "up", &["x", "scales"], &["y"]))
        .output("y");
    let y = &run(model, vec![x.clone()])[0];
    assert_eq!(y.shape(), [1, 1, 2, 4]);
    assert_eq!(floats(y), [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);

    let model = ModelBuilder::new(13)
        .input("x", &[1, 1, 1, 2])
        .initializer(i64_tensor("sizes", &[4], &[1, 1, 3, 4]))
        .node(node("Resize", "resize", &["x", "", "", "sizes"], &["y"]))
        .output("y");
    assert_eq!(run(model, vec![x])[0].shape(), [1, 1, 3, 4]);
}

#[test]
fn gemm_and_flatten() {
    // y = Flatten(x) * W^T + b with W [2, 3].
    let mut gemm = node("Gemm", "fc", &["flat", "w", "b"], &["y"]);
    gemm.attribute.push(attr_int("transB", 1));
    let model = ModelBuilder::new(13)
        .input("x", &[1, 3, 1])
        .initializer(f32_tensor("w", &[2, 3], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]))
        .initializer(f32_tensor("b", &[2], &[0.5, -0.5]))
        .node(node("Flatten", "flatten", &["x"], &["flat"]))
        .node(gemm)
        .output("y");
    let x = Tensor::from_vec(vec![1, 3, 1], vec![1.0f32, 2.0, 3.0]).unwrap();
    assert_eq!(floats(&run(model, vec![x])[0]), [1.5, 5.5]);
}

#[test]
fn composed_ops_swish_and_lp_normalization() {
    let x = vector(&[3.0, -4.0]);
    let y = floats(&run(unary_model(24, "Swish", &[2], vec![]), vec![x.clone()])[0]);
    let swish = |v: f32| v / (1.0 + (-v).exp());
    assert!(
        (y[0] - swish(3.0)).abs() < 1e-6 && (y[1] - swish(-4.0)).abs() < 1e-6,
        "{y:?}"
    );
    let y = floats(&run(unary_model(17, "LpNormalization", &[2], vec![]), vec![x])[0]);
    assert!(
        (y[0] - 0.6).abs() < 1e-6 && (y[1] + 0.8).abs() < 1e-6,
        "{y:?}"
    );
    // A zero norm gives zeros, not NaN (0 / 0 = 0 in the ONNX reference).
    let x = Tensor::from_vec(vec![2, 2], vec![3.0f32, 0.0, -4.0, 0.0]).unwrap();
    let model = unary_model(17, "LpNormalization", &[2, 2], vec![attr_int("axis", 0)]);
    assert_eq!(floats(&run(model, vec![x])[0]), [0.6, 0.0, -0.8, 0.0]);
}

#[test]
fn windows_resolve_auto_pad_and_output_shape() {
    // Conv SAME_UPPER, stride 2 on 5x5: out 3x3, pads [1, 1, 1, 1].
    let mut conv = node("Conv", "conv", &["x", "w"], &["y"]);
    conv.attribute.push(attr_ints("strides", &[2, 2]));
    conv.attribute.push(nnc_frontend::proto::AttributeProto {
        name: "auto_pad".into(),
        r#type: nnc_frontend::proto::AttributeType::String as i32,
        s: b"SAME_UPPER".to_vec(),
        ..Default::default()
    });
    let model = ModelBuilder::new(17)
        .input("x", &[1, 1, 5, 5])
        .initializer(f32_tensor("w", &[1, 1, 3, 3], &[1.0; 9]))
        .node(conv)
        .output("y");
    let x = Tensor::from_vec(vec![1, 1, 5, 5], vec![1.0f32; 25]).unwrap();
    let y = &run(model, vec![x])[0];
    assert_eq!(y.shape(), [1, 1, 3, 3]);
    assert_eq!(floats(y)[0], 4.0);

    // ConvTranspose stride 2 on 3x3 with output_shape 6x6 (one output padding).
    let mut deconv = node("ConvTranspose", "deconv", &["x", "w"], &["y"]);
    deconv.attribute.push(attr_ints("strides", &[2, 2]));
    deconv.attribute.push(attr_ints("output_shape", &[6, 6]));
    let model = ModelBuilder::new(17)
        .input("x", &[1, 1, 3, 3])
        .initializer(f32_tensor("w", &[1, 1, 2, 2], &[1.0; 4]))
        .node(deconv)
        .output("y");
    let x = Tensor::from_vec(vec![1, 1, 3, 3], vec![1.0f32; 9]).unwrap();
    assert_eq!(run(model, vec![x])[0].shape(), [1, 1, 6, 6]);

    // MaxPool ceil_mode with the Indices output.
    let mut pool = node("MaxPool", "pool", &["x"], &["y", "i"]);
    pool.attribute.push(attr_ints("kernel_shape", &[2]));
    pool.attribute.push(attr_ints("strides", &[2]));
    pool.attribute.push(attr_int("ceil_mode", 1));
    let model = ModelBuilder::new(17)
        .input("x", &[1, 1, 5])
        .node(pool)
        .output("y")
        .output("i");
    let x = Tensor::from_vec(vec![1, 1, 5], vec![1.0f32, 5.0, 2.0, 0.0, 7.0]).unwrap();
    let out = run(model, vec![x]);
    assert_eq!(floats(&out[0]), [5.0, 2.0, 7.0]);
    assert_eq!(out[1].to_vec::<i64>().unwrap(), [1, 2, 4]);
}
