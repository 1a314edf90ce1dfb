//! One kernel -> one CLIF function: `(buffer pointers...) -> i32 status`.
//!
//! The kernel's structure maps one to one: its variables become
//! `cranelift_frontend` variables (SSA is built for us), a loop becomes a header
//! block testing `counter >= end` (exit first), a body and an exit, an `If` a `brif`, `Fail` a
//! return of its code, and the end of the body a return of 0. Arithmetic is in
//! [`super::values`].
//!
//! Memory accesses are `notrap` (the bounds prover guarantees every access is inside
//! its buffer) but not `aligned`: buffers are only element-aligned, and vector loads
//! and stores start at any element.

use std::collections::HashMap;

use cranelift_codegen::ir::{
    Block, FuncRef, Function, InstBuilder, MemFlagsData, Type, UserFuncName, Value,
    condcodes::IntCC, types,
};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_module::Module;
use cranelift_object::ObjectModule;
use nnc_ir::kernel::tile::expand_tiles_where;
use nnc_ir::kernel::{
    BinaryOp, BufId, ElemType, Expr, GemmTile, Kernel, Scalar, Stmt, TileStep, Ty, VarId,
};

use super::CodegenError;
use super::induction::Pointers;
use super::microkernel::{Microkernels, TileShape};

/// Where a kernel's eligible tile statements find their microkernels.
pub(super) struct Wide<'m> {
    pub kernels: &'m mut Microkernels,
    pub module: &'m mut ObjectModule,
    pub code_bytes: &'m mut usize,
}

/// Emits `kernel` as a CLIF function (not yet compiled), and says how many of its
/// tile statements call a wide microkernel. `has_fma` says whether `Fma` may use
/// the fused instruction (it must match the ISA's flags, or Cranelift turns it
/// into libcalls). Without `wide`, or for tiles no microkernel takes, tiles are
/// emitted as their portable expansion.
pub(super) fn emit(
    kernel: &Kernel,
    isa: &dyn TargetIsa,
    has_fma: bool,
    wide: Option<Wide>,
) -> Result<(Function, usize), CodegenError> {
    let level = wide.as_ref().map(|w| w.kernels.level);
    let shape = |t: &GemmTile| level.and_then(|l| TileShape::of(kernel, t, l));
    let kernel = &*expand_tiles_where(kernel, |t| shape(t).is_none());
    let sig = super::kernel_signature(isa, kernel.buffers.len());
    let mut func = Function::with_name_signature(UserFuncName::default(), sig);
    // The microkernels this kernel calls, declared in the function up front.
    let mut tiles = HashMap::new();
    let mut calls = 0;
    if let Some(wide) = wide {
        let mut shapes = Vec::new();
        collect_tiles(&kernel.body, &mut |t| shapes.extend(shape(t)));
        calls = shapes.len();
        for s in shapes {
            if tiles.contains_key(&s) {
                continue;
            }
            let id = wide.kernels.function(wide.module, &s, wide.code_bytes)?;
            let func_ref = wide.module.declare_func_in_func(id, &mut func);
            tiles.insert(s, func_ref);
        }
    }
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
        level,
        tiles,
        induction: None,
    };
    emitter.stmts(&kernel.body)?;
    let zero = emitter.b.ins().iconst(types::I32, 0);
    emitter.b.ins().return_(&[zero]);
    emitter.b.seal_all_blocks();
    emitter.b.finalize(isa.frontend_config());
    Ok((func, calls))
}

