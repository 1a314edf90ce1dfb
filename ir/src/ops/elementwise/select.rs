//! Identity, Clip and Where: ops that pick elements rather than compute them.

use crate::shape::broadcast_all;
use crate::{
    DType, Element, Fact, OpResult, Tensor, TensorType, dispatch_dtype, dispatch_numeric, op_bail,
    op_ensure,
};

use super::broadcast::zip3_map;
use super::operands::{check_counts, optional, required};
use super::{ClipOp, IdentityOp, Semantics, WhereOp};

impl Semantics for IdentityOp {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        Ok(vec![required(inputs, 0, "input")?.ty.clone()])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        check_counts(inputs, 1, 1, num_outputs, 1)?;
        Ok(vec![required(inputs, 0, "input")?.clone()])
    }
}

/// Checks Clip's operands: x numeric, each bound of x's type and a single element.
fn check_clip(x: &TensorType, bounds: [Option<&TensorType>; 2]) -> OpResult<()> {
    op_ensure!(
        x.dtype != DType::Bool,
        "Clip is not defined on bool tensors"
    );
    for (bound, name) in bounds.into_iter().zip(["min", "max"]) {
        if let Some(bound) = bound {
            op_ensure!(
                bound.dtype == x.dtype,
                "Clip {name} is {} but the input is {}",
                bound.dtype,
                x.dtype
            );
            op_ensure!(
                bound.len() == 1,
                "Clip {name} must be a scalar, got shape {:?}",
                bound.shape
            );
        }
    }
    Ok(())
}

/// numpy's `clip`: `min(max(x, lo), hi)`, so `hi` wins when `lo > hi`; NaN stays NaN.
fn clip<T: Element>(x: &Tensor, lo: Option<&Tensor>, hi: Option<&Tensor>) -> OpResult<Tensor> {
    let bound = |t: Option<&Tensor>| -> OpResult<Option<T>> {
        Ok(match t {
            Some(t) => t.to_vec::<T>()?.first().copied(),
            None => None,
        })
    };
    let (lo, hi) = (bound(lo)?, bound(hi)?);
    super::unary::map_elements(x, |mut v: T| {
        if let Some(lo) = lo
            && v < lo
        {
            v = lo;
        }
        if let Some(hi) = hi
            && v > hi
        {
            v = hi;
        }
        v
    })
}

impl Semantics for ClipOp {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        check_counts(inputs, 1, 3, num_outputs, 1)?;
        let x = required(inputs, 0, "input")?;
        let bounds = [
            optional(inputs, 1).map(|f| f.ty),
            optional(inputs, 2).map(|f| f.ty),
        ];
        check_clip(x.ty, bounds)?;
        Ok(vec![x.ty.clone()])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        check_counts(inputs, 1, 3, num_outputs, 1)?;
        let x = required(inputs, 0, "input")?;
        let (lo, hi) = (optional(inputs, 1), optional(inputs, 2));
        let ty = |t: &Tensor| TensorType::new(t.dtype(), t.shape().to_vec());
        let (x_ty, lo_ty, hi_ty) = (ty(x), lo.map(ty), hi.map(ty));
        check_clip(&x_ty, [lo_ty.as_ref(), hi_ty.as_ref()])?;
        let y = dispatch_numeric!(x.dtype(), T => clip::<T>(x, lo, hi)?,
            else op_bail!("Clip is not defined on bool tensors"));
        Ok(vec![y])
    }
}

fn where_type(cond: &TensorType, x: &TensorType, y: &TensorType) -> OpResult<TensorType> {
    op_ensure!(
        cond.dtype == DType::Bool,
        "Where condition must be bool, got {}",
        cond.dtype
    );
    op_ensure!(
        x.dtype == y.dtype,
        "Where needs X and Y of one element type, got {} and {}",
        x.dtype,
        y.dtype
    );
    let shape = broadcast_all([&cond.shape[..], &x.shape[..], &y.shape[..]])?;
    Ok(TensorType::new(x.dtype, shape))
}

