//! Element arithmetic shared by the compute-heavy ops (matrix products, convolution,
//! pooling, normalisation, resize), and the operand look-ups they all start with.
//!
//! Two traits: [`Scalar`] is what a matrix product needs (integers wrap as C does,
//! so that a bad input cannot panic a debug build), [`Real`] adds the float math.
//! Float ops compute in f32 for f32 and f16 (as onnxruntime does) and in f64 for
//! f64; [`dispatch_real!`] picks that type and [`Real::load`] / [`Real::store`]
//! convert at the edges.

use half::f16;

use crate::{DType, Element, Fact, OpResult, Tensor, TensorType, op_bail};

/// A number a matrix product can accumulate: ring operations and zero.
pub(in crate::ops) trait Scalar: Element {
    fn add(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
}

macro_rules! float_scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            #[inline(always)]
            fn add(self, other: Self) -> Self { self + other }
            #[inline(always)]
            fn mul(self, other: Self) -> Self { self * other }
        }
    )*};
}

macro_rules! int_scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            #[inline(always)]
            fn add(self, other: Self) -> Self { self.wrapping_add(other) }
            #[inline(always)]
            fn mul(self, other: Self) -> Self { self.wrapping_mul(other) }
        }
    )*};
}

float_scalar!(f32, f64);
int_scalar!(i8, u8, i16, u16, i32, u32, i64, u64);

/// The type a float op computes in, with the math the ops need.
pub(in crate::ops) trait Real:
    Scalar
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    fn of(value: f64) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn powf(self, p: Self) -> Self;
    /// The operand's elements in this type: f32 reads f32 and f16, f64 reads f64.
    fn load(tensor: &Tensor) -> OpResult<Vec<Self>>;
    /// Values rounded to `dtype` (the op's output type) as a tensor.
    fn store(dtype: DType, shape: Vec<usize>, values: Vec<Self>) -> OpResult<Tensor>;
}

macro_rules! real {
    ($t:ty) => {
        const ZERO: Self = 0.0;
        const ONE: Self = 1.0;
        #[inline(always)]
        fn of(value: f64) -> Self {
            value as $t
        }
        #[inline(always)]
        fn sqrt(self) -> Self {
            <$t>::sqrt(self)
        }
        #[inline(always)]
        fn abs(self) -> Self {
            <$t>::abs(self)
        }
        #[inline(always)]
        fn powf(self, p: Self) -> Self {
            <$t>::powf(self, p)
        }
    };
}

impl Real for f32 {
    real!(f32);
    fn load(tensor: &Tensor) -> OpResult<Vec<f32>> {
        match tensor.dtype() {
            DType::F32 => tensor.to_vec::<f32>(),
            DType::F16 => Ok(tensor
                .to_vec::<f16>()?
                .into_iter()
                .map(f16::to_f32)
                .collect()),
            other => op_bail!("expected an f32 or f16 operand, got {other}"),
        }
    }
    fn store(dtype: DType, shape: Vec<usize>, values: Vec<f32>) -> OpResult<Tensor> {
        match dtype {
            DType::F32 => Tensor::from_vec(shape, values),
            DType::F16 => Tensor::from_vec(shape, values.into_iter().map(f16::from_f32).collect()),
            other => op_bail!("cannot store f32 results as {other}"),
        }
    }
}

impl Real for f64 {
    real!(f64);
    fn load(tensor: &Tensor) -> OpResult<Vec<f64>> {
        match tensor.dtype() {
            DType::F64 => tensor.to_vec::<f64>(),
            other => op_bail!("expected an f64 operand, got {other}"),
        }
    }
    fn store(dtype: DType, shape: Vec<usize>, values: Vec<f64>) -> OpResult<Tensor> {
        match dtype {
            DType::F64 => Tensor::from_vec(shape, values),
            other => op_bail!("cannot store f64 results as {other}"),
        }
    }
}

