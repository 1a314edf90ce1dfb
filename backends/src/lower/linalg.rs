//! Lowering of matrix products: MatMul (numpy batching and broadcasting, 1-D
//! operands promoted) and Gemm (transposes, alpha, beta, C broadcast).
//!
//! f32 products with B's rows contiguous (MatMul, Gemm without `trans_b`) use the
//! register-blocked microkernel of `lower::gemm`, Gemm's alpha and C applied as
//! the tiles are stored; a MatMul whose B is shared by every batch entry is one
//! product over all rows. Other element types: per output row, a vector of
//! output columns accumulates in a local (`acc = fma(splat(a[i, p]), b[p,
//! j..j+L], acc)` over `p`), then a scalar tail. Gemm with `trans_b` (the usual
//! fully-connected layer, a matrix-vector product at batch 1) takes dot products
//! along the contiguous `K` (f32: blocks of outputs with independent
//! accumulators, `lower::gemv`); f32 products of one or two rows use a one-row
//! GEMM tile. Floats accumulate in their compute type (f16 in
//! f32); integers wrap as the reference does, scalar.

use nnc_ir::Op;
use nnc_ir::kernel::{
    BinaryOp, ElemType, Expr, Kernel, KernelBuilder, ReduceOp, TileAddend, TileStep, Ty,
};
use nnc_ir::ops::Gemm;

use super::element_io::{compute_elem, constant, load_value, store_value};
use super::epilogue::Epilogue as Fusion;
use super::gemm;
use super::gemv;
use super::signature::{Operand, Signature, kernel_name};
use super::{LowerCtx, LowerError};

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let mut k = KernelBuilder::new(kernel_name(ctx));
    let sig = Signature::declare(ctx, &mut k);
    let (a, b, y) = (sig.input(ctx, 0)?, sig.input(ctx, 1)?, sig.output(ctx, 0)?);
    let elem = a.elem();
    if !matches!(
        elem,
        ElemType::F32
            | ElemType::F64
            | ElemType::F16
            | ElemType::I32
            | ElemType::I64
            | ElemType::U32
            | ElemType::U64
    ) {
        return Err(ctx.unsupported(format!("no matrix product of {}", elem.name())));
    }
    let lanes = vector_lanes(ctx, elem);
    let fusion = Fusion::of(ctx, &sig)?;
    if !fusion.is_empty() && elem != ElemType::F32 {
        return Err(ctx.unsupported("fused epilogues need an f32 product"));
    }
    let op = match &ctx.node.op {
        Op::Fused(f) => &*f.anchor,
        op => op,
    };
    match op {
        Op::MatMul => matmul(ctx, &mut k, (a, b, y), lanes, &fusion)?,
        Op::Gemm(g) => gemm(ctx, &mut k, g, (a, b, sig.optional(2)), y, lanes, &fusion)?,
        other => return Err(ctx.unsupported(format!("{} is not a matrix product", other.name()))),
    }
    Ok(k.finish())
}

/// Lanes the column loop uses: a full vector for f32 and f64, scalars otherwise.
fn vector_lanes(ctx: &LowerCtx, elem: ElemType) -> u8 {
    match elem {
        ElemType::F32 | ElemType::F64 => ctx.target.lanes(elem.size()),
        _ => 1,
    }
}

/// `acc + a * b` in the compute type (fused for floats, wrapping for integers).
fn mul_add(elem: ElemType, a: Expr, b: Expr, acc: Expr) -> Expr {
    if elem.is_float() {
        a.fma(b, acc)
    } else {
        acc.binary(BinaryOp::Add, a.binary(BinaryOp::Mul, b))
    }
}

/// How one product reads its operands: element `(i, p)` of A and `(p, j)` of B
/// (B consecutive in `j` when `b_rows_contiguous`), `(i, j)` of Y.
struct Layout<'a> {
    a_index: &'a dyn Fn(Expr, Expr) -> Expr,
    b_index: &'a dyn Fn(Expr, Expr) -> Expr,
    y_index: &'a dyn Fn(Expr, Expr) -> Expr,
    b_rows_contiguous: bool,
}

