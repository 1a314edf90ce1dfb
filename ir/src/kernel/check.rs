//! Type checking of kernels: the typing rules of the [module doc](super), plus the
//! structural rules the emitters rely on.
//!
//! Beyond the typing rules, a checked kernel has:
//! - every `VarId` / `BufId` in range, and stores only to writable buffers;
//! - loop counters that are scalar `I64`, never assigned by an `Assign`, not reused
//!   by a loop nested inside their own, with a positive step;
//! - every variable assigned before it is read, on every path. The analysis is
//!   conservative: after an `If` a variable is assigned if both branches assign it
//!   (a branch that ends in `Fail` assigns everything), and what a loop body assigns
//!   does not count after the loop (the body may run zero times as far as this
//!   rule is concerned); a loop counter is assigned inside its loop only;
//! - value types that are scalars or exactly 128-bit vectors; vector `Bool`s
//!   (masks) of 2, 4, 8 or 16 lanes, produced only by `Compare` (and `And`/`Or`/
//!   `Xor`/`Not` of masks) and consumed only as a `Select` condition or by those
//!   logical operators — never held in a variable, loaded, stored, converted,
//!   splatted, extracted or reduced;
//! - integer constants within their type's range (`Bool` is 0 or 1; a `U64`
//!   constant is the `i64`'s bit pattern, so every value is allowed);
//! - `Fail` codes that are non-zero (0 is success).
//!
//! Resolved details of the typing rules: `Rem` is for integers only; arithmetic
//! (`Add`..`Min`, `Neg`, `Abs`) is not defined on `Bool`; `Sqrt`/`Floor`/`Ceil`/
//! `Round`/`Trunc` are float only; `Shl`/`Shr` take integers with both operands of
//! one type; a `Select` condition has exactly the operands' lane count (a scalar
//! condition does not select whole vectors); `Bitcast` never involves `Bool`;
//! `Splat` makes a vector (at least 2 lanes) of a non-`Bool` scalar; `Extract` and
//! `Reduce` take a vector.

use thiserror::Error;

use super::{BinaryOp, Buffer, ElemType, Expr, Kernel, Scalar, Stmt, Ty, UnaryOp, VarId};

/// A kernel breaks a rule: which kernel, where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("kernel `{kernel}`: {at}: {message}")]
pub struct CheckError {
    pub kernel: String,
    /// The statement at fault (its path in the body and its text), or the
    /// declaration.
    pub at: String,
    pub message: String,
}

/// Checks `kernel` against the typing and structural rules.
pub fn check(kernel: &Kernel) -> Result<(), CheckError> {
    // A tile statement means its expansion: that is what is checked.
    let kernel = &*super::tile::expand_tiles(kernel);
    let fail = |at: String, message: String| CheckError {
        kernel: kernel.name.clone(),
        at,
        message,
    };
    // Ids first: the printer (used in every later message) indexes with them.
    ids_in_stmts(kernel, &kernel.body, &mut Vec::new())
        .map_err(|(at, message)| fail(at, message))?;
    for var in &kernel.vars {
        value_ty(var.ty)
            .and_then(|()| not_mask(var.ty, "a variable"))
            .map_err(|m| fail(format!("variable `{}`", var.name), m))?;
    }
    let mut is_loop_var = vec![false; kernel.vars.len()];
    mark_loop_vars(&kernel.body, &mut is_loop_var);
    let mut checker = Checker {
        kernel,
        is_loop_var,
        defined: vec![false; kernel.vars.len()],
        open_loops: Vec::new(),
        path: Vec::new(),
    };
    checker.stmts(&kernel.body, "body")
}

/// One line naming a statement: its header for loops and ifs, itself otherwise.
/// Ids must be in range.
pub(crate) fn stmt_line(kernel: &Kernel, stmt: &Stmt) -> String {
    match stmt {
        Stmt::Loop {
            var,
            start,
            end,
            step,
            ..
        } => format!(
            "for {} in {start}..{end} step {step}",
            kernel.var(*var).name
        ),
        Stmt::If { cond, .. } => format!("if {}", kernel.expr(cond)),
        Stmt::Assign { var, value } => {
            format!("{} = {}", kernel.var(*var).name, kernel.expr(value))
        }
        Stmt::Store { buf, index, value } => format!(
            "{}[{}] = {}",
            kernel.buffer(*buf).name,
            kernel.expr(index),
            kernel.expr(value)
        ),
        Stmt::Fail { code } => format!("fail {code}"),
        Stmt::Tile(t) => format!("tile {}x{}", t.rows, t.cols),
    }
}

