//! ONNX tensors to IR tensors, for every way a `TensorProto` can hold its data:
//! the typed fields, `raw_data` (kept as a view into the model file) and external
//! data files (memory-mapped once, then sliced).

mod external;
mod file;

pub use external::ExternalData;
pub use file::{read_tensor_file, write_tensor_file};

use bytes::Bytes;
use nnc_ir::{DType, Tensor, f16};

use crate::error::ConvertError;
use crate::proto::{DATA_LOCATION_EXTERNAL, TensorProto, data_type};

/// Tensors (and shapes computed from models) larger than this many elements are
/// refused: no edge model has them, and the bound keeps every later size
/// computation (elements x bytes per element, strides) far from overflow, so a
/// corrupted dim is an error rather than a huge allocation.
pub const MAX_ELEMENTS: u64 = 1 << 40;

/// The IR dtype of an ONNX element type code. ONNX types nnc has no IR dtype
/// for (string, complex, bfloat16, the float8/6/4 and int4/2 families) are
/// refused as unsupported; codes ONNX does not define are malformed.
pub fn dtype_of(code: i32) -> Result<DType, ConvertError> {
    Ok(match code {
        data_type::FLOAT => DType::F32,
        data_type::DOUBLE => DType::F64,
        data_type::FLOAT16 => DType::F16,
        data_type::INT8 => DType::I8,
        data_type::UINT8 => DType::U8,
        data_type::INT16 => DType::I16,
        data_type::UINT16 => DType::U16,
        data_type::INT32 => DType::I32,
        data_type::UINT32 => DType::U32,
        data_type::INT64 => DType::I64,
        data_type::UINT64 => DType::U64,
        data_type::BOOL => DType::Bool,
        data_type::UNDEFINED => return Err("has no data type".into()),
        other => match data_type::known_name(other) {
            Some(name) => {
                return Err(ConvertError::unsupported(format!(
                    "unsupported dtype {name}"
                )));
            }
            None => return Err(format!("data type {other} is not an ONNX data type").into()),
        },
    })
}

/// The ONNX element type code of an IR dtype.
pub fn onnx_code(dtype: DType) -> i32 {
    match dtype {
        DType::F32 => data_type::FLOAT,
        DType::F64 => data_type::DOUBLE,
        DType::F16 => data_type::FLOAT16,
        DType::I8 => data_type::INT8,
        DType::U8 => data_type::UINT8,
        DType::I16 => data_type::INT16,
        DType::U16 => data_type::UINT16,
        DType::I32 => data_type::INT32,
        DType::U32 => data_type::UINT32,
        DType::I64 => data_type::INT64,
        DType::U64 => data_type::UINT64,
        DType::Bool => data_type::BOOL,
    }
}

/// ONNX dims as a static shape: every dim non-negative and the element count at
/// most [`MAX_ELEMENTS`].
pub fn checked_shape(dims: &[i64]) -> Result<Vec<usize>, String> {
    let mut count: u64 = 1;
    let mut shape = Vec::with_capacity(dims.len().min(64));
    for &d in dims {
        let Ok(d) = u64::try_from(d) else {
            return Err(format!("dims {dims:?} have a negative dim"));
        };
        count = count.saturating_mul(d);
        if d > MAX_ELEMENTS || count > MAX_ELEMENTS {
            return Err(format!(
                "dims {dims:?} have more than {MAX_ELEMENTS} elements"
            ));
        }
        shape.push(d as usize);
    }
    Ok(shape)
}

/// Decodes a tensor proto into an IR tensor. The error is a message about the
/// tensor, without its name (the caller knows where it was found).
pub fn decode_tensor(proto: &TensorProto, external: &ExternalData) -> Result<Tensor, ConvertError> {
    let dtype = dtype_of(proto.data_type)?;
    if proto.segment.is_some() {
        return Err(ConvertError::unsupported(
            "segmented tensors are not supported",
        ));
    }
    let shape = checked_shape(&proto.dims)?;
    let count: usize = shape.iter().product();
    let len = count * dtype.size();
    let bytes = if proto.data_location == DATA_LOCATION_EXTERNAL {
        external.slice(proto, len)?
    } else if !proto.raw_data.is_empty() {
        if proto.raw_data.len() != len {
            return Err(format!(
                "{dtype} tensor of shape {shape:?} needs {len} bytes of raw_data, has {}",
                proto.raw_data.len()
            )
            .into());
        }
        proto.raw_data.clone()
    } else {
        typed_data(proto, dtype, count)?
    };
    let bytes = if dtype == DType::Bool {
        normalize_bools(bytes)
    } else {
        bytes
    };
    Ok(Tensor::from_bytes(dtype, shape, bytes)?)
}

