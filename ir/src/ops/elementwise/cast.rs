//! Cast between any two element types of the IR.
//!
//! Every element passes through a lossless intermediate ([`Scalar`]: i128 holds every
//! integer, f64 every float) so that each conversion rule is written once:
//! integers wrap to narrower integers (C / numpy), floats truncate toward zero into
//! integers with Rust's saturation (NaN gives 0), anything becomes bool as `!= 0`
//! (NaN is true), and floats round to nearest-even into narrower floats — f64 to
//! f16 directly, never through f32, so there is a single rounding.

use half::f16;

use crate::{Element, Fact, OpResult, Tensor, TensorType, dispatch_dtype};

use super::operands::{check_counts, required};
use super::{Cast, Semantics};

/// One element, held without loss whatever its type.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scalar {
    Int(i128),
    Float(f64),
}

/// An element type that converts to and from [`Scalar`].
trait Castable: Element {
    fn to_scalar(self) -> Scalar;
    fn from_scalar(value: Scalar) -> Self;
}

macro_rules! castable_int {
    ($($t:ty),*) => {$(
        impl Castable for $t {
            fn to_scalar(self) -> Scalar {
                Scalar::Int(self as i128)
            }
            fn from_scalar(value: Scalar) -> Self {
                match value {
                    Scalar::Int(v) => v as $t,
                    Scalar::Float(v) => v as $t,
                }
            }
        }
    )*};
}

castable_int!(i8, u8, i16, u16, i32, u32, i64, u64);

impl Castable for f64 {
    fn to_scalar(self) -> Scalar {
        Scalar::Float(self)
    }
    fn from_scalar(value: Scalar) -> Self {
        match value {
            Scalar::Int(v) => v as f64,
            Scalar::Float(v) => v,
        }
    }
}

impl Castable for f32 {
    fn to_scalar(self) -> Scalar {
        Scalar::Float(self as f64)
    }
    fn from_scalar(value: Scalar) -> Self {
        match value {
            // i128 -> f32 directly: one rounding.
            Scalar::Int(v) => v as f32,
            Scalar::Float(v) => v as f32,
        }
    }
}

impl Castable for f16 {
    fn to_scalar(self) -> Scalar {
        Scalar::Float(self.to_f64())
    }
    fn from_scalar(value: Scalar) -> Self {
        match value {
            // Exact in f64 up to 2^53, far past f16's range: one rounding.
            Scalar::Int(v) => <f16 as Element>::from_f64(v as f64),
            Scalar::Float(v) => <f16 as Element>::from_f64(v),
        }
    }
}

impl Castable for bool {
    fn to_scalar(self) -> Scalar {
        Scalar::Int(self as i128)
    }
    fn from_scalar(value: Scalar) -> Self {
        match value {
            Scalar::Int(v) => v != 0,
            Scalar::Float(v) => v != 0.0,
        }
    }
}

/// `T::from_f64`, which rounds once for every float type (see `Element for f16`).
pub(crate) fn round_from_f64<T: Element>(x: f64) -> T {
    T::from_f64(x)
}

fn convert<S: Castable, D: Castable>(x: &Tensor) -> OpResult<Tensor> {
    super::unary::map_elements(x, |v: S| D::from_scalar(v.to_scalar()))
}

