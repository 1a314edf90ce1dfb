//! Convolution and transposed convolution over any number of spatial dims (NCHW...).

mod padding;
#[cfg(test)]
mod tests;

pub use padding::{auto_pads, conv_transpose_auto_pads, conv_transpose_pads_for_output_shape};

use crate::{DType, Fact, OpResult, Tensor, TensorType, op_bail, op_ensure};

use super::Semantics;
use super::linalg::arith::{
    Real, dispatch_real, gemm_acc, operand, operand_type, optional, optional_type,
};

/// How ONNX's `auto_pad` asks for padding; resolved to explicit pads by [`auto_pads`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPad {
    NotSet,
    Valid,
    SameUpper,
    SameLower,
}

/// Convolution. Spatial attributes have one entry per spatial dim; `pads` is
/// `[begin_0, .., begin_n, end_0, .., end_n]` as in ONNX, already resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conv {
    pub kernel_shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    pub group: usize,
}

/// Transposed convolution; `output_shape` of ONNX is resolved into `pads` and
/// `output_padding` by the frontend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvTranspose {
    pub kernel_shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    pub output_padding: Vec<usize>,
    pub group: usize,
}

/// The spatial geometry of a convolution, every attribute checked against the
/// operands and defaulted where the frontend left it empty.
struct Geometry {
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    pads_begin: Vec<usize>,
    pads_end: Vec<usize>,
}

impl Geometry {
    fn new(
        op: &str,
        spatial: usize,
        weight_kernel: &[usize],
        kernel: &[usize],
        strides: &[usize],
        pads: &[usize],
        dilations: &[usize],
    ) -> OpResult<Geometry> {
        let per_dim = |name: &str, values: &[usize], default: usize| -> OpResult<Vec<usize>> {
            if values.is_empty() {
                return Ok(vec![default; spatial]);
            }
            op_ensure!(
                values.len() == spatial,
                "{op} {name} {values:?} must have one entry per spatial dim ({spatial})"
            );
            Ok(values.to_vec())
        };
        let kernel = if kernel.is_empty() {
            weight_kernel.to_vec()
        } else {
            kernel.to_vec()
        };
        op_ensure!(
            kernel == weight_kernel,
            "{op} kernel_shape {kernel:?} differs from the weight's spatial dims {weight_kernel:?}"
        );
        let strides = per_dim("strides", strides, 1)?;
        let dilations = per_dim("dilations", dilations, 1)?;
        op_ensure!(
            strides.iter().chain(&dilations).all(|&v| v >= 1),
            "{op} strides {strides:?} and dilations {dilations:?} must be >= 1"
        );
        let pads = if pads.is_empty() {
            vec![0; 2 * spatial]
        } else {
            pads.to_vec()
        };
        op_ensure!(
            pads.len() == 2 * spatial,
            "{op} pads {pads:?} must have two entries per spatial dim ({spatial})"
        );
        let (pads_begin, pads_end) = pads.split_at(spatial);
        Ok(Geometry {
            kernel,
            strides,
            dilations,
            pads_begin: pads_begin.to_vec(),
            pads_end: pads_end.to_vec(),
        })
    }

    /// Span of the dilated kernel along spatial dim `d`.
    fn extent(&self, d: usize) -> usize {
        (self.kernel[d].saturating_sub(1)) * self.dilations[d] + 1
    }
}

/// For every kernel position (row-major over the kernel dims) and every position of
/// the `outer` grid, the row-major offset into `target` of
/// `outer * stride + kernel * dilation - pad_begin`, or `None` when that falls
/// outside `target`. Convolution gathers input pixels through it (outer = output,
/// target = input); transposed convolution scatters into the output with it
/// (outer = input, target = output).
fn window_offsets(g: &Geometry, outer: &[usize], target: &[usize]) -> Vec<Option<usize>> {
    let outer_len: usize = outer.iter().product();
    let kernel_len: usize = g.kernel.iter().product();
    let mut table = Vec::with_capacity(kernel_len * outer_len);
    for kp in MultiIndex::new(&g.kernel) {
        for op in MultiIndex::new(outer) {
            let mut offset = 0;
            let mut inside = true;
            for d in 0..outer.len() {
                let pos = (op[d] * g.strides[d] + kp[d] * g.dilations[d]) as isize
                    - g.pads_begin[d] as isize;
                if pos < 0 || pos >= target[d] as isize {
                    inside = false;
                    break;
                }
                offset = offset * target[d] + pos as usize;
            }
            table.push(inside.then_some(offset));
        }
    }
    table
}

