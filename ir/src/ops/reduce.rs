//! Reductions over a set of axes, and ArgMax / ArgMin.

use crate::{
    DType, Element, Fact, OpResult, Tensor, TensorType, dispatch_float, dispatch_numeric, op_bail,
    op_ensure,
};

use super::Semantics;
use super::elementwise::number::{Integer, Number, dispatch_integer};
use super::elementwise::operands::{check_counts, required};
use super::elementwise::{Broadcast, round_from_f64};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceKind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

/// Reduces over `axes` (resolved: sorted, unique, non-negative, never empty unless
/// the operand is a scalar; "reduce all" lists every axis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reduce {
    pub kind: ReduceKind,
    pub axes: Vec<usize>,
    pub keepdims: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgReduceKind {
    Max,
    Min,
}

/// Index (i64) of the max / min along `axis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgReduce {
    pub kind: ArgReduceKind,
    pub axis: usize,
    pub keepdims: bool,
    pub select_last_index: bool,
}

impl Reduce {
    pub fn name(&self) -> &'static str {
        match self.kind {
            ReduceKind::Sum => "ReduceSum",
            ReduceKind::Mean => "ReduceMean",
            ReduceKind::Max => "ReduceMax",
            ReduceKind::Min => "ReduceMin",
            ReduceKind::Prod => "ReduceProd",
            ReduceKind::L1 => "ReduceL1",
            ReduceKind::L2 => "ReduceL2",
            ReduceKind::LogSum => "ReduceLogSum",
            ReduceKind::LogSumExp => "ReduceLogSumExp",
            ReduceKind::SumSquare => "ReduceSumSquare",
        }
    }
}

impl ArgReduce {
    pub fn name(&self) -> &'static str {
        match self.kind {
            ArgReduceKind::Max => "ArgMax",
            ArgReduceKind::Min => "ArgMin",
        }
    }
}

/// The operand's shape with each reduced dim set to 1 (the keepdims output shape).
fn kept_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    let mut kept = shape.to_vec();
    for &axis in axes {
        kept[axis] = 1;
    }
    kept
}

fn output_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    if keepdims {
        return kept_shape(shape, axes);
    }
    shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect()
}

impl Reduce {
    fn output_type(&self, x: &TensorType) -> OpResult<TensorType> {
        let name = self.name();
        let accepted = match self.kind {
            ReduceKind::Max | ReduceKind::Min => true,
            _ => x.dtype != DType::Bool,
        };
        op_ensure!(accepted, "{name} is not defined on {} tensors", x.dtype);
        for pair in self.axes.windows(2) {
            op_ensure!(
                pair[0] < pair[1],
                "{name} axes {:?} are not sorted and unique",
                self.axes
            );
        }
        if let Some(&last) = self.axes.last() {
            op_ensure!(
                last < x.rank(),
                "{name} axis {last} is out of range for rank {}",
                x.rank()
            );
        }
        Ok(TensorType::new(
            x.dtype,
            output_shape(&x.shape, &self.axes, self.keepdims),
        ))
    }
}

/// Folds every operand element into the accumulator of the output element it
/// reduces to. The walk is the operand in row-major order, mapped to the output by
/// broadcasting the keepdims shape against it; coalescing turns contiguous axes into
/// the outer × reduced × inner loops, with contiguous inner rows.
fn fold<T: Copy, A: Copy>(
    x: &[T],
    shape: &[usize],
    axes: &[usize],
    init: A,
    f: impl Fn(A, T) -> A,
) -> OpResult<Vec<A>> {
    let kept = kept_shape(shape, axes);
    let plan = Broadcast::new(shape, [&kept[..]])?;
    let mut acc = vec![init; kept.iter().product()];
    let mut pos = 0;
    plan.for_each_row(|[out], len, [step]| {
        for (i, &v) in x[pos..pos + len].iter().enumerate() {
            let slot = &mut acc[out + i * step];
            *slot = f(*slot, v);
        }
        pos += len;
    });
    Ok(acc)
}

