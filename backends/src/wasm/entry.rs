//! The model's entry point `NAME_run() -> i32`: calls the kernels in schedule
//! order, each with its buffers' addresses from the memory map, and returns the
//! first non-zero kernel status, or 0. Inputs and outputs are at fixed slots of
//! linear memory, so it takes no arguments.

use nnc_ir::kernel::Program;
use wasm_encoder::{BlockType, Function, ValType};

use super::WasmError;
use super::layout::MemoryMap;

/// The body of `NAME_run`; kernel `i` is function `i` of the module.
pub(super) fn emit(program: &Program, map: &MemoryMap) -> Result<Function, WasmError> {
    let mut func = Function::new([(1, ValType::I32)]);
    let status = 0;
    for (c, call) in program.calls.iter().enumerate() {
        let mut sink = func.instructions();
        for arg in &call.args {
            let address = map.address(*arg).ok_or_else(|| WasmError::InvalidProgram {
                program: program.name.clone(),
                message: format!("call {c}: {arg:?} does not exist"),
            })?;
            sink.i32_const(address as u32 as i32);
        }
        sink.call(call.kernel as u32)
            .local_tee(status)
            .if_(BlockType::Empty)
            .local_get(status)
            .return_()
            .end();
    }
    func.instructions().i32_const(0).end();
    Ok(func)
}
