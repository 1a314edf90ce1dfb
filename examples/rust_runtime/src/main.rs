//! Runs the tiny CNN compiled by nnc (see build.rs) through nnc-runtime's safe
//! API: `tiny_cnn [INPUT.f32]` reads the input as raw little-endian f32 if given,
//! else uses a deterministic ramp, and prints the output and its argmax.

use std::process::ExitCode;

use nnc_runtime::{DType, Model};

nnc_runtime::declare_model!(tiny_cnn);

fn main() -> ExitCode {
    match run(tiny_cnn()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(model: Model) -> Result<(), String> {
    model.check_abi().map_err(|e| e.to_string())?;
    for (io, tensors) in [("input", model.inputs()), ("output", model.outputs())] {
        for t in tensors {
            println!(
                "{io} '{}': {}{:?} ({} bytes)",
                t.name, t.dtype, t.shape, t.bytes
            );
        }
    }
    println!(
        "arena: {} bytes, aligned to {}",
        model.arena_size(),
        model.arena_align()
    );

    let info = model.input(0).ok_or("the model has no input")?;
    if model.inputs().len() != 1 || info.dtype != DType::F32 {
        return Err("this example feeds models with one f32 input".into());
    }
    let elements = info.elements() as usize;
    let input = match std::env::args_os().nth(1) {
        Some(path) => read_f32(&path, elements)?,
        None => (0..elements).map(|i| (i % 17) as f32 / 8.0 - 1.0).collect(),
    };

    let mut outputs: Vec<Vec<f32>> = model
        .outputs()
        .map(|t| vec![0.0; t.elements() as usize])
        .collect();
    let mut output_refs: Vec<&mut [f32]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
    let mut arena_storage = vec![0u8; model.arena_size() + model.arena_align()];
    let arena = aligned(&mut arena_storage, model.arena_size(), model.arena_align());

    model
        .run_f32(&[&input], &mut output_refs, arena)
        .map_err(|e| e.to_string())?;

    for (t, values) in model.outputs().zip(&outputs) {
        println!("{}: {values:?}", t.name);
    }
    if let Some(k) = argmax(&outputs[0]) {
        println!("argmax: {k} ({})", outputs[0][k]);
    }
    Ok(())
}

/// The index of the largest value (the first of equals).
fn argmax(values: &[f32]) -> Option<usize> {
    (0..values.len()).reduce(|best, k| if values[k] > values[best] { k } else { best })
}

/// `size` bytes of `storage` starting at an `align`-aligned address (`storage`
/// has `size + align` bytes).
fn aligned(storage: &mut [u8], size: usize, align: usize) -> &mut [u8] {
    let offset = storage.as_ptr().align_offset(align);
    &mut storage[offset..offset + size]
}

fn read_f32(path: &std::ffi::OsStr, elements: usize) -> Result<Vec<f32>, String> {
    let shown = path.to_string_lossy();
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    if bytes.len() != elements * 4 {
        return Err(format!(
            "{shown}: {} bytes, the input takes {elements} f32 ({} bytes)",
            bytes.len(),
            elements * 4
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}