/// What happens to an accumulated value before it is stored: `(k, acc, i, j,
/// lanes) -> value`.
type Epilogue<'a> = &'a dyn Fn(&mut KernelBuilder, Expr, Expr, Expr, u8) -> Expr;

struct Product<'a> {
    a: &'a Operand,
    b: &'a Operand,
    y: &'a Operand,
    m: usize,
    k: usize,
    n: usize,
}

impl Product<'_> {
    fn elem(&self) -> ElemType {
        self.a.elem()
    }

    /// Y[i, j..] for every row: vectors of `lanes` columns, then a scalar tail.
    fn emit_by_columns(
        &self,
        kb: &mut KernelBuilder,
        layout: &Layout,
        lanes: u8,
        epilogue: Epilogue,
    ) {
        let lanes = if layout.b_rows_contiguous { lanes } else { 1 };
        let n = self.n as i64;
        let main = n - n % lanes as i64;
        kb.for_range("i", 0, self.m as i64, 1, |kb, i| {
            kb.for_range("j", 0, main, lanes as i64, |kb, j| {
                self.emit_cell(kb, layout, i.clone(), j, lanes, epilogue);
            });
            kb.for_range("j", main, n, 1, |kb, j| {
                self.emit_cell(kb, layout, i.clone(), j, 1, epilogue);
            });
        });
    }

    /// One output vector (or scalar) at `(i, j)`.
    fn emit_cell(
        &self,
        kb: &mut KernelBuilder,
        layout: &Layout,
        i: Expr,
        j: Expr,
        lanes: u8,
        epilogue: Epilogue,
    ) {
        let elem = self.elem();
        let ce = compute_elem(elem);
        let ty = Ty::vector(ce, lanes);
        let acc = kb.let_var("acc", ty, constant(0.0, elem).splat(lanes));
        kb.for_range("p", 0, self.k as i64, 1, |kb, p| {
            let av = load_value(
                kb,
                self.a.buf,
                elem,
                (layout.a_index)(i.clone(), p.clone()),
                1,
            );
            let bv = load_value(kb, self.b.buf, elem, (layout.b_index)(p, j.clone()), lanes);
            let next = mul_add(elem, av.splat(lanes), bv, Expr::var(acc));
            kb.assign(acc, next);
        });
        let value = epilogue(kb, Expr::var(acc), i.clone(), j.clone(), lanes);
        store_value(kb, self.y.buf, elem, (layout.y_index)(i, j), value);
    }

    /// Y[i, j] as dot products along `p`, where both A's rows and B's columns are
    /// contiguous in `p`.
    fn emit_by_dots(&self, kb: &mut KernelBuilder, layout: &Layout, lanes: u8, epilogue: Epilogue) {
        let elem = self.elem();
        let ce = compute_elem(elem);
        let kk = self.k as i64;
        let main = kk - kk % lanes as i64;
        kb.for_range("i", 0, self.m as i64, 1, |kb, i| {
            kb.for_range("j", 0, self.n as i64, 1, |kb, j| {
                let accv = kb.let_var(
                    "accv",
                    Ty::vector(ce, lanes),
                    constant(0.0, elem).splat(lanes),
                );
                kb.for_range("p", 0, main, lanes as i64, |kb, p| {
                    let av = load_value(
                        kb,
                        self.a.buf,
                        elem,
                        (layout.a_index)(i.clone(), p.clone()),
                        lanes,
                    );
                    let bv =
                        load_value(kb, self.b.buf, elem, (layout.b_index)(p, j.clone()), lanes);
                    kb.assign(accv, mul_add(elem, av, bv, Expr::var(accv)));
                });
                let total = if lanes > 1 {
                    Expr::var(accv).reduce(ReduceOp::Add)
                } else {
                    Expr::var(accv)
                };
                let acc = kb.let_var("acc", Ty::scalar(ce), total);
                kb.for_range("p", main, kk, 1, |kb, p| {
                    let av = load_value(
                        kb,
                        self.a.buf,
                        elem,
                        (layout.a_index)(i.clone(), p.clone()),
                        1,
                    );
                    let bv = load_value(kb, self.b.buf, elem, (layout.b_index)(p, j.clone()), 1);
                    kb.assign(acc, mul_add(elem, av, bv, Expr::var(acc)));
                });
                let value = epilogue(kb, Expr::var(acc), i.clone(), j.clone(), 1);
                store_value(kb, self.y.buf, elem, (layout.y_index)(i.clone(), j), value);
            });
        });
    }
}

