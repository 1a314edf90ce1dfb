//! The reference interpreter of kernels: a plain tree walk, the ground truth the
//! emitters are tested against.
//!
//! Semantics, where the IR leaves a choice to native code, are those of Cranelift
//! and WebAssembly (the arithmetic is in `lanes.rs`):
//! - integer `Add`/`Sub`/`Mul`/`Neg`/`Abs` wrap in the element type; `Div`
//!   truncates toward zero and `Rem` has the dividend's sign; dividing by zero and
//!   signed `MIN / -1` are errors (native code traps), while `MIN % -1` is 0;
//! - `Shl`/`Shr` take the shift amount modulo the bit width; `Shr` is arithmetic
//!   for signed element types;
//! - `F32` arithmetic rounds to `f32` after every operation, except `Fma`, which is
//!   fused; float `Max`/`Min` give NaN if either operand is NaN, and order zeros
//!   (`max(-0, +0) = +0`);
//! - `Reduce(Add)` adds halves: lanes `i` and `i + n/2` first, repeatedly, so
//!   `f32x4` sums `(l0 + l2) + (l1 + l3)` — emitters must add in the same order;
//! - a loaded `Bool` byte is true when non-zero; a stored one is 0 or 1.
//!
//! The kernel is type-checked ([`check`]) before it runs; a kernel
//! that fails the check is an error, and so is any access out of its buffer.

mod lanes;
mod value;

use thiserror::Error;

use self::value::Value;
use super::check::{self, CheckError};
use super::{BufId, ElemType, Expr, Kernel, ReduceOp, Scalar, Stmt, Ty};

/// Statements (and loop iterations) a kernel may execute before [`run`] gives up.
pub const DEFAULT_STEP_BUDGET: u64 = 1 << 32;

#[derive(Clone, Debug, PartialEq, Error)]
pub enum InterpError {
    #[error("not a valid kernel: {0}")]
    Invalid(#[from] CheckError),
    #[error("kernel `{kernel}` takes {expected} buffers, given {given}")]
    BufferCount {
        kernel: String,
        expected: usize,
        given: usize,
    },
    #[error("kernel `{kernel}`: buffer `{buffer}` needs {expected} bytes, given {given}")]
    BufferSize {
        kernel: String,
        buffer: String,
        expected: usize,
        given: usize,
    },
    #[error(
        "kernel `{kernel}`: {access} `{expr}` touches elements [{index}, {index} + {lanes}) \
         of buffer `{buffer}` of {len} elements"
    )]
    OutOfBounds {
        kernel: String,
        /// "load" or "store".
        access: &'static str,
        /// The load, or the stored element (`buf[index]`).
        expr: String,
        buffer: String,
        index: i64,
        lanes: usize,
        len: usize,
    },
    #[error("kernel `{kernel}`: integer division by zero in `{expr}`")]
    DivisionByZero { kernel: String, expr: String },
    #[error("kernel `{kernel}`: integer division overflow (MIN / -1) in `{expr}`")]
    DivisionOverflow { kernel: String, expr: String },
    #[error("kernel `{kernel}`: gave up after {budget} statements")]
    StepBudget { kernel: String, budget: u64 },
    #[error("kernel `{kernel}`: type error in `{expr}`: {message}")]
    Type {
        kernel: String,
        expr: String,
        message: String,
    },
}

/// Runs `kernel` on `buffers` (`buffers[i]` holds the little-endian bytes of
/// `kernel.buffers[i]`, exactly `len` elements) and returns its status: 0, or the
/// code of the `Fail` it reached.
pub fn run(kernel: &Kernel, buffers: &mut [Vec<u8>]) -> Result<i32, InterpError> {
    run_with_budget(kernel, buffers, DEFAULT_STEP_BUDGET)
}

