//! Single-tensor `.pb` files (a serialized `TensorProto`), the format of the ONNX
//! test data sets: `test_data_set_0/input_0.pb`.

use std::path::Path;

use nnc_ir::Tensor;
use prost::Message;

use super::{ExternalData, decode_tensor, onnx_code};
use crate::FrontendError;
use crate::proto::TensorProto;

/// Reads a `TensorProto` file: the tensor's name (possibly empty) and its value.
pub fn read_tensor_file(path: &Path) -> Result<(String, Tensor), FrontendError> {
    let bytes = crate::map_file(path).map_err(|source| FrontendError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let not_a_tensor = |reason: String| FrontendError::Tensor {
        path: path.to_path_buf(),
        tensor: String::new(),
        message: format!("not an ONNX TensorProto file: {reason}"),
        unsupported: false,
    };
    let proto = TensorProto::decode(bytes)
        .map_err(|e| not_a_tensor(format!("protobuf decoding failed ({e})")))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tensor =
        decode_tensor(&proto, &ExternalData::new(dir)).map_err(|e| FrontendError::Tensor {
            path: path.to_path_buf(),
            tensor: proto.name.clone(),
            message: e.message,
            unsupported: e.unsupported,
        })?;
    Ok((proto.name, tensor))
}

/// Writes a tensor as a `TensorProto` file with its elements in `raw_data`.
pub fn write_tensor_file(path: &Path, name: &str, tensor: &Tensor) -> Result<(), FrontendError> {
    let proto = TensorProto {
        dims: tensor.shape().iter().map(|&d| d as i64).collect(),
        data_type: onnx_code(tensor.dtype()),
        name: name.to_string(),
        raw_data: tensor.bytes().clone(),
        ..TensorProto::default()
    };
    std::fs::write(path, proto.encode_to_vec()).map_err(|source| FrontendError::Io {
        path: path.to_path_buf(),
        source,
    })
}