/// A float reduction, accumulated in f64.
fn reduce_real(kind: ReduceKind, x: &[f64], shape: &[usize], axes: &[usize]) -> OpResult<Vec<f64>> {
    let count: usize = axes.iter().map(|&a| shape[a]).product();
    let sum = |f: fn(f64) -> f64| fold(x, shape, axes, 0.0, move |acc, v| acc + f(v));
    Ok(match kind {
        ReduceKind::Sum => sum(|v| v)?,
        ReduceKind::Mean => sum(|v| v)?.into_iter().map(|s| s / count as f64).collect(),
        ReduceKind::Max => fold(x, shape, axes, f64::NEG_INFINITY, Number::max)?,
        ReduceKind::Min => fold(x, shape, axes, f64::INFINITY, Number::min)?,
        ReduceKind::Prod => fold(x, shape, axes, 1.0, |acc, v| acc * v)?,
        ReduceKind::L1 => sum(f64::abs)?,
        ReduceKind::L2 => sum(|v| v * v)?.into_iter().map(f64::sqrt).collect(),
        ReduceKind::SumSquare => sum(|v| v * v)?,
        ReduceKind::LogSum => sum(|v| v)?.into_iter().map(f64::ln).collect(),
        ReduceKind::LogSumExp => {
            // Running (max, Σ exp(x - max)), rescaled when the max grows: stable in one pass.
            let pairs = fold(x, shape, axes, (f64::NEG_INFINITY, 0.0), |(max, sum), v| {
                if v == f64::NEG_INFINITY {
                    (max, sum)
                } else if v > max {
                    (v, sum * (max - v).exp() + 1.0)
                } else {
                    (max, sum + (v - max).exp())
                }
            })?;
            pairs.into_iter().map(|(max, sum)| max + sum.ln()).collect()
        }
    })
}

/// An integer (or bool) reduction, exact in i128 with wrapping arithmetic so that
/// narrowing the result gives what the operand's own type would have.
fn reduce_exact(
    kind: ReduceKind,
    x: &[i128],
    shape: &[usize],
    axes: &[usize],
    (lowest, highest): (i128, i128),
) -> OpResult<Vec<i128>> {
    let count = axes.iter().map(|&a| shape[a]).product::<usize>() as i128;
    let sum =
        |f: fn(i128) -> i128| fold(x, shape, axes, 0i128, move |acc, v| acc.wrapping_add(f(v)));
    Ok(match kind {
        ReduceKind::Sum => sum(|v| v)?,
        // Truncates toward zero; the mean of nothing is 0 here.
        ReduceKind::Mean => sum(|v| v)?
            .into_iter()
            .map(|s| s.checked_div(count).unwrap_or(0))
            .collect(),
        ReduceKind::Max => fold(x, shape, axes, lowest, i128::max)?,
        ReduceKind::Min => fold(x, shape, axes, highest, i128::min)?,
        ReduceKind::Prod => fold(x, shape, axes, 1i128, i128::wrapping_mul)?,
        ReduceKind::L1 => sum(i128::wrapping_abs)?,
        ReduceKind::SumSquare => sum(|v| v.wrapping_mul(v))?,
        ReduceKind::L2 | ReduceKind::LogSum | ReduceKind::LogSumExp => {
            op_bail!("{kind:?} on integers is computed in f64")
        }
    })
}

fn reduce_integer<T: Integer>(op: &Reduce, x: &Tensor) -> OpResult<Vec<T>> {
    let values = x.to_vec::<T>()?;
    if matches!(
        op.kind,
        ReduceKind::L2 | ReduceKind::LogSum | ReduceKind::LogSumExp
    ) {
        // No exact form: the real result truncated toward zero (saturating).
        let real: Vec<f64> = values.iter().map(|v| v.to_f64()).collect();
        let out = reduce_real(op.kind, &real, x.shape(), &op.axes)?;
        return Ok(out.into_iter().map(T::from_f64).collect());
    }
    let exact: Vec<i128> = values.into_iter().map(T::to_i128).collect();
    let bounds = (T::LOWEST.to_i128(), T::HIGHEST.to_i128());
    let out = reduce_exact(op.kind, &exact, x.shape(), &op.axes, bounds)?;
    Ok(out.into_iter().map(T::from_i128).collect())
}

