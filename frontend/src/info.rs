//! What a model declares, gathered without building its graph: for `nnc inspect`
//! and for the compile report.

use std::collections::BTreeMap;
use std::fmt;

use nnc_ir::DType;

use crate::UnsupportedOp;
use crate::model::{Model, normalize_domain};
use crate::proto::{DimensionValue, TypeValue, ValueInfoProto, data_type};
use crate::tensor::{checked_shape, dtype_of};

/// Facts about a model, as declared in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub ir_version: i64,
    pub producer_name: String,
    pub producer_version: String,
    /// Opset version per domain ("" is the default ONNX domain).
    pub opset_imports: BTreeMap<String, i64>,
    /// ONNX node count per op type (`domain::op_type` outside the default domain).
    pub op_histogram: BTreeMap<String, usize>,
    /// Graph inputs that are not initializers.
    pub inputs: Vec<IoInfo>,
    pub outputs: Vec<IoInfo>,
    pub initializer_count: usize,
    pub initializer_bytes: u64,
}

/// A declared graph input or output.
#[derive(Clone, Debug, PartialEq)]
pub struct IoInfo {
    pub name: String,
    /// The IR dtype, if nnc supports the declared element type.
    pub dtype: Option<DType>,
    /// The declared element type as ONNX names it ("float", "bfloat16"), or the
    /// kind of a non-tensor value ("sequence").
    pub type_name: String,
    /// `None` when no shape is declared (not even the rank).
    pub dims: Option<Vec<Dim>>,
}

/// One declared dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    /// A named dimension such as "batch_size".
    Symbolic(String),
    /// Neither a value nor a name.
    Unknown,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(d) => write!(f, "{d}"),
            Dim::Symbolic(name) => f.write_str(name),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

impl fmt::Display for IoInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.type_name)?;
        match &self.dims {
            Some(dims) => {
                let dims: Vec<String> = dims.iter().map(Dim::to_string).collect();
                write!(f, "[{}]", dims.join("x"))
            }
            None => f.write_str("[unknown shape]"),
        }
    }
}

/// A model's facts plus the ops nnc cannot convert; what `nnc inspect` shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspection {
    pub info: ModelInfo,
    pub unsupported: Vec<UnsupportedOp>,
}

pub(crate) fn describe(model: &Model) -> ModelInfo {
    let graph = &model.graph;
    let mut op_histogram = BTreeMap::new();
    for node in &graph.node {
        let domain = normalize_domain(&node.domain);
        let key = if domain.is_empty() {
            node.op_type.clone()
        } else {
            format!("{domain}::{}", node.op_type)
        };
        *op_histogram.entry(key).or_insert(0) += 1;
    }
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let initializer_bytes = graph
        .initializer
        .iter()
        .map(|t| match (dtype_of(t.data_type), checked_shape(&t.dims)) {
            (Ok(dtype), Ok(shape)) => (shape.iter().product::<usize>() * dtype.size()) as u64,
            _ => t.raw_data.len() as u64,
        })
        .sum();
    ModelInfo {
        ir_version: model.proto.ir_version,
        producer_name: model.proto.producer_name.clone(),
        producer_version: model.proto.producer_version.clone(),
        opset_imports: model.opsets.clone(),
        op_histogram,
        inputs: graph
            .input
            .iter()
            .filter(|v| !initializers.contains(v.name.as_str()))
            .map(io_info)
            .collect(),
        outputs: graph.output.iter().map(io_info).collect(),
        initializer_count: graph.initializer.len(),
        initializer_bytes,
    }
}

fn io_info(value: &ValueInfoProto) -> IoInfo {
    let ty = value.r#type.as_ref().and_then(|t| t.value.as_ref());
    let (dtype, type_name, dims) = match ty {
        Some(TypeValue::Tensor(tensor)) => {
            let dims = tensor.shape.as_ref().map(|shape| {
                shape
                    .dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(DimensionValue::DimValue(v)) => Dim::Fixed(*v),
                        Some(DimensionValue::DimParam(p)) if !p.is_empty() => {
                            Dim::Symbolic(p.clone())
                        }
                        _ => Dim::Unknown,
                    })
                    .collect()
            });
            (
                dtype_of(tensor.elem_type).ok(),
                data_type::name(tensor.elem_type),
                dims,
            )
        }
        Some(other) => (None, other.kind().to_string(), None),
        None => (None, "untyped".to_string(), None),
    };
    IoInfo {
        name: value.name.clone(),
        dtype,
        type_name,
        dims,
    }
}
