//! One test per kind of bad input: each must be a clear error, never a panic.

mod support;

use std::path::Path;

use bytes::Bytes;
use nnc_frontend::proto::{
    DATA_LOCATION_EXTERNAL, DimensionValue, StringStringEntryProto, TensorProto, data_type,
};
use nnc_frontend::{FrontendError, ImportOptions, inspect, load, load_bytes};
use prost::Message;
use support::*;

/// x[2,3] -> Relu -> y.
fn relu_model() -> ModelBuilder {
    ModelBuilder::new(17)
        .input("x", &[2, 3])
        .node(node("Relu", "relu", &["x"], &["y"]))
        .output("y")
}

fn load_err(bytes: Vec<u8>) -> FrontendError {
    let err = load_bytes(
        Bytes::from(bytes),
        Path::new("m.onnx"),
        &ImportOptions::default(),
    )
    .expect_err("the model must be refused");
    let message = err.to_string();
    assert!(
        message.starts_with("m.onnx"),
        "message names the file: {message}"
    );
    err
}

/// The message of a model that fails to load for being wrong (malformed or
/// unreadable), not for using something nnc does not support.
fn load_error(bytes: Vec<u8>) -> String {
    let err = load_err(bytes);
    assert!(
        !err.is_unsupported(),
        "must not count as unsupported: {err}"
    );
    err.to_string()
}

/// The message of a valid model that nnc refuses as unsupported.
fn refusal(bytes: Vec<u8>) -> String {
    let err = load_err(bytes);
    assert!(err.is_unsupported(), "must count as unsupported: {err}");
    err.to_string()
}

