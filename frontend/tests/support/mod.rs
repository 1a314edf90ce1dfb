//! Small ONNX models built from the frontend's own prost structs, for tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use nnc_frontend::proto::{
    AttributeProto, AttributeType, Dimension, DimensionValue, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, TypeValue,
    ValueInfoProto, data_type,
};
use prost::Message;

pub struct ModelBuilder {
    pub model: ModelProto,
}

impl ModelBuilder {
    /// An empty model at IR version 8, default-domain opset `opset`.
    pub fn new(opset: i64) -> Self {
        ModelBuilder {
            model: ModelProto {
                ir_version: 8,
                opset_import: vec![OperatorSetIdProto {
                    domain: String::new(),
                    version: opset,
                }],
                producer_name: "nnc-tests".into(),
                graph: Some(GraphProto {
                    name: "test".into(),
                    ..GraphProto::default()
                }),
                ..ModelProto::default()
            },
        }
    }

    fn graph(&mut self) -> &mut GraphProto {
        self.model.graph.get_or_insert_with(GraphProto::default)
    }

    /// A float graph input with static dims.
    pub fn input(mut self, name: &str, dims: &[i64]) -> Self {
        let dims = dims.iter().map(|&d| DimensionValue::DimValue(d)).collect();
        self.graph()
            .input
            .push(value_info(name, data_type::FLOAT, dims));
        self
    }

    /// A graph input with any dims (symbolic ones as `DimParam`).
    pub fn input_dims(mut self, name: &str, elem_type: i32, dims: Vec<DimensionValue>) -> Self {
        self.graph().input.push(value_info(name, elem_type, dims));
        self
    }

    pub fn output(mut self, name: &str) -> Self {
        self.graph()
            .output
            .push(value_info(name, data_type::FLOAT, Vec::new()));
        self
    }

    pub fn initializer(mut self, tensor: TensorProto) -> Self {
        self.graph().initializer.push(tensor);
        self
    }

    pub fn node(mut self, node: NodeProto) -> Self {
        self.graph().node.push(node);
        self
    }

    pub fn opset_import(mut self, domain: &str, version: i64) -> Self {
        self.model.opset_import.push(OperatorSetIdProto {
            domain: domain.into(),
            version,
        });
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        self.model.encode_to_vec()
    }

    /// Writes the model as `dir/name` and returns the path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.encode()).expect("write model");
        path
    }
}

pub fn value_info(name: &str, elem_type: i32, dims: Vec<DimensionValue>) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::Tensor(TensorTypeProto {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .into_iter()
                        .map(|d| Dimension { value: Some(d) })
                        .collect(),
                }),
            })),
        }),
    }
}

pub fn node(op_type: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: op_type.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..NodeProto::default()
    }
}

pub fn with_attr(mut node: NodeProto, attr: AttributeProto) -> NodeProto {
    node.attribute.push(attr);
    node
}

pub fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..AttributeProto::default()
    }
}

pub fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f,
        ..AttributeProto::default()
    }
}

pub fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: ints.to_vec(),
        ..AttributeProto::default()
    }
}

pub fn attr_tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Tensor as i32,
        t: Some(t),
        ..AttributeProto::default()
    }
}

/// A float tensor with its values in `raw_data`.
pub fn f32_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        raw_data: Bytes::from(
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
        ..TensorProto::default()
    }
}

pub fn i64_tensor(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::INT64,
        int64_data: values.to_vec(),
        ..TensorProto::default()
    }
}

/// A fresh, empty directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("nnc-frontend-tests")
        .join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}
