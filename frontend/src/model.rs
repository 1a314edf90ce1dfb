//! Decoding a model file and checking what nnc needs of it before looking at its
//! graph: that it is a model at all, its IR version, and the opsets it imports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;

use crate::proto::{GraphProto, ModelProto};
use crate::{FrontendError, MAX_IR_VERSION, MAX_OPSET, MIN_IR_VERSION, MIN_OPSET};

/// A decoded model whose header has been checked.
pub(crate) struct Model {
    pub path: PathBuf,
    pub proto: ModelProto,
    pub graph: GraphProto,
    /// Opset version per domain, with "ai.onnx" spelled "".
    pub opsets: BTreeMap<String, i64>,
}

/// The default domain has two spellings; both become "".
pub(crate) fn normalize_domain(domain: &str) -> &str {
    if domain == "ai.onnx" { "" } else { domain }
}

impl Model {
    pub fn decode(bytes: Bytes, path: &Path) -> Result<Model, FrontendError> {
        let not_a_model = |reason: String| FrontendError::NotAModel {
            path: path.to_path_buf(),
            reason,
        };
        if bytes.is_empty() {
            return Err(not_a_model("the file is empty".into()));
        }
        let mut proto = ModelProto::decode(bytes)
            .map_err(|e| not_a_model(format!("protobuf decoding failed ({e})")))?;
        let graph = proto.graph.take();
        let graph = match (graph, proto.ir_version) {
            (None, 0) => {
                return Err(not_a_model(
                    "it has neither a graph nor an IR version (another kind of protobuf, \
                     such as a TensorProto?)"
                        .into(),
                ));
            }
            (None, _) => return Err(not_a_model("it has no graph".into())),
            (Some(_), 0) => return Err(not_a_model("it has no IR version".into())),
            (Some(graph), _) => graph,
        };
        if !(MIN_IR_VERSION..=MAX_IR_VERSION).contains(&proto.ir_version) {
            return Err(FrontendError::IrVersion {
                path: path.to_path_buf(),
                version: proto.ir_version,
            });
        }
        let mut opsets = BTreeMap::new();
        for import in &proto.opset_import {
            opsets
                .entry(normalize_domain(&import.domain).to_string())
                .or_insert(import.version);
        }
        if let Some(&version) = opsets.get("")
            && !(MIN_OPSET..=MAX_OPSET).contains(&version)
        {
            return Err(FrontendError::Opset {
                path: path.to_path_buf(),
                version,
            });
        }
        Ok(Model {
            path: path.to_path_buf(),
            proto,
            graph,
            opsets,
        })
    }

    /// The imported opset version of a (normalised) domain.
    pub fn opset(&self, domain: &str) -> Option<i64> {
        self.opsets.get(domain).copied()
    }

    pub fn graph_error(&self, message: impl Into<String>) -> FrontendError {
        FrontendError::Graph {
            path: self.path.clone(),
            message: message.into(),
        }
    }
}