/// Batch dims of a numpy matmul and, per batch dim, the matrix strides of A, B
/// and Y (0 where an operand broadcasts).
struct Batch {
    dims: Vec<usize>,
    a: Vec<i64>,
    b: Vec<i64>,
    y: Vec<i64>,
}

fn batch_strides(operand: &[usize], batch: &[usize], matrix: i64) -> Vec<i64> {
    let lead = batch.len() - operand.len();
    let mut strides = vec![0; batch.len()];
    let mut stride = matrix;
    for i in (0..operand.len()).rev() {
        if operand[i] != 1 {
            strides[lead + i] = stride;
        }
        stride *= operand[i] as i64;
    }
    strides
}

fn matmul(
    ctx: &LowerCtx,
    kb: &mut KernelBuilder,
    (a, b, y): (&Operand, &Operand, &Operand),
    lanes: u8,
    fusion: &Fusion,
) -> Result<(), LowerError> {
    let (sa, sb) = (a.shape(), b.shape());
    if sa.is_empty() || sb.is_empty() {
        return Err(ctx.unsupported("MatMul operands must have rank >= 1"));
    }
    let a2 = if sa.len() == 1 {
        vec![1, sa[0]]
    } else {
        sa.to_vec()
    };
    let b2 = if sb.len() == 1 {
        vec![sb[0], 1]
    } else {
        sb.to_vec()
    };
    let (a_batch, a_mat) = a2.split_at(a2.len() - 2);
    let (b_batch, b_mat) = b2.split_at(b2.len() - 2);
    let (m, kk, n) = (a_mat[0], a_mat[1], b_mat[1]);
    if b_mat[0] != kk {
        return Err(ctx.unsupported("MatMul inner dims differ"));
    }
    let dims = nnc_ir::shape::broadcast(a_batch, b_batch)
        .map_err(|e| ctx.unsupported(format!("MatMul batch dims: {e}")))?;
    let y_matrix = (m * n) as i64;
    let mut y_strides = vec![0i64; dims.len()];
    let mut stride = y_matrix;
    for d in (0..dims.len()).rev() {
        y_strides[d] = stride;
        stride *= dims[d] as i64;
    }
    let batch = Batch {
        a: batch_strides(a_batch, &dims, (m * kk) as i64),
        b: batch_strides(b_batch, &dims, (kk * n) as i64),
        y: y_strides,
        dims,
    };
    if a.elem() == ElemType::F32 {
        let dims = (m, kk, n);
        microkernel_matmul(ctx, kb, (a, b, y), (&batch, a_batch), dims, lanes, fusion);
        return Ok(());
    }
    let product = Product {
        a,
        b,
        y,
        m,
        k: kk,
        n,
    };
    emit_batches(
        kb,
        &batch,
        0,
        Expr::index(0),
        Expr::index(0),
        Expr::index(0),
        &|kb, ao, bo, yo| {
            let a_index = |i: Expr, p: Expr| ao.clone() + i * kk as i64 + p;
            let b_index = |p: Expr, j: Expr| bo.clone() + p * n as i64 + j;
            let y_index = |i: Expr, j: Expr| yo.clone() + i * n as i64 + j;
            let layout = Layout {
                a_index: &a_index,
                b_index: &b_index,
                y_index: &y_index,
                b_rows_contiguous: true,
            };
            product.emit_by_columns(kb, &layout, lanes, &|_, acc, _, _, _| acc);
        },
    );
    Ok(())
}