/// [`run`], giving up with [`InterpError::StepBudget`] after `budget` statements.
pub fn run_with_budget(
    kernel: &Kernel,
    buffers: &mut [Vec<u8>],
    budget: u64,
) -> Result<i32, InterpError> {
    // A tile statement runs as its expansion.
    let kernel = &*super::tile::expand_tiles(kernel);
    check::check(kernel)?;
    if buffers.len() != kernel.buffers.len() {
        return Err(InterpError::BufferCount {
            kernel: kernel.name.clone(),
            expected: kernel.buffers.len(),
            given: buffers.len(),
        });
    }
    for (decl, bytes) in kernel.buffers.iter().zip(buffers.iter()) {
        let expected = decl.len.checked_mul(decl.elem.size());
        if expected != Some(bytes.len()) {
            return Err(InterpError::BufferSize {
                kernel: kernel.name.clone(),
                buffer: decl.name.clone(),
                expected: expected.unwrap_or(usize::MAX),
                given: bytes.len(),
            });
        }
    }
    let mut machine = Machine {
        kernel,
        buffers,
        vars: vec![Value::scalar(ElemType::I64, 0); kernel.vars.len()],
        assigned: vec![false; kernel.vars.len()],
        steps: 0,
        budget,
    };
    match machine.exec(&kernel.body).map_err(|e| *e)? {
        Flow::Next => Ok(0),
        Flow::Fail(code) => Ok(code),
    }
}

/// What went wrong in one lane operation, before it is located.
#[derive(Debug)]
enum Fault {
    DivisionByZero,
    DivisionOverflow,
    Type(String),
}

/// Results inside the machine: errors are boxed so that values move cheaply.
type Outcome<T> = Result<T, Box<InterpError>>;

enum Flow {
    Next,
    Fail(i32),
}

struct Machine<'k, 'b> {
    kernel: &'k Kernel,
    buffers: &'b mut [Vec<u8>],
    vars: Vec<Value>,
    assigned: Vec<bool>,
    steps: u64,
    budget: u64,
}

impl Machine<'_, '_> {
    fn tick(&mut self) -> Outcome<()> {
        self.steps += 1;
        if self.steps > self.budget {
            return Err(Box::new(InterpError::StepBudget {
                kernel: self.kernel.name.clone(),
                budget: self.budget,
            }));
        }
        Ok(())
    }

    fn exec(&mut self, stmts: &[Stmt]) -> Outcome<Flow> {
        for stmt in stmts {
            self.tick()?;
            match stmt {
                Stmt::Loop {
                    var,
                    start,
                    end,
                    step,
                    body,
                } => {
                    let slot = var.0 as usize;
                    let mut i = *start;
                    while i < *end {
                        // Iterations count too, so that empty bodies cannot hang.
                        self.tick()?;
                        self.vars[slot] = Value::scalar(ElemType::I64, i as u64);
                        self.assigned[slot] = true;
                        if let Flow::Fail(code) = self.exec(body)? {
                            return Ok(Flow::Fail(code));
                        }
                        match i.checked_add(*step) {
                            Some(next) => i = next,
                            None => break,
                        }
                    }
                }
                Stmt::If {
                    cond,
                    then_body,
                    else_body,
                } => {
                    let taken = self.eval(cond)?.lane(0) != 0;
                    let body = if taken { then_body } else { else_body };
                    if let Flow::Fail(code) = self.exec(body)? {
                        return Ok(Flow::Fail(code));
                    }
                }
                Stmt::Assign { var, value } => {
                    let v = self.eval(value)?;
                    let slot = var.0 as usize;
                    self.vars[slot] = v;
                    self.assigned[slot] = true;
                }
                Stmt::Store { buf, index, value } => {
                    let index = self.index(index)?;
                    let v = self.eval(value)?;
                    self.store(*buf, index, &v)?;
                }
                Stmt::Fail { code } => return Ok(Flow::Fail(*code)),
                // Expanded before running (and rejected by the check if not).
                Stmt::Tile(_) => {}
            }
        }
        Ok(Flow::Next)
    }

    fn index(&self, e: &Expr) -> Outcome<i64> {
        Ok(self.eval(e)?.lane(0) as i64)
    }

    /// The bytes of `count` elements from `index`, or why they are out of bounds.
    fn span(
        &self,
        buf: BufId,
        index: i64,
        count: usize,
        access: &'static str,
        expr: impl FnOnce() -> String,
    ) -> Outcome<std::ops::Range<usize>> {
        let decl = self.kernel.buffer(buf);
        let size = decl.elem.size();
        let inside = index >= 0 && (index as u128 + count as u128) <= decl.len as u128;
        if !inside {
            return Err(Box::new(InterpError::OutOfBounds {
                kernel: self.kernel.name.clone(),
                access,
                expr: expr(),
                buffer: decl.name.clone(),
                index,
                lanes: count,
                len: decl.len,
            }));
        }
        let start = index as usize * size;
        Ok(start..start + count * size)
    }

