//! Seeded random operands for the lowering tests.

use nnc_ir::{DType, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Every dtype of the IR.
pub const ALL_DTYPES: [DType; 12] = [
    DType::F32,
    DType::F64,
    DType::F16,
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
    DType::Bool,
];

pub const INT_DTYPES: [DType; 8] = [
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
];

pub const FLOAT_DTYPES: [DType; 3] = [DType::F32, DType::F64, DType::F16];

/// A tensor of `dtype` and `shape`: floats uniform in `[lo, hi]`, integers over
/// their whole range (or `[lo, hi]` when `small`), bools fair.
pub fn random(
    rng: &mut StdRng,
    dtype: DType,
    shape: &[usize],
    lo: f64,
    hi: f64,
    small: bool,
) -> Tensor {
    let len: usize = shape.iter().product();
    if dtype.is_float() {
        let v: Vec<f64> = (0..len).map(|_| rng.random_range(lo..=hi)).collect();
        return Tensor::from_f64_values(dtype, shape.to_vec(), &v).unwrap();
    }
    if dtype == DType::Bool {
        let v: Vec<i64> = (0..len).map(|_| rng.random_bool(0.5) as i64).collect();
        return Tensor::from_i64_values(dtype, shape.to_vec(), &v).unwrap();
    }
    let v: Vec<i64> = (0..len)
        .map(|_| {
            if small {
                rng.random_range(lo as i64..=hi as i64)
            } else {
                rng.random::<i64>()
            }
        })
        .collect();
    // from_i64_values wraps (`as`), which keeps the full range of every width.
    Tensor::from_i64_values(dtype, shape.to_vec(), &v).unwrap()
}

/// Tolerances (rtol, atol) for float results of `dtype`.
pub fn tolerance(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F64 => (1e-12, 1e-14),
        DType::F16 => (2e-3, 1e-3),
        _ => (2e-6, 1e-6),
    }
}

/// A tensor of small values (floats in [-4, 4], integers in [-4, 4], bools fair):
/// products and sums stay exact or well-conditioned, and unsigned types simply wrap
/// the negatives, which is fine for ops that move data.
pub fn random_small(rng: &mut StdRng, dtype: DType, shape: &[usize]) -> Tensor {
    random(rng, dtype, shape, -4.0, 4.0, true)
}

/// A random shape of `rank` dims, each in `1..=max`.
pub fn shape(rng: &mut StdRng, rank: usize, max: usize) -> Vec<usize> {
    (0..rank).map(|_| rng.random_range(1..=max)).collect()
}
