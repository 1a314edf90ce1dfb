//! The facts of nnc-runtime's ABI that generated code and C text spell out: the
//! descriptor layout's version, the status codes and the dtype codes, all taken
//! from `nnc_runtime` so that there is one copy. The header tests check the C
//! layout against the Rust one's sizes and offsets.

use nnc_ir::DType;
use nnc_runtime::dtype;

pub use nnc_runtime::ABI_VERSION;

/// Every status code: C macro name (without the `NNC_` prefix), value, meaning.
pub const STATUS_CODES: &[(&str, i32, &str)] = nnc_runtime::status::ALL;

/// The ONNX `TensorProto.DataType` code of a dtype (`nnc_runtime::dtype`).
pub fn onnx_code(d: DType) -> u32 {
    match d {
        DType::F32 => dtype::F32,
        DType::U8 => dtype::U8,
        DType::I8 => dtype::I8,
        DType::U16 => dtype::U16,
        DType::I16 => dtype::I16,
        DType::I32 => dtype::I32,
        DType::I64 => dtype::I64,
        DType::Bool => dtype::BOOL,
        DType::F16 => dtype::F16,
        DType::F64 => dtype::F64,
        DType::U32 => dtype::U32,
        DType::U64 => dtype::U64,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_codes_are_distinct_and_known() {
        let mut codes: Vec<u32> = DType::ALL.iter().map(|&d| onnx_code(d)).collect();
        codes.sort();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13]);
    }
}
