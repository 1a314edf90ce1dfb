//! Slice: a strided window along every dim, steps possibly negative.

use crate::{Fact, OpResult, Tensor, TensorType, op_bail, op_ensure};

use super::super::Semantics;
use super::{at_most, layout, required, type_of};

/// The elements `start, start + step, ..` before `end` along one axis; start and end
/// are already clamped as ONNX prescribes, so the count is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceRange {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

/// One range per dim of the operand (untouched dims take the whole range).
/// Operand: data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    pub ranges: Vec<SliceRange>,
}

impl SliceRange {
    /// The whole of a dim of length `dim`.
    pub fn full(dim: usize) -> SliceRange {
        SliceRange {
            start: 0,
            end: dim as i64,
            step: 1,
        }
    }

    /// ONNX's `starts[i]`, `ends[i]`, `steps[i]` for a dim of length `dim`: negative
    /// bounds count from the end, then start clamps to `[0, dim]` (`[0, dim - 1]`
    /// when stepping back) and end to `[0, dim]` (`[-1, dim - 1]` when stepping back).
    /// Sentinels like `i64::MAX` / `i64::MIN` clamp like any other value.
    pub fn clamped(dim: usize, start: i64, end: i64, step: i64) -> OpResult<SliceRange> {
        op_ensure!(step != 0, "slice step must not be 0");
        let dim = i64::try_from(dim).map_err(|_| "dim too large")?;
        let from_end = |i: i64| if i < 0 { i.saturating_add(dim) } else { i };
        // max-then-min rather than clamp: for dim 0 stepping back the bounds cross.
        let (start, end) = if step > 0 {
            (
                from_end(start).max(0).min(dim),
                from_end(end).max(0).min(dim),
            )
        } else {
            (
                from_end(start).max(0).min(dim - 1),
                from_end(end).max(-1).min(dim - 1),
            )
        };
        Ok(SliceRange { start, end, step })
    }