    fn load(&self, e: &Expr, buf: BufId, index: i64, ty: Ty) -> Outcome<Value> {
        let count = usize::from(ty.lanes.clamp(1, 16));
        let span = self.span(buf, index, count, "load", || self.kernel.expr(e))?;
        let bytes = self
            .buffers
            .get(buf.0 as usize)
            .and_then(|b| b.get(span))
            .ok_or_else(|| self.type_error(e, "buffer is shorter than declared".into()))?;
        let mut raw = [0u8; 16];
        let Some(dest) = raw.get_mut(..bytes.len()) else {
            return Err(self.type_error(e, format!("`{ty}` is wider than 128 bits")));
        };
        dest.copy_from_slice(bytes);
        if count == 1 {
            let raw = u64::from_le_bytes([
                raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
            ]);
            return Ok(Value::scalar(ty.elem, lanes::wrap(ty.elem, raw)));
        }
        Ok(Value::vector_from_bytes(ty, raw))
    }

    fn store(&mut self, buf: BufId, index: i64, v: &Value) -> Outcome<()> {
        let count = v.count();
        let kernel = self.kernel;
        let describe = || {
            let name = &kernel.buffer(buf).name;
            format!("{name}[{index}]")
        };
        let span = self.span(buf, index, count, "store", describe)?;
        let bytes = self
            .buffers
            .get_mut(buf.0 as usize)
            .and_then(|b| b.get_mut(span))
            .ok_or_else(|| InterpError::Type {
                kernel: kernel.name.clone(),
                expr: describe(),
                message: "buffer is shorter than declared".into(),
            })?;
        let raw = v.to_le_bytes();
        match raw.get(..bytes.len()) {
            Some(src) => {
                bytes.copy_from_slice(src);
                Ok(())
            }
            None => Err(Box::new(InterpError::Type {
                kernel: kernel.name.clone(),
                expr: describe(),
                message: format!("`{}` is wider than 128 bits", v.ty),
            })),
        }
    }

    fn type_error(&self, e: &Expr, message: String) -> Box<InterpError> {
        Box::new(InterpError::Type {
            kernel: self.kernel.name.clone(),
            expr: self.kernel.expr(e),
            message,
        })
    }

    fn locate(&self, e: &Expr, fault: Fault) -> Box<InterpError> {
        let kernel = self.kernel.name.clone();
        match fault {
            Fault::DivisionByZero => Box::new(InterpError::DivisionByZero {
                kernel,
                expr: self.kernel.expr(e),
            }),
            Fault::DivisionOverflow => Box::new(InterpError::DivisionOverflow {
                kernel,
                expr: self.kernel.expr(e),
            }),
            Fault::Type(message) => self.type_error(e, message),
        }
    }