impl Semantics for Cast {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        let x = required(inputs, 0, "input")?;
        Ok(vec![TensorType::new(self.to, x.ty.shape.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        let x = required(inputs, 0, "input")?;
        if x.dtype() == self.to {
            return Ok(vec![x.clone()]);
        }
        let y = dispatch_dtype!(x.dtype(), S => dispatch_dtype!(self.to, D => convert::<S, D>(x)?));
        Ok(vec![y])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    fn cast(x: Tensor, to: DType) -> Tensor {
        let op = Cast { to, saturate: true };
        op.eval(&[Some(&x)], 1).unwrap().remove(0)
    }

    #[test]
    fn floats_truncate_and_saturate_into_integers() {
        let x = Tensor::from_vec(
            vec![6],
            vec![2.7f32, -2.7, 300.0, -300.0, f32::NAN, f32::INFINITY],
        )
        .unwrap();
        assert_eq!(
            cast(x.clone(), DType::I8).to_vec::<i8>().unwrap(),
            vec![2, -2, 127, -128, 0, 127]
        );
        assert_eq!(
            cast(x.clone(), DType::U8).to_vec::<u8>().unwrap(),
            vec![2, 0, 255, 0, 0, 255]
        );
        assert_eq!(
            cast(x, DType::Bool).to_vec::<bool>().unwrap(),
            vec![true, true, true, true, true, true]
        );
    }

    #[test]
    fn integers_wrap_into_narrower_integers() {
        let x = Tensor::from_vec(vec![3], vec![300i64, -1, 0]).unwrap();
        assert_eq!(
            cast(x.clone(), DType::U8).to_vec::<u8>().unwrap(),
            vec![44, 255, 0]
        );
        assert_eq!(
            cast(x.clone(), DType::U64).to_vec::<u64>().unwrap(),
            vec![300, u64::MAX, 0]
        );
        assert_eq!(
            cast(x, DType::Bool).to_vec::<bool>().unwrap(),
            vec![true, true, false]
        );
        let b = Tensor::from_vec(vec![2], vec![true, false]).unwrap();
        assert_eq!(
            cast(b, DType::F16).to_vec::<f16>().unwrap(),
            vec![f16::ONE, f16::ZERO]
        );
        let big = Tensor::from_vec(vec![1], vec![u64::MAX]).unwrap();
        assert_eq!(
            cast(big, DType::F32).to_vec::<f32>().unwrap(),
            vec![u64::MAX as f32]
        );
    }

    #[test]
    fn f64_rounds_once_into_f16() {
        // Halfway between two f16 values plus a hair: rounding through f32 would
        // lose the hair and round to even (down); one rounding goes up.
        let below = f16::from_f32(1.0).to_f64();
        let step = 2f64.powi(-10);
        let x = below + step / 2.0 + 2f64.powi(-40);
        let t = Tensor::from_vec(vec![1], vec![x]).unwrap();
        assert_eq!(
            cast(t, DType::F16).to_vec::<f16>().unwrap(),
            vec![f16::from_f64(below + step)]
        );
    }

    #[test]
    fn f16_rounding_matches_exact_arithmetic() {
        use rand::Rng;
        let mut rng = rand::rng();
        for _ in 0..20000 {
            let x: f64 = rng.random_range(-70000.0..70000.0) * 2f64.powi(rng.random_range(-30..1));
            let got = <f16 as Element>::from_f64(x).to_f64();
            // Exact check: no f16 is nearer, and ties go to the even one.
            let below =
                f16::from_bits(<f16 as Element>::from_f64(x).to_bits().wrapping_sub(1)).to_f64();
            let above =
                f16::from_bits(<f16 as Element>::from_f64(x).to_bits().wrapping_add(1)).to_f64();
            for other in [below, above] {
                if other.is_finite() && got.is_finite() {
                    let (d_got, d_other) = ((got - x).abs(), (other - x).abs());
                    assert!(
                        d_got < d_other
                            || (d_got == d_other
                                && <f16 as Element>::from_f64(x).to_bits() & 1 == 0),
                        "{x} -> {got}, {other} is nearer"
                    );
                }
            }
        }
        assert_eq!(<f16 as Element>::from_f64(65520.0), f16::INFINITY);
        assert_eq!(<f16 as Element>::from_f64(65519.99), f16::MAX);
        assert_eq!(<f16 as Element>::from_f64(-0.0).to_bits(), 0x8000);
        assert_eq!(<f16 as Element>::from_f64(2f64.powi(-25)), f16::ZERO);
        assert_eq!(
            <f16 as Element>::from_f64(2f64.powi(-25) * 1.000001).to_bits(),
            1
        );
    }

    #[test]
    fn every_pair_of_dtypes_converts() {
        for from in DType::ALL {
            let x = Tensor::from_f64_values(from, vec![2, 2], &[0.0, 1.0, 2.0, 3.0]).unwrap();
            for to in DType::ALL {
                let op = Cast { to, saturate: true };
                let ty = op
                    .infer(
                        &[Some(Fact {
                            ty: &TensorType::new(from, vec![2, 2]),
                            value: None,
                        })],
                        1,
                    )
                    .unwrap();
                let y = cast(x.clone(), to);
                assert_eq!(ty[0], TensorType::new(to, vec![2, 2]));
                let want: Vec<f64> = if to == DType::Bool || from == DType::Bool {
                    x.to_f64_vec()
                        .iter()
                        .map(|&v| f64::from(u8::from(v != 0.0)))
                        .collect()
                } else {
                    vec![0.0, 1.0, 2.0, 3.0]
                };
                assert_eq!(y.to_f64_vec(), want, "{from} -> {to}");
            }
        }
    }
}
