//! The GEMM tile statement: `Y[r, c] (=|+=) sum over k of A[r, k] * B[k, c]` for a
//! `rows x cols` block of f32 outputs, the reduction `k` running over up to three
//! nested dims (a matrix product has one, a KxK convolution's taps three).
//!
//! A tile is what a code generator may lower as a whole: the portable emitters
//! write its [`expand`]ed loop nest, a wide x86 backend a hand-scheduled
//! microkernel. Its meaning *is* the expansion: the interpreter, the type checker
//! and the bounds prover all look at the expanded kernel ([`expand_tiles`]), so
//! they cannot disagree with the portable code, and the tile's footprint is
//! proven in bounds exactly as its loops would be.
//!
//! B is usually shared by the rows (a matrix product); with [`GemmTile::b_row`]
//! each row reads its own B, shifted by that step: a depthwise convolution's
//! output rows, each one input row apart, multiplied by the same weights (A's
//! row stride 0).

use std::borrow::Cow;

use super::{BufId, CompareOp, ElemType, Expr, Kernel, Stmt, Ty, Var, VarId};

/// `rows x cols` outputs of `Y` accumulated over `reduction`.
#[derive(Clone, Debug, PartialEq)]
pub struct GemmTile {
    pub rows: usize,
    pub cols: usize,
    /// `A[r, k]` is at `a.offset + r * a.stride + reduction offset of k in A`.
    pub a: TileOperand,
    /// `B[k, c]` is at `b.offset + c * b.stride + reduction offset of k in B`.
    pub b: TileOperand,
    /// Row `r` of the tile reads B from `r * b_row` elements further (0: every
    /// row multiplies the same B, as in a matrix product).
    pub b_row: i64,
    /// `Y[r, c]` is at `y.offset + r * y.stride + c` (rows of Y are contiguous).
    pub y: TileOperand,
    /// Nested reduction dims, outermost first (at least one).
    pub reduction: Vec<ReductionDim>,
    /// `Y += ...` when true, `Y = ...` otherwise.
    pub accumulate: bool,
    /// Vector width of the portable expansion (f32 lanes).
    pub lanes: u8,
    /// The column blocks of the tile (one for a plain block of `cols` columns).
    pub blocks: ColumnBlocks,
    /// Steps applied to each finished accumulator before it is stored, in order
    /// (empty: the product is stored as is). With `accumulate`, they apply to
    /// `Y + A.B`: a lowering attaches them only to the tile that finishes Y.
    pub epilogue: Vec<TileStep>,
}

/// One step of a tile's epilogue, as the fused-epilogue lowering computes it, so
/// that a tile carrying it stores what the separate pass over Y would.
#[derive(Clone, Debug, PartialEq)]
pub enum TileStep {
    /// `y = y + E[offset + r * row + c * col + q * block]` for element `(r, c)`
    /// of column block `q`, `col` 0 or 1: a per-row bias (`row` 1, `col` 0), a
    /// per-column bias (`row` 0, `col` 1), a residual shaped like Y (`row` Y's
    /// stride, `col` 1, `block` Y's block step).
    Add(TileAddend),
    /// `y = y < min ? min : y`, then `y = y > max ? max : y` (NaN passes): Clip,
    /// and ReLU as a `min` of 0.
    Clip { min: Option<f32>, max: Option<f32> },
    /// `y = f(y)` for an activation the lowering wrote as kernel statements
    /// (polynomials and all): the expansion runs them, a microkernel its own
    /// instructions for [`TileMap::func`], which must compute the same.
    Map(TileMap),
}

/// An elementwise function of a tile's epilogue: what it is, and its portable
/// statements for the tile's vectors and for its single tail columns.
#[derive(Clone, Debug, PartialEq)]
pub struct TileMap {
    pub func: TileFn,
    /// On `f32 x lanes` values (the tile's `lanes`).
    pub vector: TileLambda,
    /// On `f32` scalars (the columns past the last whole vector).
    pub scalar: TileLambda,
}

/// The functions a [`TileMap`] names, for the code generators that compute them
/// with instructions of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileFn {
    /// ONNX Gelu, the exact form: `x/2 * (1 + erf(x/sqrt 2))`, with the f32 erf
    /// of the portable lowering (`lower::math::erf_f32` in the backends).
    Gelu,
}

