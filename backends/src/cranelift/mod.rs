//! Native code for a scheduled [`Program`] with Cranelift: one object file holding
//! the model's kernels, its entry point, its weights and its descriptor.
//!
//! - [`kernel`]: each distinct kernel -> a local function
//!   `NAME_k{index}_{kernel name}(buffer pointers...) -> i32 status`; [`values`]
//!   lowers the kernel IR's arithmetic to CLIF.
//! - [`entry`]: the exported `NAME_run(inputs, outputs, arena) -> i32`, which calls
//!   the kernels in order with their buffers bound.
//! - [`data`]: the weights blob (`NAME_weights`, read-only) and the exported
//!   `NAME_descriptor` laid out like `nnc_runtime::ModelDesc`.
//!
//! Every kernel must pass `nnc_ir::kernel::bounds::check` (its loads and stores are
//! emitted unchecked), and every call must bind buffers that fit the memory they
//! point to (checked here). The object is self-contained: it defines everything it
//! references, so it links without libc (no libcalls, no memcpy). That is checked
//! after emission, not assumed.

mod data;
mod entry;
mod induction;
mod kernel;
mod microkernel;
mod values;

#[cfg(test)]
mod tests;

use cranelift_codegen::ir::Signature;
use cranelift_codegen::ir::types;
use cranelift_codegen::{CodegenError as ClifError, isa::TargetIsa};
use cranelift_module::{Linkage, Module, ModuleError, default_libcall_names};
use cranelift_object::object::{self, Object, ObjectSymbol};
use cranelift_object::{ObjectBuilder, ObjectModule};
use nnc_ir::kernel::{BufferRef, Program, bounds};
use nnc_ir::{Microkernel, Target};
use thiserror::Error;

use crate::target::{TargetError, isa_for};

/// The object file of a compiled program.
#[derive(Clone, Debug)]
pub struct CompiledObject {
    /// The object file (ELF, Mach-O or COFF, as the target says).
    pub bytes: Vec<u8>,
    /// Total machine code size of all functions, in bytes.
    pub code_bytes: usize,
    /// The exported symbols (`NAME_run`, `NAME_descriptor`), unmangled.
    pub symbols: Vec<String>,
    /// Per kernel of the program, the code its GEMM tiles became (`Portable`
    /// when it has none or none took a microkernel).
    pub microkernels: Vec<Microkernel>,
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum CodegenError {
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The program is malformed (bad indices, buffers that do not fit, ...).
    #[error("program '{program}': {message}")]
    InvalidProgram { program: String, message: String },
    /// A kernel breaks the kernel IR's rules, or an access of it cannot be proven
    /// in bounds (the emitted loads and stores are unchecked).
    #[error("{0}")]
    Kernel(Box<bounds::BoundsError>),
    /// Cranelift could not compile a function.
    #[error("Cranelift failed on function '{function}': {message}")]
    Compile { function: String, message: String },
    /// Writing the object failed.
    #[error("object writer: {0}")]
    Object(String),
    /// The object references symbols it does not define (libcalls): it would not
    /// link without a C library.
    #[error("the generated object needs undefined symbols: {}", .0.join(", "))]
    UndefinedSymbols(Vec<String>),
}

impl From<bounds::BoundsError> for CodegenError {
    fn from(e: bounds::BoundsError) -> Self {
        CodegenError::Kernel(Box::new(e))
    }
}

/// How to compile a program, beyond its target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodegenOptions {
    /// Make the entry point call `void nnc_profile_mark(uint32_t call)` before call
    /// `k` of the schedule (with `k`) and once more when the last call returned
    /// (with the number of calls), so that a harness can time every kernel. The
    /// object then needs that symbol from the program it is linked into: profiled
    /// builds are for `nnc bench --per-kernel`, never shipped.
    pub profile: bool,
}

/// The symbol a profiled entry point calls between kernels.
pub const PROFILE_MARK_SYMBOL: &str = "nnc_profile_mark";

