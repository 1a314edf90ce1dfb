//! One kernel -> one CLIF function: `(buffer pointers...) -> i32 status`.
//!
//! The kernel's structure maps one to one: its variables become
//! `cranelift_frontend` variables (SSA is built for us), a loop becomes a header
//! block testing `counter < end`, a body and an exit, an `If` a `brif`, `Fail` a
//! return of its code, and the end of the body a return of 0. Arithmetic is in
//! [`super::values`].
//!
//! Memory accesses are `notrap` (the bounds prover guarantees every access is inside
//! its buffer) but not `aligned`: buffers are only element-aligned, and vector loads
//! and stores start at any element.

use cranelift_codegen::ir::{
    Block, Function, InstBuilder, MemFlagsData, Type, UserFuncName, Value, condcodes::IntCC, types,
};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use nnc_ir::kernel::{BufId, ElemType, Expr, Kernel, Stmt, Ty};

use super::CodegenError;

/// Emits `kernel` as a CLIF function (not yet compiled). `has_fma` says whether
/// `Fma` may use the fused instruction (it must match the ISA's flags, or Cranelift
/// turns it into libcalls).
pub(super) fn emit(
    kernel: &Kernel,
    isa: &dyn TargetIsa,
    has_fma: bool,
) -> Result<Function, CodegenError> {
    let sig = super::kernel_signature(isa, kernel.buffers.len());
    let mut func = Function::with_name_signature(UserFuncName::default(), sig);
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);

    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let bufs = b.block_params(entry).to_vec();
    let vars = kernel
        .vars
        .iter()
        .map(|v| b.declare_var(clif_type(v.ty)))
        .collect();

    let mut emitter = Emitter {
        kernel,
        b,
        ptr: isa.pointer_type(),
        has_fma,
        vars,
        bufs,
    };
    emitter.stmts(&kernel.body)?;
    let zero = emitter.b.ins().iconst(types::I32, 0);
    emitter.b.ins().return_(&[zero]);
    emitter.b.seal_all_blocks();
    emitter.b.finalize(isa.frontend_config());
    Ok(func)
}

/// The state of emitting one kernel.
pub(super) struct Emitter<'k, 'f> {
    pub(super) kernel: &'k Kernel,
    pub(super) b: FunctionBuilder<'f>,
    /// The pointer type of the target.
    pub(super) ptr: Type,
    pub(super) has_fma: bool,
    /// `vars[i]` holds kernel variable `i`.
    vars: Vec<Variable>,
    /// `bufs[i]` is the base pointer of buffer `i` (a function parameter).
    bufs: Vec<Value>,
}

/// The CLIF type of a kernel value type. Scalar `Bool` is `i8` 0/1 (what `icmp`
/// and `fcmp` give and what memory holds); a vector `Bool` (a mask) is the integer
/// vector of the same lane count whose lanes are all ones or all zeros (what vector
/// `icmp`/`fcmp` give); `F16` is its raw bits.
pub(super) fn clif_type(ty: Ty) -> Type {
    let lane = match ty.elem {
        ElemType::F32 => types::F32,
        ElemType::F64 => types::F64,
        ElemType::F16 | ElemType::I16 | ElemType::U16 => types::I16,
        ElemType::I8 | ElemType::U8 => types::I8,
        ElemType::I32 | ElemType::U32 => types::I32,
        ElemType::I64 | ElemType::U64 => types::I64,
        ElemType::Bool if ty.lanes <= 1 => types::I8,
        ElemType::Bool => types::Type::int(128 / u16::from(ty.lanes)).unwrap_or(types::I8),
    };
    if ty.lanes > 1 {
        lane.by(u32::from(ty.lanes)).unwrap_or(lane)
    } else {
        lane
    }
}

