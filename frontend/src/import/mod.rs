//! Building the IR graph from a checked model: initializers become constants,
//! graph inputs get static shapes, and every node, in dependency order, goes
//! through the converter of its op (see `crate::ops`).

mod attrs;
mod ctx;
mod order;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use nnc_ir::{Graph, TensorType};

pub(crate) use ctx::{ConvResult, ConvertError, ImportState, NodeCtx, bail, refuse};

use crate::model::{Model, normalize_domain};
use crate::proto::{DimensionValue, TypeValue, ValueInfoProto};
use crate::tensor::{ExternalData, MAX_ELEMENTS, decode_tensor, dtype_of};
use crate::{FrontendError, ops};

/// Choices the user makes about the import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Static shapes for graph inputs, overriding what the model declares (needed
    /// for symbolic dims such as a batch size): `--input-shape NAME=1x3x224x224`.
    pub input_shapes: HashMap<String, Vec<usize>>,
}

impl ImportOptions {
    /// Parses `NAME=1x3x224x224` (as given to `--input-shape`).
    pub fn parse_input_shape(spec: &str) -> Result<(String, Vec<usize>), String> {
        let bad = || format!("'{spec}' is not NAME=DIMS with DIMS like 1x3x224x224");
        let (name, dims) = spec.rsplit_once('=').ok_or_else(bad)?;
        if name.is_empty() {
            return Err(bad());
        }
        let dims = if dims.is_empty() {
            Vec::new() // a scalar
        } else {
            dims.split(['x', 'X', ','])
                .map(|d| d.trim().parse::<usize>().map_err(|_| bad()))
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok((name.to_string(), dims))
    }
}

/// A name for every node: its own, or its op type and position when unnamed.
pub(crate) fn node_labels(model: &Model) -> Vec<String> {
    model
        .graph
        .node
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if n.name.is_empty() {
                format!("{}_{i}", n.op_type)
            } else {
                n.name.clone()
            }
        })
        .collect()
}

pub(crate) fn build(model: &Model, options: &ImportOptions) -> Result<Graph, FrontendError> {
    let source = &model.graph;
    let path = &model.path;
    if let Some(sparse) = source.sparse_initializer.first() {
        let name = sparse
            .values
            .as_ref()
            .map(|v| v.name.clone())
            .unwrap_or_default();
        return Err(FrontendError::Tensor {
            path: path.clone(),
            tensor: name,
            message: "sparse initializers are not supported".into(),
            unsupported: true,
        });
    }
    let external = ExternalData::new(path.parent().unwrap_or(Path::new(".")));
    let name = if source.name.is_empty() {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        source.name.clone()
    };
    let mut state = ImportState {
        graph: Graph::new(name),
        env: HashMap::new(),
        onnx_names: onnx_names(model),
        external: &external,
    };

    for proto in &source.initializer {
        let tensor_error = |e: ConvertError| FrontendError::Tensor {
            path: path.clone(),
            tensor: proto.name.clone(),
            message: e.message,
            unsupported: e.unsupported,
        };
        if proto.name.is_empty() {
            return Err(tensor_error("an initializer has no name".into()));
        }
        let tensor = decode_tensor(proto, &external).map_err(tensor_error)?;
        let id = state
            .graph
            .add_const(proto.name.clone(), tensor)
            .map_err(|e| tensor_error(e.to_string().into()))?;
        state.env.insert(proto.name.clone(), id);
    }

    let mut runtime_inputs = HashSet::new();
    for value in &source.input {
        // ONNX IR >= 4: an input that is also an initializer is a constant.
        if state.env.contains_key(&value.name) {
            continue;
        }
        let input_error = |e: ConvertError| FrontendError::Input {
            path: path.clone(),
            input: value.name.clone(),
            message: e.message,
            unsupported: e.unsupported,
        };
        let ty = input_type(value, options.input_shapes.get(&value.name)).map_err(input_error)?;
        let id = state
            .graph
            .add_input(value.name.clone(), ty)
            .map_err(|e| input_error(e.to_string().into()))?;
        state.env.insert(value.name.clone(), id);
        runtime_inputs.insert(value.name.as_str());
    }
    let mut overridden: Vec<&String> = options.input_shapes.keys().collect();
    overridden.sort();
    for name in overridden {
        if !runtime_inputs.contains(name.as_str()) {
            let mut known: Vec<&str> = runtime_inputs.iter().copied().collect();
            known.sort();
            return Err(FrontendError::Input {
                path: path.clone(),
                input: name.clone(),
                message: format!(
                    "--input-shape names an input the model does not have (its inputs: {})",
                    known.join(", ")
                ),
                unsupported: false,
            });
        }
    }

    let labels = node_labels(model);
    for i in order::node_order(model, &labels)? {
        let node = &source.node[i];
        let opset = model.opset(normalize_domain(&node.domain)).unwrap_or(0);
        let node_error = |e: ConvertError| FrontendError::Node {
            path: path.clone(),
            node: labels[i].clone(),
            op_type: node.op_type.clone(),
            opset,
            message: e.message,
            unsupported: e.unsupported,
        };
        // `check_support` has refused ops without a converter already.
        let converter = ops::find(&node.op_type, opset)
            .map_err(|message| node_error(ConvertError::unsupported(message)))?;
        let mut ctx = NodeCtx::new(&mut state, node, &labels[i], opset);
        (converter.convert)(&mut ctx).map_err(node_error)?;
    }

    let mut outputs = Vec::with_capacity(source.output.len());
    for value in &source.output {
        match state.env.get(&value.name) {
            Some(&id) => outputs.push(id),
            None => {
                return Err(model.graph_error(format!(
                    "graph output '{}' is not produced by any node, input or initializer",
                    value.name
                )));
            }
        }
    }
    if outputs.is_empty() {
        return Err(model.graph_error("the graph has no outputs"));
    }
    state.graph.set_outputs(outputs);
    Ok(state.graph)
}