/// Compiles `program` for `target` into one relocatable object file.
pub fn compile_program(program: &Program, target: &Target) -> Result<CompiledObject, CodegenError> {
    compile_program_with(program, target, CodegenOptions::default())
}

/// [`compile_program`] with options.
pub fn compile_program_with(
    program: &Program,
    target: &Target,
    options: CodegenOptions,
) -> Result<CompiledObject, CodegenError> {
    validate(program)?;
    let isa = isa_for(target)?;
    let builder = ObjectBuilder::new(
        isa.clone(),
        program.name.as_bytes(),
        default_libcall_names(),
    )
    .map_err(|e| CodegenError::Object(e.to_string()))?;
    let mut module = ObjectModule::new(builder);
    let mut code_bytes = 0;

    let level = target.microkernel();
    let mut wide = (level != Microkernel::Portable)
        .then(|| microkernel::Microkernels::new(level, &program.name));
    let mut kernel_ids = Vec::with_capacity(program.kernels.len());
    let mut microkernels = Vec::with_capacity(program.kernels.len());
    for (index, kernel) in program.kernels.iter().enumerate() {
        bounds::check(kernel)?;
        let name = format!("{}_k{index}_{}", program.name, sanitize(&kernel.name));
        let context = wide.as_mut().map(|kernels| kernel::Wide {
            kernels,
            module: &mut module,
            code_bytes: &mut code_bytes,
        });
        let (func, calls) = kernel::emit(kernel, &*isa, target.has_fma, context)?;
        microkernels.push(if calls > 0 {
            level
        } else {
            Microkernel::Portable
        });
        let id = declare_and_define(&mut module, &name, Linkage::Local, func, &mut code_bytes)?;
        kernel_ids.push(id);
    }

    let weights = data::define_weights(&mut module, program)?;
    let descriptor = data::define_descriptor(&mut module, program)?;

    let run_name = format!("{}_run", program.name);
    let profile_mark = if options.profile {
        Some(entry::declare_profile_mark(&mut module)?)
    } else {
        None
    };
    let func = entry::emit(
        &mut module,
        program,
        &kernel_ids,
        weights.as_ref(),
        profile_mark,
    )?;
    declare_and_define(
        &mut module,
        &run_name,
        Linkage::Export,
        func,
        &mut code_bytes,
    )?;

    let bytes = module
        .finish()
        .emit()
        .map_err(|e| CodegenError::Object(e.to_string()))?;
    let mut undefined = undefined_symbols(&bytes)?;
    if options.profile {
        undefined.retain(|s| s != PROFILE_MARK_SYMBOL);
    }
    if !undefined.is_empty() {
        return Err(CodegenError::UndefinedSymbols(undefined));
    }
    Ok(CompiledObject {
        bytes,
        code_bytes,
        symbols: vec![run_name, descriptor],
        microkernels,
    })
}

/// Declares `func` under `name` and compiles it into the module.
fn declare_and_define(
    module: &mut ObjectModule,
    name: &str,
    linkage: Linkage,
    func: cranelift_codegen::ir::Function,
    code_bytes: &mut usize,
) -> Result<cranelift_module::FuncId, CodegenError> {
    let id = module
        .declare_function(name, linkage, &func.signature)
        .map_err(|e| module_error(name, e))?;
    let mut ctx = cranelift_codegen::Context::for_function(func);
    module
        .define_function(id, &mut ctx)
        .map_err(|e| module_error(name, e))?;
    *code_bytes += ctx.compiled_code().map_or(0, |c| c.code_buffer().len());
    Ok(id)
}

fn module_error(function: &str, e: ModuleError) -> CodegenError {
    let message = match e {
        ModuleError::Compilation(ClifError::Verifier(errors)) => {
            format!("verifier: {errors}")
        }
        other => format!("{other:?}"),
    };
    CodegenError::Compile {
        function: function.to_string(),
        message,
    }
}