/// Row-major iteration over every index of a shape.
pub(super) struct MultiIndex {
    shape: Vec<usize>,
    next: Option<Vec<usize>>,
}

impl MultiIndex {
    pub(super) fn new(shape: &[usize]) -> MultiIndex {
        let next = (!shape.contains(&0)).then(|| vec![0; shape.len()]);
        MultiIndex {
            shape: shape.to_vec(),
            next,
        }
    }
}

impl Iterator for MultiIndex {
    type Item = Vec<usize>;
    fn next(&mut self) -> Option<Vec<usize>> {
        let current = self.next.take()?;
        let mut following = current.clone();
        for d in (0..self.shape.len()).rev() {
            following[d] += 1;
            if following[d] < self.shape[d] {
                self.next = Some(following);
                return Some(current);
            }
            following[d] = 0;
        }
        Some(current)
    }
}

/// The checked operand shapes of Conv or ConvTranspose: batch, input channels,
/// input spatial dims, weight dims.
struct Operands<'a> {
    n: usize,
    c: usize,
    spatial: &'a [usize],
    w: &'a [usize],
}

/// Sizes both convolutions' reference loops use: batch, channels in and out (total
/// and per group), and element counts of an input plane, an output plane and the
/// kernel window.
struct Layout {
    n: usize,
    c: usize,
    m: usize,
    cg: usize,
    mg: usize,
    in_len: usize,
    out_len: usize,
    kernel_len: usize,
}

impl Layout {
    fn new(ops: &Operands, g: &Geometry, out: &TensorType, groups: usize) -> Layout {
        let (c, m) = (ops.c, out.shape[1]);
        Layout {
            n: ops.n,
            c,
            m,
            cg: c / groups,
            mg: m / groups,
            in_len: ops.spatial.iter().product(),
            out_len: out.shape[2..].iter().product(),
            kernel_len: g.kernel.iter().product(),
        }
    }
}

fn type_of(t: &Tensor) -> TensorType {
    TensorType::new(t.dtype(), t.shape().to_vec())
}

/// X, W and the optional bias as values of the compute type.
type ConvValues<R> = (Vec<R>, Vec<R>, Option<Vec<R>>);

/// Loads X, W and the optional bias.
fn load_operands<R: Real>(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> OpResult<ConvValues<R>> {
    Ok((R::load(x)?, R::load(w)?, b.map(R::load).transpose()?))
}

fn check_operands<'a>(
    op: &str,
    x: &'a TensorType,
    w: &'a TensorType,
    b: Option<&TensorType>,
    group: usize,
) -> OpResult<Operands<'a>> {
    op_ensure!(
        matches!(x.dtype, DType::F32 | DType::F64 | DType::F16),
        "{op} does not support {} operands",
        x.dtype
    );
    op_ensure!(
        w.dtype == x.dtype,
        "{op} W is {}, X is {}",
        w.dtype,
        x.dtype
    );
    op_ensure!(
        x.rank() >= 3 && w.rank() == x.rank(),
        "{op} needs X and W of equal rank >= 3, got {:?} and {:?}",
        x.shape,
        w.shape
    );
    op_ensure!(group >= 1, "{op} group must be >= 1");
    if let Some(b) = b {
        op_ensure!(
            b.dtype == x.dtype,
            "{op} B is {}, X is {}",
            b.dtype,
            x.dtype
        );
        op_ensure!(b.rank() == 1, "{op} B must be a vector, got {:?}", b.shape);
    }
    Ok(Operands {
        n: x.shape[0],
        c: x.shape[1],
        spatial: &x.shape[2..],
        w: &w.shape,
    })
}

impl Conv {
    fn geometry(&self, ops: &Operands) -> OpResult<Geometry> {
        Geometry::new(
            "Conv",
            ops.spatial.len(),
            &ops.w[2..],
            &self.kernel_shape,
            &self.strides,
            &self.pads,
            &self.dilations,
        )
    }

