//! Binary ops: type rules (the ONNX type constraints) and evaluation over
//! broadcast operands.

use crate::shape::broadcast;
use crate::{
    DType, Element, Fact, OpResult, Tensor, TensorType, dispatch_float, dispatch_numeric, op_bail,
    op_ensure,
};

use super::broadcast::zip_map;
use super::cast::round_from_f64;
use super::number::{Integer, Number, dispatch_integer};
use super::operands::{check_counts, required};
use super::{Binary, Semantics};

impl Binary {
    /// The output element type for operands of `a` and `b`, or why they are refused.
    pub fn output_dtype(&self, a: DType, b: DType) -> OpResult<DType> {
        let name = self.name();
        let numeric = |d: DType| d.is_float() || d.is_int();
        if *self == Binary::Pow {
            // The exponent may have its own type; the result has the base's.
            op_ensure!(numeric(a) && numeric(b), "Pow is not defined on {a} ^ {b}");
            return Ok(a);
        }
        op_ensure!(
            a == b,
            "{name} needs operands of one element type, got {a} and {b}"
        );
        let accepted = match self {
            Binary::And | Binary::Or | Binary::Xor => a == DType::Bool,
            Binary::BitwiseAnd | Binary::BitwiseOr | Binary::BitwiseXor => a.is_int(),
            // Signed types since opset 28 (arithmetic right shift).
            Binary::BitShiftLeft | Binary::BitShiftRight => a.is_int(),
            Binary::Equal => true,
            _ => numeric(a),
        };
        op_ensure!(accepted, "{name} is not defined on {a} tensors");
        Ok(match self {
            Binary::Equal
            | Binary::Less
            | Binary::LessOrEqual
            | Binary::Greater
            | Binary::GreaterOrEqual => DType::Bool,
            _ => a,
        })
    }

    /// The output shape for operands of shapes `a` and `b`.
    pub fn output_shape(&self, a: &[usize], b: &[usize]) -> OpResult<Vec<usize>> {
        let shape = broadcast(a, b)?;
        if *self == Binary::PRelu {
            // The slope broadcasts to X, never the other way.
            op_ensure!(
                shape == a,
                "PRelu slope of shape {b:?} does not broadcast to X of shape {a:?}"
            );
        }
        Ok(shape)
    }
}

/// `f` of the elements of `a` (type `A`) and `b` (type `B`) broadcast to `out`.
fn zip_tensors<A: Element, B: Element, O: Element>(
    out: &[usize],
    a: &Tensor,
    b: &Tensor,
    f: impl Fn(A, B) -> O,
) -> OpResult<Tensor> {
    let (av, bv) = (a.to_vec::<A>()?, b.to_vec::<B>()?);
    let values = zip_map(out, (a.shape(), &av), (b.shape(), &bv), f)?;
    Tensor::from_vec(out.to_vec(), values)
}

fn arithmetic<T: Number>(op: Binary, out: &[usize], a: &Tensor, b: &Tensor) -> OpResult<Tensor> {
    match op {
        Binary::Add => zip_tensors(out, a, b, T::add),
        Binary::Sub => zip_tensors(out, a, b, T::sub),
        Binary::Mul => zip_tensors(out, a, b, T::mul),
        Binary::Div => zip_tensors(out, a, b, T::div),
        Binary::Mod { fmod } => zip_tensors(out, a, b, |x: T, y: T| x.rem(y, fmod)),
        Binary::Max => zip_tensors(out, a, b, T::max),
        Binary::Min => zip_tensors(out, a, b, T::min),
        Binary::PRelu => zip_tensors(
            out,
            a,
            b,
            |x: T, slope: T| {
                if x < T::ZERO { slope.mul(x) } else { x }
            },
        ),
        Binary::Equal => zip_tensors(out, a, b, |x: T, y: T| x == y),
        Binary::Less => zip_tensors(out, a, b, |x: T, y: T| x < y),
        Binary::LessOrEqual => zip_tensors(out, a, b, |x: T, y: T| x <= y),
        Binary::Greater => zip_tensors(out, a, b, |x: T, y: T| x > y),
        Binary::GreaterOrEqual => zip_tensors(out, a, b, |x: T, y: T| x >= y),
        _ => op_bail!("{} is not defined on {} tensors", op.name(), a.dtype()),
    }
}