    /// How many elements the range holds: `max(0, ceil((end - start) / step))`.
    pub fn len(&self) -> usize {
        let (start, end, step) = (self.start as i128, self.end as i128, self.step as i128);
        let (span, step) = if step > 0 {
            (end - start, step)
        } else {
            (start - end, -step)
        };
        if span <= 0 || step <= 0 {
            return 0;
        }
        usize::try_from((span + step - 1) / step).unwrap_or(usize::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks that every element the range names lies in a dim of length `dim`.
    fn check(&self, dim: usize) -> OpResult<()> {
        op_ensure!(self.step != 0, "slice step must not be 0");
        let n = self.len() as i128;
        if n == 0 {
            return Ok(());
        }
        let last = self.start as i128 + (n - 1) * self.step as i128;
        let inside = |i: i128| (0..dim as i128).contains(&i);
        op_ensure!(
            inside(self.start as i128) && inside(last),
            "slice {self:?} reaches outside a dim of length {dim}"
        );
        Ok(())
    }
}

impl Slice {
    /// ONNX Slice's operands resolved for an operand of shape `dims`. `axes` defaults
    /// to `0..starts.len()` and may be negative; `steps` defaults to 1. Dims not named
    /// in `axes` are taken whole.
    pub fn resolve(
        dims: &[usize],
        starts: &[i64],
        ends: &[i64],
        axes: Option<&[i64]>,
        steps: Option<&[i64]>,
    ) -> OpResult<Slice> {
        let n = starts.len();
        op_ensure!(
            ends.len() == n,
            "Slice has {n} starts but {} ends",
            ends.len()
        );
        let default_axes: Vec<i64> = (0..n as i64).collect();
        let axes = axes.unwrap_or(&default_axes);
        op_ensure!(
            axes.len() == n,
            "Slice has {n} starts but {} axes",
            axes.len()
        );
        if let Some(steps) = steps {
            op_ensure!(
                steps.len() == n,
                "Slice has {n} starts but {} steps",
                steps.len()
            );
        }
        let mut ranges: Vec<SliceRange> = dims.iter().map(|&d| SliceRange::full(d)).collect();
        let mut seen = vec![false; dims.len()];
        for i in 0..n {
            let axis = crate::shape::normalize_axis(axes[i], dims.len())?;
            if seen[axis] {
                op_bail!("Slice axis {} is listed twice", axes[i]);
            }
            seen[axis] = true;
            let step = steps.map_or(1, |s| s[i]);
            ranges[axis] = SliceRange::clamped(dims[axis], starts[i], ends[i], step)?;
        }
        Ok(Slice { ranges })
    }

    fn output_type(&self, input: &TensorType) -> OpResult<TensorType> {
        op_ensure!(
            self.ranges.len() == input.rank(),
            "{} slice ranges for an operand of rank {}",
            self.ranges.len(),
            input.rank()
        );
        for (range, &dim) in self.ranges.iter().zip(&input.shape) {
            range.check(dim)?;
        }
        let shape = self.ranges.iter().map(SliceRange::len).collect();
        Ok(TensorType::new(input.dtype, shape))
    }
}

impl Semantics for Slice {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 1)?;
        Ok(vec![self.output_type(required(inputs, 0, "data")?.ty)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 1)?;
        let data = required(inputs, 0, "data")?;
        let ty = self.output_type(&type_of(data))?;
        // `check` proved every index start + o * step lies inside its dim.
        let strides = crate::shape::strides(data.shape());
        let tables: Vec<Vec<usize>> = self
            .ranges
            .iter()
            .zip(strides)
            .map(|(r, stride)| {
                (0..r.len() as i64)
                    .map(|o| (r.start + o * r.step) as usize * stride)
                    .collect()
            })
            .collect();
        Ok(vec![layout::gather(data, &tables, ty.shape)?])
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    fn slice(
        x: &Tensor,
        starts: &[i64],
        ends: &[i64],
        axes: Option<&[i64]>,
        steps: Option<&[i64]>,
    ) -> Tensor {
        let op = Slice::resolve(x.shape(), starts, ends, axes, steps).unwrap();
        op.eval(&[Some(x)], 1).unwrap().remove(0)
    }

    fn iota(shape: &[usize]) -> Tensor {
        let len = shape.iter().product::<usize>() as i64;
        Tensor::from_vec(shape.to_vec(), (0..len).collect()).unwrap()
    }

    #[test]
    fn spec_examples() {
        let x = Tensor::from_vec(vec![2, 4], vec![1f32, 2., 3., 4., 5., 6., 7., 8.]).unwrap();
        let y = slice(&x, &[1, 0], &[2, 3], Some(&[0, 1]), Some(&[1, 2]));
        assert_eq!(y.shape(), [1, 2]);
        assert_eq!(y.to_vec::<f32>().unwrap(), [5., 7.]);
        let y = slice(&x, &[0, 1], &[-1, 1000], None, None);
        assert_eq!(y.shape(), [1, 3]);
        assert_eq!(y.to_vec::<f32>().unwrap(), [2., 3., 4.]);
    }

    #[test]
    fn clamping_follows_onnx() {
        let r = |dim, start, end, step| SliceRange::clamped(dim, start, end, step).unwrap();
        // Sentinels: the whole dim forward and backward.
        assert_eq!(
            r(5, 0, i64::MAX, 1),
            SliceRange {
                start: 0,
                end: 5,
                step: 1
            }
        );
        assert_eq!(
            r(5, -1, i64::MIN, -1),
            SliceRange {
                start: 4,
                end: -1,
                step: -1
            }
        );
        assert_eq!(r(5, i64::MAX, i64::MIN, -1).len(), 5);
        // Starts past the end clamp to dim (forward) or dim - 1 (backward).
        assert_eq!(r(10, 1000, 1000, 1).len(), 0);
        assert_eq!(
            r(10, 1000, 5, -2),
            SliceRange {
                start: 9,
                end: 5,
                step: -2
            }
        );
        assert_eq!(
            r(10, -1000, 3, 1),
            SliceRange {
                start: 0,
                end: 3,
                step: 1
            }
        );
        assert_eq!(r(0, -1, i64::MIN, -1).len(), 0);
        // A start before the beginning, stepping back, clamps to 0 (spec and
        // onnxruntime; numpy, hence the onnx reference, would give nothing).
        assert_eq!(
            r(2, -5, -1000, -2),
            SliceRange {
                start: 0,
                end: -1,
                step: -2
            }
        );
        assert_eq!(r(2, -5, -1000, -2).len(), 1);
        assert!(SliceRange::clamped(3, 0, 3, 0).is_err());
    }

    #[test]
    fn onnx_node_test_cases() {
        let x = iota(&[20, 10, 5]);
        // test_slice_neg_steps: x[20:0:-1, 10:0:-3, 4:1:-2]
        let y = slice(
            &x,
            &[20, 10, 4],
            &[0, 0, 1],
            Some(&[0, 1, 2]),
            Some(&[-1, -3, -2]),
        );
        assert_eq!(y.shape(), [19, 3, 2]);
        let v = y.to_vec::<i64>().unwrap();
        assert_eq!(
            &v[..6],
            [
                19 * 50 + 9 * 5 + 4,
                19 * 50 + 9 * 5 + 2,
                19 * 50 + 6 * 5 + 4,
                19 * 50 + 6 * 5 + 2,
                19 * 50 + 3 * 5 + 4,
                19 * 50 + 3 * 5 + 2
            ]
        );
        assert_eq!(v[v.len() - 1], 50 + 3 * 5 + 2);
        // test_slice_end_out_of_bounds / start_out_of_bounds: x[:, 1:1000], x[:, 1000:1000]
        assert_eq!(
            slice(&x, &[1], &[1000], Some(&[1]), Some(&[1])).shape(),
            [20, 9, 5]
        );
        assert_eq!(
            slice(&x, &[1000], &[1000], Some(&[1]), Some(&[1])).shape(),
            [20, 0, 5]
        );
        // test_slice_negative_axes: x[:, :, 3:4]
        let y = slice(&x, &[0, 0, 3], &[20, 10, 4], Some(&[0, -2, -1]), None);
        assert_eq!(y.shape(), [20, 10, 1]);
        assert_eq!(y.to_vec::<i64>().unwrap()[..2], [3, 8]);
        // test_slice_neg: x[:, 0:-1]
        assert_eq!(
            slice(&x, &[0], &[-1], Some(&[1]), Some(&[1])).shape(),
            [20, 9, 5]
        );
    }

    #[test]
    fn bad_resolutions_are_errors() {
        assert!(Slice::resolve(&[3], &[0], &[1, 2], None, None).is_err());
        assert!(Slice::resolve(&[3], &[0], &[1], Some(&[1]), None).is_err());
        assert!(Slice::resolve(&[3, 3], &[0, 0], &[1, 1], Some(&[0, -2]), None).is_err());
        assert!(Slice::resolve(&[3], &[0], &[1], None, Some(&[0])).is_err());
        // A hand-made range outside the operand is refused, not a panic.
        let op = Slice {
            ranges: vec![SliceRange {
                start: 2,
                end: 9,
                step: 1,
            }],
        };
        let x = iota(&[3]);
        assert!(op.eval(&[Some(&x)], 1).is_err());
    }

    /// Against element-by-element indexing, on random shapes and ranges.
    #[test]
    fn matches_naive_slicing() {
        let mut rng = rand::rng();
        for _ in 0..300 {
            let rank = rng.random_range(1..4);
            let shape: Vec<usize> = (0..rank).map(|_| rng.random_range(0..6)).collect();
            let x = iota(&shape);
            let mut pick = || rng.random_range(-8i64..8);
            let starts: Vec<i64> = (0..rank).map(|_| pick()).collect();
            let ends: Vec<i64> = (0..rank).map(|_| pick()).collect();
            let steps: Vec<i64> = (0..rank)
                .map(|_| match pick() {
                    0 => 1,
                    s => s.clamp(-3, 3),
                })
                .collect();
            let op = Slice::resolve(&shape, &starts, &ends, None, Some(&steps)).unwrap();
            let y = op.eval(&[Some(&x)], 1).unwrap().remove(0);
            // Naive: enumerate each dim's indices the Python way, then take the product.
            let picks: Vec<Vec<i64>> = op
                .ranges
                .iter()
                .map(|r| {
                    let mut v = vec![];
                    let mut i = r.start;
                    while (r.step > 0 && i < r.end) || (r.step < 0 && i > r.end) {
                        v.push(i);
                        i += r.step;
                    }
                    v
                })
                .collect();
            let strides = crate::shape::strides(&shape);
            let mut expected = vec![0i64];
            for (p, s) in picks.iter().zip(&strides) {
                expected = expected
                    .iter()
                    .flat_map(|&base| p.iter().map(move |&i| base + i * *s as i64))
                    .collect();
            }
            assert_eq!(y.to_vec::<i64>().unwrap(), expected, "{shape:?} {op:?}");
        }
    }
}
