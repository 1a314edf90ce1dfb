//! Unary ops: which element types each accepts (the ONNX type constraints) and
//! their evaluation. Float functions run in f64 through [`math::apply`] and round
//! once to the operand's type; integer ops are exact in their own type.

use crate::{DType, Element, Fact, OpResult, Tensor, TensorType, dispatch_float, op_bail};

use super::cast::round_from_f64;
use super::math;
use super::number::{Integer, dispatch_integer};
use super::operands::{check_counts, required};
use super::{Semantics, Unary};

impl Unary {
    /// Whether ONNX allows the op on elements of `dtype`.
    pub fn accepts(&self, dtype: DType) -> bool {
        match self {
            Unary::Not => dtype == DType::Bool,
            Unary::BitwiseNot => dtype.is_int(),
            // Defined on every numeric type; integers round the real result toward zero.
            Unary::Abs | Unary::Sign | Unary::Erf | Unary::Shrink { .. } => {
                dtype.is_float() || dtype.is_int()
            }
            Unary::Neg | Unary::Relu => dtype.is_float() || dtype.is_signed_int(),
            _ => dtype.is_float(),
        }
    }

    /// The output element type for operands of `dtype`.
    pub fn output_dtype(&self, dtype: DType) -> DType {
        match self {
            Unary::IsNaN | Unary::IsInf { .. } => DType::Bool,
            _ => dtype,
        }
    }

    /// Whether the op is a real function evaluated by [`math::apply`].
    pub(super) fn is_real_function(&self) -> bool {
        !matches!(
            self,
            Unary::Not | Unary::BitwiseNot | Unary::IsNaN | Unary::IsInf { .. }
        )
    }

    fn check(&self, dtype: DType) -> OpResult<()> {
        if !self.accepts(dtype) {
            op_bail!("{} is not defined on {dtype} tensors", self.name());
        }
        Ok(())
    }
}

/// `f` applied to every element of `x` (of element type `T`).
pub(crate) fn map_elements<T: Element, O: Element>(
    x: &Tensor,
    f: impl Fn(T) -> O,
) -> OpResult<Tensor> {
    let values: Vec<O> = x.to_vec::<T>()?.into_iter().map(f).collect();
    Tensor::from_vec(x.shape().to_vec(), values)
}

fn eval_integer<T: Integer>(op: Unary, x: &Tensor) -> OpResult<Tensor> {
    match op {
        Unary::Abs => map_elements(x, T::wrapping_abs),
        Unary::Neg => map_elements(x, T::wrapping_neg),
        Unary::Sign => map_elements(x, T::signum),
        Unary::BitwiseNot => map_elements(x, T::bit_not),
        Unary::Relu => map_elements(x, |v: T| if v < T::ZERO { T::ZERO } else { v }),
        // Erf and Shrink: the real result, truncated (saturating) to the type.
        _ if op.is_real_function() => {
            map_elements(x, |v: T| T::from_f64(math::apply(op, v.to_f64())))
        }
        _ => op_bail!("{} is not defined on {} tensors", op.name(), x.dtype()),
    }
}

fn eval_float(op: Unary, x: &Tensor) -> OpResult<Tensor> {
    dispatch_float!(x.dtype(), T => match op {
        Unary::IsNaN => map_elements(x, |v: T| v.to_f64().is_nan()),
        Unary::IsInf { detect_negative, detect_positive } => map_elements(x, |v: T| {
            let v = v.to_f64();
            (detect_positive && v == f64::INFINITY) || (detect_negative && v == f64::NEG_INFINITY)
        }),
        _ if op.is_real_function() => {
            map_elements(x, |v: T| round_from_f64::<T>(math::apply(op, v.to_f64())))
        }
        _ => op_bail!("{} is not defined on {} tensors", op.name(), x.dtype()),
    }, else op_bail!("{} is not a float type", x.dtype()))
}