    fn eval(&self, e: &Expr) -> Outcome<Value> {
        let at = |fault| self.locate(e, fault);
        match e {
            Expr::Const(c) => Ok(match *c {
                Scalar::F32(x) => Value::scalar(ElemType::F32, x.to_bits() as u64),
                Scalar::F64(x) => Value::scalar(ElemType::F64, x.to_bits()),
                Scalar::Int(v, elem) => Value::scalar(elem, lanes::wrap(elem, v as u64)),
            }),
            Expr::Var(v) => {
                let slot = v.0 as usize;
                match self.assigned.get(slot) {
                    Some(true) => Ok(self.vars[slot]),
                    _ => Err(self.type_error(e, "read before it is assigned".into())),
                }
            }
            Expr::Load { buf, index, ty } => {
                let index = self.index(index)?;
                self.load(e, *buf, index, *ty)
            }
            Expr::Unary(op, a) => {
                let a = self.eval(a)?;
                let elem = a.ty.elem;
                if a.ty.lanes == 1 {
                    let r = lanes::unary(*op, elem, a.lane(0)).map_err(at)?;
                    return Ok(Value::scalar(elem, r));
                }
                a.map(elem, |x| lanes::unary(*op, elem, x)).map_err(at)
            }
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                let elem = a.ty.elem;
                if a.ty.lanes == 1 && b.ty.lanes == 1 {
                    let r = lanes::binary(*op, elem, a.lane(0), b.lane(0)).map_err(at)?;
                    return Ok(Value::scalar(elem, r));
                }
                a.zip(&b, elem, |x, y| lanes::binary(*op, elem, x, y))
                    .map_err(at)
            }
            Expr::Fma(a, b, c) => {
                let (a, b, c) = (self.eval(a)?, self.eval(b)?, self.eval(c)?);
                let elem = a.ty.elem;
                if b.ty != a.ty {
                    return Err(self.type_error(e, format!("operands `{}`, `{}`", a.ty, b.ty)));
                }
                let mut i = 0;
                a.zip(&c, elem, |x, z| {
                    let r = lanes::fma(elem, x, b.lane(i), z);
                    i += 1;
                    r
                })
                .map_err(at)
            }
            Expr::Compare(op, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                let elem = a.ty.elem;
                if a.ty.lanes == 1 && b.ty.lanes == 1 {
                    let r = lanes::compare(*op, elem, a.lane(0), b.lane(0)).map_err(at)?;
                    return Ok(Value::scalar(ElemType::Bool, u64::from(r)));
                }
                a.zip(&b, ElemType::Bool, |x, y| {
                    lanes::compare(*op, elem, x, y).map(u64::from)
                })
                .map_err(at)
            }
            Expr::Select(c, a, b) => {
                let (c, a, b) = (self.eval(c)?, self.eval(a)?, self.eval(b)?);
                let elem = a.ty.elem;
                let mut i = 0;
                a.zip(&b, elem, |x, y| {
                    let pick = if c.lane(i) != 0 { x } else { y };
                    i += 1;
                    Ok(pick)
                })
                .map_err(at)
            }
            Expr::Convert(to, a) => {
                let a = self.eval(a)?;
                let from = a.ty.elem;
                a.map(*to, |x| lanes::convert(from, *to, x)).map_err(at)
            }
            Expr::Bitcast(to, a) => {
                let a = self.eval(a)?;
                let from = a.ty.elem;
                a.map(*to, |x| Ok(lanes::bitcast(from, *to, x))).map_err(at)
            }
            Expr::Splat(n, a) => {
                let a = self.eval(a)?;
                let v = a.lane(0);
                Value::build(Ty::vector(a.ty.elem, *n), |_| Ok(v)).map_err(at)
            }
            Expr::Lanes(scalars) => {
                let scalars = scalars
                    .iter()
                    .map(|s| self.eval(s))
                    .collect::<Result<Vec<_>, _>>()?;
                let Some(first) = scalars.first() else {
                    return Err(self.type_error(e, "a vector of no lanes".into()));
                };
                let ty = Ty::vector(first.ty.elem, scalars.len() as u8);
                Value::build(ty, |i| Ok(scalars[i].lane(0))).map_err(at)
            }
            Expr::Extract(a, lane) => {
                let a = self.eval(a)?;
                let lane = *lane as usize;
                if lane >= a.count() {
                    return Err(self.type_error(e, format!("no lane {lane} in `{}`", a.ty)));
                }
                Ok(Value::scalar(a.ty.elem, a.lane(lane)))
            }
            Expr::Reduce(op, a) => {
                let a = self.eval(a)?;
                let elem = a.ty.elem;
                let op = match op {
                    ReduceOp::Add => super::BinaryOp::Add,
                    ReduceOp::Max => super::BinaryOp::Max,
                    ReduceOp::Min => super::BinaryOp::Min,
                };
                // Halving order: lane i += lane i + n/2 until one is left.
                let mut lanes = [0u64; 16];
                for (i, lane) in lanes.iter_mut().enumerate().take(a.count()) {
                    *lane = a.lane(i);
                }
                let mut n = a.count();
                while n > 1 {
                    n /= 2;
                    for i in 0..n {
                        lanes[i] = lanes::binary(op, elem, lanes[i], lanes[i + n]).map_err(at)?;
                    }
                }
                Ok(Value::scalar(elem, lanes[0]))
            }
        }
    }
}

#[cfg(test)]
mod tests;
