//! WebAssembly for a scheduled [`Program`]: one module with the model's kernels,
//! its entry point, its weights and its memory, written with `wasm-encoder` and
//! validated with `wasmparser` before anyone sees it. (Cranelift consumes
//! WebAssembly but does not emit it.)
//!
//! - [`layout`]: the memory map (weights in an active data segment, the arena,
//!   one slot per input and output, at fixed offsets);
//! - [`kernel`]: each distinct kernel -> a function `(i32 addresses...) -> i32`;
//!   [`values`], [`scalar`], [`vector`] (SIMD128) and [`convert`] lower its
//!   expressions;
//! - [`entry`]: the exported `NAME_run() -> i32`.
//!
//! The module imports nothing. It exports `memory`, `NAME_run`, and for each
//! input and output `k` the immutable `i32` globals `NAME_input_k_offset`,
//! `NAME_input_k_bytes`, `NAME_output_k_offset`, `NAME_output_k_bytes`. A host
//! writes the inputs into their slots, calls `NAME_run()` (0 or an
//! `nnc_runtime::status` code), and reads the outputs from theirs.
//!
//! Memory safety is the native backend's: every kernel passes the bounds prover
//! and every call binds buffers that fit what they point to
//! (`cranelift::validate`), so no access leaves its buffer (and wasm would
//! trap rather than touch anything outside linear memory anyway).

mod artifacts;
mod convert;
mod entry;
mod js;
mod kernel;
pub mod layout;
mod scalar;
mod values;
mod vector;

#[cfg(test)]
pub(crate) mod tests;

use nnc_ir::Target;
use nnc_ir::kernel::{Program, bounds};
use thiserror::Error;
use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, ExportKind, ExportSection, FunctionSection, GlobalSection,
    GlobalType, MemorySection, MemoryType, Module, TypeSection, ValType,
};

pub use artifacts::{WasmArtifactPaths, write_wasm_artifacts};
pub use layout::MemoryMap;

/// The `--cpu` feature that allows relaxed-SIMD instructions (fused multiply-add).
pub const RELAXED_SIMD: &str = "relaxed-simd";

/// A compiled module.
#[derive(Clone, Debug)]
pub struct WasmModule {
    /// The `.wasm` binary (validated).
    pub bytes: Vec<u8>,
    /// Bytes of function bodies.
    pub code_bytes: usize,
    pub map: MemoryMap,
    /// Whether the module uses relaxed-SIMD instructions.
    pub relaxed_simd: bool,
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum WasmError {
    #[error("program '{program}': {message}")]
    InvalidProgram { program: String, message: String },
    /// A kernel breaks the kernel IR's rules or cannot be proven in bounds.
    #[error("{0}")]
    Kernel(Box<bounds::BoundsError>),
    #[error("kernel '{kernel}': no WebAssembly for {message}")]
    Unsupported { kernel: String, message: String },
    /// The emitted module does not validate: a bug of this emitter.
    #[error("the generated WebAssembly module is invalid: {0}")]
    Invalid(String),
}

impl From<bounds::BoundsError> for WasmError {
    fn from(e: bounds::BoundsError) -> Self {
        WasmError::Kernel(Box::new(e))
    }
}

/// Compiles `program` into a WebAssembly module for `target` (wasm32; relaxed
/// SIMD when its CPU features have `relaxed-simd`).
pub fn compile_program(program: &Program, target: &Target) -> Result<WasmModule, WasmError> {
    crate::cranelift::validate(program).map_err(|e| WasmError::InvalidProgram {
        program: program.name.clone(),
        message: e.to_string(),
    })?;
    let relaxed = target.cpu_features.iter().any(|f| f == RELAXED_SIMD);
    let map = MemoryMap::new(program).map_err(|message| WasmError::InvalidProgram {
        program: program.name.clone(),
        message,
    })?;

    let mut types = TypeSection::new();
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    // Type i: (i32 x i) -> i32, made as needed; the entry's is () -> i32 (0).
    let mut arity_types: Vec<Option<u32>> = Vec::new();
    let mut type_of = |arity: usize, types: &mut TypeSection| {
        if arity_types.len() <= arity {
            arity_types.resize(arity + 1, None);
        }
        *arity_types[arity].get_or_insert_with(|| {
            let index = types.len();
            types
                .ty()
                .function(vec![ValType::I32; arity], [ValType::I32]);
            index
        })
    };
    let mut code_bytes = 0;
    for kernel in &program.kernels {
        bounds::check(kernel)?;
        let func = kernel::emit(kernel, relaxed)?;
        code_bytes += func.byte_len();
        functions.function(type_of(kernel.buffers.len(), &mut types));
        code.function(&func);
    }
    let entry = entry::emit(program, &map)?;
    code_bytes += entry.byte_len();
    let entry_index = program.kernels.len() as u32;
    functions.function(type_of(0, &mut types));
    code.function(&entry);

    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: map.pages,
        maximum: Some(map.pages),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });

    let mut globals = GlobalSection::new();
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export(
        &format!("{}_run", program.name),
        ExportKind::Func,
        entry_index,
    );
    let slots = [("input", &map.inputs), ("output", &map.outputs)];
    for (kind, list) in slots {
        for (k, slot) in list.iter().enumerate() {
            for (what, value) in [("offset", slot.offset), ("bytes", slot.bytes)] {
                let index = globals.len();
                globals.global(
                    GlobalType {
                        val_type: ValType::I32,
                        mutable: false,
                        shared: false,
                    },
                    &ConstExpr::i32_const(value as u32 as i32),
                );
                let name = format!("{}_{kind}_{k}_{what}", program.name);
                exports.export(&name, ExportKind::Global, index);
            }
        }
    }

    let mut data = DataSection::new();
    if !map.weights_blob.is_empty() {
        data.active(
            0,
            &ConstExpr::i32_const(map.weights_offset as u32 as i32),
            map.weights_blob.iter().copied(),
        );
    }

    let mut module = Module::new();
    module.section(&types);
    module.section(&functions);
    module.section(&memories);
    module.section(&globals);
    module.section(&exports);
    module.section(&code);
    module.section(&data);
    let bytes = module.finish();
    validate(&bytes, relaxed)?;
    Ok(WasmModule {
        bytes,
        code_bytes,
        map,
        relaxed_simd: relaxed,
    })
}

/// Validates `bytes` as WebAssembly 2.0 (SIMD128, saturating conversions, sign
/// extension) plus relaxed SIMD when `relaxed`, and checks it imports nothing.
pub fn validate(bytes: &[u8], relaxed: bool) -> Result<(), WasmError> {
    use wasmparser::{Parser, Payload, Validator, WasmFeatures};
    let mut features = WasmFeatures::WASM2;
    if relaxed {
        features |= WasmFeatures::RELAXED_SIMD;
    }
    Validator::new_with_features(features)
        .validate_all(bytes)
        .map_err(|e| WasmError::Invalid(e.to_string()))?;
    for payload in Parser::new(0).parse_all(bytes) {
        if let Ok(Payload::ImportSection(imports)) = payload
            && imports.count() > 0
        {
            return Err(WasmError::Invalid(format!(
                "it imports {} items",
                imports.count()
            )));
        }
    }
    Ok(())
}
