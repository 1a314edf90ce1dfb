//! Building kernels: a [`KernelBuilder`] for statements and structure, and
//! constructors / operators on [`Expr`] for the arithmetic, so that a lowering
//! reads like the loop nest it writes:
//!
//! ```
//! use nnc_ir::kernel::{ElemType, Expr, KernelBuilder, Ty};
//! let mut k = KernelBuilder::new("relu");
//! let x = k.buffer("x", ElemType::F32, 64, false);
//! let y = k.buffer("y", ElemType::F32, 64, true);
//! k.for_range("i", 0, 64, 4, |k, i| {
//!     let v = Expr::load(x, i.clone(), Ty::vector(ElemType::F32, 4));
//!     k.store(y, i, v.max(Expr::f32(0.0).splat(4)));
//! });
//! let kernel = k.finish();
//! assert_eq!(kernel.buffers.len(), 2);
//! ```

use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

use super::{
    BinaryOp, BufId, Buffer, CompareOp, ElemType, Expr, Kernel, ReduceOp, Scalar, Stmt, Ty,
    UnaryOp, Var, VarId,
};

/// Builds a [`Kernel`] statement by statement; nested bodies are built in closures.
pub struct KernelBuilder {
    kernel: Kernel,
    /// Statement lists being filled: the body, then one per open loop / if.
    open: Vec<Vec<Stmt>>,
}

impl KernelBuilder {
    pub fn new(name: impl Into<String>) -> Self {
        KernelBuilder {
            kernel: Kernel {
                name: name.into(),
                buffers: Vec::new(),
                vars: Vec::new(),
                body: Vec::new(),
            },
            open: vec![Vec::new()],
        }
    }

    /// Declares the next buffer parameter.
    pub fn buffer(
        &mut self,
        name: impl Into<String>,
        elem: ElemType,
        len: usize,
        writable: bool,
    ) -> BufId {
        self.kernel.buffers.push(Buffer {
            name: name.into(),
            elem,
            len,
            writable,
            unchanging: false,
        });
        BufId(self.kernel.buffers.len() as u32 - 1)
    }

    /// Declares that nothing changes read-only buffer `buf` while the kernel
    /// runs ([`Buffer::unchanging`]).
    pub fn mark_unchanging(&mut self, buf: BufId) {
        let buffer = &mut self.kernel.buffers[buf.0 as usize];
        debug_assert!(!buffer.writable, "a written buffer changes");
        buffer.unchanging = !buffer.writable;
    }

    /// Declares a local variable.
    pub fn var(&mut self, name: impl Into<String>, ty: Ty) -> VarId {
        self.kernel.vars.push(Var {
            name: name.into(),
            ty,
        });
        VarId(self.kernel.vars.len() as u32 - 1)
    }

    /// Declares a local variable and assigns its first value.
    pub fn let_var(&mut self, name: impl Into<String>, ty: Ty, value: Expr) -> VarId {
        let var = self.var(name, ty);
        self.assign(var, value);
        var
    }

    fn push(&mut self, stmt: Stmt) {
        self.open
            .last_mut()
            .expect("a statement list is open")
            .push(stmt);
    }

    pub fn assign(&mut self, var: VarId, value: Expr) {
        self.push(Stmt::Assign { var, value });
    }

    pub fn store(&mut self, buf: BufId, index: Expr, value: Expr) {
        self.push(Stmt::Store { buf, index, value });
    }

    pub fn fail(&mut self, code: i32) {
        self.push(Stmt::Fail { code });
    }

    /// A GEMM tile statement.
    pub fn tile(&mut self, tile: super::GemmTile) {
        self.push(Stmt::Tile(Box::new(tile)));
    }

    /// The tile-epilogue function `y = f(x)` over values of `ty`: `f` builds its
    /// statements in a list of their own (not in the kernel's body) from the
    /// new input variable `x`, and returns the result ([`super::TileLambda`]).
    pub fn tile_lambda(
        &mut self,
        ty: Ty,
        f: impl FnOnce(&mut Self, Expr) -> Expr,
    ) -> super::TileLambda {
        let input = self.var("tile_x", ty);
        self.open.push(Vec::new());
        let output = f(self, Expr::var(input));
        let body = self.open.pop().expect("the lambda body is open");
        super::TileLambda {
            input,
            body,
            output,
        }
    }

