//! Matrix products: MatMul (numpy semantics) and Gemm.

pub(super) mod arith;

use crate::{DType, Element, Fact, OpResult, Tensor, TensorType, op_bail, op_ensure, shape};

use super::Semantics;
use arith::{Scalar, gemm_acc, operand, operand_type, optional, optional_type};

/// Y = alpha * op(A) * op(B) + beta * C, with op = transpose when asked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

pub(super) struct MatMulOp;
pub(super) static MATMUL: MatMulOp = MatMulOp;

fn check_dtype(op: &str, dtype: DType) -> OpResult<()> {
    op_ensure!(
        matches!(
            dtype,
            DType::F32
                | DType::F64
                | DType::F16
                | DType::I32
                | DType::I64
                | DType::U32
                | DType::U64
        ),
        "{op} does not support {dtype} operands"
    );
    Ok(())
}

/// Runs `$body` with `$S` bound to the type a matrix product of `$dtype` computes in
/// (f32 for f16), `$load` converting an operand into it.
macro_rules! dispatch_product {
    ($dtype:expr, $S:ident, $load:ident => $body:expr) => {
        match $dtype {
            DType::F32 | DType::F16 => {
                type $S = f32;
                let $load = |t: &Tensor| <f32 as arith::Real>::load(t);
                $body
            }
            DType::F64 => {
                type $S = f64;
                let $load = |t: &Tensor| t.to_vec::<f64>();
                $body
            }
            DType::I32 => {
                type $S = i32;
                let $load = |t: &Tensor| t.to_vec::<i32>();
                $body
            }
            DType::I64 => {
                type $S = i64;
                let $load = |t: &Tensor| t.to_vec::<i64>();
                $body
            }
            DType::U32 => {
                type $S = u32;
                let $load = |t: &Tensor| t.to_vec::<u32>();
                $body
            }
            DType::U64 => {
                type $S = u64;
                let $load = |t: &Tensor| t.to_vec::<u64>();
                $body
            }
            other => op_bail!("matrix products do not support {other} operands"),
        }
    };
}

/// Results computed in `S` as a tensor of `dtype` (f16 rounds from f32).
fn store<S: Scalar>(dtype: DType, shape: Vec<usize>, values: Vec<S>) -> OpResult<Tensor> {
    if dtype == S::DTYPE {
        return Tensor::from_vec(shape, values);
    }
    let wide: Vec<f64> = values.into_iter().map(Element::to_f64).collect();
    Tensor::from_f64_values(dtype, shape, &wide)
}

/// The shapes of a numpy matmul: batch dims (broadcast), M, K, N, and the output
/// shape with the dims of promoted 1-D operands removed.
struct MatMulShape {
    batch: Vec<usize>,
    a_batch: Vec<usize>,
    b_batch: Vec<usize>,
    m: usize,
    k: usize,
    n: usize,
    output: Vec<usize>,
}

fn matmul_shape(a: &[usize], b: &[usize]) -> OpResult<MatMulShape> {
    op_ensure!(
        !a.is_empty() && !b.is_empty(),
        "MatMul operands must have rank >= 1, got {a:?} and {b:?}"
    );
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (a_batch, a_mat) = a2.split_at(a2.len() - 2);
    let (b_batch, b_mat) = b2.split_at(b2.len() - 2);
    let (m, k, k2, n) = (a_mat[0], a_mat[1], b_mat[0], b_mat[1]);
    op_ensure!(k == k2, "MatMul inner dims differ: {a:?} times {b:?}");
    let batch = shape::broadcast(a_batch, b_batch)?;
    let mut output = batch.clone();
    if a.len() > 1 {
        output.push(m);
    }
    if b.len() > 1 {
        output.push(n);
    }
    Ok(MatMulShape {
        batch,
        a_batch: a_batch.to_vec(),
        b_batch: b_batch.to_vec(),
        m,
        k,
        n,
        output,
    })
}

/// For each matrix of the broadcast batch, the index of the operand's matrix.
fn batch_offsets(operand: &[usize], batch: &[usize]) -> Vec<usize> {
    let count: usize = batch.iter().product();
    let rank = batch.len();
    // Strides of the operand over the output batch dims; 0 where it broadcasts.
    let mut strides = vec![0; rank];
    let mut stride = 1;
    for i in (0..operand.len()).rev() {
        let out_dim = i + rank - operand.len();
        if operand[i] != 1 {
            strides[out_dim] = stride;
        }
        stride *= operand[i];
    }
    let mut offsets = Vec::with_capacity(count);
    let mut index = vec![0; rank];
    for _ in 0..count {
        offsets.push(index.iter().zip(&strides).map(|(i, s)| i * s).sum());
        for d in (0..rank).rev() {
            index[d] += 1;
            if index[d] < batch[d] {
                break;
            }
            index[d] = 0;
        }
    }
    offsets
}

