//! Comparing computed tensors with expected ones, as `nnc test` reports it.

use nnc_ir::Tensor;

/// How far a result is from what was expected.
#[derive(Clone, Debug, Default)]
pub struct Deviation {
    pub max_abs: f64,
    /// The largest |actual - expected| / |expected| over elements that failed the
    /// absolute tolerance (0 when none did).
    pub max_rel: f64,
    /// Elements outside `atol + rtol * |expected|` (any mismatch for ints/bools).
    pub mismatches: usize,
    pub problem: Option<String>,
}

impl Deviation {
    pub fn passed(&self) -> bool {
        self.problem.is_none() && self.mismatches == 0
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
    /// Also require the same argmax along the last axis.
    pub argmax: bool,
}

/// Compares `actual` with `expected`: shape and dtype must match; floats within
/// `atol + rtol * |expected|` (NaN matches NaN, infinities must be equal); integers
/// and bools exactly.
pub fn compare(actual: &Tensor, expected: &Tensor, tolerance: Tolerance) -> Deviation {
    let mut deviation = Deviation::default();
    if actual.dtype() != expected.dtype() {
        deviation.problem = Some(format!(
            "dtype {} where {} was expected",
            actual.dtype(),
            expected.dtype()
        ));
        return deviation;
    }
    if actual.shape() != expected.shape() {
        deviation.problem = Some(format!(
            "shape {:?} where {:?} was expected",
            actual.shape(),
            expected.shape()
        ));
        return deviation;
    }
    let (a, e) = (actual.to_f64_vec(), expected.to_f64_vec());
    if !actual.dtype().is_float() {
        // Integers and bools compare exactly; as i64 so that 64-bit values keep
        // every bit (u64 wraps, consistently on both sides).
        let (ai, ei) = (actual.to_i64_vec(), expected.to_i64_vec());
        deviation.mismatches = ai.iter().zip(&ei).filter(|(x, y)| x != y).count();
        deviation.max_abs = a
            .iter()
            .zip(&e)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
    } else {
        for (&x, &y) in a.iter().zip(&e) {
            if x.is_nan() || y.is_nan() || x.is_infinite() || y.is_infinite() {
                let same = (x.is_nan() && y.is_nan()) || x == y;
                deviation.mismatches += usize::from(!same);
                continue;
            }
            let diff = (x - y).abs();
            deviation.max_abs = deviation.max_abs.max(diff);
            if diff > tolerance.atol + tolerance.rtol * y.abs() {
                deviation.mismatches += 1;
                if y != 0.0 {
                    deviation.max_rel = deviation.max_rel.max(diff / y.abs());
                }
            }
        }
    }
    if tolerance.argmax && !same_argmax(&a, &e, actual.shape().last().copied().unwrap_or(1)) {
        deviation.problem = Some("argmax differs".to_string());
    }
    deviation
}

fn same_argmax(a: &[f64], e: &[f64], row: usize) -> bool {
    let argmax = |r: &[f64]| {
        r.iter()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
                if v > best.1 { (i, v) } else { best }
            })
            .0
    };
    row == 0
        || a.chunks(row)
            .zip(e.chunks(row))
            .all(|(x, y)| argmax(x) == argmax(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: Tolerance = Tolerance {
        rtol: 1e-3,
        atol: 1e-5,
        argmax: false,
    };

    #[test]
    fn floats_within_tolerance_pass() {
        let e = Tensor::from_vec(vec![3], vec![1.0f32, -2.0, 1000.0]).unwrap();
        let a = Tensor::from_vec(vec![3], vec![1.0f32 + 5e-6, -2.0, 1000.5]).unwrap();
        assert!(compare(&a, &e, TOL).passed());
        let bad = Tensor::from_vec(vec![3], vec![1.1f32, -2.0, 1000.0]).unwrap();
        let d = compare(&bad, &e, TOL);
        assert_eq!(d.mismatches, 1);
    }

    #[test]
    fn integers_are_exact_and_shapes_must_match() {
        let e = Tensor::from_vec(vec![2], vec![1i64, i64::MAX]).unwrap();
        let a = Tensor::from_vec(vec![2], vec![1i64, i64::MAX - 1]).unwrap();
        assert!(!compare(&a, &e, TOL).passed());
        let other_shape = Tensor::from_vec(vec![2, 1], vec![1i64, i64::MAX]).unwrap();
        assert!(compare(&other_shape, &e, TOL).problem.is_some());
    }

    #[test]
    fn nan_matches_nan() {
        let e = Tensor::from_vec(vec![2], vec![f32::NAN, f32::INFINITY]).unwrap();
        assert!(compare(&e, &e, TOL).passed());
    }
}
