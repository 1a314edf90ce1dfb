//! Walking a broadcast output: for every output element, the offsets of the operand
//! elements it reads. Dims are coalesced first (size-1 dims dropped, neighbours that
//! stay contiguous in every operand merged), so the common cases — equal shapes, a
//! scalar, a per-channel vector — become a few long rows with constant steps.

use crate::{OpResult, op_bail, op_ensure};

/// How `N` operands are read while walking an output of a given shape row by row.
#[derive(Clone, Debug)]
pub(crate) struct Broadcast<const N: usize> {
    /// Coalesced output dims, never empty (a scalar is one row of one element).
    dims: Vec<usize>,
    /// Per coalesced dim, each operand's step in elements (0 where it is broadcast).
    steps: Vec<[usize; N]>,
    len: usize,
}

impl<const N: usize> Broadcast<N> {
    /// Plans the walk over `out`; each operand shape must broadcast to it
    /// (unidirectionally: right-aligned, every dim equal to the output's or 1).
    pub fn new(out: &[usize], operands: [&[usize]; N]) -> OpResult<Self> {
        let rank = out.len();
        let mut full_steps = vec![[0usize; N]; rank];
        for (k, shape) in operands.iter().enumerate() {
            op_ensure!(
                shape.len() <= rank,
                "shape {shape:?} does not broadcast to {out:?}"
            );
            let mut stride = 1;
            for (i, &dim) in shape.iter().enumerate().rev() {
                let axis = rank - shape.len() + i;
                if dim == out[axis] && dim != 1 {
                    full_steps[axis][k] = stride;
                } else if dim != 1 {
                    op_bail!("shape {shape:?} does not broadcast to {out:?}");
                }
                stride *= dim;
            }
        }
        let mut dims: Vec<usize> = Vec::with_capacity(rank);
        let mut steps: Vec<[usize; N]> = Vec::with_capacity(rank);
        for (&dim, step) in out.iter().zip(full_steps) {
            if dim == 1 {
                continue;
            }
            if let (Some(last_dim), Some(last_step)) = (dims.last_mut(), steps.last_mut()) {
                // The outer dim continues the inner one in every operand: merge them.
                if (0..N).all(|k| last_step[k] == step[k] * dim) {
                    *last_dim *= dim;
                    *last_step = step;
                    continue;
                }
            }
            dims.push(dim);
            steps.push(step);
        }
        if dims.is_empty() {
            dims.push(1);
            steps.push([0; N]);
        }
        Ok(Broadcast {
            len: out.iter().product(),
            dims,
            steps,
        })
    }

    /// Calls `row(offsets, len, steps)` for every innermost row of the output in
    /// row-major order: the row's elements read operand `k` at
    /// `offsets[k] + i * steps[k]` for `i < len`.
    pub fn for_each_row(&self, mut row: impl FnMut([usize; N], usize, [usize; N])) {
        if self.len == 0 {
            return;
        }
        let outer = self.dims.len() - 1;
        let (inner_len, inner_steps) = (self.dims[outer], self.steps[outer]);
        let mut counter = vec![0usize; outer];
        let mut offsets = [0usize; N];
        for _ in 0..self.len / inner_len {
            row(offsets, inner_len, inner_steps);
            for d in (0..outer).rev() {
                counter[d] += 1;
                for (offset, step) in offsets.iter_mut().zip(self.steps[d]) {
                    *offset += step;
                }
                if counter[d] < self.dims[d] {
                    break;
                }
                counter[d] = 0;
                for (offset, step) in offsets.iter_mut().zip(self.steps[d]) {
                    *offset -= step * self.dims[d];
                }
            }
        }
    }
}

/// `f` of the elements of `a` and `b` broadcast to `out`, in row-major order.
pub(crate) fn zip_map<A: Copy, B: Copy, O>(
    out: &[usize],
    (a_shape, a): (&[usize], &[A]),
    (b_shape, b): (&[usize], &[B]),
    f: impl Fn(A, B) -> O,
) -> OpResult<Vec<O>> {
    if a_shape == out && b_shape == out {
        return Ok(a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect());
    }
    let plan = Broadcast::new(out, [a_shape, b_shape])?;
    let mut values = Vec::with_capacity(plan.len);
    plan.for_each_row(|[oa, ob], len, [sa, sb]| {
        for i in 0..len {
            values.push(f(a[oa + i * sa], b[ob + i * sb]));
        }
    });
    Ok(values)
}

