//! The memory map of a model's WebAssembly module: where weights, arena, inputs
//! and outputs live in its one linear memory.
//!
//! ```text
//! 0 .. 64            unused (no buffer ever sits at address 0)
//! weights            every weight at a 64-byte aligned offset (an active data segment)
//! arena              at the program's arena alignment (64 at least)
//! input slots        one per model input, 64-byte aligned
//! output slots       one per model output, 64-byte aligned
//! ```
//!
//! The host writes each input into its slot, calls `NAME_run()`, and reads each
//! output from its slot; the module exports the slots' offsets and sizes. The
//! memory has exactly the pages the map needs and does not grow.

use nnc_ir::kernel::{BufferRef, Program};

/// Alignment of every region (bytes): cache lines, and more than any vector needs.
const REGION_ALIGN: usize = 64;
/// Bytes of a WebAssembly page.
pub const PAGE_BYTES: usize = 65536;
/// Pages a 32-bit memory can have (4 GiB).
const MAX_PAGES: usize = 65536;

/// A region of linear memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub offset: usize,
    pub bytes: usize,
}

/// Where everything of a program lives in linear memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryMap {
    /// Start of the weights blob.
    pub weights_offset: usize,
    /// The weights blob: weight `k` at `weight_offsets[k]` within it.
    pub weights_blob: Vec<u8>,
    pub weight_offsets: Vec<usize>,
    pub arena: Slot,
    pub inputs: Vec<Slot>,
    pub outputs: Vec<Slot>,
    /// Pages of the memory (its minimum and maximum).
    pub pages: u64,
}

impl MemoryMap {
    /// Lays out `program`'s memory; fails when it does not fit 4 GiB.
    pub fn new(program: &Program) -> Result<MemoryMap, String> {
        let mut blob = Vec::new();
        let mut weight_offsets = Vec::with_capacity(program.weights.len());
        for weight in &program.weights {
            blob.resize(blob.len().next_multiple_of(REGION_ALIGN), 0);
            weight_offsets.push(blob.len());
            blob.extend_from_slice(weight.tensor.bytes());
        }
        let mut end = REGION_ALIGN;
        let mut place = |bytes: usize, align: usize| {
            let offset = end.next_multiple_of(align);
            end = offset + bytes;
            Slot { offset, bytes }
        };
        let weights = place(blob.len(), REGION_ALIGN);
        let arena = place(program.arena_bytes, program.arena_align.max(REGION_ALIGN));
        let inputs = program
            .inputs
            .iter()
            .map(|io| place(io.bytes(), REGION_ALIGN))
            .collect();
        let outputs = program
            .outputs
            .iter()
            .map(|io| place(io.bytes(), REGION_ALIGN))
            .collect();
        let pages = end.div_ceil(PAGE_BYTES).max(1);
        if pages > MAX_PAGES {
            return Err(format!(
                "the model needs {end} bytes of memory (weights {}, arena {}, inputs and outputs), more than the 4 GiB of wasm32",
                weights.bytes, arena.bytes
            ));
        }
        Ok(MemoryMap {
            weights_offset: weights.offset,
            weights_blob: blob,
            weight_offsets,
            arena,
            inputs,
            outputs,
            pages: pages as u64,
        })
    }

    /// The address a kernel buffer bound to `arg` starts at (None if `arg` names
    /// nothing of the program).
    pub fn address(&self, arg: BufferRef) -> Option<usize> {
        match arg {
            BufferRef::Input(k) => self.inputs.get(k).map(|s| s.offset),
            BufferRef::Output(k) => self.outputs.get(k).map(|s| s.offset),
            BufferRef::Arena { offset } => Some(self.arena.offset + offset),
            BufferRef::Weight(k) => self.weight_offsets.get(k).map(|o| self.weights_offset + o),
        }
    }
}