fn reduce(op: &Reduce, x: &Tensor, out: Vec<usize>) -> OpResult<Tensor> {
    let dtype = x.dtype();
    if dtype == DType::Bool {
        // Max is "any", Min is "all".
        let exact: Vec<i128> = x.to_vec::<bool>()?.into_iter().map(i128::from).collect();
        let reduced = reduce_exact(op.kind, &exact, x.shape(), &op.axes, (0, 1))?;
        return Tensor::from_vec(
            out,
            reduced.into_iter().map(|v| v != 0).collect::<Vec<bool>>(),
        );
    }
    dispatch_float!(dtype, T => {
        let reduced = reduce_real(op.kind, &x.to_f64_vec(), x.shape(), &op.axes)?;
        Tensor::from_vec(out, reduced.into_iter().map(round_from_f64::<T>).collect::<Vec<T>>())
    }, else dispatch_integer!(dtype, T => Tensor::from_vec(out, reduce_integer::<T>(op, x)?),
        else op_bail!("{} is not defined on {dtype} tensors", op.name())))
}

impl Semantics for Reduce {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        let x = required(inputs, 0, "data")?;
        Ok(vec![self.output_type(x.ty)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        let x = required(inputs, 0, "data")?;
        let ty = self.output_type(&TensorType::new(x.dtype(), x.shape().to_vec()))?;
        Ok(vec![reduce(self, x, ty.shape)?])
    }
}

impl ArgReduce {
    fn output_type(&self, x: &TensorType) -> OpResult<TensorType> {
        op_ensure!(
            x.dtype != DType::Bool,
            "{} is not defined on bool tensors",
            self.name()
        );
        op_ensure!(
            self.axis < x.rank(),
            "{} axis {} is out of range for rank {}",
            self.name(),
            self.axis,
            x.rank()
        );
        let out = output_shape(&x.shape, &[self.axis], self.keepdims);
        op_ensure!(
            x.shape[self.axis] > 0 || out.iter().product::<usize>() == 0,
            "{} over an empty axis has no answer",
            self.name()
        );
        Ok(TensorType::new(DType::I64, out))
    }

    /// Whether `candidate` at a later index replaces `best`. NaN counts as the
    /// extreme value, as in numpy: the first NaN wins (the last with
    /// `select_last_index`).
    fn replaces<T: PartialOrd>(&self, candidate: T, best: T) -> bool {
        let nan = |v: &T| v.partial_cmp(v).is_none();
        match (nan(&candidate), nan(&best)) {
            (true, true) => self.select_last_index,
            (false, true) => false,
            (true, false) => true,
            (false, false) => {
                let strictly = match self.kind {
                    ArgReduceKind::Max => candidate > best,
                    ArgReduceKind::Min => candidate < best,
                };
                strictly || (self.select_last_index && candidate == best)
            }
        }
    }

    fn indices<T: Element>(&self, x: &Tensor) -> OpResult<Vec<i64>> {
        let values = x.to_vec::<T>()?;
        let shape = x.shape();
        let n = shape[self.axis];
        let inner: usize = shape[self.axis + 1..].iter().product();
        let mut out = Vec::with_capacity(values.len() / n.max(1));
        if n == 0 || inner == 0 {
            return Ok(out);
        }
        for block in values.chunks_exact(n * inner) {
            let mut best: Vec<T> = block[..inner].to_vec();
            let mut at = vec![0i64; inner];
            for (k, row) in block.chunks_exact(inner).enumerate().skip(1) {
                for i in 0..inner {
                    if self.replaces(row[i], best[i]) {
                        best[i] = row[i];
                        at[i] = k as i64;
                    }
                }
            }
            out.extend(at);
        }
        Ok(out)
    }
}

impl Semantics for ArgReduce {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        let x = required(inputs, 0, "data")?;
        Ok(vec![self.output_type(x.ty)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        let x = required(inputs, 0, "data")?;
        let ty = self.output_type(&TensorType::new(x.dtype(), x.shape().to_vec()))?;
        let indices = dispatch_numeric!(x.dtype(), T => self.indices::<T>(x)?,
            else op_bail!("{} is not defined on bool tensors", self.name()));
        Ok(vec![Tensor::from_vec(ty.shape, indices)?])
    }
}

#[cfg(test)]
mod tests {
    use half::f16;
    use rand::Rng;