fn bitwise<T: Integer>(op: Binary, out: &[usize], a: &Tensor, b: &Tensor) -> OpResult<Tensor> {
    match op {
        Binary::BitwiseAnd => zip_tensors(out, a, b, T::bit_and),
        Binary::BitwiseOr => zip_tensors(out, a, b, T::bit_or),
        Binary::BitwiseXor => zip_tensors(out, a, b, T::bit_xor),
        Binary::BitShiftLeft => zip_tensors(out, a, b, T::shift_left),
        Binary::BitShiftRight => zip_tensors(out, a, b, T::shift_right),
        _ => arithmetic::<T>(op, out, a, b),
    }
}

fn logic(op: Binary, out: &[usize], a: &Tensor, b: &Tensor) -> OpResult<Tensor> {
    match op {
        Binary::And => zip_tensors(out, a, b, |x: bool, y: bool| x && y),
        Binary::Or => zip_tensors(out, a, b, |x: bool, y: bool| x || y),
        Binary::Xor => zip_tensors(out, a, b, |x: bool, y: bool| x != y),
        Binary::Equal => zip_tensors(out, a, b, |x: bool, y: bool| x == y),
        _ => op_bail!("{} is not defined on bool tensors", op.name()),
    }
}

/// Integer `base ^ exponent`: exact (wrapping) for a non-negative integer exponent,
/// otherwise the real power truncated toward zero (saturating), as a C cast would.
fn integer_pow<T: Integer>(out: &[usize], base: &Tensor, exponent: &Tensor) -> OpResult<Tensor> {
    let real = |x: T, e: f64| T::from_f64(x.to_f64().powf(e));
    if exponent.dtype().is_int() {
        let ev = exponent.to_i64_vec();
        let bv = base.to_vec::<T>()?;
        let values =
            zip_map(
                out,
                (base.shape(), &bv),
                (exponent.shape(), &ev),
                |x, e| match u64::try_from(e) {
                    Ok(e) => x.wrapping_pow(e),
                    Err(_) => real(x, e as f64),
                },
            )?;
        return Tensor::from_vec(out.to_vec(), values);
    }
    let ev = exponent.to_f64_vec();
    let bv = base.to_vec::<T>()?;
    let values = zip_map(out, (base.shape(), &bv), (exponent.shape(), &ev), real)?;
    Tensor::from_vec(out.to_vec(), values)
}

fn pow(out: &[usize], base: &Tensor, exponent: &Tensor) -> OpResult<Tensor> {
    dispatch_float!(base.dtype(), T => {
        let bv = base.to_vec::<T>()?;
        let ev = exponent.to_f64_vec();
        let values = zip_map(out, (base.shape(), &bv), (exponent.shape(), &ev), |x: T, e| {
            round_from_f64::<T>(x.to_f64().powf(e))
        })?;
        Tensor::from_vec(out.to_vec(), values)
    }, else dispatch_integer!(base.dtype(), T => integer_pow::<T>(out, base, exponent),
        else op_bail!("Pow is not defined on {} tensors", base.dtype())))
}

impl Semantics for Binary {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        check_counts(inputs, 2, 2, num_outputs, 1)?;
        let (a, b) = (required(inputs, 0, "A")?, required(inputs, 1, "B")?);
        let dtype = self.output_dtype(a.ty.dtype, b.ty.dtype)?;
        let shape = self.output_shape(&a.ty.shape, &b.ty.shape)?;
        Ok(vec![TensorType::new(dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        check_counts(inputs, 2, 2, num_outputs, 1)?;
        let (a, b) = (required(inputs, 0, "A")?, required(inputs, 1, "B")?);
        self.output_dtype(a.dtype(), b.dtype())?;
        let out = self.output_shape(a.shape(), b.shape())?;
        if matches!(self, Binary::Div | Binary::Mod { .. }) && a.dtype().is_int() {
            op_ensure!(
                !b.to_i64_vec().contains(&0),
                "integer {} by zero",
                self.name()
            );
        }
        let y = match (self, a.dtype()) {
            (Binary::Pow, _) => pow(&out, a, b)?,
            (_, DType::Bool) => logic(*self, &out, a, b)?,
            (_, dtype) if dtype.is_int() => {
                dispatch_integer!(dtype, T => bitwise::<T>(*self, &out, a, b)?,
                    else op_bail!("{dtype} is not an integer type"))
            }
            (_, dtype) => dispatch_numeric!(dtype, T => arithmetic::<T>(*self, &out, a, b)?,
                else op_bail!("{} is not defined on {dtype} tensors", self.name())),
        };
        Ok(vec![y])
    }
}

#[cfg(test)]
mod tests;