    /// A counted loop; `body` receives the loop counter as an index expression.
    /// Empty ranges emit nothing.
    pub fn for_range(
        &mut self,
        name: impl Into<String>,
        start: i64,
        end: i64,
        step: i64,
        body: impl FnOnce(&mut Self, Expr),
    ) {
        assert!(step > 0, "loop steps are positive");
        if start >= end {
            return;
        }
        let var = self.var(name, Ty::INDEX);
        self.open.push(Vec::new());
        body(self, Expr::Var(var));
        let body = self.open.pop().expect("the loop body is open");
        self.push(Stmt::Loop {
            var,
            start,
            end,
            step,
            body,
        });
    }

    pub fn if_then(&mut self, cond: Expr, then_body: impl FnOnce(&mut Self)) {
        self.if_else(cond, then_body, |_| {});
    }

    pub fn if_else(
        &mut self,
        cond: Expr,
        then_body: impl FnOnce(&mut Self),
        else_body: impl FnOnce(&mut Self),
    ) {
        self.open.push(Vec::new());
        then_body(self);
        let then_body = self.open.pop().expect("the then branch is open");
        self.open.push(Vec::new());
        else_body(self);
        let else_body = self.open.pop().expect("the else branch is open");
        self.push(Stmt::If {
            cond,
            then_body,
            else_body,
        });
    }

    pub fn finish(mut self) -> Kernel {
        self.kernel.body = self.open.pop().expect("the body is open");
        self.kernel
    }
}

impl Expr {
    /// An index (i64) constant.
    pub fn index(value: i64) -> Expr {
        Expr::Const(Scalar::Int(value, ElemType::I64))
    }

    pub fn f32(value: f32) -> Expr {
        Expr::Const(Scalar::F32(value))
    }

    pub fn f64(value: f64) -> Expr {
        Expr::Const(Scalar::F64(value))
    }

    /// An integer (or bool) constant of type `elem`.
    pub fn int(value: i64, elem: ElemType) -> Expr {
        Expr::Const(Scalar::Int(value, elem))
    }

    /// A float constant of the float type `elem` (F16 constants are F32 values).
    pub fn float(value: f64, elem: ElemType) -> Expr {
        match elem {
            ElemType::F64 => Expr::f64(value),
            _ => Expr::f32(value as f32),
        }
    }

    pub fn var(var: VarId) -> Expr {
        Expr::Var(var)
    }

    pub fn load(buf: BufId, index: Expr, ty: Ty) -> Expr {
        Expr::Load {
            buf,
            index: Box::new(index),
            ty,
        }
    }

    pub fn unary(self, op: UnaryOp) -> Expr {
        Expr::Unary(op, Box::new(self))
    }

    pub fn binary(self, op: BinaryOp, rhs: Expr) -> Expr {
        Expr::Binary(op, Box::new(self), Box::new(rhs))
    }

    pub fn max(self, rhs: Expr) -> Expr {
        self.binary(BinaryOp::Max, rhs)
    }

    pub fn min(self, rhs: Expr) -> Expr {
        self.binary(BinaryOp::Min, rhs)
    }

    /// `self * b + c`.
    pub fn fma(self, b: Expr, c: Expr) -> Expr {
        Expr::Fma(Box::new(self), Box::new(b), Box::new(c))
    }

    pub fn compare(self, op: CompareOp, rhs: Expr) -> Expr {
        Expr::Compare(op, Box::new(self), Box::new(rhs))
    }

    pub fn lt(self, rhs: Expr) -> Expr {
        self.compare(CompareOp::Lt, rhs)
    }

    pub fn ge(self, rhs: Expr) -> Expr {
        self.compare(CompareOp::Ge, rhs)
    }

    /// `self ? a : b`, lane-wise.
    pub fn select(self, a: Expr, b: Expr) -> Expr {
        Expr::Select(Box::new(self), Box::new(a), Box::new(b))
    }

    pub fn convert(self, elem: ElemType) -> Expr {
        Expr::Convert(elem, Box::new(self))
    }

    pub fn bitcast(self, elem: ElemType) -> Expr {
        Expr::Bitcast(elem, Box::new(self))
    }