    use super::*;
    use crate::shape::strides;

    fn reduce_op(kind: ReduceKind, axes: &[usize], keepdims: bool) -> Reduce {
        Reduce {
            kind,
            axes: axes.to_vec(),
            keepdims,
        }
    }

    fn run(op: &Reduce, x: &Tensor) -> OpResult<Tensor> {
        Ok(op.eval(&[Some(x)], 1)?.remove(0))
    }

    fn grid() -> Tensor {
        Tensor::from_vec(vec![2, 3], vec![1.0f32, -2.0, 3.0, 4.0, 5.0, -6.0]).unwrap()
    }

    #[test]
    fn every_kind_by_hand() {
        let cases: [(ReduceKind, [f64; 2]); 10] = [
            (ReduceKind::Sum, [2.0, 3.0]),
            (ReduceKind::Mean, [2.0 / 3.0, 1.0]),
            (ReduceKind::Max, [3.0, 5.0]),
            (ReduceKind::Min, [-2.0, -6.0]),
            (ReduceKind::Prod, [-6.0, -120.0]),
            (ReduceKind::L1, [6.0, 15.0]),
            (ReduceKind::L2, [14f64.sqrt(), 77f64.sqrt()]),
            (ReduceKind::SumSquare, [14.0, 77.0]),
            (ReduceKind::LogSum, [2f64.ln(), 3f64.ln()]),
            (
                ReduceKind::LogSumExp,
                [
                    (1f64.exp() + (-2f64).exp() + 3f64.exp()).ln(),
                    (4f64.exp() + 5f64.exp() + (-6f64).exp()).ln(),
                ],
            ),
        ];
        for (kind, want) in cases {
            let y = run(&reduce_op(kind, &[1], false), &grid()).unwrap();
            assert_eq!(y.shape(), &[2]);
            let want: Vec<f32> = want.iter().map(|&v| v as f32).collect();
            assert_eq!(y.to_vec::<f32>().unwrap(), want, "{kind:?}");
        }
    }

    #[test]
    fn keepdims_and_reducing_everything() {
        let all = run(&reduce_op(ReduceKind::Sum, &[0, 1], true), &grid()).unwrap();
        assert_eq!(all.shape(), &[1, 1]);
        assert_eq!(all.to_vec::<f32>().unwrap(), vec![5.0]);
        let cols = run(&reduce_op(ReduceKind::Max, &[0], false), &grid()).unwrap();
        assert_eq!(cols.to_vec::<f32>().unwrap(), vec![4.0, 5.0, 3.0]);
        let scalar = Tensor::scalar(2.5f64);
        let same = run(&reduce_op(ReduceKind::SumSquare, &[], false), &scalar).unwrap();
        assert_eq!(same.to_vec::<f64>().unwrap(), vec![6.25]);
    }

