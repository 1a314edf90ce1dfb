//! One kernel -> one WebAssembly function `(buffer addresses: i32...) -> i32 status`.
//!
//! The kernel's structure maps one to one: each kernel variable is a wasm local,
//! a loop is `block { loop { br_if exit (counter >= end); body; counter += step;
//! br loop } }`, an `If` an `if/else`, `Fail` a `return` of its code, and the end
//! of the body a return of 0. Expressions are in [`super::scalar`],
//! [`super::vector`] and [`super::convert`].
//!
//! Values in locals and on the stack: `f32`, `f64`, `i64` (`I64`/`U64`), `v128`
//! (every vector and lane mask), and `i32` for every narrower integer and scalar
//! `Bool`, always *canonical*: sign-extended for signed element types,
//! zero-extended for unsigned ones, 0/1 for `Bool` — the interpreter's lane
//! encoding, so that comparisons, divisions and conversions read the value right.
//!
//! Indices are `i64` as the IR says; an address is `base + (index << log2 size)`
//! wrapped to `i32`. The bounds prover guarantees every access is inside its
//! buffer, and the memory map puts every buffer inside linear memory.

use nnc_ir::kernel::{BufId, ElemType, Expr, Kernel, Stmt, Ty};
use wasm_encoder::{BlockType, Function, InstructionSink, MemArg, MemArgTarget, ValType};

use super::WasmError;

pub(super) type Res<T> = Result<T, WasmError>;

/// The wasm type holding a kernel value of type `ty`.
pub(super) fn val_type(ty: Ty) -> ValType {
    if ty.lanes > 1 {
        return ValType::V128;
    }
    match ty.elem {
        ElemType::F32 => ValType::F32,
        ElemType::F64 => ValType::F64,
        ElemType::I64 | ElemType::U64 => ValType::I64,
        _ => ValType::I32,
    }
}

/// Emits `kernel` as a function body. `relaxed` allows relaxed-SIMD (fused
/// multiply-add on vectors).
pub(super) fn emit(kernel: &Kernel, relaxed: bool) -> Res<Function> {
    // Tile statements become their portable loop nests.
    let kernel = &*nnc_ir::kernel::tile::expand_tiles(kernel);
    let params = kernel.buffers.len() as u32;
    let mut e = FnEmitter {
        kernel,
        body: Vec::new(),
        locals: kernel.vars.iter().map(|v| val_type(v.ty)).collect(),
        params,
        free: Vec::new(),
        relaxed,
    };
    e.stmts(&kernel.body)?;
    e.sink().i32_const(0).end();
    let mut func = Function::new_with_locals_types(e.locals.iter().copied());
    func.raw(e.body);
    Ok(func)
}

/// The state of emitting one kernel.
pub(super) struct FnEmitter<'k> {
    pub(super) kernel: &'k Kernel,
    body: Vec<u8>,
    /// Types of the locals after the parameters: the kernel's variables first
    /// (local `params + i` is variable `i`), then scratch locals.
    locals: Vec<ValType>,
    params: u32,
    /// Scratch locals not in use, with their types.
    free: Vec<(ValType, u32)>,
    pub(super) relaxed: bool,
}