fn matmul<S: Scalar>(s: &MatMulShape, a: &[S], b: &[S]) -> Vec<S> {
    let (m, k, n) = (s.m, s.k, s.n);
    let a_offsets = batch_offsets(&s.a_batch, &s.batch);
    let b_offsets = batch_offsets(&s.b_batch, &s.batch);
    let mut out = vec![S::default(); a_offsets.len() * m * n];
    if m * n == 0 {
        return out;
    }
    for ((&ia, &ib), out) in a_offsets
        .iter()
        .zip(&b_offsets)
        .zip(out.chunks_exact_mut(m * n))
    {
        let a = &a[ia * m * k..(ia + 1) * m * k];
        let b = &b[ib * k * n..(ib + 1) * k * n];
        gemm_acc(a, b, out, m, k, n);
    }
    out
}

impl Semantics for MatMulOp {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        let a = operand_type(inputs, 0, "A")?;
        let b = operand_type(inputs, 1, "B")?;
        check_dtype("MatMul", a.dtype)?;
        op_ensure!(
            a.dtype == b.dtype,
            "MatMul operands differ in type: {} and {}",
            a.dtype,
            b.dtype
        );
        Ok(vec![TensorType::new(
            a.dtype,
            matmul_shape(&a.shape, &b.shape)?.output,
        )])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let a = operand(inputs, 0, "A")?;
        let b = operand(inputs, 1, "B")?;
        check_dtype("MatMul", a.dtype())?;
        op_ensure!(
            a.dtype() == b.dtype(),
            "MatMul operands differ in type: {} and {}",
            a.dtype(),
            b.dtype()
        );
        let s = matmul_shape(a.shape(), b.shape())?;
        let y = dispatch_product!(a.dtype(), S, load => {
            let y: Vec<S> = matmul(&s, &load(a)?, &load(b)?);
            store(a.dtype(), s.output.clone(), y)?
        });
        Ok(vec![y])
    }
}

/// A 2-D matrix, transposed into row-major `[rows, cols]` when `transposed`.
fn oriented<S: Scalar>(values: Vec<S>, dims: [usize; 2], transposed: bool) -> Vec<S> {
    if !transposed {
        return values;
    }
    let [rows, cols] = dims;
    let mut out = Vec::with_capacity(values.len());
    for c in 0..cols {
        out.extend((0..rows).map(|r| values[r * cols + c]));
    }
    out
}

impl Gemm {
    /// M, K, N from the shapes of A and B.
    fn dims(&self, a: &[usize], b: &[usize]) -> OpResult<(usize, usize, usize)> {
        op_ensure!(
            a.len() == 2 && b.len() == 2,
            "Gemm operands must be matrices, got {a:?} and {b:?}"
        );
        let (m, k) = if self.trans_a {
            (a[1], a[0])
        } else {
            (a[0], a[1])
        };
        let (k2, n) = if self.trans_b {
            (b[1], b[0])
        } else {
            (b[0], b[1])
        };
        op_ensure!(
            k == k2,
            "Gemm inner dims differ: {a:?} and {b:?} (trans_a {}, trans_b {})",
            self.trans_a,
            self.trans_b
        );
        Ok((m, k, n))
    }
}

/// Checks that C broadcasts one way to `[m, n]`.
fn check_c(c: &[usize], m: usize, n: usize) -> OpResult<()> {
    op_ensure!(c.len() <= 2, "Gemm C must have rank <= 2, got {c:?}");
    let out = [m, n];
    for (i, &d) in c.iter().enumerate() {
        let target = out[2 - c.len() + i];
        op_ensure!(
            d == 1 || d == target,
            "Gemm C of shape {c:?} does not broadcast to {out:?}"
        );
    }
    Ok(())
}