impl Semantics for WhereOp {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        check_counts(inputs, 3, 3, num_outputs, 1)?;
        let cond = required(inputs, 0, "condition")?;
        let (x, y) = (required(inputs, 1, "X")?, required(inputs, 2, "Y")?);
        Ok(vec![where_type(cond.ty, x.ty, y.ty)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        check_counts(inputs, 3, 3, num_outputs, 1)?;
        let cond = required(inputs, 0, "condition")?;
        let (x, y) = (required(inputs, 1, "X")?, required(inputs, 2, "Y")?);
        let ty = |t: &Tensor| TensorType::new(t.dtype(), t.shape().to_vec());
        let out = where_type(&ty(cond), &ty(x), &ty(y))?;
        let cv = cond.to_vec::<bool>()?;
        let result = dispatch_dtype!(x.dtype(), T => {
            let (xv, yv) = (x.to_vec::<T>()?, y.to_vec::<T>()?);
            let values = zip3_map(
                &out.shape,
                (cond.shape(), &cv),
                (x.shape(), &xv),
                (y.shape(), &yv),
                |c, a: T, b: T| if c { a } else { b },
            )?;
            Tensor::from_vec(out.shape, values)?
        });
        Ok(vec![result])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(ty: &TensorType) -> Option<Fact<'_>> {
        Some(Fact { ty, value: None })
    }

    #[test]
    fn identity_passes_the_operand_through() {
        let x = Tensor::from_vec(vec![2], vec![1u16, 2]).unwrap();
        assert_eq!(IdentityOp.eval(&[Some(&x)], 1).unwrap(), vec![x.clone()]);
        assert!(IdentityOp.eval(&[Some(&x)], 2).is_err());
    }

    #[test]
    fn clip_bounds_are_optional_and_max_wins() {
        let x = Tensor::from_vec(vec![5], vec![-3.0f32, -1.0, 0.5, 2.0, f32::NAN]).unwrap();
        let lo = Tensor::scalar(-1.5f32);
        let hi = Tensor::from_vec(vec![1], vec![1.0f32]).unwrap();
        let both = ClipOp
            .eval(&[Some(&x), Some(&lo), Some(&hi)], 1)
            .unwrap()
            .remove(0);
        let got = both.to_vec::<f32>().unwrap();
        assert_eq!(got[..4], [-1.5, -1.0, 0.5, 1.0]);
        assert!(got[4].is_nan());
        let upper = ClipOp
            .eval(&[Some(&x), None, Some(&hi)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(upper.to_vec::<f32>().unwrap()[..4], [-3.0, -1.0, 0.5, 1.0]);
        let crossed = ClipOp
            .eval(&[Some(&x), Some(&Tensor::scalar(5.0f32)), Some(&hi)], 1)
            .unwrap();
        assert_eq!(crossed[0].to_vec::<f32>().unwrap()[..4], [1.0; 4]);
        let ints = Tensor::from_vec(vec![3], vec![-5i64, 3, 9]).unwrap();
        let got = ClipOp
            .eval(
                &[
                    Some(&ints),
                    Some(&Tensor::scalar(0i64)),
                    Some(&Tensor::scalar(4i64)),
                ],
                1,
            )
            .unwrap();
        assert_eq!(got[0].to_vec::<i64>().unwrap(), vec![0, 3, 4]);
    }

    #[test]
    fn clip_refuses_mismatched_bounds() {
        let x = TensorType::new(DType::F32, vec![3]);
        let wrong_type = TensorType::new(DType::F64, vec![]);
        let wrong_shape = TensorType::new(DType::F32, vec![2]);
        assert!(ClipOp.infer(&[fact(&x), fact(&wrong_type)], 1).is_err());
        assert!(
            ClipOp
                .infer(&[fact(&x), None, fact(&wrong_shape)], 1)
                .is_err()
        );
        assert_eq!(
            ClipOp.infer(&[fact(&x), None, None], 1).unwrap(),
            vec![x.clone()]
        );
    }

    #[test]
    fn where_broadcasts_all_three() {
        let cond = Tensor::from_vec(vec![2, 1], vec![true, false]).unwrap();
        let x = Tensor::from_vec(vec![3], vec![1i32, 2, 3]).unwrap();
        let y = Tensor::scalar(-1i32);
        let out = WhereOp
            .eval(&[Some(&cond), Some(&x), Some(&y)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(out.shape(), &[2, 3]);
        assert_eq!(out.to_vec::<i32>().unwrap(), vec![1, 2, 3, -1, -1, -1]);
        let f = TensorType::new(DType::F32, vec![3]);
        let c = TensorType::new(DType::Bool, vec![4, 1]);
        assert_eq!(
            WhereOp.infer(&[fact(&c), fact(&f), fact(&f)], 1).unwrap(),
            vec![TensorType::new(DType::F32, vec![4, 3])]
        );
        assert!(WhereOp.infer(&[fact(&f), fact(&f), fact(&f)], 1).is_err());
    }
}