impl FnEmitter<'_> {
    pub(super) fn sink(&mut self) -> InstructionSink<'_> {
        InstructionSink::new(&mut self.body)
    }

    /// An error naming this kernel.
    pub(super) fn unsupported(&self, what: impl std::fmt::Display) -> WasmError {
        WasmError::Unsupported {
            kernel: self.kernel.name.clone(),
            message: what.to_string(),
        }
    }

    /// A scratch local of type `vt`; give it back with [`Self::release`].
    pub(super) fn scratch(&mut self, vt: ValType) -> u32 {
        if let Some(pos) = self.free.iter().position(|(t, _)| *t == vt) {
            return self.free.swap_remove(pos).1;
        }
        self.locals.push(vt);
        self.params + self.locals.len() as u32 - 1
    }

    pub(super) fn release(&mut self, vt: ValType, local: u32) {
        self.free.push((vt, local));
    }

    /// Pops the top of the stack (of type `vt`) into a fresh scratch local.
    pub(super) fn stash(&mut self, vt: ValType) -> u32 {
        let local = self.scratch(vt);
        self.sink().local_set(local);
        local
    }

    fn var_local(&self, var: u32) -> Res<u32> {
        if (var as usize) < self.kernel.vars.len() {
            Ok(self.params + var)
        } else {
            Err(self.unsupported(format!("variable {var} is not declared")))
        }
    }

    fn stmts(&mut self, stmts: &[Stmt]) -> Res<()> {
        stmts.iter().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&mut self, stmt: &Stmt) -> Res<()> {
        match stmt {
            Stmt::Assign { var, value } => {
                let local = self.var_local(var.0)?;
                self.expr(value)?;
                self.sink().local_set(local);
            }
            Stmt::Store { buf, index, value } => {
                let elem = self.buffer_elem(*buf)?;
                self.address(*buf, index)?;
                let ty = self.expr(value)?;
                self.store(elem, ty);
            }
            Stmt::Loop {
                var,
                start,
                end,
                step,
                body,
            } => {
                let counter = self.var_local(var.0)?;
                self.sink().i64_const(*start).local_set(counter);
                self.sink().block(BlockType::Empty).loop_(BlockType::Empty);
                self.sink()
                    .local_get(counter)
                    .i64_const(*end)
                    .i64_ge_s()
                    .br_if(1);
                self.stmts(body)?;
                self.sink()
                    .local_get(counter)
                    .i64_const(*step)
                    .i64_add()
                    .local_set(counter)
                    .br(0)
                    .end()
                    .end();
            }
            Stmt::If {
                cond,
                then_body,
                else_body,
            } => {
                self.expr(cond)?;
                self.sink().if_(BlockType::Empty);
                self.stmts(then_body)?;
                if !else_body.is_empty() {
                    self.sink().else_();
                    self.stmts(else_body)?;
                }
                self.sink().end();
            }
            Stmt::Fail { code } => {
                self.sink().i32_const(*code).return_();
            }
            Stmt::Tile(_) => return Err(self.unsupported("a tile statement was not expanded")),
        }
        Ok(())
    }

    fn buffer_elem(&self, buf: BufId) -> Res<ElemType> {
        self.kernel
            .buffers
            .get(buf.0 as usize)
            .map(|b| b.elem)
            .ok_or_else(|| self.unsupported(format!("buffer {} is not declared", buf.0)))
    }

    /// Pushes `base + (index << log2 size)` as an `i32` address.
    fn address(&mut self, buf: BufId, index: &Expr) -> Res<()> {
        let elem = self.buffer_elem(buf)?;
        self.sink().local_get(buf.0);
        self.expr(index)?;
        let shift = elem.size().trailing_zeros();
        if shift > 0 {
            self.sink().i64_const(i64::from(shift)).i64_shl();
        }
        self.sink().i32_wrap_i64().i32_add();
        Ok(())
    }

    /// Pushes `ty.lanes` elements of `buf` at `index`.
    pub(super) fn load(&mut self, buf: BufId, index: &Expr, ty: Ty) -> Res<()> {
        let elem = self.buffer_elem(buf)?;
        self.address(buf, index)?;
        let m = mem_arg(elem);
        let mut s = self.sink();
        if ty.lanes > 1 {
            s.v128_load(m);
            return Ok(());
        }
        match ty.elem {
            ElemType::F32 => s.f32_load(m),
            ElemType::F64 => s.f64_load(m),
            ElemType::I64 | ElemType::U64 => s.i64_load(m),
            ElemType::I32 | ElemType::U32 => s.i32_load(m),
            ElemType::I16 => s.i32_load16_s(m),
            ElemType::U16 | ElemType::F16 => s.i32_load16_u(m),
            ElemType::I8 => s.i32_load8_s(m),
            ElemType::U8 => s.i32_load8_u(m),
            // A bool byte is true when non-zero; in registers it is 0/1.
            ElemType::Bool => s.i32_load8_u(m).i32_const(0).i32_ne(),
        };
        Ok(())
    }

    /// Stores the value (of type `ty`) under the address on the stack.
    fn store(&mut self, elem: ElemType, ty: Ty) {
        let m = mem_arg(elem);
        let mut s = self.sink();
        if ty.lanes > 1 {
            s.v128_store(m);
            return;
        }
        match ty.elem {
            ElemType::F32 => s.f32_store(m),
            ElemType::F64 => s.f64_store(m),
            ElemType::I64 | ElemType::U64 => s.i64_store(m),
            ElemType::I32 | ElemType::U32 => s.i32_store(m),
            ElemType::I16 | ElemType::U16 | ElemType::F16 => s.i32_store16(m),
            ElemType::I8 | ElemType::U8 | ElemType::Bool => s.i32_store8(m),
        };
    }

    pub(super) fn use_var(&mut self, var: u32) -> Res<Ty> {
        let local = self.var_local(var)?;
        self.sink().local_get(local);
        Ok(self.kernel.vars[var as usize].ty)
    }
}

/// Buffers are only element-aligned: the hint says so.
fn mem_arg(elem: ElemType) -> MemArg {
    MemArg {
        offset: 0,
        align: elem.size().trailing_zeros(),
        target: MemArgTarget::Memory(0),
        ordering: None,
    }
}