    /// Output type, after checking channels, groups and bias.
    fn output(
        &self,
        x: &TensorType,
        w: &TensorType,
        b: Option<&TensorType>,
    ) -> OpResult<TensorType> {
        let ops = check_operands("Conv", x, w, b, self.group)?;
        let g = self.geometry(&ops)?;
        let m = ops.w[0];
        op_ensure!(
            ops.c == ops.w[1] * self.group && m % self.group == 0,
            "Conv with group {} cannot take X {:?} and W {:?}",
            self.group,
            x.shape,
            w.shape
        );
        if let Some(b) = b {
            op_ensure!(b.shape == [m], "Conv B {:?} must have {m} entries", b.shape);
        }
        let mut shape = vec![ops.n, m];
        for (d, &input) in ops.spatial.iter().enumerate() {
            let padded = input + g.pads_begin[d] + g.pads_end[d];
            op_ensure!(
                padded >= g.extent(d),
                "Conv kernel (extent {}) is larger than the padded input ({padded}) along spatial dim {d}",
                g.extent(d)
            );
            shape.push((padded - g.extent(d)) / g.strides[d] + 1);
        }
        Ok(TensorType::new(x.dtype, shape))
    }

    /// im2col per image and group, then one matrix product with the group's weights.
    fn compute<R: Real>(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        out: &TensorType,
    ) -> OpResult<Tensor> {
        let (xt, wt) = (type_of(x), type_of(w));
        let ops = check_operands("Conv", &xt, &wt, None, self.group)?;
        let g = self.geometry(&ops)?;
        let (xv, wv, bv) = load_operands::<R>(x, w, b)?;
        let groups = self.group;
        let Layout {
            n,
            c,
            m,
            cg,
            mg,
            in_len,
            out_len,
            kernel_len,
        } = Layout::new(&ops, &g, out, groups);
        let offsets = window_offsets(&g, &out.shape[2..], ops.spatial);
        let rows = cg * kernel_len;
        let mut col = vec![R::ZERO; rows * out_len];
        let mut y = vec![R::ZERO; n * m * out_len];
        for image in 0..n {
            for group in 0..groups {
                let first_channel = (image * c + group * cg) * in_len;
                for ci in 0..cg {
                    let plane = &xv[first_channel + ci * in_len..][..in_len];
                    for (k, row_offsets) in offsets.chunks_exact(out_len.max(1)).enumerate() {
                        let row = &mut col[(ci * kernel_len + k) * out_len..][..out_len];
                        for (v, offset) in row.iter_mut().zip(row_offsets) {
                            *v = offset.map_or(R::ZERO, |o| plane[o]);
                        }
                    }
                }
                let weights = &wv[group * mg * rows..][..mg * rows];
                let y_group = &mut y[(image * m + group * mg) * out_len..][..mg * out_len];
                if let Some(bias) = &bv {
                    for (oc, plane) in y_group.chunks_exact_mut(out_len.max(1)).enumerate() {
                        plane.fill(bias[group * mg + oc]);
                    }
                }
                gemm_acc(weights, &col, y_group, mg, rows, out_len);
            }
        }
        R::store(x.dtype(), out.shape.clone(), y)
    }
}

impl Semantics for Conv {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        let x = operand_type(inputs, 0, "X")?;
        let w = operand_type(inputs, 1, "W")?;
        Ok(vec![self.output(x, w, optional_type(inputs, 2))?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let x = operand(inputs, 0, "X")?;
        let w = operand(inputs, 1, "W")?;
        let b = optional(inputs, 2);
        let ty = |t: &Tensor| TensorType::new(t.dtype(), t.shape().to_vec());
        let out = self.output(&ty(x), &ty(w), b.map(ty).as_ref())?;
        let y = dispatch_real!(x.dtype(), R => self.compute::<R>(x, w, b, &out)?,
            else op_bail!("Conv does not support {} operands", x.dtype()));
        Ok(vec![y])
    }
}

impl ConvTranspose {
    fn geometry(&self, ops: &Operands) -> OpResult<Geometry> {
        Geometry::new(
            "ConvTranspose",
            ops.spatial.len(),
            &ops.w[2..],
            &self.kernel_shape,
            &self.strides,
            &self.pads,
            &self.dilations,
        )
    }

    fn output_padding(&self, spatial: usize) -> OpResult<Vec<usize>> {
        if self.output_padding.is_empty() {
            return Ok(vec![0; spatial]);
        }
        op_ensure!(
            self.output_padding.len() == spatial,
            "ConvTranspose output_padding {:?} must have one entry per spatial dim ({spatial})",
            self.output_padding
        );
        Ok(self.output_padding.clone())
    }