impl Semantics for Unary {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        let x = required(inputs, 0, "X")?;
        self.check(x.ty.dtype)?;
        Ok(vec![TensorType::new(
            self.output_dtype(x.ty.dtype),
            x.ty.shape.clone(),
        )])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        let x = required(inputs, 0, "X")?;
        self.check(x.dtype())?;
        let y = match x.dtype() {
            DType::Bool => map_elements(x, |v: bool| !v)?,
            dtype if dtype.is_float() => eval_float(*self, x)?,
            dtype => dispatch_integer!(dtype, T => eval_integer::<T>(*self, x)?,
                else op_bail!("{} is not defined on {dtype} tensors", self.name())),
        };
        Ok(vec![y])
    }
}

#[cfg(test)]
mod tests {
    use half::f16;
    use rand::Rng;

    use super::*;

    fn run(op: Unary, x: Tensor) -> OpResult<Tensor> {
        let mut out = op.eval(&[Some(&x)], 1)?;
        Ok(out.remove(0))
    }

    fn f32s(values: &[f32]) -> Tensor {
        Tensor::from_vec(vec![values.len()], values.to_vec()).unwrap()
    }

    #[test]
    fn float_functions_round_once_to_f32() {
        let y = run(Unary::Exp, f32s(&[0.0, 1.0, -1.0])).unwrap();
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            vec![1.0, 1f64.exp() as f32, (-1f64).exp() as f32]
        );
        let y = run(Unary::Sigmoid, f32s(&[0.0, 100.0, -100.0])).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap()[..2], [0.5, 1.0]);
        let y = run(Unary::Floor, f32s(&[-1.5, 2.5])).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![-2.0, 2.0]);
    }

    #[test]
    fn float16_results_are_rounded_from_the_exact_value() {
        let x = Tensor::from_vec(vec![2], vec![f16::from_f32(0.5), f16::from_f32(-2.0)]).unwrap();
        let y = run(Unary::Tanh, x).unwrap();
        let got = y.to_vec::<f16>().unwrap();
        assert_eq!(
            got,
            vec![
                <f16 as Element>::from_f64(0.5f64.tanh()),
                <f16 as Element>::from_f64((-2f64).tanh())
            ]
        );
    }

    #[test]
    fn integer_ops_are_exact() {
        let x = Tensor::from_vec(vec![4], vec![-3i8, 0, 5, i8::MIN]).unwrap();
        let abs = run(Unary::Abs, x.clone()).unwrap();
        assert_eq!(abs.to_vec::<i8>().unwrap(), vec![3, 0, 5, i8::MIN]);
        let neg = run(Unary::Neg, x.clone()).unwrap();
        assert_eq!(neg.to_vec::<i8>().unwrap(), vec![3, 0, -5, i8::MIN]);
        let sign = run(Unary::Sign, x.clone()).unwrap();
        assert_eq!(sign.to_vec::<i8>().unwrap(), vec![-1, 0, 1, -1]);
        let relu = run(Unary::Relu, x.clone()).unwrap();
        assert_eq!(relu.to_vec::<i8>().unwrap(), vec![0, 0, 5, 0]);
        let not = run(Unary::BitwiseNot, x).unwrap();
        assert_eq!(not.to_vec::<i8>().unwrap(), vec![2, -1, -6, i8::MAX]);
        let u = Tensor::from_vec(vec![2], vec![0u32, 7]).unwrap();
        assert_eq!(
            run(Unary::Sign, u).unwrap().to_vec::<u32>().unwrap(),
            vec![0, 1]
        );
    }

    #[test]
    fn predicates_output_bool() {
        let x = f32s(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.0]);
        let nan = run(Unary::IsNaN, x.clone()).unwrap();
        assert_eq!(
            nan.to_vec::<bool>().unwrap(),
            vec![true, false, false, false]
        );
        let pos = Unary::IsInf {
            detect_negative: false,
            detect_positive: true,
        };
        assert_eq!(
            run(pos, x).unwrap().to_vec::<bool>().unwrap(),
            vec![false, true, false, false]
        );
        let b = Tensor::from_vec(vec![2], vec![true, false]).unwrap();
        assert_eq!(
            run(Unary::Not, b).unwrap().to_vec::<bool>().unwrap(),
            vec![false, true]
        );
    }

    #[test]
    fn refuses_types_onnx_does_not_allow() {
        let ints = Tensor::from_vec(vec![1], vec![1i32]).unwrap();
        assert!(run(Unary::Exp, ints.clone()).is_err());
        assert!(run(Unary::Not, ints).is_err());
        let unsigned = Tensor::from_vec(vec![1], vec![1u8]).unwrap();
        assert!(run(Unary::Neg, unsigned).is_err());
        assert!(run(Unary::BitwiseNot, f32s(&[1.0])).is_err());
        let ty = TensorType::new(DType::Bool, vec![2]);
        let fact = Fact {
            ty: &ty,
            value: None,
        };
        assert!(Unary::Relu.infer(&[Some(fact)], 1).is_err());
        assert_eq!(
            Unary::IsNaN
                .infer(
                    &[Some(Fact {
                        ty: &TensorType::new(DType::F16, vec![2]),
                        value: None
                    })],
                    1
                )
                .unwrap(),
            vec![TensorType::new(DType::Bool, vec![2])]
        );
        assert!(Unary::Relu.eval(&[None], 1).is_err());
        assert!(Unary::Relu.eval(&[], 1).is_err());
    }

    #[test]
    fn every_float_op_runs_on_every_float_type() {
        let mut rng = rand::rng();
        let values: Vec<f64> = (0..16).map(|_| rng.random_range(-3.0..3.0)).collect();
        let ops = [
            Unary::Abs,
            Unary::Neg,
            Unary::Exp,
            Unary::Log,
            Unary::Sqrt,
            Unary::Reciprocal,
            Unary::Floor,
            Unary::Ceil,
            Unary::Round,
            Unary::Sign,
            Unary::Sin,
            Unary::Cos,
            Unary::Tan,
            Unary::Asin,
            Unary::Acos,
            Unary::Atan,
            Unary::Sinh,
            Unary::Cosh,
            Unary::Asinh,
            Unary::Acosh,
            Unary::Atanh,
            Unary::Erf,
            Unary::Relu,
            Unary::Sigmoid,
            Unary::Tanh,
            Unary::Softplus,
            Unary::Softsign,
            Unary::Mish,
            Unary::HardSwish,
            Unary::LeakyRelu { alpha: 0.1 },
            Unary::Elu { alpha: 1.0 },
            Unary::Selu {
                alpha: 1.67,
                gamma: 1.05,
            },
            Unary::Celu { alpha: 1.0 },
            Unary::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            Unary::ThresholdedRelu { alpha: 1.0 },
            Unary::Shrink {
                bias: 0.0,
                lambd: 0.5,
            },
            Unary::Gelu {
                tanh_approximation: true,
            },
        ];
        for dtype in [DType::F32, DType::F64, DType::F16] {
            let x = Tensor::from_f64_values(dtype, vec![4, 4], &values).unwrap();
            for op in ops {
                let y = run(op, x.clone()).unwrap();
                assert_eq!((y.dtype(), y.shape()), (dtype, &[4, 4][..]));
                let want: Vec<f64> = x.to_f64_vec().iter().map(|&v| math::apply(op, v)).collect();
                let want = dispatch_float!(dtype, T => Tensor::from_vec(vec![4, 4], want.iter().map(|&v| round_from_f64::<T>(v)).collect::<Vec<T>>()).unwrap(), else unreachable!());
                assert_eq!(y.bytes(), want.bytes(), "{op:?} on {dtype}");
            }
        }
    }
}