    #[test]
    fn empty_sets_reduce_to_the_identity() {
        let empty = Tensor::from_vec::<f32>(vec![2, 0], vec![]).unwrap();
        let cases = [
            (ReduceKind::Sum, 0.0),
            (ReduceKind::Prod, 1.0),
            (ReduceKind::Max, f32::NEG_INFINITY),
            (ReduceKind::Min, f32::INFINITY),
            (ReduceKind::LogSum, f32::NEG_INFINITY),
            (ReduceKind::LogSumExp, f32::NEG_INFINITY),
            (ReduceKind::L2, 0.0),
        ];
        for (kind, want) in cases {
            let y = run(&reduce_op(kind, &[1], true), &empty).unwrap();
            assert_eq!(y.shape(), &[2, 1]);
            assert_eq!(y.to_vec::<f32>().unwrap(), vec![want; 2], "{kind:?}");
        }
        let mean = run(&reduce_op(ReduceKind::Mean, &[1], true), &empty).unwrap();
        assert!(mean.to_vec::<f32>().unwrap()[0].is_nan());
        let ints = Tensor::from_vec::<i16>(vec![0, 3], vec![]).unwrap();
        let max = run(&reduce_op(ReduceKind::Max, &[0], false), &ints).unwrap();
        assert_eq!(max.to_vec::<i16>().unwrap(), vec![i16::MIN; 3]);
        let min = run(&reduce_op(ReduceKind::Min, &[0], false), &ints).unwrap();
        assert_eq!(min.to_vec::<i16>().unwrap(), vec![i16::MAX; 3]);
    }

    #[test]
    fn integers_are_exact_and_wrap() {
        let x = Tensor::from_vec(vec![4], vec![100i8, 100, -7, 1]).unwrap();
        let sum = run(&reduce_op(ReduceKind::Sum, &[0], false), &x).unwrap();
        assert_eq!(
            sum.to_vec::<i8>().unwrap(),
            vec![100i8.wrapping_add(100).wrapping_sub(6)]
        );
        let mean = run(&reduce_op(ReduceKind::Mean, &[0], false), &x).unwrap();
        assert_eq!(mean.to_vec::<i8>().unwrap(), vec![48]);
        let prod = run(&reduce_op(ReduceKind::Prod, &[0], false), &x).unwrap();
        assert_eq!(
            prod.to_vec::<i8>().unwrap(),
            vec![100i8.wrapping_mul(100).wrapping_mul(-7)]
        );
        let big = Tensor::from_vec(vec![2], vec![u64::MAX, 3]).unwrap();
        let sum = run(&reduce_op(ReduceKind::Sum, &[0], false), &big).unwrap();
        assert_eq!(sum.to_vec::<u64>().unwrap(), vec![2]);
        let l2 = run(
            &reduce_op(ReduceKind::L2, &[0], false),
            &Tensor::from_vec(vec![2], vec![3i32, 5]).unwrap(),
        )
        .unwrap();
        assert_eq!(l2.to_vec::<i32>().unwrap(), vec![5]);
    }

    #[test]
    fn bool_max_is_any_and_min_is_all() {
        let x = Tensor::from_vec(vec![2, 2], vec![true, false, false, false]).unwrap();
        let any = run(&reduce_op(ReduceKind::Max, &[1], false), &x).unwrap();
        assert_eq!(any.to_vec::<bool>().unwrap(), vec![true, false]);
        let all = run(&reduce_op(ReduceKind::Min, &[0], false), &x).unwrap();
        assert_eq!(all.to_vec::<bool>().unwrap(), vec![false, false]);
        assert!(run(&reduce_op(ReduceKind::Sum, &[0], false), &x).is_err());
    }

    #[test]
    fn axes_are_checked() {
        let ty = TensorType::new(DType::F16, vec![2, 3]);
        let fact = Some(Fact {
            ty: &ty,
            value: None,
        });
        assert!(
            reduce_op(ReduceKind::Sum, &[2], true)
                .infer(&[fact], 1)
                .is_err()
        );
        assert!(
            reduce_op(ReduceKind::Sum, &[1, 0], true)
                .infer(&[fact], 1)
                .is_err()
        );
        assert_eq!(
            reduce_op(ReduceKind::Sum, &[0], false)
                .infer(&[fact], 1)
                .unwrap(),
            vec![TensorType::new(DType::F16, vec![3])]
        );
        let h = Tensor::from_vec(vec![2], vec![f16::from_f32(1.5), f16::from_f32(2.0)]).unwrap();
        let y = run(&reduce_op(ReduceKind::Prod, &[0], false), &h).unwrap();
        assert_eq!(y.to_vec::<f16>().unwrap(), vec![f16::from_f32(3.0)]);
    }

