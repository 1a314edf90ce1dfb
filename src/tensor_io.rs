//! Reading and writing tensors: ONNX TensorProto `.pb` files and numpy `.npy`.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use nnc_ir::{DType, Tensor};

use crate::error::{Error, Result};

/// Reads a tensor from `.pb` (TensorProto) or `.npy`, chosen by extension.
pub fn read_tensor(path: &Path) -> Result<Tensor> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => read_npy(path),
        _ => Ok(nnc_frontend::read_tensor_file(path)?.1),
    }
}

pub fn write_pb(path: &Path, name: &str, tensor: &Tensor) -> Result<()> {
    Ok(nnc_frontend::write_tensor_file(path, name, tensor)?)
}

/// Runs `$body` with `$t` bound to the Rust type `.npy` files use for `$dtype`.
macro_rules! with_npy_type {
    ($dtype:expr, $t:ident => $body:expr, f16 => $f16:expr) => {
        match $dtype {
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
            DType::I8 => {
                type $t = i8;
                $body
            }
            DType::U8 => {
                type $t = u8;
                $body
            }
            DType::I16 => {
                type $t = i16;
                $body
            }
            DType::U16 => {
                type $t = u16;
                $body
            }
            DType::I32 => {
                type $t = i32;
                $body
            }
            DType::U32 => {
                type $t = u32;
                $body
            }
            DType::I64 => {
                type $t = i64;
                $body
            }
            DType::U64 => {
                type $t = u64;
                $body
            }
            DType::Bool => {
                type $t = bool;
                $body
            }
            DType::F16 => $f16,
        }
    };
}

fn read_npy(path: &Path) -> Result<Tensor> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::file(path, e))?;
    // ndarray-npy needs the element type up front: read it from the header.
    let dtype = npy_dtype(&bytes).ok_or_else(|| {
        Error::file(
            path,
            "not a .npy file nnc reads (little-endian numeric or bool)",
        )
    })?;
    with_npy_type!(dtype, T => ArrayD::<T>::read_npy(bytes.as_slice())
        .map(Tensor::from_array)
        .map_err(|e| Error::file(path, e)),
        f16 => Err(Error::file(path, "float16 .npy is not supported; use .pb")))
}

/// The dtype named by the `descr` field of a `.npy` header.
fn npy_dtype(bytes: &[u8]) -> Option<DType> {
    let header = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]);
    let rest = &header[header.find("'descr':")? + 8..];
    let descr = rest.split('\'').nth(1)?;
    Some(match descr {
        "<f4" => DType::F32,
        "<f8" => DType::F64,
        "<f2" => DType::F16,
        "|i1" => DType::I8,
        "|u1" => DType::U8,
        "<i2" => DType::I16,
        "<u2" => DType::U16,
        "<i4" => DType::I32,
        "<u4" => DType::U32,
        "<i8" => DType::I64,
        "<u8" => DType::U64,
        "|b1" => DType::Bool,
        _ => return None,
    })
}

pub fn write_npy(path: &Path, tensor: &Tensor) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::file(path, e))?;
    let writer = BufWriter::new(file);
    with_npy_type!(tensor.dtype(), T => tensor
        .to_array::<T>()
        .map_err(|e| Error::file(path, e))?
        .write_npy(writer)
        .map_err(|e| Error::file(path, e)),
        f16 => Err(Error::file(path, "float16 cannot be written as .npy; use --format pb")))
}