/// The signature every kernel has: one pointer per buffer -> i32 status.
fn kernel_signature(isa: &dyn TargetIsa, buffers: usize) -> Signature {
    let mut sig = Signature::new(isa.default_call_conv());
    let ptr = isa.pointer_type();
    sig.params
        .extend((0..buffers).map(|_| cranelift_codegen::ir::AbiParam::new(ptr)));
    sig.returns
        .push(cranelift_codegen::ir::AbiParam::new(types::I32));
    sig
}

/// The names of the symbols `bytes` (an object file) references but does not define.
fn undefined_symbols(bytes: &[u8]) -> Result<Vec<String>, CodegenError> {
    let file = object::File::parse(bytes).map_err(|e| CodegenError::Object(e.to_string()))?;
    Ok(file
        .symbols()
        .filter(|s| s.is_undefined() && !s.name().unwrap_or("").is_empty())
        .map(|s| s.name().unwrap_or("?").to_string())
        .collect())
}

/// A kernel name as part of a symbol: C identifier characters only.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Checks what the generated code relies on: a C identifier as the name, calls of
/// existing kernels with one argument per buffer, and every buffer inside the
/// memory it is bound to (model I/O, arena, weight), writable ones never bound to
/// read-only memory. Kernels' own accesses are proven in bounds by
/// `kernel::bounds`; this is the other half of memory safety.
pub(crate) fn validate(program: &Program) -> Result<(), CodegenError> {
    let fail = |message: String| CodegenError::InvalidProgram {
        program: program.name.clone(),
        message,
    };
    let name_ok = program
        .name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && program
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Err(fail("the name must be a C identifier".into()));
    }
    if program.arena_align == 0 || !program.arena_align.is_power_of_two() {
        return Err(fail(format!(
            "arena alignment {} is not a power of two",
            program.arena_align
        )));
    }
    for (c, call) in program.calls.iter().enumerate() {
        let kernel = program.kernels.get(call.kernel).ok_or_else(|| {
            fail(format!(
                "call {c} names kernel {} of {}",
                call.kernel,
                program.kernels.len()
            ))
        })?;
        if call.args.len() != kernel.buffers.len() {
            return Err(fail(format!(
                "call {c} of kernel '{}' binds {} buffers, the kernel has {}",
                kernel.name,
                call.args.len(),
                kernel.buffers.len()
            )));
        }
        for (arg, buffer) in call.args.iter().zip(&kernel.buffers) {
            let need = buffer.len * buffer.elem.size();
            let (available, read_only) = match *arg {
                BufferRef::Input(k) => (program.inputs.get(k).map(|io| io.bytes()), true),
                BufferRef::Output(k) => (program.outputs.get(k).map(|io| io.bytes()), false),
                BufferRef::Arena { offset } => {
                    (Some(program.arena_bytes.saturating_sub(offset)), false)
                }
                BufferRef::Weight(k) => {
                    (program.weights.get(k).map(|w| w.tensor.bytes().len()), true)
                }
            };
            let Some(available) = available else {
                return Err(fail(format!(
                    "call {c} of kernel '{}': {arg:?} does not exist",
                    kernel.name
                )));
            };
            if let BufferRef::Arena { offset } = *arg
                && offset
                    .checked_add(need)
                    .is_none_or(|end| end > program.arena_bytes)
            {
                return Err(fail(format!(
                    "call {c} of kernel '{}': buffer '{}' ({need} bytes at arena offset {offset}) exceeds the arena of {} bytes",
                    kernel.name, buffer.name, program.arena_bytes
                )));
            }
            if need > available {
                return Err(fail(format!(
                    "call {c} of kernel '{}': buffer '{}' needs {need} bytes, {arg:?} has {available}",
                    kernel.name, buffer.name
                )));
            }
            if buffer.writable && read_only {
                return Err(fail(format!(
                    "call {c} of kernel '{}': writable buffer '{}' is bound to read-only {arg:?}",
                    kernel.name, buffer.name
                )));
            }
        }
    }
    Ok(())
}
