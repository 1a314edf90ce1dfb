//! Constant tensors: a dtype, a static shape and little-endian element bytes.
//!
//! The bytes are a [`Bytes`] so that weights decoded from a memory-mapped model are
//! views into the file, not copies. Typed access copies into a `Vec` or an ndarray,
//! which also takes care of alignment (weights in a protobuf are not aligned).

use std::fmt;

use bytes::Bytes;
use half::f16;
use ndarray::{ArrayD, IxDyn};

use crate::{DType, OpError, OpResult};

/// A Rust type that holds one element of a [`DType`].
pub trait Element:
    Copy + Default + PartialEq + PartialOrd + fmt::Debug + Send + Sync + 'static
{
    const DTYPE: DType;
    /// Decodes little-endian elements from bytes of any alignment.
    fn decode(bytes: &[u8]) -> Vec<Self>;
    /// Encodes elements as little-endian bytes.
    fn encode(values: &[Self]) -> Vec<u8>;
    /// Numeric conversions with Rust `as` semantics (saturating float -> int).
    fn to_f64(self) -> f64;
    fn from_f64(value: f64) -> Self;
    fn to_i64(self) -> i64;
    fn from_i64(value: i64) -> Self;
}

macro_rules! pod_element {
    ($t:ty, $dtype:expr) => {
        impl Element for $t {
            const DTYPE: DType = $dtype;
            fn decode(bytes: &[u8]) -> Vec<Self> {
                bytemuck::pod_collect_to_vec(bytes)
            }
            fn encode(values: &[Self]) -> Vec<u8> {
                bytemuck::cast_slice(values).to_vec()
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(value: f64) -> Self {
                value as $t
            }
            fn to_i64(self) -> i64 {
                self as i64
            }
            fn from_i64(value: i64) -> Self {
                value as $t
            }
        }
    };
}

pod_element!(f32, DType::F32);
pod_element!(f64, DType::F64);
pod_element!(i8, DType::I8);
pod_element!(u8, DType::U8);
pod_element!(i16, DType::I16);
pod_element!(u16, DType::U16);
pod_element!(i32, DType::I32);
pod_element!(u32, DType::U32);
pod_element!(i64, DType::I64);
pod_element!(u64, DType::U64);

impl Element for f16 {
    const DTYPE: DType = DType::F16;
    fn decode(bytes: &[u8]) -> Vec<Self> {
        bytemuck::pod_collect_to_vec(bytes)
    }
    fn encode(values: &[Self]) -> Vec<u8> {
        bytemuck::cast_slice(values).to_vec()
    }
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn from_f64(value: f64) -> Self {
        f16_from_f64(value)
    }
    fn to_i64(self) -> i64 {
        self.to_f32() as i64
    }
    fn from_i64(value: i64) -> Self {
        f16::from_f32(value as f32)
    }
}

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn decode(bytes: &[u8]) -> Vec<Self> {
        bytes.iter().map(|&b| b != 0).collect()
    }
    fn encode(values: &[Self]) -> Vec<u8> {
        values.iter().map(|&b| b as u8).collect()
    }
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn from_f64(value: f64) -> Self {
        value != 0.0
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_i64(value: i64) -> Self {
        value != 0
    }
}

/// f64 to f16 with a single rounding to nearest-even. (`half` goes through f32 on
/// x86 with F16C, which rounds twice.) Rounding to f32 *to odd* first keeps the
/// information the second rounding needs: f32 has more than 11 + 2 bits.
fn f16_from_f64(x: f64) -> f16 {
    if x.is_nan() {
        return f16::NAN;
    }
    let magnitude = x.abs();
    let mut narrow = magnitude as f32;
    if narrow as f64 != magnitude && narrow.to_bits() & 1 == 0 {
        // Inexact and even: the neighbour on the other side of `magnitude` is odd.
        let bits = narrow.to_bits();
        narrow = f32::from_bits(if (narrow as f64) < magnitude {
            bits + 1
        } else {
            bits - 1
        });
    }
    let rounded = f16::from_f32(narrow);
    if x.is_sign_negative() {
        -rounded
    } else {
        rounded
    }
}

/// Runs `$body` with `$T` bound to the Rust element type of `$dtype` (every dtype).
#[macro_export]
macro_rules! dispatch_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::f16;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::DType::U16 => {
                type $T = u16;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::U32 => {
                type $T = u32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::U64 => {
                type $T = u64;
                $body
            }
            $crate::DType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}

/// Like [`dispatch_dtype!`] for the numeric dtypes; `bool` takes the `else` branch.
#[macro_export]
macro_rules! dispatch_numeric {
    ($dtype:expr, $T:ident => $body:expr, else $other:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::f16;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::DType::U16 => {
                type $T = u16;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::U32 => {
                type $T = u32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::U64 => {
                type $T = u64;
                $body
            }
            $crate::DType::Bool => $other,
        }
    };
}

/// Like [`dispatch_dtype!`] for the float dtypes; the others take the `else` branch.
#[macro_export]
macro_rules! dispatch_float {
    ($dtype:expr, $T:ident => $body:expr, else $other:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::f16;
                $body
            }
            _ => $other,
        }
    };
}

/// A tensor whose value is known: dtype, static shape and element bytes.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: Bytes,
}

