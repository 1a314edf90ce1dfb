//! Softmax, LogSoftmax and Hardmax along one axis.

use crate::{Element, Fact, OpResult, Tensor, TensorType, dispatch_float, op_bail, op_ensure};

use super::Semantics;
use super::elementwise::operands::{check_counts, required};
use super::elementwise::round_from_f64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftmaxKind {
    Softmax,
    LogSoftmax,
    Hardmax,
}

/// Along one axis (resolved, non-negative), as in opset 13. The frontend rewrites
/// the older "flatten to 2-D at axis" form into Reshape + this + Reshape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Softmax {
    pub kind: SoftmaxKind,
    pub axis: usize,
}

impl Softmax {
    pub fn name(&self) -> &'static str {
        match self.kind {
            SoftmaxKind::Softmax => "Softmax",
            SoftmaxKind::LogSoftmax => "LogSoftmax",
            SoftmaxKind::Hardmax => "Hardmax",
        }
    }
}

impl Softmax {
    fn check(&self, x: &TensorType) -> OpResult<()> {
        op_ensure!(
            x.dtype.is_float(),
            "{} is not defined on {} tensors",
            self.name(),
            x.dtype
        );
        op_ensure!(
            self.axis < x.rank(),
            "axis {} is out of range for rank {}",
            self.axis,
            x.rank()
        );
        Ok(())
    }
}

/// One `[n, inner]` block: the op along `n` for each of the `inner` columns.
/// Works row by row so that every access is contiguous.
fn block(kind: SoftmaxKind, x: &[f64], n: usize, inner: usize, y: &mut [f64]) {
    let rows = || x.chunks_exact(inner).take(n);
    if kind == SoftmaxKind::Hardmax {
        // 1 at the first maximum of each column, 0 elsewhere.
        let mut best = vec![f64::NEG_INFINITY; inner];
        let mut at = vec![0usize; inner];
        for (k, row) in rows().enumerate() {
            for i in 0..inner {
                if row[i] > best[i] || k == 0 {
                    best[i] = row[i];
                    at[i] = k;
                }
            }
        }
        for (k, out) in y.chunks_exact_mut(inner).enumerate() {
            for i in 0..inner {
                out[i] = if at[i] == k { 1.0 } else { 0.0 };
            }
        }
        return;
    }
    // Subtracting the maximum keeps exp from overflowing.
    let mut max = vec![f64::NEG_INFINITY; inner];
    for row in rows() {
        for (m, &v) in max.iter_mut().zip(row) {
            *m = m.max(v);
        }
    }
    let mut sum = vec![0.0; inner];
    for (row, out) in rows().zip(y.chunks_exact_mut(inner)) {
        for i in 0..inner {
            out[i] = (row[i] - max[i]).exp();
            sum[i] += out[i];
        }
    }
    for (row, out) in rows().zip(y.chunks_exact_mut(inner)) {
        for i in 0..inner {
            out[i] = match kind {
                SoftmaxKind::LogSoftmax => row[i] - max[i] - sum[i].ln(),
                _ => out[i] / sum[i],
            };
        }
    }
}

fn softmax<T: Element>(op: &Softmax, x: &Tensor) -> OpResult<Tensor> {
    let shape = x.shape();
    let n = shape[op.axis];
    let inner: usize = shape[op.axis + 1..].iter().product();
    let xs = x.to_f64_vec();
    let mut ys = vec![0.0; xs.len()];
    let block_len = n * inner;
    if block_len > 0 {
        for (xb, yb) in xs
            .chunks_exact(block_len)
            .zip(ys.chunks_exact_mut(block_len))
        {
            block(op.kind, xb, n, inner, yb);
        }
    }
    let values: Vec<T> = ys.into_iter().map(round_from_f64::<T>).collect();
    Tensor::from_vec(shape.to_vec(), values)
}

impl Semantics for Softmax {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        let x = required(inputs, 0, "input")?;
        self.check(x.ty)?;
        Ok(vec![x.ty.clone()])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        let x = required(inputs, 0, "input")?;
        self.check(&TensorType::new(x.dtype(), x.shape().to_vec()))?;
        let y = dispatch_float!(x.dtype(), T => softmax::<T>(self, x)?,
            else op_bail!("{} is not defined on {} tensors", self.name(), x.dtype()));
        Ok(vec![y])
    }
}