/// Flags of every buffer access: cannot trap (bounds are proven), not aligned.
pub(super) fn access_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Emitter<'_, '_> {
    /// An error about this kernel's code that the type checker should have caught
    /// (or a form this emitter does not support).
    pub(super) fn unsupported(&self, what: impl std::fmt::Display) -> CodegenError {
        CodegenError::Compile {
            function: self.kernel.name.clone(),
            message: what.to_string(),
        }
    }

    fn stmts(&mut self, stmts: &[Stmt]) -> Result<(), CodegenError> {
        stmts.iter().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&mut self, stmt: &Stmt) -> Result<(), CodegenError> {
        match stmt {
            Stmt::Assign { var, value } => {
                let (v, _) = self.expr(value)?;
                let var = self.var(var.0)?;
                self.b
                    .try_def_var(var, v)
                    .map_err(|e| self.unsupported(format!("assignment: {e}")))?;
            }
            Stmt::Store { buf, index, value } => {
                let (v, _) = self.expr(value)?;
                let addr = self.address(*buf, index)?;
                self.b.ins().store(access_flags(), v, addr, 0);
            }
            Stmt::Loop {
                var,
                start,
                end,
                step,
                body,
            } => self.counted_loop(var.0, *start, *end, *step, body)?,
            Stmt::If {
                cond,
                then_body,
                else_body,
            } => {
                let (c, _) = self.expr(cond)?;
                let then_block = self.b.create_block();
                let else_block = self.b.create_block();
                let merge = self.b.create_block();
                self.b.ins().brif(c, then_block, &[], else_block, &[]);
                for (block, body) in [(then_block, then_body), (else_block, else_body)] {
                    self.b.switch_to_block(block);
                    self.b.seal_block(block);
                    self.stmts(body)?;
                    self.b.ins().jump(merge, &[]);
                }
                self.b.switch_to_block(merge);
                self.b.seal_block(merge);
            }
            Stmt::Fail { code } => {
                let code = self.b.ins().iconst(types::I32, i64::from(*code));
                self.b.ins().return_(&[code]);
                // Whatever follows in this statement list is unreachable; give it
                // a block of its own (Cranelift drops blocks nothing jumps to).
                self.start_block();
            }
        }
        Ok(())
    }

    /// `for var in (start..end).step_by(step) { body }` with the test at the top.
    fn counted_loop(
        &mut self,
        var: u32,
        start: i64,
        end: i64,
        step: i64,
        body: &[Stmt],
    ) -> Result<(), CodegenError> {
        let counter = self.var(var)?;
        let header = self.b.create_block();
        let body_block = self.b.create_block();
        let exit = self.b.create_block();

        let first = self.b.ins().iconst(types::I64, start);
        self.b.def_var(counter, first);
        self.b.ins().jump(header, &[]);

        // The header stays unsealed until the back edge exists.
        self.b.switch_to_block(header);
        let i = self.b.use_var(counter);
        let more = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, i, end);
        self.b.ins().brif(more, body_block, &[], exit, &[]);

        self.b.switch_to_block(body_block);
        self.b.seal_block(body_block);
        self.stmts(body)?;
        let i = self.b.use_var(counter);
        let next = self.b.ins().iadd_imm_s(i, step);
        self.b.def_var(counter, next);
        self.b.ins().jump(header, &[]);
        self.b.seal_block(header);

        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        Ok(())
    }

    fn start_block(&mut self) -> Block {
        let block = self.b.create_block();
        self.b.switch_to_block(block);
        self.b.seal_block(block);
        block
    }

    fn var(&self, index: u32) -> Result<Variable, CodegenError> {
        self.vars
            .get(index as usize)
            .copied()
            .ok_or_else(|| self.unsupported(format!("variable {index} is not declared")))
    }

    /// `base + index * element size` of buffer `buf`.
    pub(super) fn address(&mut self, buf: BufId, index: &Expr) -> Result<Value, CodegenError> {
        let base = *self
            .bufs
            .get(buf.0 as usize)
            .ok_or_else(|| self.unsupported(format!("buffer {} is not declared", buf.0)))?;
        let size = self.kernel.buffer(buf).elem.size() as i64;
        let (index, _) = self.expr(index)?;
        let mut offset = match size {
            1 => index,
            _ => self
                .b
                .ins()
                .ishl_imm_u(index, i64::from(size.trailing_zeros())),
        };
        if self.ptr != types::I64 {
            offset = self.b.ins().ireduce(self.ptr, offset);
        }
        Ok(self.b.ins().iadd(base, offset))
    }

    pub(super) fn load(&mut self, buf: BufId, index: &Expr, ty: Ty) -> Result<Value, CodegenError> {
        let addr = self.address(buf, index)?;
        let v = self.b.ins().load(clif_type(ty), access_flags(), addr, 0);
        // A bool byte in memory is true when non-zero; in registers it is 0/1.
        Ok(if ty.elem == ElemType::Bool {
            self.b.ins().icmp_imm_u(IntCC::NotEqual, v, 0)
        } else {
            v
        })
    }

    pub(super) fn use_var(&mut self, var: u32) -> Result<Value, CodegenError> {
        let var = self.var(var)?;
        self.b
            .try_use_var(var)
            .map_err(|e| self.unsupported(format!("variable use: {e}")))
    }
}