/// Whether `ty` is a value type: a scalar, a 128-bit vector, or a mask with the
/// lane count of one. `F16` is a memory-only type.
pub(crate) fn value_ty(ty: Ty) -> Result<(), String> {
    if ty.elem == ElemType::F16 {
        return Err(format!(
            "`{ty}` is not a value type: f16 exists only in memory (access it as u16)"
        ));
    }
    let ok = match (ty.lanes, ty.elem) {
        (0, _) => false,
        (1, _) => true,
        (lanes, ElemType::Bool) => matches!(lanes, 2 | 4 | 8 | 16),
        (lanes, elem) => lanes as usize * elem.size() == 16,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{ty}` is neither a scalar nor a 128-bit vector"))
    }
}

fn is_mask(ty: Ty) -> bool {
    ty.elem == ElemType::Bool && ty.lanes > 1
}

fn not_mask(ty: Ty, what: &str) -> Result<(), String> {
    if is_mask(ty) {
        Err(format!(
            "{what} cannot be a lane mask `{ty}` (masks only feed Select and And/Or/Xor/Not)"
        ))
    } else {
        Ok(())
    }
}

/// The type loads and stores of `buffer` use for its elements.
pub(crate) fn access_elem(buffer: &Buffer) -> ElemType {
    match buffer.elem {
        ElemType::F16 => ElemType::U16,
        elem => elem,
    }
}

fn access_ty(buffer: &Buffer, ty: Ty, what: &str) -> Result<(), String> {
    let elem = access_elem(buffer);
    if ty.elem != elem {
        return Err(format!(
            "{what} of type `{ty}` on buffer `{}` of {} (elements are accessed as {})",
            buffer.name,
            buffer.elem.name(),
            elem.name()
        ));
    }
    if elem == ElemType::Bool && ty.lanes != 1 {
        return Err(format!(
            "{what} of `{ty}` on bool buffer `{}`: bool buffers are accessed as scalars",
            buffer.name
        ));
    }
    value_ty(ty)
}

type Located = (String, String);

fn ids_in_stmts(kernel: &Kernel, stmts: &[Stmt], path: &mut Vec<String>) -> Result<(), Located> {
    for (i, stmt) in stmts.iter().enumerate() {
        path.push(i.to_string());
        let at = || format!("statement {}", path.join("."));
        let var_ok = |v: VarId| (v.0 as usize) < kernel.vars.len();
        let buf_ok = |b: super::BufId| (b.0 as usize) < kernel.buffers.len();
        let bad = |what: String| Err((at(), what));
        match stmt {
            Stmt::Loop { var, body, .. } => {
                if !var_ok(*var) {
                    return bad(format!("loop counter {var:?} is not a declared variable"));
                }
                ids_in_stmts(kernel, body, path)?;
            }
            Stmt::If {
                cond,
                then_body,
                else_body,
            } => {
                ids_in_expr(kernel, cond).map_err(|m| (at(), m))?;
                ids_in_stmts(kernel, then_body, path)?;
                ids_in_stmts(kernel, else_body, path)?;
            }
            Stmt::Assign { var, value } => {
                if !var_ok(*var) {
                    return bad(format!("assignment to {var:?}, not a declared variable"));
                }
                ids_in_expr(kernel, value).map_err(|m| (at(), m))?;
            }
            Stmt::Store { buf, index, value } => {
                if !buf_ok(*buf) {
                    return bad(format!("store to {buf:?}, not a declared buffer"));
                }
                ids_in_expr(kernel, index).map_err(|m| (at(), m))?;
                ids_in_expr(kernel, value).map_err(|m| (at(), m))?;
            }
            Stmt::Fail { .. } => {}
            // `check` expands tiles first.
            Stmt::Tile(_) => return bad("a tile statement was not expanded".into()),
        }
        path.pop();
    }
    Ok(())
}

fn ids_in_expr(kernel: &Kernel, e: &Expr) -> Result<(), String> {
    match e {
        Expr::Const(_) => Ok(()),
        Expr::Var(v) if (v.0 as usize) < kernel.vars.len() => Ok(()),
        Expr::Var(v) => Err(format!("{v:?} is not a declared variable")),
        Expr::Load { buf, index, .. } => {
            if (buf.0 as usize) >= kernel.buffers.len() {
                return Err(format!("load from {buf:?}, not a declared buffer"));
            }
            ids_in_expr(kernel, index)
        }
        Expr::Unary(_, a)
        | Expr::Convert(_, a)
        | Expr::Bitcast(_, a)
        | Expr::Splat(_, a)
        | Expr::Extract(a, _)
        | Expr::Reduce(_, a) => ids_in_expr(kernel, a),
        Expr::Binary(_, a, b) | Expr::Compare(_, a, b) => {
            ids_in_expr(kernel, a)?;
            ids_in_expr(kernel, b)
        }
        Expr::Lanes(scalars) => scalars.iter().try_for_each(|s| ids_in_expr(kernel, s)),
        Expr::Fma(a, b, c) | Expr::Select(a, b, c) => {
            ids_in_expr(kernel, a)?;
            ids_in_expr(kernel, b)?;
            ids_in_expr(kernel, c)
        }
    }
}

fn mark_loop_vars(stmts: &[Stmt], is_loop_var: &mut [bool]) {
    for stmt in stmts {
        match stmt {
            Stmt::Loop { var, body, .. } => {
                is_loop_var[var.0 as usize] = true;
                mark_loop_vars(body, is_loop_var);
            }
            Stmt::If {
                then_body,
                else_body,
                ..
            } => {
                mark_loop_vars(then_body, is_loop_var);
                mark_loop_vars(else_body, is_loop_var);
            }
            _ => {}
        }
    }
}

struct Checker<'k> {
    kernel: &'k Kernel,
    is_loop_var: Vec<bool>,
    /// Definitely assigned variables at the current point.
    defined: Vec<bool>,
    open_loops: Vec<VarId>,
    /// Where we are, for messages: `body.2.then.0`.
    path: Vec<String>,
}

impl Checker<'_> {
    fn stmts(&mut self, stmts: &[Stmt], label: &str) -> Result<(), CheckError> {
        self.path.push(label.to_string());
        for (i, stmt) in stmts.iter().enumerate() {
            self.path.push(i.to_string());
            self.stmt(stmt).map_err(|message| CheckError {
                kernel: self.kernel.name.clone(),
                at: format!(
                    "statement {} `{}`",
                    self.path.join("."),
                    stmt_line(self.kernel, stmt)
                ),
                message,
            })?;
            self.nested(stmt)?;
            self.path.pop();
        }
        self.path.pop();
        Ok(())
    }

    /// Checks the statement itself (not nested bodies); messages only.
    fn stmt(&mut self, stmt: &Stmt) -> Result<(), String> {
        let kernel = self.kernel;
        match stmt {
            Stmt::Loop { var, step, .. } => {
                let ty = kernel.var(*var).ty;
                if ty != Ty::INDEX {
                    return Err(format!("loop counter has type `{ty}`, not i64"));
                }
                if *step <= 0 {
                    return Err(format!("loop step {step} is not positive"));
                }
                if self.open_loops.contains(var) {
                    return Err("the counter of an enclosing loop is reused".into());
                }
                Ok(())
            }
            Stmt::If { cond, .. } => {
                let ty = self.expr(cond)?;
                if ty != Ty::BOOL {
                    return Err(format!("condition has type `{ty}`, not a scalar bool"));
                }
                Ok(())
            }
            Stmt::Assign { var, value } => {
                let target = kernel.var(*var);
                if self.is_loop_var[var.0 as usize] {
                    return Err(format!(
                        "`{}` is a loop counter: only its loop assigns it",
                        target.name
                    ));
                }
                let ty = self.expr(value)?;
                if ty != target.ty {
                    return Err(format!(
                        "value of type `{ty}` assigned to `{}` of type `{}`",
                        target.name, target.ty
                    ));
                }
                self.defined[var.0 as usize] = true;
                Ok(())
            }
            Stmt::Store { buf, index, value } => {
                let buffer = kernel.buffer(*buf);
                if !buffer.writable {
                    return Err(format!("buffer `{}` is read-only", buffer.name));
                }
                self.index(index)?;
                let ty = self.expr(value)?;
                access_ty(buffer, ty, "store")
            }
            Stmt::Fail { code } => {
                if *code == 0 {
                    return Err("fail with status 0, which means success".into());
                }
                // What follows on this path never runs.
                self.defined.fill(true);
                Ok(())
            }
            Stmt::Tile(_) => Err("a tile statement was not expanded".into()),
        }
    }

    /// Checks the bodies of a loop or an if, updating definite assignment.
    fn nested(&mut self, stmt: &Stmt) -> Result<(), CheckError> {
        match stmt {
            Stmt::Loop { var, body, .. } => {
                let before = self.defined.clone();
                self.defined[var.0 as usize] = true;
                self.open_loops.push(*var);
                self.stmts(body, "body")?;
                self.open_loops.pop();
                self.defined = before;
            }
            Stmt::If {
                then_body,
                else_body,
                ..
            } => {
                let before = self.defined.clone();
                self.stmts(then_body, "then")?;
                let after_then = std::mem::replace(&mut self.defined, before);
                self.stmts(else_body, "else")?;
                for (d, t) in self.defined.iter_mut().zip(after_then) {
                    *d &= t;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn index(&self, index: &Expr) -> Result<(), String> {
        let ty = self.expr(index)?;
        if ty != Ty::INDEX {
            return Err(format!(
                "index `{}` has type `{ty}`, not i64",
                self.kernel.expr(index)
            ));
        }
        Ok(())
    }

    /// The type of `e`, or what is wrong with it (naming the innermost culprit).
    fn expr(&self, e: &Expr) -> Result<Ty, String> {
        let kernel = self.kernel;
        let here = |m: String| format!("`{}`: {m}", kernel.expr(e));
        match e {
            Expr::Const(c) => const_ty(*c).map_err(here),
            Expr::Var(v) => {
                let var = kernel.var(*v);
                if !self.defined[v.0 as usize] {
                    return Err(format!("`{}` may be read before it is assigned", var.name));
                }
                Ok(var.ty)
            }
            Expr::Load { buf, index, ty } => {
                self.index(index)?;
                access_ty(kernel.buffer(*buf), *ty, "load").map_err(here)?;
                Ok(*ty)
            }
            Expr::Unary(op, a) => {
                let ty = self.expr(a)?;
                let ok = match op {
                    UnaryOp::Neg | UnaryOp::Abs => ty.elem != ElemType::Bool,
                    UnaryOp::Not => !ty.elem.is_float(),
                    _ => ty.elem.is_float(),
                };
                if !ok {
                    return Err(here(format!("{op:?} is not defined on `{ty}`")));
                }
                Ok(ty)
            }
            Expr::Binary(op, a, b) => {
                let ty = same(self.expr(a)?, self.expr(b)?).map_err(here)?;
                let elem = ty.elem;
                let ok = match op {
                    BinaryOp::Add
                    | BinaryOp::Sub
                    | BinaryOp::Mul
                    | BinaryOp::Div
                    | BinaryOp::Max
                    | BinaryOp::Min => elem != ElemType::Bool,
                    BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => !elem.is_float(),
                    BinaryOp::Rem | BinaryOp::Shl | BinaryOp::Shr => elem.is_int(),
                };
                if !ok {
                    return Err(here(format!("{op:?} is not defined on `{ty}`")));
                }
                Ok(ty)
            }
            Expr::Fma(a, b, c) => {
                let ty = same(self.expr(a)?, self.expr(b)?).map_err(here)?;
                let tc = self.expr(c)?;
                if tc != ty {
                    return Err(here(format!("operands of types `{ty}` and `{tc}`")));
                }
                if !ty.elem.is_float() {
                    return Err(here(format!("fma is for floats, not `{ty}`")));
                }
                Ok(ty)
            }
            Expr::Compare(_, a, b) => {
                let ty = same(self.expr(a)?, self.expr(b)?).map_err(here)?;
                not_mask(ty, "a comparison operand").map_err(here)?;
                Ok(Ty::vector(ElemType::Bool, ty.lanes))
            }
            Expr::Select(c, a, b) => {
                let tc = self.expr(c)?;
                let ty = same(self.expr(a)?, self.expr(b)?).map_err(here)?;
                not_mask(ty, "a selected value").map_err(here)?;
                if tc.elem != ElemType::Bool || tc.lanes != ty.lanes {
                    return Err(here(format!(
                        "condition of type `{tc}` for values of type `{ty}` \
                         (needs bool with {} lane(s))",
                        ty.lanes
                    )));
                }
                Ok(ty)
            }
            Expr::Convert(to, a) => {
                let from = self.expr(a)?;
                not_mask(from, "a converted value").map_err(here)?;
                let ty = Ty::vector(*to, from.lanes);
                value_ty(ty).map_err(here)?;
                if ty.lanes > 1 && *to == ElemType::Bool {
                    return Err(here("vectors do not convert to bool".into()));
                }
                Ok(ty)
            }
            Expr::Bitcast(to, a) => {
                let from = self.expr(a)?;
                let ty = Ty::vector(*to, from.lanes);
                if from.elem == ElemType::Bool || *to == ElemType::Bool {
                    return Err(here("bool values are never bitcast".into()));
                }
                value_ty(ty).map_err(here)?;
                if from.elem.size() != to.size() {
                    return Err(here(format!(
                        "bitcast from `{from}` to `{ty}` changes the element size"
                    )));
                }
                Ok(ty)
            }
            Expr::Splat(lanes, a) => {
                let from = self.expr(a)?;
                if from.lanes != 1 || from.elem == ElemType::Bool {
                    return Err(here(format!(
                        "splat of `{from}`: only a non-bool scalar is splatted"
                    )));
                }
                let ty = Ty::vector(from.elem, *lanes);
                value_ty(ty).map_err(here)?;
                if *lanes < 2 {
                    return Err(here(format!("splat to {lanes} lane(s)")));
                }
                Ok(ty)
            }
            Expr::Lanes(scalars) => {
                let types = scalars
                    .iter()
                    .map(|s| self.expr(s))
                    .collect::<Result<Vec<_>, _>>()?;
                let first = *types
                    .first()
                    .ok_or_else(|| here("a vector of no lanes".into()))?;
                if first.lanes != 1 || first.elem == ElemType::Bool {
                    return Err(here(format!(
                        "lanes of `{first}`: a vector is made of non-bool scalars"
                    )));
                }
                if let Some(other) = types.iter().find(|t| **t != first) {
                    return Err(here(format!(
                        "lanes of `{first}` and `{other}`: all lanes have one type"
                    )));
                }
                let lanes = u8::try_from(types.len())
                    .map_err(|_| here(format!("a vector of {} lanes", types.len())))?;
                let ty = Ty::vector(first.elem, lanes);
                value_ty(ty).map_err(here)?;
                if lanes < 2 {
                    return Err(here("a vector of one lane".into()));
                }
                Ok(ty)
            }
            Expr::Extract(a, lane) => {
                let from = vector_operand(self.expr(a)?).map_err(here)?;
                if *lane >= from.lanes {
                    return Err(here(format!("lane {lane} of `{from}`")));
                }
                Ok(Ty::scalar(from.elem))
            }
            Expr::Reduce(_, a) => {
                let from = vector_operand(self.expr(a)?).map_err(here)?;
                Ok(Ty::scalar(from.elem))
            }
        }
    }
}

/// The common type of two operands.
fn same(ta: Ty, tb: Ty) -> Result<Ty, String> {
    if ta != tb {
        return Err(format!("operands of types `{ta}` and `{tb}`"));
    }
    Ok(ta)
}

fn vector_operand(ty: Ty) -> Result<Ty, String> {
    if ty.lanes < 2 {
        return Err(format!("operand of type `{ty}` is not a vector"));
    }
    not_mask(ty, "the operand")?;
    Ok(ty)
}

fn const_ty(c: Scalar) -> Result<Ty, String> {
    match c {
        Scalar::F32(_) => Ok(Ty::F32),
        Scalar::F64(_) => Ok(Ty::scalar(ElemType::F64)),
        Scalar::Int(v, elem) => {
            let (lo, hi) = match elem {
                ElemType::F32 | ElemType::F64 | ElemType::F16 => {
                    return Err(format!("integer constant of float type {}", elem.name()));
                }
                ElemType::I64 | ElemType::U64 => return Ok(Ty::scalar(elem)),
                ElemType::Bool => (0, 1),
                ElemType::I8 => (i8::MIN as i64, i8::MAX as i64),
                ElemType::U8 => (0, u8::MAX as i64),
                ElemType::I16 => (i16::MIN as i64, i16::MAX as i64),
                ElemType::U16 => (0, u16::MAX as i64),
                ElemType::I32 => (i32::MIN as i64, i32::MAX as i64),
                ElemType::U32 => (0, u32::MAX as i64),
            };
            if v < lo || v > hi {
                return Err(format!(
                    "constant {v} is out of the range of {}",
                    elem.name()
                ));
            }
            Ok(Ty::scalar(elem))
        }
    }
}

#[cfg(test)]
mod tests;