/// f32 MatMul through the GEMM microkernel, one product per batch entry — or a
/// single product over all rows when B is shared by every batch entry and A is
/// not broadcast (a linear layer applied to a sequence). The fused steps run on
/// the tiles before they are stored; a column of Y is a channel.
fn microkernel_matmul(
    ctx: &LowerCtx,
    kb: &mut KernelBuilder,
    (a, b, y): (&Operand, &Operand, &Operand),
    (batch, a_batch): (&Batch, &[usize]),
    (m, kk, n): (usize, usize, usize),
    lanes: u8,
    fusion: &Fusion,
) {
    // The activations the wide tiles carry, their statements shared by all.
    let maps = if ctx.target.microkernel() == nnc_ir::Microkernel::Portable {
        Vec::new()
    } else {
        fusion.tile_maps(kb, lanes)
    };
    let emit_product = |kb: &mut KernelBuilder, rows: usize, ao: Expr, bo: Expr, yo: Expr| {
        let tile = tile_for(ctx, rows);
        // A column of Y is a channel; Y's rows are `n` apart.
        let carried = |i: Expr, j: Expr| {
            let index = yo.clone() + i * n as i64 + j.clone();
            fusion.tile_steps(&maps, j, index, (n as i64, 0))
        };
        let finish = |kb: &mut KernelBuilder, acc: Expr, i: Expr, j: Expr, lanes: u8| {
            if fusion.is_empty() {
                return acc;
            }
            let index = yo.clone() + i * n as i64 + j.clone();
            fusion.apply(kb, acc, index, j, lanes)
        };
        let p = gemm::Product {
            m: rows,
            n,
            reduction: gemm::Reduction::Dense(kk),
            a: gemm::Matrix::row_major(a.buf, ao, kk),
            b: gemm::Matrix::row_major(b.buf, bo, n),
            y: gemm::Matrix::row_major(y.buf, yo.clone(), n),
            epilogue: &finish,
            long_epilogue: fusion.is_long(),
        };
        gemm::emit_carrying(kb, &p, tile, lanes, &carried);
    };
    let shared_b = batch.b.iter().all(|&s| s == 0);
    if shared_b && a_batch == batch.dims.as_slice() {
        let rows = m * batch.dims.iter().product::<usize>();
        let zero = Expr::index(0);
        emit_product(kb, rows, zero.clone(), zero.clone(), zero);
        return;
    }
    emit_batches(
        kb,
        batch,
        0,
        Expr::index(0),
        Expr::index(0),
        Expr::index(0),
        &|kb, ao, bo, yo| emit_product(kb, m, ao, bo, yo),
    );
}

/// The GEMM tile for a product of `m` rows: one wide row when the rows are few
/// (a matrix-vector product), else the target's square-ish tile.
fn tile_for(ctx: &LowerCtx, m: usize) -> gemm::Tile {
    if gemv::few_rows(m) {
        gemv::row_tile(ctx.target)
    } else {
        gemm::Tile::for_target(ctx.target)
    }
}

/// Loops over the batch dims from `d`, carrying the matrix offsets of A, B, Y.
fn emit_batches(
    kb: &mut KernelBuilder,
    batch: &Batch,
    d: usize,
    ao: Expr,
    bo: Expr,
    yo: Expr,
    body: &dyn Fn(&mut KernelBuilder, Expr, Expr, Expr),
) {
    if d == batch.dims.len() {
        body(kb, ao, bo, yo);
        return;
    }
    kb.for_range("b", 0, batch.dims[d] as i64, 1, |kb, i| {
        emit_batches(
            kb,
            batch,
            d + 1,
            ao + i.clone() * batch.a[d],
            bo + i.clone() * batch.b[d],
            yo + i * batch.y[d],
            body,
        );
    });
}