/// `output` computed from the variable `input` by `body`, statements on
/// variables of the kernel that holds the tile (assignments only; built by
/// [`super::KernelBuilder::tile_lambda`]). The expansion runs them once per
/// accumulator, the variables reused.
#[derive(Clone, Debug, PartialEq)]
pub struct TileLambda {
    pub input: VarId,
    pub body: Vec<Stmt>,
    pub output: Expr,
}

/// The tensor a [`TileStep::Add`] adds.
#[derive(Clone, Debug, PartialEq)]
pub struct TileAddend {
    pub buf: BufId,
    pub offset: Expr,
    pub row: i64,
    /// 0 (one value per row) or 1 (columns contiguous).
    pub col: i64,
    pub block: i64,
}

/// `count` blocks of `cols` columns sharing the tile's rows and reduction, block
/// `q`'s B columns starting `q * b` elements after the first block's and its Y
/// columns `q * y` after: a convolution's consecutive output rows, each too
/// narrow to fill the vector registers alone, computed by one tile so that every
/// A value loaded serves all of them. The tile means the same as `count` tiles,
/// one per block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ColumnBlocks {
    pub count: usize,
    pub b: i64,
    pub y: i64,
}

impl ColumnBlocks {
    /// A single block.
    pub const ONE: ColumnBlocks = ColumnBlocks {
        count: 1,
        b: 0,
        y: 0,
    };
}

/// One matrix of a tile: a buffer, the element of the tile's origin and the step
/// between the tile's rows (A, Y) or columns (B).
#[derive(Clone, Debug, PartialEq)]
pub struct TileOperand {
    pub buf: BufId,
    pub offset: Expr,
    pub stride: i64,
}

/// One dim of the reduction: `count` steps, each moving A by `a` and B by `b`
/// elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReductionDim {
    pub count: usize,
    pub a: i64,
    pub b: i64,
}

impl GemmTile {
    /// Multiply-adds of the tile.
    pub fn flops(&self) -> usize {
        2 * self.rows
            * self.cols
            * self.blocks.count
            * self.reduction.iter().map(|d| d.count).product::<usize>()
    }
}

/// `kernel` with every tile statement replaced by its expansion (borrowed when it
/// has none).
pub fn expand_tiles(kernel: &Kernel) -> Cow<'_, Kernel> {
    expand_tiles_where(kernel, |_| true)
}

/// `kernel` with the tile statements `pick` selects expanded, the others kept.
pub fn expand_tiles_where(kernel: &Kernel, pick: impl Fn(&GemmTile) -> bool) -> Cow<'_, Kernel> {
    if !has_tile(&kernel.body, &pick) {
        return Cow::Borrowed(kernel);
    }
    let mut out = kernel.clone();
    let body = std::mem::take(&mut out.body);
    out.body = expand_stmts(body, &mut out.vars, &pick);
    Cow::Owned(out)
}

fn has_tile(stmts: &[Stmt], pick: &impl Fn(&GemmTile) -> bool) -> bool {
    stmts.iter().any(|s| match s {
        Stmt::Tile(t) => pick(t),
        Stmt::Loop { body, .. } => has_tile(body, pick),
        Stmt::If {
            then_body,
            else_body,
            ..
        } => has_tile(then_body, pick) || has_tile(else_body, pick),
        _ => false,
    })
}

fn expand_stmts(
    stmts: Vec<Stmt>,
    vars: &mut Vec<Var>,
    pick: &impl Fn(&GemmTile) -> bool,
) -> Vec<Stmt> {
    let mut out = Vec::with_capacity(stmts.len());
    for stmt in stmts {
        match stmt {
            Stmt::Tile(t) if pick(&t) => out.extend(expand(&t, vars)),
            Stmt::Loop {
                var,
                start,
                end,
                step,
                body,
            } => out.push(Stmt::Loop {
                var,
                start,
                end,
                step,
                body: expand_stmts(body, vars, pick),
            }),
            Stmt::If {
                cond,
                then_body,
                else_body,
            } => out.push(Stmt::If {
                cond,
                then_body: expand_stmts(then_body, vars, pick),
                else_body: expand_stmts(else_body, vars, pick),
            }),
            other => out.push(other),
        }
    }
    out
}

