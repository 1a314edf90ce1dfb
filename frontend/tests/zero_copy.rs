//! Weights stay views into the model's bytes: decoding slices `raw_data` out of
//! the buffer (the memory-mapped file in `load`) rather than copying it.

mod support;

use std::path::Path;

use bytes::Bytes;
use nnc_frontend::{ImportOptions, load, load_bytes};
use support::*;

fn model_with_weight(values: &[f32]) -> ModelBuilder {
    ModelBuilder::new(17)
        .input("x", &[values.len() as i64])
        .initializer(f32_tensor("w", &[values.len() as i64], values))
        .node(node("Add", "add", &["x", "w"], &["y"]))
        .output("y")
}

#[test]
fn raw_data_is_a_slice_of_the_model_bytes() {
    let values: Vec<f32> = (0..1024).map(|i| i as f32).collect();
    let bytes = Bytes::from(model_with_weight(&values).encode());
    let range = bytes.as_ptr_range();
    let loaded = load_bytes(
        bytes.clone(),
        Path::new("m.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    let w = loaded.graph.value_by_name("w").unwrap();
    let weight = loaded.graph.known_value(w).unwrap();
    assert!(
        range.contains(&weight.bytes().as_ptr()),
        "the weight was copied"
    );
    assert_eq!(weight.to_vec::<f32>().unwrap(), values);
}

#[test]
fn a_loaded_file_keeps_its_weights_in_the_mapping() {
    let dir = temp_dir("zero-copy");
    let values: Vec<f32> = (0..4096).map(|i| i as f32 * 0.5).collect();
    let path = model_with_weight(&values).write(&dir, "model.onnx");
    let loaded = load(&path, &ImportOptions::default()).unwrap();
    let w = loaded.graph.value_by_name("w").unwrap();
    assert_eq!(
        loaded
            .graph
            .known_value(w)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        values
    );
    assert_eq!(loaded.info.initializer_count, 1);
    assert_eq!(loaded.info.initializer_bytes, 4 * 4096);
}
