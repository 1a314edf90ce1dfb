//! The model's entry point:
//! `int NAME_run(const void *const *inputs, void *const *outputs, void *arena)`.
//!
//! It checks its arguments (null arrays, null tensor pointers, a null arena when
//! the model needs one -> `INVALID_ARGUMENT`), then calls the kernels in schedule
//! order with each buffer bound to an input, an output, an arena slot or a weight,
//! and returns the first non-zero kernel status, or 0. A profiled entry also calls
//! the imported `nnc_profile_mark(k)` before call `k` and after the last one.

use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, Function, InstBuilder, MemFlagsData, Signature, UserFuncName, Value,
    types,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{FuncId, Linkage, Module};
use cranelift_object::ObjectModule;
use nnc_ir::kernel::{BufferRef, Program};

use super::data::Weights;
use super::{CodegenError, PROFILE_MARK_SYMBOL, module_error};

/// `nnc_runtime::status::INVALID_ARGUMENT`.
const INVALID_ARGUMENT: i64 = 1;

/// Declares the imported `void nnc_profile_mark(uint32_t)`.
pub(super) fn declare_profile_mark(module: &mut ObjectModule) -> Result<FuncId, CodegenError> {
    let mut sig = Signature::new(module.isa().default_call_conv());
    sig.params.push(AbiParam::new(types::I32));
    module
        .declare_function(PROFILE_MARK_SYMBOL, Linkage::Import, &sig)
        .map_err(|e| module_error(PROFILE_MARK_SYMBOL, e))
}

/// Emits `NAME_run` for `program`, whose kernel `i` is the module's function
/// `kernels[i]` and whose weights are `weights` (None when it has none). With
/// `profile_mark`, the marks are called around the kernels.
pub(super) fn emit(
    module: &mut ObjectModule,
    program: &Program,
    kernels: &[FuncId],
    weights: Option<&Weights>,
    profile_mark: Option<FuncId>,
) -> Result<Function, CodegenError> {
    let isa = module.isa();
    let ptr = isa.pointer_type();
    let ptr_bytes = i64::from(ptr.bytes());
    let mut sig = Signature::new(isa.default_call_conv());
    sig.params.extend([AbiParam::new(ptr); 3]);
    sig.returns.push(AbiParam::new(types::I32));
    let frontend_config = isa.frontend_config();

    let mut func = Function::with_name_signature(UserFuncName::default(), sig);
    let kernel_refs: Vec<_> = kernels
        .iter()
        .map(|&id| module.declare_func_in_func(id, &mut func))
        .collect();
    let weights_gv = weights.map(|w| module.declare_data_in_func(w.id, &mut func));
    let mark_ref = profile_mark.map(|id| module.declare_func_in_func(id, &mut func));

    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    // Every failure returns through here with its status.
    let fail = b.create_block();
    b.append_block_param(fail, types::I32);

    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let (inputs, outputs, arena) = (params[0], params[1], params[2]);

    // The pointer arrays are the caller's and read-only for us.
    let array_flags = MemFlagsData::new().with_notrap().with_readonly();
    let load_pointers = |b: &mut FunctionBuilder, array: Value, count: usize| {
        if count > 0 {
            null_check(b, array, fail);
        }
        (0..count)
            .map(|k| {
                let offset = (k as i64 * ptr_bytes) as i32;
                let p = b.ins().load(ptr, array_flags, array, offset);
                null_check(b, p, fail);
                p
            })
            .collect::<Vec<_>>()
    };
    let input_ptrs = load_pointers(&mut b, inputs, program.inputs.len());
    let output_ptrs = load_pointers(&mut b, outputs, program.outputs.len());
    if program.arena_bytes > 0 {
        null_check(&mut b, arena, fail);
    }
    let weights_base = weights_gv.map(|gv| b.ins().symbol_value(ptr, gv));

    let mark = |b: &mut FunctionBuilder, k: usize| {
        if let Some(f) = mark_ref {
            let k = b.ins().iconst(types::I32, k as i64);
            b.ins().call(f, &[k]);
        }
    };
    for (k, call) in program.calls.iter().enumerate() {
        mark(&mut b, k);
        let args = call
            .args
            .iter()
            .map(|arg| match *arg {
                BufferRef::Input(k) => Ok(input_ptrs[k]),
                BufferRef::Output(k) => Ok(output_ptrs[k]),
                BufferRef::Arena { offset } => Ok(b.ins().iadd_imm_u(arena, offset as i64)),
                BufferRef::Weight(k) => match (weights_base, weights) {
                    (Some(base), Some(w)) => Ok(b.ins().iadd_imm_u(base, w.offsets[k] as i64)),
                    _ => Err(CodegenError::InvalidProgram {
                        program: program.name.clone(),
                        message: format!("weight {k} is used but the program has no weights"),
                    }),
                },
            })
            .collect::<Result<Vec<_>, _>>()?;
        let inst = b.ins().call(kernel_refs[call.kernel], &args);
        let status = b.inst_results(inst)[0];
        let next = b.create_block();
        b.ins()
            .brif(status, fail, &[BlockArg::Value(status)], next, &[]);
        b.switch_to_block(next);
    }
    mark(&mut b, program.calls.len());
    let ok = b.ins().iconst(types::I32, 0);
    b.ins().return_(&[ok]);

    b.switch_to_block(fail);
    let status = b.block_params(fail)[0];
    b.ins().return_(&[status]);
    b.seal_all_blocks();
    b.finalize(frontend_config);
    Ok(func)
}

/// Continues in a new block if `p` is not null; otherwise returns
/// `INVALID_ARGUMENT` through `fail`.
fn null_check(b: &mut FunctionBuilder, p: Value, fail: Block) {
    let invalid = b.ins().iconst(types::I32, INVALID_ARGUMENT);
    let next = b.create_block();
    b.ins()
        .brif(p, next, &[], fail, &[BlockArg::Value(invalid)]);
    b.switch_to_block(next);
}