/// The statements a tile means, with the local variables they need appended to
/// `vars`: those of each column block in turn, each block as a tile of its own.
pub fn expand(tile: &GemmTile, vars: &mut Vec<Var>) -> Vec<Stmt> {
    (0..tile.blocks.count as i64)
        .flat_map(|q| {
            let block = GemmTile {
                b: TileOperand {
                    offset: tile.b.offset.clone() + q * tile.blocks.b,
                    ..tile.b.clone()
                },
                y: TileOperand {
                    offset: tile.y.offset.clone() + q * tile.blocks.y,
                    ..tile.y.clone()
                },
                epilogue: tile
                    .epilogue
                    .iter()
                    .map(|s| match s {
                        TileStep::Add(e) => TileStep::Add(TileAddend {
                            offset: e.offset.clone() + q * e.block,
                            ..e.clone()
                        }),
                        clip => clip.clone(),
                    })
                    .collect(),
                blocks: ColumnBlocks::ONE,
                ..tile.clone()
            };
            expand_block(&block, vars)
        })
        .collect()
}

/// The statements of a single-block tile: accumulators (vectors of `lanes` over the columns, scalars for the
/// last `cols % lanes`), one loop per reduction dim whose body loads the tile's
/// B vectors (gathered lane by lane when B's columns are strided), splats each
/// row's A value and multiply-adds, then the stores of Y.
fn expand_block(tile: &GemmTile, vars: &mut Vec<Var>) -> Vec<Stmt> {
    let mut new_var = |name: &str, ty: Ty| {
        vars.push(Var {
            name: name.to_string(),
            ty,
        });
        VarId(vars.len() as u32 - 1)
    };
    let lanes = tile.lanes.max(1);
    // (first column, lanes) of each accumulator of a row.
    let groups: Vec<(i64, u8)> = {
        let full = tile.cols / lanes as usize;
        (0..full)
            .map(|v| ((v * lanes as usize) as i64, lanes))
            .chain((full * lanes as usize..tile.cols).map(|c| (c as i64, 1)))
            .collect()
    };
    let ty = |lanes: u8| Ty::vector(ElemType::F32, lanes);
    let y_at = |r: usize, c: i64| tile.y.offset.clone() + r as i64 * tile.y.stride + c;
    let mut stmts = Vec::new();
    let acc: Vec<Vec<VarId>> = (0..tile.rows)
        .map(|r| {
            groups
                .iter()
                .map(|&(c, l)| {
                    let v = new_var("acc", ty(l));
                    let value = if tile.accumulate {
                        Expr::load(tile.y.buf, y_at(r, c), ty(l))
                    } else {
                        Expr::f32(0.0).splat(l)
                    };
                    stmts.push(Stmt::Assign { var: v, value });
                    v
                })
                .collect()
        })
        .collect();
    let a0 = new_var("a0", Ty::INDEX);
    let b0 = new_var("b0", Ty::INDEX);
    stmts.push(Stmt::Assign {
        var: a0,
        value: tile.a.offset.clone(),
    });
    stmts.push(Stmt::Assign {
        var: b0,
        value: tile.b.offset.clone(),
    });
    // The innermost step at A element `a_at`, B element `b_at`.
    let mut step = Vec::new();
    let counters: Vec<VarId> = tile
        .reduction
        .iter()
        .map(|_| new_var("p", Ty::INDEX))
        .collect();
    let (a_at, b_at) = tile
        .reduction
        .iter()
        .zip(&counters)
        .fold((Expr::var(a0), Expr::var(b0)), |(a, b), (d, &p)| {
            (a + Expr::var(p) * d.a, b + Expr::var(p) * d.b)
        });
    // The B vectors of the rows that start `shift` elements after B's origin
    // (one shared set when `b_row` is 0).
    let mut b_vectors = |step: &mut Vec<Stmt>, shift: i64| -> Vec<VarId> {
        groups
            .iter()
            .map(|&(c, l)| {
                let at = b_at.clone() + (c * tile.b.stride + shift);
                let value = if tile.b.stride == 1 || l == 1 {
                    Expr::load(tile.b.buf, at, ty(l))
                } else {
                    Expr::lanes(
                        (0..l as i64)
                            .map(|i| {
                                Expr::load(tile.b.buf, at.clone() + i * tile.b.stride, Ty::F32)
                            })
                            .collect(),
                    )
                };
                let v = new_var("b", ty(l));
                step.push(Stmt::Assign { var: v, value });
                v
            })
            .collect()
    };
    let sets = if tile.b_row == 0 { 1 } else { tile.rows };
    let b_sets: Vec<Vec<VarId>> = (0..sets)
        .map(|r| b_vectors(&mut step, r as i64 * tile.b_row))
        .collect();
    for (r, row) in acc.iter().enumerate() {
        let bv = &b_sets[r.min(sets - 1)];
        let a = Expr::load(tile.a.buf, a_at.clone() + r as i64 * tile.a.stride, Ty::F32);
        let scalar = new_var("a", Ty::F32);
        step.push(Stmt::Assign {
            var: scalar,
            value: a,
        });
        for ((&acc, &b), &(_, l)) in row.iter().zip(bv).zip(&groups) {
            let next = Expr::var(scalar).splat(l).fma(Expr::var(b), Expr::var(acc));
            step.push(Stmt::Assign {
                var: acc,
                value: next,
            });
        }
    }
    let nest = tile
        .reduction
        .iter()
        .zip(&counters)
        .rev()
        .fold(step, |body, (d, &p)| {
            vec![Stmt::Loop {
                var: p,
                start: 0,
                end: d.count as i64,
                step: 1,
                body,
            }]
        });
    stmts.extend(nest);
    for (r, row) in acc.iter().enumerate() {
        for (&acc, &(c, l)) in row.iter().zip(&groups) {
            for step in &tile.epilogue {
                if let TileStep::Map(map) = step {
                    let f = if l == lanes { &map.vector } else { &map.scalar };
                    stmts.push(Stmt::Assign {
                        var: f.input,
                        value: Expr::var(acc),
                    });
                    stmts.extend(f.body.iter().cloned());
                    stmts.push(Stmt::Assign {
                        var: acc,
                        value: f.output.clone(),
                    });
                    continue;
                }
                stmts.push(Stmt::Assign {
                    var: acc,
                    value: epilogue_step(step, Expr::var(acc), r, c, l),
                });
            }
            stmts.push(Stmt::Store {
                buf: tile.y.buf,
                index: y_at(r, c),
                value: Expr::var(acc),
            });
        }
    }
    stmts
}