    #[test]
    fn random_axes_match_a_naive_sum() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let rank = rng.random_range(0..5);
            let shape: Vec<usize> = (0..rank).map(|_| rng.random_range(0..4)).collect();
            let axes: Vec<usize> = (0..rank).filter(|_| rng.random_bool(0.5)).collect();
            let keepdims = rng.random_bool(0.5);
            let len: usize = shape.iter().product();
            let xs: Vec<i64> = (0..len).map(|_| rng.random_range(-50..50)).collect();
            let x = Tensor::from_vec(shape.clone(), xs.clone()).unwrap();
            let y = run(&reduce_op(ReduceKind::Sum, &axes, keepdims), &x).unwrap();
            // Naive: each input element added to the output at its index with the
            // reduced coordinates zeroed.
            let kept = kept_shape(&shape, &axes);
            let (in_strides, out_strides) = (strides(&shape), strides(&kept));
            let mut want = vec![0i64; kept.iter().product()];
            for (flat, &v) in xs.iter().enumerate() {
                let out: usize = (0..rank)
                    .map(|d| {
                        if axes.contains(&d) {
                            0
                        } else {
                            flat / in_strides[d] % shape[d] * out_strides[d]
                        }
                    })
                    .sum();
                want[out] += v;
            }
            assert_eq!(y.shape(), &output_shape(&shape, &axes, keepdims)[..]);
            assert_eq!(y.to_vec::<i64>().unwrap(), want, "{shape:?} {axes:?}");
        }
    }

    fn arg(kind: ArgReduceKind, axis: usize, keepdims: bool, select_last_index: bool) -> ArgReduce {
        ArgReduce {
            kind,
            axis,
            keepdims,
            select_last_index,
        }
    }

    #[test]
    fn arg_max_and_min_with_ties() {
        let x = Tensor::from_vec(vec![2, 3], vec![1i32, 5, 5, 2, 2, 0]).unwrap();
        let eval = |op: ArgReduce| op.eval(&[Some(&x)], 1).unwrap().remove(0);
        let first = eval(arg(ArgReduceKind::Max, 1, true, false));
        assert_eq!(
            (first.shape(), first.to_vec::<i64>().unwrap()),
            (&[2, 1][..], vec![1, 0])
        );
        let last = eval(arg(ArgReduceKind::Max, 1, false, true));
        assert_eq!(
            (last.shape(), last.to_vec::<i64>().unwrap()),
            (&[2][..], vec![2, 1])
        );
        let min = eval(arg(ArgReduceKind::Min, 0, false, false));
        assert_eq!(min.to_vec::<i64>().unwrap(), vec![0, 1, 1]);
        let nan = Tensor::from_vec(vec![3], vec![1.0f32, f32::NAN, 7.0]).unwrap();
        let y = arg(ArgReduceKind::Max, 0, false, false)
            .eval(&[Some(&nan)], 1)
            .unwrap();
        assert_eq!(y[0].to_vec::<i64>().unwrap(), vec![1]);
    }

    #[test]
    fn arg_reduce_refuses_empty_axes_and_bools() {
        let empty = TensorType::new(DType::F32, vec![2, 0]);
        let fact = Some(Fact {
            ty: &empty,
            value: None,
        });
        assert!(
            arg(ArgReduceKind::Max, 1, true, false)
                .infer(&[fact], 1)
                .is_err()
        );
        assert_eq!(
            arg(ArgReduceKind::Max, 0, true, false)
                .infer(&[fact], 1)
                .unwrap(),
            vec![TensorType::new(DType::I64, vec![1, 0])]
        );
        let b = TensorType::new(DType::Bool, vec![2]);
        assert!(
            arg(ArgReduceKind::Min, 0, true, false)
                .infer(
                    &[Some(Fact {
                        ty: &b,
                        value: None
                    })],
                    1
                )
                .is_err()
        );
    }
}
