//! The model's read-only data: the weights blob and the descriptor.
//!
//! - `NAME_weights` (local): every weight's little-endian bytes, each at a 64-byte
//!   aligned offset (cache lines, and any vector alignment a kernel may want later).
//! - `NAME_descriptor` (exported): `nnc_runtime::ModelDesc`, pointing to arrays of
//!   `TensorDesc` with their NUL-terminated names and `u64` shapes (local objects),
//!   laid out for the target's pointer size with C's rules for `#[repr(C)]`.

use cranelift_module::{DataDescription, DataId, Linkage, Module};
use cranelift_object::ObjectModule;
use nnc_ir::kernel::{IoSpec, Program};

use super::CodegenError;
use crate::artifact::{ABI_VERSION, onnx_code};

/// Weights start at multiples of this (bytes).
const WEIGHT_ALIGN: usize = 64;

/// Where the weights blob is and where each weight starts in it.
pub(super) struct Weights {
    pub(super) id: DataId,
    /// `offsets[k]`: byte offset of weight `k` in the blob.
    pub(super) offsets: Vec<usize>,
}

/// Defines `NAME_weights`; None when the program has no weights.
pub(super) fn define_weights(
    module: &mut ObjectModule,
    program: &Program,
) -> Result<Option<Weights>, CodegenError> {
    if program.weights.is_empty() {
        return Ok(None);
    }
    let mut blob = Vec::new();
    let mut offsets = Vec::with_capacity(program.weights.len());
    for weight in &program.weights {
        blob.resize(blob.len().next_multiple_of(WEIGHT_ALIGN), 0);
        offsets.push(blob.len());
        blob.extend_from_slice(weight.tensor.bytes());
    }
    let name = format!("{}_weights", program.name);
    let id = declare(module, &name, Linkage::Local)?;
    let mut desc = DataDescription::new();
    desc.define(blob.into_boxed_slice());
    desc.set_align(WEIGHT_ALIGN as u64);
    define(module, id, &desc, &name)?;
    Ok(Some(Weights { id, offsets }))
}

/// Defines `NAME_descriptor` and the objects it points to; returns its name.
pub(super) fn define_descriptor(
    module: &mut ObjectModule,
    program: &Program,
) -> Result<String, CodegenError> {
    let p = module.isa().pointer_bytes() as usize;
    let inputs = tensor_array(module, program, &program.inputs, p)?;
    let outputs = tensor_array(module, program, &program.outputs, p)?;

    // ModelDesc: u32 abi_version, num_inputs, num_outputs, reserved; pointers to
    // the input and output arrays; u64 arena_size, arena_align.
    let mut d = Record::new(p);
    d.u32(ABI_VERSION);
    d.u32(program.inputs.len() as u32);
    d.u32(program.outputs.len() as u32);
    d.u32(0);
    d.pointer(inputs);
    d.pointer(outputs);
    d.u64(program.arena_bytes as u64);
    d.u64(program.arena_align as u64);
    let name = format!("{}_descriptor", program.name);
    let id = declare(module, &name, Linkage::Export)?;
    d.define(module, id, &name)?;
    Ok(name)
}

/// The `TensorDesc` array of `specs` (None when empty, a null pointer).
fn tensor_array(
    module: &mut ObjectModule,
    program: &Program,
    specs: &[IoSpec],
    p: usize,
) -> Result<Option<DataId>, CodegenError> {
    if specs.is_empty() {
        return Ok(None);
    }
    let what = format!("{} tensor descriptors", program.name);
    let mut array = Record::new(p);
    for spec in specs {
        let mut name = spec.name.as_bytes().to_vec();
        name.retain(|&c| c != 0);
        name.push(0);
        let name_id = anonymous(module, name, 1, &what)?;
        let shape_id = if spec.shape.is_empty() {
            None
        } else {
            let bytes = spec.shape.iter().flat_map(|&d| (d as u64).to_le_bytes());
            Some(anonymous(module, bytes.collect(), 8, &what)?)
        };
        // TensorDesc: name, u32 dtype, u32 rank, shape, u64 bytes.
        array.align(p.max(8));
        array.pointer(Some(name_id));
        array.u32(onnx_code(spec.dtype));
        array.u32(spec.shape.len() as u32);
        array.pointer(shape_id);
        array.u64(spec.bytes() as u64);
    }
    let id = module
        .declare_anonymous_data(false, false)
        .map_err(|e| object_error(&what, e))?;
    array.define(module, id, &what)?;
    Ok(Some(id))
}

/// A C struct (or array of them) being laid out: fields at their natural
/// alignment, little-endian, pointers as relocations to other data objects.
struct Record {
    bytes: Vec<u8>,
    pointer_bytes: usize,
    relocs: Vec<(usize, DataId)>,
}

impl Record {
    fn new(pointer_bytes: usize) -> Self {
        Record {
            bytes: Vec::new(),
            pointer_bytes,
            relocs: Vec::new(),
        }
    }

    fn align(&mut self, align: usize) {
        self.bytes
            .resize(self.bytes.len().next_multiple_of(align), 0);
    }

    fn u32(&mut self, v: u32) {
        self.align(4);
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.align(8);
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    /// A pointer to `target`'s start, or null.
    fn pointer(&mut self, target: Option<DataId>) {
        self.align(self.pointer_bytes);
        if let Some(target) = target {
            self.relocs.push((self.bytes.len(), target));
        }
        self.bytes.resize(self.bytes.len() + self.pointer_bytes, 0);
    }

    /// Defines data object `id` as this record, padded to its alignment.
    fn define(
        mut self,
        module: &mut ObjectModule,
        id: DataId,
        what: &str,
    ) -> Result<(), CodegenError> {
        let align = self.pointer_bytes.max(8);
        self.align(align);
        let mut desc = DataDescription::new();
        for &(offset, target) in &self.relocs {
            let gv = module.declare_data_in_data(target, &mut desc);
            desc.write_data_addr(offset as u32, gv, 0);
        }
        desc.define(self.bytes.into_boxed_slice());
        desc.set_align(align as u64);
        define(module, id, &desc, what)
    }
}

/// A local read-only object holding `bytes`.
fn anonymous(
    module: &mut ObjectModule,
    bytes: Vec<u8>,
    align: u64,
    what: &str,
) -> Result<DataId, CodegenError> {
    let id = module
        .declare_anonymous_data(false, false)
        .map_err(|e| object_error(what, e))?;
    let mut desc = DataDescription::new();
    desc.define(bytes.into_boxed_slice());
    desc.set_align(align);
    define(module, id, &desc, what)?;
    Ok(id)
}

fn declare(
    module: &mut ObjectModule,
    name: &str,
    linkage: Linkage,
) -> Result<DataId, CodegenError> {
    module
        .declare_data(name, linkage, false, false)
        .map_err(|e| object_error(name, e))
}

fn define(
    module: &mut ObjectModule,
    id: DataId,
    desc: &DataDescription,
    what: &str,
) -> Result<(), CodegenError> {
    module
        .define_data(id, desc)
        .map_err(|e| object_error(what, e))
}

fn object_error(what: &str, e: cranelift_module::ModuleError) -> CodegenError {
    CodegenError::Object(format!("{what}: {e}"))
}