impl Tensor {
    /// Wraps little-endian element bytes; fails if their length does not fit the shape.
    pub fn from_bytes(dtype: DType, shape: Vec<usize>, data: Bytes) -> OpResult<Tensor> {
        let len = checked_len(&shape)?;
        let expected = len.checked_mul(dtype.size()).ok_or("tensor too large")?;
        if data.len() != expected {
            return Err(OpError(format!(
                "{dtype} tensor of shape {shape:?} needs {expected} bytes, has {}",
                data.len()
            )));
        }
        Ok(Tensor { dtype, shape, data })
    }

    pub fn from_vec<T: Element>(shape: Vec<usize>, values: Vec<T>) -> OpResult<Tensor> {
        Tensor::from_bytes(T::DTYPE, shape, Bytes::from(T::encode(&values)))
    }

    pub fn from_array<T: Element>(array: ArrayD<T>) -> Tensor {
        let shape = array.shape().to_vec();
        let values: Vec<T> = array.iter().copied().collect();
        Tensor {
            dtype: T::DTYPE,
            shape,
            data: Bytes::from(T::encode(&values)),
        }
    }

    pub fn scalar<T: Element>(value: T) -> Tensor {
        Tensor {
            dtype: T::DTYPE,
            shape: vec![],
            data: Bytes::from(T::encode(&[value])),
        }
    }

    /// A tensor of `shape` with every element zero (false).
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> OpResult<Tensor> {
        let len = checked_len(&shape)?;
        Tensor::from_bytes(dtype, shape, Bytes::from(vec![0u8; len * dtype.size()]))
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The little-endian element bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }

    /// The same elements viewed with another shape of equal size.
    pub fn reshaped(&self, shape: Vec<usize>) -> OpResult<Tensor> {
        Tensor::from_bytes(self.dtype, shape, self.data.clone())
    }

    pub fn to_vec<T: Element>(&self) -> OpResult<Vec<T>> {
        if self.dtype != T::DTYPE {
            return Err(OpError(format!(
                "expected a {} tensor, got {}",
                T::DTYPE,
                self.dtype
            )));
        }
        Ok(T::decode(&self.data))
    }

    pub fn to_array<T: Element>(&self) -> OpResult<ArrayD<T>> {
        let values = self.to_vec::<T>()?;
        ArrayD::from_shape_vec(IxDyn(&self.shape), values).map_err(|e| OpError(e.to_string()))
    }

    /// Every element converted to f64 (any dtype).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        dispatch_dtype!(self.dtype, T => T::decode(&self.data).into_iter().map(Element::to_f64).collect())
    }

    /// Every element converted to i64 (any dtype; floats truncate).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        dispatch_dtype!(self.dtype, T => T::decode(&self.data).into_iter().map(Element::to_i64).collect())
    }

    /// Builds a tensor of `dtype` from f64 values (Rust `as` semantics).
    pub fn from_f64_values(dtype: DType, shape: Vec<usize>, values: &[f64]) -> OpResult<Tensor> {
        dispatch_dtype!(dtype, T => Tensor::from_vec(shape, values.iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>()))
    }

    /// Builds a tensor of `dtype` from i64 values (Rust `as` semantics).
    pub fn from_i64_values(dtype: DType, shape: Vec<usize>, values: &[i64]) -> OpResult<Tensor> {
        dispatch_dtype!(dtype, T => Tensor::from_vec(shape, values.iter().map(|&v| T::from_i64(v)).collect::<Vec<T>>()))
    }
}

fn checked_len(shape: &[usize]) -> OpResult<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| OpError(format!("shape {shape:?} has too many elements")))
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.dtype, self.shape)?;
        const SHOWN: usize = 8;
        let values = self.to_f64_vec();
        let head: Vec<String> = values.iter().take(SHOWN).map(|v| format!("{v}")).collect();
        let more = if values.len() > SHOWN { ", ..." } else { "" };
        write!(f, " [{}{more}]", head.join(", "))
    }
}