/// Runs `$body` with `$R` bound to the compute type of the float `$dtype`
/// (f32 for f32 and f16, f64 for f64); other dtypes take the `else` branch.
macro_rules! dispatch_real {
    ($dtype:expr, $R:ident => $body:expr, else $other:expr) => {
        match $dtype {
            $crate::DType::F32 | $crate::DType::F16 => {
                type $R = f32;
                $body
            }
            $crate::DType::F64 => {
                type $R = f64;
                $body
            }
            _ => $other,
        }
    };
}
pub(in crate::ops) use dispatch_real;

/// The type of required operand `index`, or an error naming it.
pub(in crate::ops) fn operand_type<'a>(
    inputs: &[Option<Fact<'a>>],
    index: usize,
    what: &str,
) -> OpResult<&'a TensorType> {
    match inputs.get(index) {
        Some(Some(fact)) => Ok(fact.ty),
        _ => op_bail!("operand {index} ({what}) is missing"),
    }
}

/// The type of optional operand `index` when present.
pub(in crate::ops) fn optional_type<'a>(
    inputs: &[Option<Fact<'a>>],
    index: usize,
) -> Option<&'a TensorType> {
    inputs.get(index).copied().flatten().map(|fact| fact.ty)
}

/// The value of required operand `index`, or an error naming it.
pub(in crate::ops) fn operand<'a>(
    inputs: &[Option<&'a Tensor>],
    index: usize,
    what: &str,
) -> OpResult<&'a Tensor> {
    match inputs.get(index) {
        Some(Some(tensor)) => Ok(tensor),
        _ => op_bail!("operand {index} ({what}) is missing"),
    }
}

/// The value of optional operand `index` when present.
pub(in crate::ops) fn optional<'a>(
    inputs: &[Option<&'a Tensor>],
    index: usize,
) -> Option<&'a Tensor> {
    inputs.get(index).copied().flatten()
}

/// `out[m×n] += a[m×k] · b[k×n]`, all row major. The i-k-j order walks rows of `b`
/// and `out` contiguously; columns are taken in blocks so that the rows of `b` a
/// block reads stay in cache while every row of `a` passes over them.
pub(in crate::ops) fn gemm_acc<S: Scalar>(
    a: &[S],
    b: &[S],
    out: &mut [S],
    m: usize,
    k: usize,
    n: usize,
) {
    const COLUMN_BLOCK: usize = 256;
    if m == 0 || k == 0 || n == 0 {
        return;
    }
    let (a, b, out) = (&a[..m * k], &b[..k * n], &mut out[..m * n]);
    let mut j0 = 0;
    while j0 < n {
        let j1 = (j0 + COLUMN_BLOCK).min(n);
        for (a_row, out_row) in a.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
            let out_block = &mut out_row[j0..j1];
            for (&av, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
                for (o, &bv) in out_block.iter_mut().zip(&b_row[j0..j1]) {
                    *o = o.add(av.mul(bv));
                }
            }
        }
        j0 = j1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_acc_matches_definition() {
        // [2x3] · [3x2]
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [7.0f32, 8.0, 9.0, 10.0, 11.0, 12.0];
        let mut out = [1.0f32; 4];
        gemm_acc(&a, &b, &mut out, 2, 3, 2);
        assert_eq!(out, [59.0, 65.0, 140.0, 155.0]);
    }

    #[test]
    fn integers_wrap() {
        let mut out = [0i32];
        gemm_acc(&[i32::MAX], &[2], &mut out, 1, 1, 1);
        assert_eq!(out, [-2]);
    }

    #[test]
    fn f16_computes_in_f32() {
        let t = Tensor::from_vec(vec![2], vec![f16::from_f32(1.5), f16::from_f32(-2.0)]).unwrap();
        let v = f32::load(&t).unwrap();
        assert_eq!(v, vec![1.5, -2.0]);
        let back = f32::store(DType::F16, vec![2], v).unwrap();
        assert_eq!(back, t);
        assert!(f64::load(&t).is_err());
    }
}