impl Semantics for Gemm {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        let a = operand_type(inputs, 0, "A")?;
        let b = operand_type(inputs, 1, "B")?;
        check_dtype("Gemm", a.dtype)?;
        op_ensure!(
            a.dtype == b.dtype,
            "Gemm operands differ in type: {} and {}",
            a.dtype,
            b.dtype
        );
        let (m, _, n) = self.dims(&a.shape, &b.shape)?;
        if let Some(c) = optional_type(inputs, 2) {
            op_ensure!(
                c.dtype == a.dtype,
                "Gemm C is {}, A is {}",
                c.dtype,
                a.dtype
            );
            check_c(&c.shape, m, n)?;
        }
        Ok(vec![TensorType::new(a.dtype, vec![m, n])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let a = operand(inputs, 0, "A")?;
        let b = operand(inputs, 1, "B")?;
        let c = optional(inputs, 2);
        check_dtype("Gemm", a.dtype())?;
        op_ensure!(
            a.dtype() == b.dtype(),
            "Gemm operands differ in type: {} and {}",
            a.dtype(),
            b.dtype()
        );
        let (m, k, n) = self.dims(a.shape(), b.shape())?;
        if let Some(c) = c {
            op_ensure!(
                c.dtype() == a.dtype(),
                "Gemm C is {}, A is {}",
                c.dtype(),
                a.dtype()
            );
            check_c(c.shape(), m, n)?;
        }
        let a_dims = [a.shape()[0], a.shape()[1]];
        let b_dims = [b.shape()[0], b.shape()[1]];
        let y = dispatch_product!(a.dtype(), S, load => {
            let av: Vec<S> = oriented(load(a)?, a_dims, self.trans_a);
            let bv: Vec<S> = oriented(load(b)?, b_dims, self.trans_b);
            let mut y = vec![S::default(); m * n];
            gemm_acc(&av, &bv, &mut y, m, k, n);
            let alpha = S::from_f64(self.alpha as f64);
            let beta = S::from_f64(self.beta as f64);
            if self.alpha != 1.0 {
                y.iter_mut().for_each(|v| *v = v.mul(alpha));
            }
            if let Some(c) = c.filter(|_| self.beta != 0.0) {
                let cv: Vec<S> = load(c)?;
                // C's strides over [m, n]: 0 along a broadcast dim.
                let (rows, cols) = match c.shape() {
                    [] => (1, 1),
                    [cols] => (1, *cols),
                    [rows, cols] => (*rows, *cols),
                    _ => op_bail!("Gemm C must have rank <= 2"),
                };
                let row_stride = if rows == 1 { 0 } else { cols };
                let col_stride = if cols == 1 { 0 } else { 1 };
                for (i, row) in y.chunks_exact_mut(n.max(1)).enumerate() {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = v.add(beta.mul(cv[i * row_stride + j * col_stride]));
                    }
                }
            }
            store(a.dtype(), vec![m, n], y)?
        });
        Ok(vec![y])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::f16;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn t32(shape: &[usize], values: &[f32]) -> Tensor {
        Tensor::from_vec(shape.to_vec(), values.to_vec()).unwrap()
    }

    fn matmul_eval(a: &Tensor, b: &Tensor) -> OpResult<Tensor> {
        let ty = MATMUL.infer(
            &[
                Some(Fact {
                    ty: &TensorType::new(a.dtype(), a.shape().to_vec()),
                    value: None,
                }),
                Some(Fact {
                    ty: &TensorType::new(b.dtype(), b.shape().to_vec()),
                    value: None,
                }),
            ],
            1,
        )?;
        let y = MATMUL.eval(&[Some(a), Some(b)], 1)?.remove(0);
        assert_eq!(ty[0].shape, y.shape());
        assert_eq!(ty[0].dtype, y.dtype());
        Ok(y)
    }

    #[test]
    fn matmul_2d_by_hand() {
        let a = t32(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let b = t32(&[3, 2], &[7., 8., 9., 10., 11., 12.]);
        let y = matmul_eval(&a, &b).unwrap();
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![58., 64., 139., 154.]);
    }

    #[test]
    fn matmul_promotes_vectors() {
        let a = t32(&[3], &[1., 2., 3.]);
        let b = t32(&[3, 2], &[7., 8., 9., 10., 11., 12.]);
        let y = matmul_eval(&a, &b).unwrap();
        assert_eq!(y.shape(), &[2]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![58., 64.]);
        let v = t32(&[2], &[1., -1.]);
        let y = matmul_eval(&b, &v).unwrap();
        assert_eq!(y.shape(), &[3]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![-1., -1., -1.]);
        let y = matmul_eval(&a, &a).unwrap();
        assert_eq!(y.shape(), &[] as &[usize]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![14.]);
        // A batch of matrices times a vector.
        let batch = t32(&[2, 1, 2], &[1., 2., 3., 4.]);
        let y = matmul_eval(&batch, &v).unwrap();
        assert_eq!(y.shape(), &[2, 1]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![-1., -1.]);
    }

    #[test]
    fn matmul_broadcasts_batches_against_naive() {
        let mut rng = StdRng::seed_from_u64(7);
        let a_shape = [2, 1, 3, 4];
        let b_shape = [3, 4, 5];
        let a: Vec<i64> = (0..24).map(|_| rng.random_range(-5..5)).collect();
        let b: Vec<i64> = (0..60).map(|_| rng.random_range(-5..5)).collect();
        let at = Tensor::from_vec(a_shape.to_vec(), a.clone()).unwrap();
        let bt = Tensor::from_vec(b_shape.to_vec(), b.clone()).unwrap();
        let y = matmul_eval(&at, &bt).unwrap();
        assert_eq!(y.shape(), &[2, 3, 3, 5]);
        let y = y.to_vec::<i64>().unwrap();
        for p in 0..2 {
            for q in 0..3 {
                for i in 0..3 {
                    for j in 0..5 {
                        let want: i64 = (0..4)
                            .map(|k| a[p * 12 + i * 4 + k] * b[q * 20 + k * 5 + j])
                            .sum();
                        assert_eq!(y[((p * 3 + q) * 3 + i) * 5 + j], want);
                    }
                }
            }
        }
    }

    #[test]
    fn matmul_f16_rounds_from_f32() {
        let a = Tensor::from_vec(vec![1, 2], vec![f16::from_f32(0.5), f16::from_f32(2.0)]).unwrap();
        let b =
            Tensor::from_vec(vec![2, 1], vec![f16::from_f32(3.0), f16::from_f32(0.25)]).unwrap();
        let y = matmul_eval(&a, &b).unwrap();
        assert_eq!(y.to_vec::<f16>().unwrap(), vec![f16::from_f32(2.0)]);
    }

    #[test]
    fn matmul_refuses_bad_operands() {
        let a = t32(&[2, 3], &[0.; 6]);
        assert!(matmul_eval(&a, &a).is_err());
        let i = Tensor::from_vec(vec![3, 2], vec![0i8; 6]).unwrap();
        assert!(matmul_eval(&i, &i).is_err());
        let s = Tensor::scalar(1.0f32);
        assert!(matmul_eval(&s, &a).is_err());
        assert!(MATMUL.eval(&[Some(&a)], 1).is_err());
    }

    fn gemm_eval(g: &Gemm, inputs: &[Option<&Tensor>]) -> OpResult<Tensor> {
        let types: Vec<Option<TensorType>> = inputs
            .iter()
            .map(|t| t.map(|t| TensorType::new(t.dtype(), t.shape().to_vec())))
            .collect();
        let facts: Vec<Option<Fact>> = types
            .iter()
            .map(|t| t.as_ref().map(|ty| Fact { ty, value: None }))
            .collect();
        let ty = g.infer(&facts, 1)?;
        let y = g.eval(inputs, 1)?.remove(0);
        assert_eq!(ty[0].shape, y.shape());
        Ok(y)
    }

    #[test]
    fn gemm_with_transposes_and_broadcast_c() {
        let g = Gemm {
            alpha: 2.0,
            beta: 0.5,
            trans_a: true,
            trans_b: true,
        };
        // A^T = [[1,2,3],[4,5,6]], B^T = [[7,8],[9,10],[11,12]]
        let a = t32(&[3, 2], &[1., 4., 2., 5., 3., 6.]);
        let b = t32(&[2, 3], &[7., 9., 11., 8., 10., 12.]);
        let c = t32(&[2, 1], &[10., 20.]);
        let y = gemm_eval(&g, &[Some(&a), Some(&b), Some(&c)]).unwrap();
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![121., 133., 288., 318.]);
        let row = t32(&[2], &[1., 2.]);
        let g = Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: true,
            trans_b: true,
        };
        let y = gemm_eval(&g, &[Some(&a), Some(&b), Some(&row)]).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![59., 66., 140., 156.]);
        let y = gemm_eval(&g, &[Some(&a), Some(&b), None]).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![58., 64., 139., 154.]);
        let bad = t32(&[3], &[0.; 3]);
        assert!(gemm_eval(&g, &[Some(&a), Some(&b), Some(&bad)]).is_err());
        assert!(gemm_eval(&g, &[Some(&a), Some(&a), None]).is_err());
    }

    #[test]
    fn gemm_on_integers() {
        let g = Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        };
        let a = Tensor::from_vec(vec![1, 2], vec![3i32, 4]).unwrap();
        let b = Tensor::from_vec(vec![2, 1], vec![5i32, 6]).unwrap();
        let c = Tensor::scalar(100i32);
        let y = gemm_eval(&g, &[Some(&a), Some(&b), Some(&c)]).unwrap();
        assert_eq!(y.to_vec::<i32>().unwrap(), vec![139]);
    }
}