#[cfg(test)]
mod tests {
    use half::f16;
    use rand::Rng;

    use super::*;
    use crate::DType;

    fn run(kind: SoftmaxKind, axis: usize, x: &Tensor) -> OpResult<Tensor> {
        Ok(Softmax { kind, axis }.eval(&[Some(x)], 1)?.remove(0))
    }

    #[test]
    fn softmax_of_a_row_by_hand() {
        let x = Tensor::from_vec(vec![1, 3], vec![1.0f64, 2.0, 3.0]).unwrap();
        let y = run(SoftmaxKind::Softmax, 1, &x)
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        let e: Vec<f64> = [1f64, 2.0, 3.0].iter().map(|v| v.exp()).collect();
        let total: f64 = e.iter().sum();
        for (got, want) in y.iter().zip(&e) {
            assert!((got - want / total).abs() < 1e-15);
        }
        let log = run(SoftmaxKind::LogSoftmax, 1, &x)
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        for (got, want) in log.iter().zip(&e) {
            assert!((got - (want / total).ln()).abs() < 1e-15);
        }
    }

    #[test]
    fn large_inputs_do_not_overflow() {
        let x = Tensor::from_vec(vec![2], vec![1000.0f32, 1000.0]).unwrap();
        let y = run(SoftmaxKind::Softmax, 0, &x).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.5, 0.5]);
    }

    #[test]
    fn hardmax_marks_the_first_maximum() {
        let x = Tensor::from_vec(vec![2, 3], vec![3.0f32, 1.0, 3.0, 0.0, 5.0, 5.0]).unwrap();
        let rows = run(SoftmaxKind::Hardmax, 1, &x).unwrap();
        assert_eq!(
            rows.to_vec::<f32>().unwrap(),
            vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        );
        let cols = run(SoftmaxKind::Hardmax, 0, &x).unwrap();
        assert_eq!(
            cols.to_vec::<f32>().unwrap(),
            vec![1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
        );
    }

    #[test]
    fn matches_a_naive_softmax_on_random_shapes() {
        let mut rng = rand::rng();
        for _ in 0..50 {
            let rank = rng.random_range(1..5);
            let shape: Vec<usize> = (0..rank).map(|_| rng.random_range(1..5)).collect();
            let axis = rng.random_range(0..rank);
            let len: usize = shape.iter().product();
            let xs: Vec<f64> = (0..len).map(|_| rng.random_range(-5.0..5.0)).collect();
            let x = Tensor::from_vec(shape.clone(), xs.clone()).unwrap();
            let y = run(SoftmaxKind::Softmax, axis, &x)
                .unwrap()
                .to_vec::<f64>()
                .unwrap();
            let strides = crate::shape::strides(&shape);
            for flat in 0..len {
                let k = flat / strides[axis] % shape[axis];
                let base = flat - k * strides[axis];
                let total: f64 = (0..shape[axis])
                    .map(|j| xs[base + j * strides[axis]].exp())
                    .sum();
                assert!((y[flat] - xs[flat].exp() / total).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn types_and_axes_are_checked() {
        let ints = TensorType::new(DType::I32, vec![2]);
        let fact = |ty| Some(Fact { ty, value: None });
        let op = Softmax {
            kind: SoftmaxKind::Softmax,
            axis: 0,
        };
        assert!(op.infer(&[fact(&ints)], 1).is_err());
        let h = TensorType::new(DType::F16, vec![2]);
        assert_eq!(op.infer(&[fact(&h)], 1).unwrap(), vec![h.clone()]);
        assert!(Softmax { axis: 1, ..op }.infer(&[fact(&h)], 1).is_err());
        let x = Tensor::from_vec(vec![2], vec![f16::ZERO, f16::ZERO]).unwrap();
        assert_eq!(
            run(SoftmaxKind::Softmax, 0, &x)
                .unwrap()
                .to_vec::<f16>()
                .unwrap(),
            vec![f16::from_f32(0.5); 2]
        );
        let empty = Tensor::from_vec::<f32>(vec![0, 3], vec![]).unwrap();
        assert_eq!(
            run(SoftmaxKind::Softmax, 1, &empty).unwrap().shape(),
            &[0, 3]
        );
    }
}