/// Every value name the ONNX graph mentions.
fn onnx_names(model: &Model) -> HashSet<&str> {
    let graph = &model.graph;
    let mut names: HashSet<&str> = HashSet::new();
    names.extend(graph.input.iter().map(|v| v.name.as_str()));
    names.extend(graph.output.iter().map(|v| v.name.as_str()));
    names.extend(graph.initializer.iter().map(|t| t.name.as_str()));
    for node in &graph.node {
        names.extend(node.input.iter().map(String::as_str));
        names.extend(node.output.iter().map(String::as_str));
    }
    names
}

/// The static type of a graph input: its declared type, with the shape given by
/// `--input-shape` when there is one.
fn input_type(value: &ValueInfoProto, given: Option<&Vec<usize>>) -> ConvResult<TensorType> {
    let tensor = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::Tensor(tensor)) => tensor,
        Some(other) => refuse!(
            "is a {}, which is not supported (nnc supports tensor inputs only)",
            other.kind()
        ),
        None => bail!("has no declared type"),
    };
    let dtype = dtype_of(tensor.elem_type)?;
    let declared = tensor.shape.as_ref().map(|s| s.dim.as_slice());
    let name = &value.name;
    if let Some(dims) = given {
        if let Some(declared) = declared
            && declared.len() != dims.len()
        {
            bail!(
                "--input-shape gives {} dims, the model declares rank {}",
                dims.len(),
                declared.len()
            );
        }
        let count = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
            .filter(|&c| c <= MAX_ELEMENTS);
        if count.is_none() {
            bail!("--input-shape {dims:?} has too many elements");
        }
        return Ok(TensorType::new(dtype, dims.clone()));
    }
    let Some(declared) = declared else {
        bail!(
            "has no declared shape; give one with --input-shape {name}=DIMS (e.g. \
             --input-shape {name}=1x3x224x224)"
        );
    };
    let mut shape = Vec::with_capacity(declared.len());
    let mut missing = None;
    for (i, d) in declared.iter().enumerate() {
        match &d.value {
            Some(DimensionValue::DimValue(v)) if *v >= 0 => shape.push(*v as usize),
            Some(DimensionValue::DimValue(v)) => bail!("dim {i} is negative ({v})"),
            Some(DimensionValue::DimParam(p)) if !p.is_empty() => {
                missing.get_or_insert(format!("dim {i} is symbolic ('{p}')"));
                shape.push(1);
            }
            _ => {
                missing.get_or_insert(format!("dim {i} is unknown"));
                shape.push(1);
            }
        }
    }
    if let Some(what) = missing {
        let example: Vec<String> = shape.iter().map(usize::to_string).collect();
        bail!(
            "{what}; give every dim with --input-shape {name}=DIMS, e.g. --input-shape {name}={}",
            example.join("x")
        );
    }
    let count = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&c| c <= MAX_ELEMENTS);
    if count.is_none() {
        bail!("declared shape {shape:?} has too many elements");
    }
    Ok(TensorType::new(dtype, shape))
}