/// `step` applied to `value`, the accumulator of row `r`'s columns `c..c + lanes`
/// (in one column block): the expressions of the fused-epilogue lowering
/// (`binary_value`'s add, Clip's compare-and-select).
fn epilogue_step(step: &TileStep, value: Expr, r: usize, c: i64, lanes: u8) -> Expr {
    let ty = Ty::vector(ElemType::F32, lanes);
    match step {
        TileStep::Add(e) => {
            let at = e.offset.clone() + r as i64 * e.row + c * e.col;
            let addend = if e.col == 0 {
                Expr::load(e.buf, at, Ty::F32).splat(lanes)
            } else {
                Expr::load(e.buf, at, ty)
            };
            value + addend
        }
        TileStep::Clip { min, max } => {
            let mut v = value;
            if let Some(lo) = min {
                let lo = Expr::f32(*lo).splat(lanes);
                v = v.clone().compare(CompareOp::Lt, lo.clone()).select(lo, v);
            }
            if let Some(hi) = max {
                let hi = Expr::f32(*hi).splat(lanes);
                v = v.clone().compare(CompareOp::Gt, hi.clone()).select(hi, v);
            }
            v
        }
        TileStep::Map(_) => unreachable!("a map step expands to its statements"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{KernelBuilder, bounds, interp};

    /// A `rows x cols` tile over a 2-dim reduction against a plain triple loop.
    #[test]
    fn expansion_computes_the_product_and_accumulates() {
        let (rows, cols, k1, k2) = (3usize, 7usize, 2usize, 5usize);
        let k = k1 * k2;
        for accumulate in [false, true] {
            let mut kb = KernelBuilder::new("tile");
            let a = kb.buffer("a", ElemType::F32, rows * k, false);
            let b = kb.buffer("b", ElemType::F32, k * cols, false);
            let y = kb.buffer("y", ElemType::F32, rows * cols, true);
            kb.tile(GemmTile {
                rows,
                cols,
                a: TileOperand {
                    buf: a,
                    offset: Expr::index(0),
                    stride: k as i64,
                },
                b: TileOperand {
                    buf: b,
                    offset: Expr::index(0),
                    stride: 1,
                },
                b_row: 0,
                y: TileOperand {
                    buf: y,
                    offset: Expr::index(0),
                    stride: cols as i64,
                },
                reduction: vec![
                    ReductionDim {
                        count: k1,
                        a: k2 as i64,
                        b: (k2 * cols) as i64,
                    },
                    ReductionDim {
                        count: k2,
                        a: 1,
                        b: cols as i64,
                    },
                ],
                accumulate,
                lanes: 4,
                blocks: ColumnBlocks::ONE,
                epilogue: Vec::new(),
            });
            let kernel = kb.finish();
            bounds::check(&kernel).expect("in bounds");
            let av: Vec<f32> = (0..rows * k).map(|i| (i % 7) as f32 - 3.0).collect();
            let bvals: Vec<f32> = (0..k * cols).map(|i| (i % 5) as f32 * 0.5).collect();
            let y0: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            let mut buffers = vec![bytes(&av), bytes(&bvals), bytes(&y0)];
            assert_eq!(interp::run(&kernel, &mut buffers).expect("runs"), 0);
            for r in 0..rows {
                for c in 0..cols {
                    let mut want = if accumulate { y0[r * cols + c] } else { 0.0 };
                    for p in 0..k {
                        want += av[r * k + p] * bvals[p * cols + c];
                    }
                    let at = 4 * (r * cols + c);
                    let got = f32::from_le_bytes(buffers[2][at..at + 4].try_into().unwrap());
                    assert_eq!(got, want, "({r}, {c}) accumulate={accumulate}");
                }
            }
        }
    }

    /// A map step runs its statements on every accumulator, the vector form on
    /// whole vectors and the scalar form on the tail, after the steps before it.
    #[test]
    fn expansion_runs_a_map_on_vectors_and_the_tail() {
        let (rows, cols, k) = (2usize, 6usize, 3usize);
        let mut kb = KernelBuilder::new("tile");
        let a = kb.buffer("a", ElemType::F32, rows * k, false);
        let b = kb.buffer("b", ElemType::F32, k * cols, false);
        let y = kb.buffer("y", ElemType::F32, rows * cols, true);
        // f(x) = t * t - 1 with t = x + 0.5 held in a variable.
        let mut lambda = |ty: Ty| {
            kb.tile_lambda(ty, |kb, x| {
                let t = Expr::var(kb.let_var("t", ty, x + Expr::f32(0.5).splat(ty.lanes)));
                t.clone() * t - Expr::f32(1.0).splat(ty.lanes)
            })
        };
        let map = TileMap {
            func: TileFn::Gelu,
            vector: lambda(Ty::vector(ElemType::F32, 4)),
            scalar: lambda(Ty::F32),
        };
        let operand = |buf, stride| TileOperand {
            buf,
            offset: Expr::index(0),
            stride,
        };
        kb.tile(GemmTile {
            rows,
            cols,
            a: operand(a, k as i64),
            b: operand(b, 1),
            b_row: 0,
            y: operand(y, cols as i64),
            reduction: vec![ReductionDim {
                count: k,
                a: 1,
                b: cols as i64,
            }],
            accumulate: false,
            lanes: 4,
            blocks: ColumnBlocks::ONE,
            epilogue: vec![
                TileStep::Clip {
                    min: Some(-1.0),
                    max: None,
                },
                TileStep::Map(map),
            ],
        });
        let kernel = kb.finish();
        bounds::check(&kernel).expect("in bounds");
        let av: Vec<f32> = (0..rows * k).map(|i| (i % 5) as f32 - 2.0).collect();
        let bv: Vec<f32> = (0..k * cols).map(|i| (i % 4) as f32 * 0.5 - 0.5).collect();
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut buffers = vec![bytes(&av), bytes(&bv), vec![0; 4 * rows * cols]];
        assert_eq!(interp::run(&kernel, &mut buffers).expect("runs"), 0);
        for r in 0..rows {
            for c in 0..cols {
                let mut sum = 0.0f32;
                for p in 0..k {
                    sum += av[r * k + p] * bv[p * cols + c];
                }
                let t = sum.max(-1.0) + 0.5;
                let at = 4 * (r * cols + c);
                let got = f32::from_le_bytes(buffers[2][at..at + 4].try_into().unwrap());
                assert_eq!(got, t * t - 1.0, "({r}, {c})");
            }
        }
    }

    /// An epilogue of a per-row bias, a residual shaped like Y and a Clip, over
    /// two column blocks with accumulation, against the same steps by hand.
    #[test]
    fn expansion_applies_the_epilogue_to_the_finished_sum() {
        let (rows, cols, k) = (3usize, 5usize, 4usize);
        // Y: rows x (2 blocks of cols, 1 column apart).
        let y_cols = 2 * cols + 1;
        let mut kb = KernelBuilder::new("tile");
        let a = kb.buffer("a", ElemType::F32, rows * k, false);
        let b = kb.buffer("b", ElemType::F32, k * y_cols, false);
        let bias = kb.buffer("bias", ElemType::F32, rows, false);
        let res = kb.buffer("res", ElemType::F32, rows * y_cols, false);
        let y = kb.buffer("y", ElemType::F32, rows * y_cols, true);
        let operand = |buf, stride| TileOperand {
            buf,
            offset: Expr::index(0),
            stride,
        };
        kb.tile(GemmTile {
            rows,
            cols,
            a: operand(a, k as i64),
            b: operand(b, 1),
            b_row: 0,
            y: operand(y, y_cols as i64),
            reduction: vec![ReductionDim {
                count: k,
                a: 1,
                b: y_cols as i64,
            }],
            accumulate: true,
            lanes: 4,
            blocks: ColumnBlocks {
                count: 2,
                b: cols as i64 + 1,
                y: cols as i64 + 1,
            },
            epilogue: vec![
                TileStep::Add(TileAddend {
                    buf: bias,
                    offset: Expr::index(0),
                    row: 1,
                    col: 0,
                    block: 0,
                }),
                TileStep::Add(TileAddend {
                    buf: res,
                    offset: Expr::index(0),
                    row: y_cols as i64,
                    col: 1,
                    block: cols as i64 + 1,
                }),
                TileStep::Clip {
                    min: Some(0.0),
                    max: Some(6.0),
                },
            ],
        });
        let kernel = kb.finish();
        bounds::check(&kernel).expect("in bounds");
        let av: Vec<f32> = (0..rows * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let bv: Vec<f32> = (0..k * y_cols).map(|i| (i % 5) as f32 * 0.5).collect();
        let biasv: Vec<f32> = (0..rows).map(|i| i as f32 - 1.5).collect();
        let resv: Vec<f32> = (0..rows * y_cols).map(|i| (i % 3) as f32 - 1.0).collect();
        let y0: Vec<f32> = (0..rows * y_cols).map(|i| (i % 4) as f32 - 2.0).collect();
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut buffers = vec![
            bytes(&av),
            bytes(&bv),
            bytes(&biasv),
            bytes(&resv),
            bytes(&y0),
        ];
        assert_eq!(interp::run(&kernel, &mut buffers).expect("runs"), 0);
        for r in 0..rows {
            for c in 0..y_cols {
                let at = r * y_cols + c;
                let got = f32::from_le_bytes(buffers[4][4 * at..4 * at + 4].try_into().unwrap());
                // Column `cols` lies between the blocks: untouched.
                let want = if c == cols {
                    y0[at]
                } else {
                    let mut sum = y0[at];
                    for p in 0..k {
                        sum += av[r * k + p] * bv[p * y_cols + c];
                    }
                    (sum + biasv[r] + resv[at]).clamp(0.0, 6.0)
                };
                assert_eq!(got, want, "({r}, {c})");
            }
        }
    }
}