fn gemm(
    ctx: &LowerCtx,
    kb: &mut KernelBuilder,
    g: &Gemm,
    (a, b, c): (&Operand, &Operand, Option<&Operand>),
    y: &Operand,
    lanes: u8,
    fusion: &Fusion,
) -> Result<(), LowerError> {
    let (sa, sb) = (a.shape(), b.shape());
    if sa.len() != 2 || sb.len() != 2 {
        return Err(ctx.unsupported("Gemm operands must be matrices"));
    }
    let (m, kk) = if g.trans_a {
        (sa[1], sa[0])
    } else {
        (sa[0], sa[1])
    };
    let n = if g.trans_b { sb[0] } else { sb[1] };
    let elem = a.elem();
    // C's strides over [m, n]: 0 along a broadcast dim.
    let c = c.filter(|_| g.beta != 0.0);
    let c_strides = match c.map(|c| c.shape()) {
        None => None,
        Some([]) => Some((0, 0)),
        Some([cols]) => Some((0, if *cols == 1 { 0 } else { 1 })),
        Some([rows, cols]) => Some((
            if *rows == 1 { 0 } else { *cols as i64 },
            if *cols == 1 { 0 } else { 1 },
        )),
        Some(_) => return Err(ctx.unsupported("Gemm C must have rank <= 2")),
    };
    let (alpha, beta) = (g.alpha as f64, g.beta as f64);
    // alpha and C, then the fused steps (a column is a channel).
    let epilogue = |kb: &mut KernelBuilder, acc: Expr, i: Expr, j: Expr, lanes: u8| -> Expr {
        let fused_at = (i.clone() * n as i64 + j.clone(), j.clone());
        let mut value = acc;
        if g.alpha != 1.0 {
            value = value.binary(BinaryOp::Mul, constant(alpha, elem).splat(lanes));
        }
        if let (Some(c), Some((row, col))) = (c, c_strides) {
            let at = i * row + j * col;
            let cv = if col == 1 {
                load_value(kb, c.buf, elem, at, lanes)
            } else {
                load_value(kb, c.buf, elem, at, 1).splat(lanes)
            };
            let scaled = constant(beta, elem).splat(lanes).binary(BinaryOp::Mul, cv);
            value = value.binary(BinaryOp::Add, scaled);
        }
        if fusion.is_empty() {
            return value;
        }
        fusion.apply(kb, value, fused_at.0, fused_at.1, lanes)
    };
    let a_index = |i: Expr, p: Expr| {
        if g.trans_a {
            p * m as i64 + i
        } else {
            i * kk as i64 + p
        }
    };
    let b_index = |p: Expr, j: Expr| {
        if g.trans_b {
            j * kk as i64 + p
        } else {
            p * n as i64 + j
        }
    };
    let y_index = |i: Expr, j: Expr| i * n as i64 + j;
    let layout = Layout {
        a_index: &a_index,
        b_index: &b_index,
        y_index: &y_index,
        b_rows_contiguous: !g.trans_b,
    };
    let product = Product {
        a,
        b,
        y,
        m,
        k: kk,
        n,
    };
    if elem == ElemType::F32 && !g.trans_b {
        let a_matrix = if g.trans_a {
            gemm::Matrix {
                buf: a.buf,
                offset: Expr::index(0),
                row: 1,
                col: m as i64,
            }
        } else {
            gemm::Matrix::row_major(a.buf, Expr::index(0), kk)
        };
        let tiled = gemm::Product {
            m,
            n,
            reduction: gemm::Reduction::Dense(kk),
            a: a_matrix,
            b: gemm::Matrix::row_major(b.buf, Expr::index(0), n),
            y: gemm::Matrix::row_major(y.buf, Expr::index(0), n),
            epilogue: &epilogue,
            long_epilogue: fusion.is_long(),
        };
        // On wide targets the tiles add C and finish in registers when alpha
        // and beta are 1 (a linear layer's bias).
        let maps = if ctx.target.microkernel() == nnc_ir::Microkernel::Portable {
            Vec::new()
        } else {
            fusion.tile_maps(kb, lanes)
        };
        let carried = |i: Expr, j: Expr| {
            if g.alpha != 1.0 || (c.is_some() && g.beta != 1.0) {
                return None;
            }
            let bias = c.zip(c_strides).map(|(c, (row, col))| {
                TileStep::Add(TileAddend {
                    buf: c.buf,
                    offset: i.clone() * row + j.clone() * col,
                    row,
                    col,
                    block: 0,
                })
            });
            let index = i * n as i64 + j.clone();
            let fused = fusion.tile_steps(&maps, j, index, (n as i64, 0))?;
            Some(bias.into_iter().chain(fused).collect())
        };
        gemm::emit_carrying(kb, &tiled, tile_for(ctx, m), lanes, &carried);
    } else if elem == ElemType::F32 && g.trans_b && !g.trans_a {
        let dots = gemv::Dots {
            m,
            n,
            k: kk,
            a: gemm::Matrix::row_major(a.buf, Expr::index(0), kk),
            b: gemm::Matrix {
                buf: b.buf,
                offset: Expr::index(0),
                row: 1,
                col: kk as i64,
            },
            y: gemm::Matrix::row_major(y.buf, Expr::index(0), n),
            epilogue: &epilogue,
        };
        gemv::emit_dots(kb, &dots, lanes);
    } else if g.trans_b && !g.trans_a {
        product.emit_by_dots(kb, &layout, lanes, &epilogue);
    } else {
        product.emit_by_columns(kb, &layout, lanes, &epilogue);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::Gemm;
    use nnc_ir::{DType, Op};
    use rand::Rng;

    use super::super::random_tensors::{random_small as random, rng};
    use super::super::testing::check_op;

    fn tolerance(dtype: DType) -> f64 {
        match dtype {
            DType::F16 => 1e-2,
            DType::F32 => 1e-5,
            _ => 1e-12,
        }
    }

    #[test]
    fn matmul_broadcasts_and_promotes() {
        let mut rng = rng(11);
        let cases: [(&[usize], &[usize]); 9] = [
            (&[3, 5], &[5, 7]),
            (&[2, 1, 3, 4], &[3, 4, 9]),
            (&[4], &[4, 6]),
            (&[2, 3, 4], &[4]),
            (&[5], &[5]),
            (&[1, 1], &[1, 1]),
            (&[2, 6, 0], &[0, 3]),
            (&[3, 2, 8], &[1, 8, 13]),
            (&[7, 1], &[1, 4]),
        ];
        for dtype in [
            DType::F32,
            DType::F64,
            DType::F16,
            DType::I32,
            DType::I64,
            DType::U32,
            DType::U64,
        ] {
            for (a, b) in cases {
                let (a, b) = (random(&mut rng, dtype, a), random(&mut rng, dtype, b));
                let tol = tolerance(dtype);
                check_op(Op::MatMul, &[Some(&a), Some(&b)], &[1], 1, tol, tol);
            }
        }
    }

    #[test]
    fn gemm_transposes_scales_and_broadcasts_c() {
        let mut rng = rng(12);
        for round in 0..48 {
            let dtype = [DType::F32, DType::F16, DType::F64, DType::I32][round % 4];
            let (m, k, n) = (
                rng.random_range(1..6),
                rng.random_range(1..10),
                rng.random_range(1..11),
            );
            let (trans_a, trans_b) = (round % 3 == 0, round % 2 == 1);
            let g = Gemm {
                alpha: [1.0, 0.5, 2.0][round % 3],
                beta: [1.0, 0.0, -1.5, 3.0][round / 3 % 4],
                trans_a,
                trans_b,
            };
            let a_shape = if trans_a { [k, m] } else { [m, k] };
            let b_shape = if trans_b { [n, k] } else { [k, n] };
            let a = random(&mut rng, dtype, &a_shape);
            let b = random(&mut rng, dtype, &b_shape);
            let c_shapes: [&[usize]; 6] = [&[], &[n], &[1, n], &[m, 1], &[m, n], &[1, 1]];
            let c = random(&mut rng, dtype, c_shapes[round % 6]);
            let tol = tolerance(dtype);
            check_op(
                Op::Gemm(g),
                &[Some(&a), Some(&b), Some(&c)],
                &[1],
                1,
                tol,
                tol,
            );
            check_op(Op::Gemm(g), &[Some(&a), Some(&b), None], &[], 1, tol, tol);
        }
    }
}
