//! Value types of the kernel IR: an element type and a lane count.

use std::fmt;

use crate::DType;

/// The element types kernels compute with. `Bool` is one byte holding 0 or 1 in
/// memory; in registers it is whatever the emitter uses for comparison results.
/// `F16` exists only in memory: kernels convert it to and from `F32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElemType {
    F32,
    F64,
    F16,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
}

/// A scalar (`lanes == 1`) or vector type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ty {
    pub elem: ElemType,
    pub lanes: u8,
}

impl ElemType {
    pub fn size(self) -> usize {
        DType::from(self).size()
    }

    pub fn is_float(self) -> bool {
        matches!(self, ElemType::F32 | ElemType::F64 | ElemType::F16)
    }

    pub fn is_signed(self) -> bool {
        matches!(
            self,
            ElemType::I8 | ElemType::I16 | ElemType::I32 | ElemType::I64
        )
    }

    pub fn is_int(self) -> bool {
        !self.is_float() && self != ElemType::Bool
    }

    pub fn name(self) -> &'static str {
        DType::from(self).name()
    }
}

impl From<DType> for ElemType {
    fn from(dtype: DType) -> Self {
        match dtype {
            DType::F32 => ElemType::F32,
            DType::F64 => ElemType::F64,
            DType::F16 => ElemType::F16,
            DType::I8 => ElemType::I8,
            DType::U8 => ElemType::U8,
            DType::I16 => ElemType::I16,
            DType::U16 => ElemType::U16,
            DType::I32 => ElemType::I32,
            DType::U32 => ElemType::U32,
            DType::I64 => ElemType::I64,
            DType::U64 => ElemType::U64,
            DType::Bool => ElemType::Bool,
        }
    }
}

impl From<ElemType> for DType {
    fn from(elem: ElemType) -> Self {
        match elem {
            ElemType::F32 => DType::F32,
            ElemType::F64 => DType::F64,
            ElemType::F16 => DType::F16,
            ElemType::I8 => DType::I8,
            ElemType::U8 => DType::U8,
            ElemType::I16 => DType::I16,
            ElemType::U16 => DType::U16,
            ElemType::I32 => DType::I32,
            ElemType::U32 => DType::U32,
            ElemType::I64 => DType::I64,
            ElemType::U64 => DType::U64,
            ElemType::Bool => DType::Bool,
        }
    }
}

impl Ty {
    pub const INDEX: Ty = Ty::scalar(ElemType::I64);
    pub const F32: Ty = Ty::scalar(ElemType::F32);
    pub const BOOL: Ty = Ty::scalar(ElemType::Bool);

    pub const fn scalar(elem: ElemType) -> Ty {
        Ty { elem, lanes: 1 }
    }

    pub const fn vector(elem: ElemType, lanes: u8) -> Ty {
        Ty { elem, lanes }
    }

    pub fn is_vector(self) -> bool {
        self.lanes > 1
    }

    /// Bytes of the whole value.
    pub fn size(self) -> usize {
        self.elem.size() * self.lanes as usize
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lanes == 1 {
            f.write_str(self.elem.name())
        } else {
            write!(f, "{}x{}", self.elem.name(), self.lanes)
        }
    }
}