/// Calls `f` on every tile statement of `stmts`, in order.
fn collect_tiles(stmts: &[Stmt], f: &mut dyn FnMut(&GemmTile)) {
    for s in stmts {
        match s {
            Stmt::Tile(t) => f(t),
            Stmt::Loop { body, .. } => collect_tiles(body, f),
            Stmt::If {
                then_body,
                else_body,
                ..
            } => {
                collect_tiles(then_body, f);
                collect_tiles(else_body, f);
            }
            _ => {}
        }
    }
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
    /// The microkernel level, and the microkernel of each tile shape left.
    level: Option<nnc_ir::Microkernel>,
    tiles: HashMap<TileShape, FuncRef>,
    /// The induction pointers of the innermost loop being emitted.
    pub(super) induction: Option<Pointers>,
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
                let (addr, displacement) = self.address(*buf, index)?;
                self.b.ins().store(access_flags(), v, addr, displacement);
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
            Stmt::Tile(tile) => self.tile_call(tile)?,
        }
        Ok(())
    }

    /// A tile statement left after expansion: a call of its microkernel with the
    /// addresses of the tile's origin in A, B and Y.
    fn tile_call(&mut self, tile: &GemmTile) -> Result<(), CodegenError> {
        let func_ref = self
            .level
            .and_then(|l| TileShape::of(self.kernel, tile, l))
            .and_then(|s| self.tiles.get(&s).copied())
            .ok_or_else(|| self.unsupported("a tile statement without a microkernel"))?;
        let mut args = Vec::with_capacity(3 + tile.epilogue.len());
        let addends = tile.epilogue.iter().filter_map(|s| match s {
            TileStep::Add(e) => Some((e.buf, &e.offset)),
            TileStep::Clip { .. } | TileStep::Map(_) => None,
        });
        for (buf, offset) in [
            (tile.a.buf, &tile.a.offset),
            (tile.b.buf, &tile.b.offset),
            (tile.y.buf, &tile.y.offset),
        ]
        .into_iter()
        .chain(addends)
        {
            let (addr, displacement) = self.address(buf, offset)?;
            args.push(self.b.ins().iadd_imm_s(addr, i64::from(displacement)));
        }
        self.b.ins().call(func_ref, &args);
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
        let pointers = self.induction_pointers(VarId(var), start, body)?;
        self.b.ins().jump(header, &[]);

        // The header stays unsealed until the back edge exists.
        self.b.switch_to_block(header);
        let i = self.b.use_var(counter);
        // In an innermost loop the exit is the first successor: Cranelift's
        // optimiser then visits the loop body before the code after the loop,
        // while it still knows it is inside the loop, and hoists what the body
        // computes from values defined before the loop (a row's mean in
        // LayerNorm) instead of recomputing it every iteration. A loop around
        // other loops keeps the body first: hoisting out of it lifts an
        // epilogue's constants (Clip's bounds) over a register-blocked inner
        // loop, which then spills (mobilenet_v2's 128-bit Conv+Clip 1.5x slower).
        if body.iter().any(contains_loop) {
            let more = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, i, end);
            self.b.ins().brif(more, body_block, &[], exit, &[]);
        } else {
            let done = self
                .b
                .ins()
                .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, i, end);
            self.b.ins().brif(done, exit, &[], body_block, &[]);
        }

        self.b.switch_to_block(body_block);
        self.b.seal_block(body_block);
        let outer = std::mem::replace(&mut self.induction, pointers);
        self.stmts(body)?;
        if let Some(pointers) = std::mem::replace(&mut self.induction, outer) {
            self.advance(&pointers, step);
        }
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

    /// The address of element `index` of buffer `buf`, as `(pointer, displacement)`:
    /// `base + index * element size`, with the constant part of `index` (`i + 4`,
    /// `p * 512 + 1024`) moved into the displacement, which the load or store
    /// instruction carries, so that it costs no address arithmetic of its own.
    pub(super) fn address(
        &mut self,
        buf: BufId,
        index: &Expr,
    ) -> Result<(Value, i32), CodegenError> {
        if let Some(at) = self.pointer_address(buf, index) {
            return Ok(at);
        }
        self.plain_address(buf, index)
    }

    /// [`Self::address`] computed from the buffer's base, whatever the loop.
    pub(super) fn plain_address(
        &mut self,
        buf: BufId,
        index: &Expr,
    ) -> Result<(Value, i32), CodegenError> {
        let base = *self
            .bufs
            .get(buf.0 as usize)
            .ok_or_else(|| self.unsupported(format!("buffer {} is not declared", buf.0)))?;
        let size = self.kernel.buffer(buf).elem.size() as i64;
        let (rest, constant) = split_constant(index);
        let displacement = constant
            .checked_mul(size)
            .and_then(|d| i32::try_from(d).ok());
        let (rest, displacement) = match (rest, displacement) {
            (rest, Some(d)) => (rest, d),
            // Too far for a displacement: keep the index whole.
            (_, None) => (Some(index.clone()), 0),
        };
        let Some(rest) = rest else {
            return Ok((base, displacement));
        };
        let (index, _) = self.expr(&rest)?;
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
        Ok((self.b.ins().iadd(base, offset), displacement))
    }

    pub(super) fn load(&mut self, buf: BufId, index: &Expr, ty: Ty) -> Result<Value, CodegenError> {
        let (addr, displacement) = self.address(buf, index)?;
        // Loads of an unchanging buffer are pure: Cranelift moves them to
        // their uses (where x86_64 folds them into the instruction) instead
        // of issuing a body's loads first, and hoists invariant ones.
        let flags = match self.kernel.buffer(buf).unchanging {
            true => access_flags().with_readonly().with_can_move(),
            false => access_flags(),
        };
        let v = self.b.ins().load(clif_type(ty), flags, addr, displacement);
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

/// `index` as `rest + constant`: the integer constants of its top-level sums and
/// differences, gathered (`rest` is None when the index is a constant). Exact: a
/// constant that would overflow stays in `rest`.
fn split_constant(index: &Expr) -> (Option<Expr>, i64) {
    match index {
        Expr::Const(Scalar::Int(c, _)) => (None, *c),
        Expr::Binary(op @ (BinaryOp::Add | BinaryOp::Sub), a, b) => {
            let (ra, ca) = split_constant(a);
            let (rb, cb) = split_constant(b);
            let constant = match op {
                BinaryOp::Add => ca.checked_add(cb),
                _ => ca.checked_sub(cb),
            };
            let Some(constant) = constant else {
                return (Some(index.clone()), 0);
            };
            let rest = match (ra, rb) {
                (ra, None) => ra,
                (None, Some(rb)) if *op == BinaryOp::Add => Some(rb),
                (None, Some(rb)) => Some(Expr::Binary(
                    BinaryOp::Sub,
                    Box::new(Expr::index(0)),
                    Box::new(rb),
                )),
                (Some(ra), Some(rb)) => Some(Expr::Binary(*op, Box::new(ra), Box::new(rb))),
            };
            (rest, constant)
        }
        _ => (Some(index.clone()), 0),
    }
}

/// Whether `stmt` is or holds a loop.
fn contains_loop(stmt: &Stmt) -> bool {
    match stmt {
        Stmt::Loop { .. } => true,
        Stmt::If {
            then_body,
            else_body,
            ..
        } => then_body.iter().chain(else_body).any(contains_loop),
        _ => false,
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;
    use nnc_ir::kernel::VarId;

    #[test]
    fn constants_of_sums_and_differences_are_gathered() {
        let i = Expr::Var(VarId(0));
        let j = Expr::Var(VarId(1));
        let add = |a: Expr, b: Expr| Expr::Binary(BinaryOp::Add, Box::new(a), Box::new(b));
        let sub = |a: Expr, b: Expr| Expr::Binary(BinaryOp::Sub, Box::new(a), Box::new(b));
        assert_eq!(split_constant(&Expr::index(7)), (None, 7));
        assert_eq!(
            split_constant(&add(i.clone(), Expr::index(4))),
            (Some(i.clone()), 4)
        );
        let e = sub(
            add(i.clone(), Expr::index(10)),
            add(j.clone(), Expr::index(3)),
        );
        assert_eq!(split_constant(&e), (Some(sub(i.clone(), j.clone())), 7));
        let e = sub(Expr::index(5), j.clone());
        assert_eq!(
            split_constant(&e),
            (Some(sub(Expr::index(0), j.clone())), 5)
        );
        let e = add(i.clone(), Expr::index(i64::MAX));
        let e = add(e, Expr::index(1));
        assert_eq!(split_constant(&e), (Some(e.clone()), 0));
        let product = Expr::Binary(BinaryOp::Mul, Box::new(i), Box::new(Expr::index(4)));
        assert_eq!(split_constant(&product), (Some(product.clone()), 0));
    }
}
