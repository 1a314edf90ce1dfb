//! nnc's ONNX frontend: the one place that knows protobuf.
//!
//! [`load`] memory-maps a model, decodes it ([`proto`]), checks its IR version and
//! opsets, refuses it with one error listing every unsupported op, and converts
//! each node — by a converter chosen by op type and opset version (see
//! `ops/mod.rs`) — into [`nnc_ir::Graph`] nodes with resolved attributes. Weights
//! stay views into the mapped file (or into external data files).
//!
//! [`inspect`] reports what a model declares and which of its ops nnc cannot
//! convert, without building the graph. [`read_tensor_file`] and
//! [`write_tensor_file`] handle the single-tensor `.pb` files of ONNX test data.

mod error;
mod import;
mod info;
mod model;
mod ops;
pub mod proto;
mod tensor;

use std::path::Path;

use bytes::Bytes;

pub use error::{FrontendError, UnsupportedOp};
pub use import::ImportOptions;
pub use info::{Dim, Inspection, IoInfo, ModelInfo};
pub use tensor::{MAX_ELEMENTS, read_tensor_file, write_tensor_file};

use model::Model;

/// The oldest and newest ONNX IR versions nnc reads (the newest is that of the
/// onnx 1.23 package nnc is tested against).
pub const MIN_IR_VERSION: i64 = 3;
pub const MAX_IR_VERSION: i64 = 14;
/// The oldest and newest opsets of the default ONNX domain nnc reads.
pub const MIN_OPSET: i64 = 7;
pub const MAX_OPSET: i64 = 28;

/// A model converted to the IR, with what its file declared.
#[derive(Debug)]
pub struct ImportedModel {
    pub graph: nnc_ir::Graph,
    pub info: ModelInfo,
}

/// Loads the ONNX model at `path` into an IR graph.
pub fn load(path: &Path, options: &ImportOptions) -> Result<ImportedModel, FrontendError> {
    load_bytes(read(path)?, path, options)
}

/// Like [`load`], for a model already in memory. `path` names the model in
/// messages, and its directory is where external data files are looked up.
pub fn load_bytes(
    bytes: Bytes,
    path: &Path,
    options: &ImportOptions,
) -> Result<ImportedModel, FrontendError> {
    let model = Model::decode(bytes, path)?;
    let info = info::describe(&model);
    ops::check_support(&model)?;
    let graph = import::build(&model, options)?;
    Ok(ImportedModel { graph, info })
}

/// What the model at `path` declares, and the ops nnc cannot convert (an empty
/// list when it can convert them all). Fails only when the file is not a model
/// nnc can read at all.
pub fn inspect(path: &Path) -> Result<Inspection, FrontendError> {
    let model = Model::decode(read(path)?, path)?;
    Ok(Inspection {
        info: info::describe(&model),
        unsupported: ops::unsupported_ops(&model),
    })
}

fn read(path: &Path) -> Result<Bytes, FrontendError> {
    map_file(path).map_err(|source| FrontendError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The contents of a file as `Bytes` over a read-only memory mapping.
pub(crate) fn map_file(path: &Path) -> std::io::Result<Bytes> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() == 0 {
        // Mapping an empty file fails on some systems; there is nothing to map.
        return Ok(Bytes::new());
    }
    // SAFETY: the mapping is read-only. Like every tool that maps its inputs, nnc
    // assumes the model file is not truncated or rewritten while it runs.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(Bytes::from_owner(map))
}