    fn output(
        &self,
        x: &TensorType,
        w: &TensorType,
        b: Option<&TensorType>,
    ) -> OpResult<TensorType> {
        let ops = check_operands("ConvTranspose", x, w, b, self.group)?;
        let g = self.geometry(&ops)?;
        let output_padding = self.output_padding(ops.spatial.len())?;
        op_ensure!(
            ops.c == ops.w[0] && ops.c % self.group == 0,
            "ConvTranspose with group {} cannot take X {:?} and W {:?}",
            self.group,
            x.shape,
            w.shape
        );
        let m = ops.w[1] * self.group;
        if let Some(b) = b {
            op_ensure!(
                b.shape == [m],
                "ConvTranspose B {:?} must have {m} entries",
                b.shape
            );
        }
        let mut shape = vec![ops.n, m];
        for (d, &input) in ops.spatial.iter().enumerate() {
            let full = g.strides[d] * input.saturating_sub(1) + output_padding[d] + g.extent(d);
            let pads = g.pads_begin[d] + g.pads_end[d];
            op_ensure!(
                input > 0 && full > pads,
                "ConvTranspose pads {pads} leave no output along spatial dim {d}"
            );
            shape.push(full - pads);
        }
        Ok(TensorType::new(x.dtype, shape))
    }

    /// Per image and group: columns = W_gᵀ · X_g, then each column entry is added
    /// to the output pixel its kernel position reaches (col2im).
    fn compute<R: Real>(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        out: &TensorType,
    ) -> OpResult<Tensor> {
        let (xt, wt) = (type_of(x), type_of(w));
        let ops = check_operands("ConvTranspose", &xt, &wt, None, self.group)?;
        let g = self.geometry(&ops)?;
        let (xv, wv, bv) = load_operands::<R>(x, w, b)?;
        let groups = self.group;
        let Layout {
            n,
            c,
            m,
            cg,
            mg,
            in_len,
            out_len,
            kernel_len,
        } = Layout::new(&ops, &g, out, groups);
        let offsets = window_offsets(&g, ops.spatial, &out.shape[2..]);
        let rows = mg * kernel_len;
        let mut y = vec![R::ZERO; n * m * out_len];
        if let Some(bias) = &bv {
            for (plane, &value) in y.chunks_exact_mut(out_len.max(1)).zip(bias.iter().cycle()) {
                plane.fill(value);
            }
        }
        let mut w_t = vec![R::ZERO; rows * cg];
        let mut col = vec![R::ZERO; rows * in_len];
        for group in 0..groups {
            // W_g is [cg, mg * kernel]; its transpose is the left factor.
            let w_g = &wv[group * cg * rows..][..cg * rows];
            for (ci, w_row) in w_g.chunks_exact(rows.max(1)).enumerate() {
                for (r, &v) in w_row.iter().enumerate() {
                    w_t[r * cg + ci] = v;
                }
            }
            for image in 0..n {
                let x_g = &xv[(image * c + group * cg) * in_len..][..cg * in_len];
                col.fill(R::ZERO);
                gemm_acc(&w_t, x_g, &mut col, rows, cg, in_len);
                let y_group = &mut y[(image * m + group * mg) * out_len..][..mg * out_len];
                for (oc, plane) in y_group.chunks_exact_mut(out_len.max(1)).enumerate() {
                    for k in 0..kernel_len {
                        let col_row = &col[(oc * kernel_len + k) * in_len..][..in_len];
                        let row_offsets = &offsets[k * in_len..][..in_len];
                        for (&v, offset) in col_row.iter().zip(row_offsets) {
                            if let Some(o) = *offset {
                                plane[o] = plane[o] + v;
                            }
                        }
                    }
                }
            }
        }
        R::store(x.dtype(), out.shape.clone(), y)
    }
}

impl Semantics for ConvTranspose {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        let x = operand_type(inputs, 0, "X")?;
        let w = operand_type(inputs, 1, "W")?;
        Ok(vec![self.output(x, w, optional_type(inputs, 2))?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let x = operand(inputs, 0, "X")?;
        let w = operand(inputs, 1, "W")?;
        let b = optional(inputs, 2);
        let ty = |t: &Tensor| TensorType::new(t.dtype(), t.shape().to_vec());
        let out = self.output(&ty(x), &ty(w), b.map(ty).as_ref())?;
        let y = dispatch_real!(x.dtype(), R => self.compute::<R>(x, w, b, &out)?,
            else op_bail!("ConvTranspose does not support {} operands", x.dtype()));
        Ok(vec![y])
    }
}