#[test]
fn a_good_model_loads() {
    let model = load_bytes(
        Bytes::from(relu_model().encode()),
        Path::new("m.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(model.graph.node_count(), 1);
    assert_eq!(model.info.op_histogram.get("Relu"), Some(&1));
    nnc_ir::verify(&model.graph).unwrap();
}

#[test]
fn truncated_file() {
    let bytes = relu_model().encode();
    for cut in [1, bytes.len() / 3, bytes.len() - 1] {
        let message = load_error(bytes[..cut].to_vec());
        assert!(message.contains("not an ONNX model"), "{message}");
    }
}

#[test]
fn empty_file() {
    let message = load_error(Vec::new());
    assert!(
        message.contains("not an ONNX model: the file is empty"),
        "{message}"
    );
}

#[test]
fn random_bytes() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let message = load_error(bytes);
    assert!(message.contains("not an ONNX model"), "{message}");
}

#[test]
fn tensor_proto_passed_as_model() {
    let tensor = f32_tensor("t", &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let message = load_error(tensor.encode_to_vec());
    assert!(message.contains("not an ONNX model"), "{message}");
}

#[test]
fn missing_file() {
    let err = load(
        Path::new("/nonexistent/model.onnx"),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, FrontendError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/model.onnx"));
}

#[test]
fn unsupported_ir_version_and_opset() {
    let mut old = relu_model();
    old.model.ir_version = 2;
    assert!(refusal(old.encode()).contains("IR version 2 is not supported"));

    let old_opset = ModelBuilder::new(6)
        .input("x", &[2])
        .node(node("Relu", "relu", &["x"], &["y"]))
        .output("y");
    let message = refusal(old_opset.encode());
    assert!(message.contains("opset 6"), "{message}");
}

#[test]
fn input_nobody_produces() {
    let model = relu_model().node(node("Add", "adder", &["y", "ghost"], &["z"]));
    let message = load_error(model.encode());
    assert!(
        message.contains("'adder'") && message.contains("'ghost'"),
        "{message}"
    );
}

#[test]
fn missing_initializer() {
    let model = ModelBuilder::new(17)
        .input("x", &[1, 3, 4, 4])
        .node(node("Conv", "conv", &["x", "conv.weight"], &["y"]))
        .output("y");
    let message = load_error(model.encode());
    assert!(
        message.contains("'conv.weight'") && message.contains("'conv'"),
        "{message}"
    );
}

#[test]
fn cycle() {
    let model = ModelBuilder::new(17)
        .input("x", &[2])
        .node(node("Add", "first", &["x", "b"], &["a"]))
        .node(node("Relu", "second", &["a"], &["b"]))
        .output("b");
    let message = load_error(model.encode());
    assert!(message.contains("cycle"), "{message}");
}

#[test]
fn nodes_out_of_order_are_sorted() {
    let model = ModelBuilder::new(17)
        .input("x", &[2])
        .node(node("Neg", "second", &["a"], &["b"]))
        .node(node("Relu", "first", &["x"], &["a"]))
        .output("b");
    let loaded = load_bytes(
        Bytes::from(model.encode()),
        Path::new("m.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    nnc_ir::verify(&loaded.graph).unwrap();
}

#[test]
fn mismatched_shapes() {
    let model = ModelBuilder::new(17)
        .input("a", &[2, 3])
        .input("b", &[4])
        .node(node("Add", "sum", &["a", "b"], &["c"]))
        .output("c");
    let message = load_error(model.encode());
    assert!(
        message.contains("'sum'") && message.contains("Add"),
        "{message}"
    );
    assert!(
        message.contains("[2, 3]") && message.contains("[4]"),
        "{message}"
    );
}

#[test]
fn unknown_domain() {
    let mut scaler = node("Scaler", "scale_it", &["y"], &["z"]);
    scaler.domain = "ai.onnx.ml".into();
    let model = relu_model().opset_import("ai.onnx.ml", 3).node(scaler);
    let message = refusal(model.encode());
    assert!(
        message.contains("'ai.onnx.ml'") && message.contains("'scale_it'"),
        "{message}"
    );
}

#[test]
fn unsupported_dtype() {
    let mut weight = f32_tensor("w", &[3], &[0.0; 3]);
    weight.data_type = data_type::BFLOAT16;
    weight.raw_data = Bytes::from(vec![0u8; 6]);
    let model = relu_model().initializer(weight);
    let message = refusal(model.encode());
    assert!(
        message.contains("tensor 'w'") && message.contains("unsupported dtype bfloat16"),
        "{message}"
    );
}

#[test]
fn every_unsupported_op_is_listed() {
    let model = relu_model()
        .node(node("NonMaxSuppression", "nms_a", &["y"], &["n1"]))
        .node(node("NonMaxSuppression", "nms_b", &["y"], &["n2"]))
        .node(node("Einsum", "einsum", &["y"], &["e"]))
        .node(node("Loop", "", &["y"], &["l"]));
    let message = refusal(model.encode());
    for needle in [
        "NonMaxSuppression",
        "'nms_a'",
        "'nms_b'",
        "Einsum",
        "'einsum'",
        "Loop",
        "'Loop_4'",
    ] {
        assert!(message.contains(needle), "missing {needle} in: {message}");
    }
    assert!(message.contains("3 unsupported op(s)"), "{message}");
}

#[test]
fn inspect_lists_unsupported_ops_without_failing() {
    let dir = temp_dir("inspect");
    let model = relu_model().node(node("Einsum", "einsum", &["y"], &["e"]));
    let path = model.write(&dir, "model.onnx");
    let inspection = inspect(&path).unwrap();
    assert_eq!(inspection.unsupported.len(), 1);
    assert_eq!(inspection.unsupported[0].op_type, "Einsum");
    assert_eq!(inspection.info.inputs[0].name, "x");
    assert_eq!(inspection.info.op_histogram.len(), 2);
}

#[test]
fn symbolic_dim_needs_input_shape() {
    let model = ModelBuilder::new(17)
        .input_dims(
            "images",
            data_type::FLOAT,
            vec![
                DimensionValue::DimParam("batch".into()),
                DimensionValue::DimValue(3),
            ],
        )
        .node(node("Relu", "relu", &["images"], &["y"]))
        .output("y");
    let message = load_error(model.encode());
    assert!(message.contains("input 'images'"), "{message}");
    assert!(message.contains("'batch'"), "{message}");
    assert!(message.contains("--input-shape images=1x3"), "{message}");

    let mut options = ImportOptions::default();
    let (name, dims) = ImportOptions::parse_input_shape("images=4x3").unwrap();
    options.input_shapes.insert(name, dims);
    let loaded = load_bytes(Bytes::from(model.encode()), Path::new("m.onnx"), &options).unwrap();
    let input = loaded.graph.inputs()[0];
    assert_eq!(loaded.graph.value(input).ty.shape, vec![4, 3]);
}

#[test]
fn input_shape_for_an_unknown_input() {
    let mut options = ImportOptions::default();
    options.input_shapes.insert("nope".into(), vec![1]);
    let err = load_bytes(
        Bytes::from(relu_model().encode()),
        Path::new("m.onnx"),
        &options,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("'nope'") && err.contains("x"), "{err}");
}

#[test]
fn huge_dims_are_refused_before_allocating() {
    let mut big = f32_tensor("big", &[1_000_000, 1_000_000, 1_000], &[]);
    big.raw_data = Bytes::new();
    let model = relu_model().initializer(big);
    let message = load_error(model.encode());
    assert!(message.contains("tensor 'big'"), "{message}");

    let model = ModelBuilder::new(17)
        .input("x", &[1 << 30, 1 << 30])
        .node(node("Relu", "relu", &["x"], &["y"]))
        .output("y");
    let message = load_error(model.encode());
    assert!(message.contains("too many elements"), "{message}");
}

#[test]
fn shape_operand_must_be_known() {
    let model = ModelBuilder::new(17)
        .input("x", &[2, 3])
        .input_dims("shape", data_type::INT64, vec![DimensionValue::DimValue(2)])
        .node(node("Reshape", "reshape", &["x", "shape"], &["y"]))
        .output("y");
    let message = refusal(model.encode());
    assert!(
        message.contains("input 'shape' of Reshape must be known at compile time"),
        "{message}"
    );
}

#[test]
fn sparse_constant_is_refused() {
    let mut constant = node("Constant", "c", &[], &["k"]);
    constant
        .attribute
        .push(nnc_frontend::proto::AttributeProto {
            name: "sparse_value".into(),
            r#type: nnc_frontend::proto::AttributeType::SparseTensor as i32,
            sparse_tensor: Some(Default::default()),
            ..Default::default()
        });
    let model = relu_model().node(constant);
    let message = refusal(model.encode());
    assert!(message.contains("sparse"), "{message}");
}

/// Writes a weight to `weights.bin` (after 16 bytes of padding) and refers to it.
fn external_weight(location: &str) -> TensorProto {
    let entry = |key: &str, value: &str| StringStringEntryProto {
        key: key.into(),
        value: value.into(),
    };
    TensorProto {
        name: "w".into(),
        dims: vec![2, 3],
        data_type: data_type::FLOAT,
        data_location: DATA_LOCATION_EXTERNAL,
        external_data: vec![
            entry("location", location),
            entry("offset", "16"),
            entry("length", "24"),
        ],
        ..TensorProto::default()
    }
}

#[test]
fn external_data() {
    let dir = temp_dir("external");
    let values = [1.0f32, -2.0, 3.5, 4.0, 0.25, -6.0];
    let mut file = vec![0xAAu8; 16];
    file.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(dir.join("weights.bin"), &file).unwrap();
    let model = relu_model()
        .initializer(external_weight("weights.bin"))
        .node(node("Add", "add", &["y", "w"], &["z"]))
        .output("z");
    let path = model.write(&dir, "model.onnx");
    let loaded = load(&path, &ImportOptions::default()).unwrap();
    let w = loaded.graph.value_by_name("w").unwrap();
    let tensor = loaded.graph.known_value(w).unwrap();
    assert_eq!(tensor.to_vec::<f32>().unwrap(), values);
    nnc_ir::verify(&loaded.graph).unwrap();

    for bad in ["../weights.bin", "/etc/passwd", "missing.bin"] {
        let model = relu_model().initializer(external_weight(bad));
        let path = model.write(&dir, "bad.onnx");
        let err = load(&path, &ImportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("tensor 'w'"), "{err}");
    }

    // A file too short for offset + length.
    std::fs::write(dir.join("short.bin"), [0u8; 20]).unwrap();
    let model = relu_model().initializer(external_weight("short.bin"));
    let path = model.write(&dir, "short.onnx");
    let err = load(&path, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("runs past the end"), "{err}");
}

#[test]
fn tensor_files_round_trip() {
    let dir = temp_dir("tensor-file");
    let tensor = nnc_ir::Tensor::from_vec(vec![2, 2], vec![1i64, -2, 3, 4]).unwrap();
    let path = dir.join("input_0.pb");
    nnc_frontend::write_tensor_file(&path, "x", &tensor).unwrap();
    let (name, back) = nnc_frontend::read_tensor_file(&path).unwrap();
    assert_eq!(name, "x");
    assert_eq!(back, tensor);

    // A model is not a tensor file.
    let model_path = relu_model().write(&dir, "model.onnx");
    assert!(nnc_frontend::read_tensor_file(&model_path).is_err());
}

#[test]
fn calls_to_model_local_functions_are_refused() {
    let mut call = node("MyGelu", "gelu_call", &["y"], &["z"]);
    call.domain = "local".into();
    let mut model = relu_model().opset_import("local", 1).node(call);
    model
        .model
        .functions
        .push(nnc_frontend::proto::FunctionProto {
            name: "MyGelu".into(),
            domain: "local".into(),
            overload: String::new(),
        });
    let message = refusal(model.encode());
    assert!(
        message.contains("model-local function") && message.contains("'gelu_call'"),
        "{message}"
    );
}

#[test]
fn unsupported_is_told_apart_from_malformed() {
    let unsupported = relu_model().node(node("Einsum", "einsum", &["y"], &["e"]));
    let err = load_bytes(
        Bytes::from(unsupported.encode()),
        Path::new("m.onnx"),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(err.is_unsupported(), "{err}");
    let malformed = relu_model().node(node("Add", "adder", &["y", "ghost"], &["z"]));
    let err = load_bytes(
        Bytes::from(malformed.encode()),
        Path::new("m.onnx"),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(!err.is_unsupported(), "{err}");
}

/// A one-node model at `opset` on x[2,3].
fn one_node(opset: i64, n: nnc_frontend::proto::NodeProto) -> ModelBuilder {
    ModelBuilder::new(opset)
        .input("x", &[2, 3])
        .node(n)
        .output("y")
}

fn attr_string(name: &str, value: &str) -> nnc_frontend::proto::AttributeProto {
    nnc_frontend::proto::AttributeProto {
        name: name.into(),
        r#type: nnc_frontend::proto::AttributeType::String as i32,
        s: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

#[test]
fn valid_features_nnc_does_not_support_are_refusals() {
    // An operand that must be known at compile time, computed at run time.
    let model = ModelBuilder::new(17)
        .input("x", &[2, 3])
        .input_dims("dims", data_type::INT64, vec![DimensionValue::DimValue(2)])
        .node(node("Abs", "abs", &["dims"], &["shape"]))
        .node(node("Reshape", "reshape", &["x", "shape"], &["y"]))
        .output("y");
    let message = refusal(model.encode());
    assert!(message.contains("computed at run time"), "{message}");

    // Training mode.
    let training = TensorProto {
        name: "t".into(),
        data_type: data_type::BOOL,
        int32_data: vec![1],
        ..TensorProto::default()
    };
    let model = ModelBuilder::new(17)
        .input("x", &[2, 3])
        .initializer(training)
        .node(node("Dropout", "drop", &["x", "", "t"], &["y"]))
        .output("y");
    assert!(refusal(model.encode()).contains("training mode"));
    let bn = with_attr(
        node(
            "BatchNormalization",
            "bn",
            &["x", "x", "x", "x", "x"],
            &["y"],
        ),
        attr_int("training_mode", 1),
    );
    assert!(refusal(one_node(15, bn).encode()).contains("training mode"));

    // A string constant.
    let constant = with_attr(
        node("Constant", "c", &[], &["y"]),
        attr_string("value_string", "hello"),
    );
    assert!(refusal(one_node(17, constant).encode()).contains("string constants"));

    // Dtypes without an IR dtype: a graph input, a Cast target.
    let model = ModelBuilder::new(17)
        .input_dims("x", data_type::BFLOAT16, vec![DimensionValue::DimValue(2)])
        .node(node("Relu", "relu", &["x"], &["y"]))
        .output("y");
    let message = refusal(model.encode());
    assert!(
        message.contains("input 'x'") && message.contains("bfloat16"),
        "{message}"
    );
    let cast = with_attr(
        node("Cast", "cast", &["x"], &["y"]),
        attr_int("to", data_type::BFLOAT16.into()),
    );
    let message = refusal(one_node(17, cast).encode());
    assert!(
        message.contains("attribute 'to': unsupported dtype bfloat16"),
        "{message}"
    );

    // A graph input that is not a tensor.
    let mut model = relu_model();
    if let Some(graph) = model.model.graph.as_mut() {
        graph.input[0].r#type = Some(nnc_frontend::proto::TypeProto {
            value: Some(nnc_frontend::proto::TypeValue::Sequence(Default::default())),
        });
    }
    let message = refusal(model.encode());
    assert!(message.contains("is a sequence"), "{message}");
}

#[test]
fn malformed_attributes_and_operands_are_not_refusals() {
    let cast = with_attr(node("Cast", "cast", &["x"], &["y"]), attr_int("to", 99));
    let message = load_error(one_node(17, cast).encode());
    assert!(message.contains("not an ONNX data type"), "{message}");

    let space = with_attr(
        with_attr(
            node("SpaceToDepth", "s2d", &["x"], &["y"]),
            attr_int("blocksize", 1),
        ),
        attr_string("mode", "XYZ"),
    );
    let message = load_error(one_node(17, space).encode());
    assert!(message.contains("\"XYZ\""), "{message}");

    let softmax = with_attr(node("Softmax", "sm", &["x"], &["y"]), attr_int("axis", 5));
    load_error(one_node(17, softmax).encode());

    let reshape = node("Reshape", "reshape", &["x"], &["y"]);
    let message = load_error(one_node(17, reshape).encode());
    assert!(message.contains("missing"), "{message}");
}