/// Elements stored in the typed fields, as little-endian bytes. Which field holds
/// which dtype is fixed by the spec: int32_data also carries the narrow integers,
/// bool and the bits of float16; uint64_data carries uint32 and uint64.
fn typed_data(proto: &TensorProto, dtype: DType, count: usize) -> Result<Bytes, String> {
    let (field, found) = match dtype {
        DType::F32 => ("float_data", proto.float_data.len()),
        DType::F64 => ("double_data", proto.double_data.len()),
        DType::I64 => ("int64_data", proto.int64_data.len()),
        DType::U32 | DType::U64 => ("uint64_data", proto.uint64_data.len()),
        _ => ("int32_data", proto.int32_data.len()),
    };
    if found != count {
        return Err(format!(
            "{dtype} tensor of {count} elements has {found} values in {field} (and no raw_data)"
        ));
    }
    let ints = &proto.int32_data;
    let bytes: Vec<u8> = match dtype {
        DType::F32 => proto
            .float_data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::F64 => proto
            .double_data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::I64 => proto
            .int64_data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::U64 => proto
            .uint64_data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::U32 => proto
            .uint64_data
            .iter()
            .flat_map(|&v| (v as u32).to_le_bytes())
            .collect(),
        DType::I32 => ints.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::I16 => ints
            .iter()
            .flat_map(|&v| (v as i16).to_le_bytes())
            .collect(),
        DType::U16 => ints
            .iter()
            .flat_map(|&v| (v as u16).to_le_bytes())
            .collect(),
        DType::F16 => ints
            .iter()
            .flat_map(|&v| f16::from_bits(v as u16).to_le_bytes())
            .collect(),
        DType::I8 => ints.iter().map(|&v| v as i8 as u8).collect(),
        DType::U8 => ints.iter().map(|&v| v as u8).collect(),
        DType::Bool => ints.iter().map(|&v| u8::from(v != 0)).collect(),
    };
    Ok(Bytes::from(bytes))
}

/// Bool bytes as 0 or 1 (the IR and the backends read them as such); a copy only
/// when some byte is neither.
fn normalize_bools(bytes: Bytes) -> Bytes {
    if bytes.iter().all(|&b| b <= 1) {
        bytes
    } else {
        bytes.iter().map(|&b| u8::from(b != 0)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(data_type: i32, dims: Vec<i64>) -> TensorProto {
        TensorProto {
            data_type,
            dims,
            ..TensorProto::default()
        }
    }

    #[test]
    fn typed_fields_decode() {
        let none = ExternalData::none();
        let mut p = proto(data_type::INT8, vec![3]);
        p.int32_data = vec![-1, 2, 127];
        let t = decode_tensor(&p, &none).unwrap();
        assert_eq!(t.to_vec::<i8>().unwrap(), vec![-1, 2, 127]);

        let mut p = proto(data_type::FLOAT16, vec![2]);
        p.int32_data = vec![
            i32::from(f16::from_f32(1.5).to_bits()),
            i32::from(f16::from_f32(-2.0).to_bits()),
        ];
        let t = decode_tensor(&p, &none).unwrap();
        assert_eq!(t.to_f64_vec(), vec![1.5, -2.0]);

        let mut p = proto(data_type::UINT32, vec![2]);
        p.uint64_data = vec![7, 4_000_000_000];
        let t = decode_tensor(&p, &none).unwrap();
        assert_eq!(t.to_vec::<u32>().unwrap(), vec![7, 4_000_000_000]);

        let mut p = proto(data_type::BOOL, vec![2]);
        p.raw_data = Bytes::from_static(&[0, 5]);
        let t = decode_tensor(&p, &none).unwrap();
        assert_eq!(t.bytes().as_ref(), &[0, 1]);
    }

    #[test]
    fn raw_data_is_not_copied() {
        let raw = Bytes::from(vec![0u8; 16]);
        let mut p = proto(data_type::FLOAT, vec![2, 2]);
        p.raw_data = raw.clone();
        let t = decode_tensor(&p, &ExternalData::none()).unwrap();
        assert_eq!(t.bytes().as_ptr(), raw.as_ptr());
    }

    #[test]
    fn bad_tensors_are_errors() {
        let none = ExternalData::none();
        let message = |p: &TensorProto| {
            let e = decode_tensor(p, &none).unwrap_err();
            assert!(!e.unsupported, "malformed, not unsupported: {e:?}");
            e.message
        };
        let mut p = proto(data_type::FLOAT, vec![3]);
        p.float_data = vec![1.0, 2.0];
        assert!(message(&p).contains("has 2 values"));
        let p = proto(data_type::FLOAT, vec![1_000_000, 1_000_000, 1_000_000]);
        assert!(message(&p).contains("more than"));
        let p = proto(data_type::FLOAT, vec![-1]);
        assert!(message(&p).contains("negative"));
        let p = proto(data_type::FLOAT, vec![i64::MAX, i64::MAX]);
        assert!(decode_tensor(&p, &none).is_err());
        let p = proto(99, vec![1]);
        assert!(message(&p).contains("not an ONNX data type"));
        let p = proto(data_type::UNDEFINED, vec![1]);
        assert!(message(&p).contains("no data type"));
    }

    #[test]
    fn onnx_dtypes_without_an_ir_dtype_are_unsupported() {
        let none = ExternalData::none();
        for (code, name) in [
            (data_type::BFLOAT16, "bfloat16"),
            (data_type::STRING, "string"),
            (data_type::COMPLEX64, "complex64"),
            (17, "float8e4m3fn"),
            (22, "int4"),
        ] {
            let e = decode_tensor(&proto(code, vec![1]), &none).unwrap_err();
            assert_eq!(
                e,
                ConvertError::unsupported(format!("unsupported dtype {name}"))
            );
        }
        let mut p = proto(data_type::FLOAT, vec![1]);
        p.float_data = vec![1.0];
        p.segment = Some(Default::default());
        assert!(decode_tensor(&p, &none).unwrap_err().unsupported);
    }
}