/// `f` of the elements of three operands broadcast to `out`, in row-major order.
pub(crate) fn zip3_map<A: Copy, B: Copy, C: Copy, O>(
    out: &[usize],
    (a_shape, a): (&[usize], &[A]),
    (b_shape, b): (&[usize], &[B]),
    (c_shape, c): (&[usize], &[C]),
    f: impl Fn(A, B, C) -> O,
) -> OpResult<Vec<O>> {
    let plan = Broadcast::new(out, [a_shape, b_shape, c_shape])?;
    let mut values = Vec::with_capacity(plan.len);
    plan.for_each_row(|[oa, ob, oc], len, [sa, sb, sc]| {
        for i in 0..len {
            values.push(f(a[oa + i * sa], b[ob + i * sb], c[oc + i * sc]));
        }
    });
    Ok(values)
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;
    use crate::shape::{broadcast, strides};

    /// Reads `x` of `shape` at the output multi-index `index` the naive way.
    fn naive_offset(index: &[usize], shape: &[usize]) -> usize {
        let skip = index.len() - shape.len();
        let s = strides(shape);
        shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if d == 1 { 0 } else { index[skip + i] * s[i] })
            .sum()
    }

    fn naive_zip(out: &[usize], a: &[usize], b: &[usize]) -> Vec<(usize, usize)> {
        let len: usize = out.iter().product();
        let s = strides(out);
        (0..len)
            .map(|flat| {
                let index: Vec<usize> = s.iter().zip(out).map(|(&st, &d)| flat / st % d).collect();
                (naive_offset(&index, a), naive_offset(&index, b))
            })
            .collect()
    }

    #[test]
    fn coalesces_per_channel_broadcast_into_rows() {
        let plan = Broadcast::new(&[2, 3, 4, 5], [&[2, 3, 4, 5], &[3, 1, 1]]).unwrap();
        assert_eq!(plan.dims, vec![2, 3, 20]);
        assert_eq!(plan.steps, vec![[60, 0], [20, 1], [1, 0]]);
        let rows = Broadcast::new(&[2, 3, 4, 5], [&[2, 3, 4, 5], &[2, 3, 1, 1]]).unwrap();
        assert_eq!(rows.dims, vec![6, 20]);
        assert_eq!(rows.steps, vec![[20, 1], [1, 0]]);
        let scalar = Broadcast::new(&[], [&[], &[]]).unwrap();
        assert_eq!(scalar.dims, vec![1]);
    }

    #[test]
    fn refuses_shapes_that_do_not_broadcast() {
        assert!(Broadcast::new(&[2, 3], [&[3, 3]]).is_err());
        assert!(Broadcast::new(&[3], [&[1, 3]]).is_err());
    }

    #[test]
    fn matches_naive_indexing_on_random_shapes() {
        let mut rng = rand::rng();
        for _ in 0..300 {
            let rank = rng.random_range(0..5);
            let out: Vec<usize> = (0..rank).map(|_| rng.random_range(1..4)).collect();
            let pick = |rng: &mut rand::rngs::ThreadRng| -> Vec<usize> {
                let r = rng.random_range(0..=rank);
                out[rank - r..]
                    .iter()
                    .map(|&d| if rng.random_bool(0.4) { 1 } else { d })
                    .collect()
            };
            let a = pick(&mut rng);
            let b = pick(&mut rng);
            let full = broadcast(&a, &b).unwrap();
            let a_len: usize = a.iter().product();
            let b_len: usize = b.iter().product();
            let av: Vec<usize> = (0..a_len).collect();
            let bv: Vec<usize> = (0..b_len).collect();
            let got = zip_map(&full, (&a, &av), (&b, &bv), |x, y| (x, y)).unwrap();
            assert_eq!(got, naive_zip(&full, &a, &b), "{a:?} {b:?}");
        }
    }

    #[test]
    fn empty_outputs_visit_nothing() {
        let got = zip_map(
            &[0, 3],
            (&[0, 3], &[] as &[u8]),
            (&[3], &[1u8, 2, 3]),
            |x, y| x + y,
        );
        assert_eq!(got.unwrap(), Vec::<u8>::new());
    }
}