    pub fn splat(self, lanes: u8) -> Expr {
        if lanes == 1 {
            self
        } else {
            Expr::Splat(lanes, Box::new(self))
        }
    }

    pub fn extract(self, lane: u8) -> Expr {
        Expr::Extract(Box::new(self), lane)
    }

    /// A vector of the given scalars, lane by lane.
    pub fn lanes(scalars: Vec<Expr>) -> Expr {
        Expr::Lanes(scalars)
    }

    pub fn reduce(self, op: ReduceOp) -> Expr {
        Expr::Reduce(op, Box::new(self))
    }

    /// Clamps an index into `[0, len - 1]`, so that a data-dependent index can be
    /// proven in bounds.
    pub fn clamp_index(self, len: usize) -> Expr {
        self.max(Expr::index(0)).min(Expr::index(len as i64 - 1))
    }

    fn as_index_const(&self) -> Option<i64> {
        match self {
            Expr::Const(Scalar::Int(v, ElemType::I64)) => Some(*v),
            _ => None,
        }
    }
}

// Index arithmetic reads naturally (`n * 64 + c * 8 + i`) and folds the trivial
// cases, so that kernels stay small and readable when printed. Constants fold only
// when the result is exact; an overflowing fold is left to the kernel (and to the
// checker and bounds prover, which will reject it).
impl Add for Expr {
    type Output = Expr;
    fn add(self, rhs: Expr) -> Expr {
        match (self.as_index_const(), rhs.as_index_const()) {
            (Some(a), Some(b)) if a.checked_add(b).is_some() => Expr::index(a + b),
            (Some(0), None) => rhs,
            (None, Some(0)) => self,
            _ => self.binary(BinaryOp::Add, rhs),
        }
    }
}

impl Add<i64> for Expr {
    type Output = Expr;
    fn add(self, rhs: i64) -> Expr {
        self + Expr::index(rhs)
    }
}

impl Sub for Expr {
    type Output = Expr;
    fn sub(self, rhs: Expr) -> Expr {
        match (self.as_index_const(), rhs.as_index_const()) {
            (Some(a), Some(b)) if a.checked_sub(b).is_some() => Expr::index(a - b),
            (None, Some(0)) => self,
            _ => self.binary(BinaryOp::Sub, rhs),
        }
    }
}

impl Sub<i64> for Expr {
    type Output = Expr;
    fn sub(self, rhs: i64) -> Expr {
        self - Expr::index(rhs)
    }
}

impl Mul for Expr {
    type Output = Expr;
    fn mul(self, rhs: Expr) -> Expr {
        match (self.as_index_const(), rhs.as_index_const()) {
            (Some(a), Some(b)) if a.checked_mul(b).is_some() => Expr::index(a * b),
            (Some(0), None) | (None, Some(0)) => Expr::index(0),
            (Some(1), None) => rhs,
            (None, Some(1)) => self,
            _ => self.binary(BinaryOp::Mul, rhs),
        }
    }
}

impl Mul<i64> for Expr {
    type Output = Expr;
    fn mul(self, rhs: i64) -> Expr {
        self * Expr::index(rhs)
    }
}

impl Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        self.unary(UnaryOp::Neg)
    }
}

impl Div for Expr {
    type Output = Expr;
    fn div(self, rhs: Expr) -> Expr {
        match (self.as_index_const(), rhs.as_index_const()) {
            (Some(a), Some(b)) if a.checked_div(b).is_some() => Expr::index(a / b),
            (None, Some(1)) => self,
            _ => self.binary(BinaryOp::Div, rhs),
        }
    }
}

impl Div<i64> for Expr {
    type Output = Expr;
    fn div(self, rhs: i64) -> Expr {
        self / Expr::index(rhs)
    }
}

impl Rem for Expr {
    type Output = Expr;
    fn rem(self, rhs: Expr) -> Expr {
        match (self.as_index_const(), rhs.as_index_const()) {
            (Some(a), Some(b)) if a.checked_rem(b).is_some() => Expr::index(a % b),
            _ => self.binary(BinaryOp::Rem, rhs),
        }
    }
}

impl Rem<i64> for Expr {
    type Output = Expr;
    fn rem(self, rhs: i64) -> Expr {
        self % Expr::index(rhs)
    }
}
