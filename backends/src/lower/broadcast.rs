//! Walking a broadcast output as loop nests: for each output element, the index
//! of the element each operand reads (ONNX multidirectional broadcasting, operand
//! dims of 1 read with stride 0).
//!
//! Dims are coalesced first — size-1 dims dropped, neighbours that stay
//! contiguous in every operand merged — so that equal shapes become one flat
//! loop, and a per-channel operand a loop over channels around a contiguous row.
//! The innermost loop is vectorized when every operand either walks it
//! contiguously or is constant along it (then its scalar is splat).

use nnc_ir::kernel::{Expr, KernelBuilder};

/// How one operand is read at one point of the walk.
#[derive(Clone, Debug)]
pub(super) struct Access {
    pub index: Expr,
    /// The operand is constant along the vectorized dim: load one element and
    /// splat it.
    pub splat: bool,
}

/// The coalesced walk over an output, with every operand's steps.
#[derive(Clone, Debug)]
pub(super) struct BroadcastWalk {
    /// Coalesced output dims (outermost first); empty for a single element.
    dims: Vec<usize>,
    /// Per dim, each operand's step in elements (0 where it is broadcast).
    steps: Vec<Vec<i64>>,
    len: usize,
    operands: usize,
}

/// `body(k, operand accesses, output index, lanes)` emits one (vector of) element(s).
pub(super) type ElementBody<'a> = dyn FnMut(&mut KernelBuilder, &[Access], Expr, u8) + 'a;

impl BroadcastWalk {
    /// The walk over `out` reading operands of the given shapes, or `None` if one
    /// does not broadcast to `out`.
    pub fn new(out: &[usize], operands: &[&[usize]]) -> Option<BroadcastWalk> {
        let rank = out.len();
        let n = operands.len();
        let mut full = vec![vec![0i64; n]; rank];
        for (k, shape) in operands.iter().enumerate() {
            if shape.len() > rank {
                return None;
            }
            let mut stride = 1i64;
            for (i, &dim) in shape.iter().enumerate().rev() {
                let axis = rank - shape.len() + i;
                if dim == out[axis] && dim != 1 {
                    full[axis][k] = stride;
                } else if dim != 1 {
                    return None;
                }
                stride *= dim as i64;
            }
        }
        let mut dims: Vec<usize> = Vec::new();
        let mut steps: Vec<Vec<i64>> = Vec::new();
        for (&dim, step) in out.iter().zip(full) {
            if dim == 1 {
                continue;
            }
            if let (Some(last_dim), Some(last_step)) = (dims.last_mut(), steps.last_mut())
                && (0..n).all(|k| last_step[k] == step[k] * dim as i64)
            {
                *last_dim *= dim;
                *last_step = step;
                continue;
            }
            dims.push(dim);
            steps.push(step);
        }
        Some(BroadcastWalk {
            len: out.iter().product(),
            dims,
            steps,
            operands: n,
        })
    }

    /// Whether the innermost dim can be walked `lanes` at a time (every operand
    /// contiguous or constant along it).
    fn vectorizable(&self) -> bool {
        match self.steps.last() {
            Some(inner) => inner.iter().all(|&s| s == 0 || s == 1),
            None => false,
        }
    }

    /// Emits the loops; the innermost runs `lanes` elements at a time (then a
    /// scalar tail) when `lanes > 1` and the walk allows it.
    pub fn emit(&self, k: &mut KernelBuilder, lanes: u8, body: &mut ElementBody) {
        if self.len == 0 {
            return;
        }
        let bases = vec![Expr::index(0); self.operands];
        let lanes = if self.vectorizable() { lanes } else { 1 };
        self.emit_dim(k, 0, bases, Expr::index(0), lanes, body);
    }

    fn emit_dim(
        &self,
        k: &mut KernelBuilder,
        d: usize,
        bases: Vec<Expr>,
        out_base: Expr,
        lanes: u8,
        body: &mut ElementBody,
    ) {
        let Some(&dim) = self.dims.get(d) else {
            let accesses: Vec<Access> = bases
                .into_iter()
                .map(|index| Access {
                    index,
                    splat: false,
                })
                .collect();
            body(k, &accesses, out_base, 1);
            return;
        };
        let steps = &self.steps[d];
        let out_stride: i64 = self.dims[d + 1..].iter().product::<usize>() as i64;
        let at = |i: &Expr| -> (Vec<Expr>, Expr) {
            let idx = bases
                .iter()
                .zip(steps)
                .map(|(b, &s)| b.clone() + i.clone() * s)
                .collect();
            (idx, out_base.clone() + i.clone() * out_stride)
        };
        let innermost = d + 1 == self.dims.len();
        if innermost && lanes > 1 {
            let main = (dim - dim % lanes as usize) as i64;
            k.for_range("v", 0, main, lanes as i64, |k, i| {
                let (idx, out) = at(&i);
                let accesses: Vec<Access> = idx
                    .into_iter()
                    .zip(steps)
                    .map(|(index, &s)| Access {
                        index,
                        splat: s == 0,
                    })
                    .collect();
                body(k, &accesses, out, lanes);
            });
            k.for_range("t", main, dim as i64, 1, |k, i| {
                let (idx, out) = at(&i);
                let accesses: Vec<Access> = idx
                    .into_iter()
                    .map(|index| Access {
                        index,
                        splat: false,
                    })
                    .collect();
                body(k, &accesses, out, 1);
            });
            return;
        }
        k.for_range("i", 0, dim as i64, 1, |k, i| {
            let (idx, out) = at(&i);
            self.emit_dim(k, d + 1, idx, out, lanes, body);
        });
    }
}
