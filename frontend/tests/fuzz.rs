//! Corrupted real models: thousands of mutations of real model files (bit flips,
//! byte overwrites, truncations, insertions, duplicated chunks) must each be
//! loaded or refused quickly, never panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nnc_frontend::{ImportOptions, load_bytes};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MUTATIONS: usize = 5_000;
/// Generous for a debug build; a load that takes longer is stuck on something.
const SLOW: Duration = Duration::from_secs(5);

fn models() -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [
        repo.join("examples/tiny_cnn/model.onnx"),
        PathBuf::from("/work/shared/zoo/kws_dscnn/model.onnx"),
    ];
    candidates
        .into_iter()
        .filter(|p| {
            let present = p.exists();
            if !present {
                println!("note: {} is absent; not fuzzed", p.display());
            }
            present
        })
        .collect()
}

/// One random corruption of `bytes`.
fn mutate(bytes: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let len = out.len().max(1);
    match rng.random_range(0..6) {
        0 => {
            for _ in 0..rng.random_range(1..=8) {
                let i = rng.random_range(0..len).min(out.len().saturating_sub(1));
                if let Some(b) = out.get_mut(i) {
                    *b ^= 1 << rng.random_range(0..8);
                }
            }
        }
        1 => {
            for _ in 0..rng.random_range(1..=16) {
                let i = rng.random_range(0..len);
                if let Some(b) = out.get_mut(i) {
                    *b = rng.random();
                }
            }
        }
        2 => out.truncate(rng.random_range(0..len)),
        3 => {
            let at = rng.random_range(0..=out.len());
            let n = rng.random_range(1..=32);
            let insert: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            out.splice(at..at, insert);
        }
        4 => {
            let from = rng.random_range(0..len).min(out.len());
            let n = rng.random_range(1..=256).min(out.len() - from);
            let chunk = out[from..from + n].to_vec();
            let at = rng.random_range(0..=out.len());
            out.splice(at..at, chunk);
        }
        _ => {
            // Varint bytes that decode as huge lengths, dims or counts.
            let at = rng.random_range(0..len).min(out.len());
            let end = (at + 9).min(out.len());
            for b in &mut out[at..end] {
                *b = 0xFF;
            }
            if let Some(b) = out.get_mut(end) {
                *b = 0x01;
            }
        }
    }
    out
}

#[test]
fn corrupted_models_never_panic() {
    let models = models();
    if models.is_empty() {
        println!("note: no model to fuzz");
        return;
    }
    let mut refused = 0;
    let mut slowest = Duration::ZERO;
    for (m, path) in models.iter().enumerate() {
        let original = std::fs::read(path).expect("read model");
        let options = ImportOptions::default();
        load_bytes(Bytes::from(original.clone()), path, &options).expect("the original loads");
        let mut rng = StdRng::seed_from_u64(0x5eed + m as u64);
        for case in 0..MUTATIONS / models.len() {
            let corrupted = Bytes::from(mutate(&original, &mut rng));
            let start = Instant::now();
            let result = catch_unwind(AssertUnwindSafe(|| {
                load_bytes(corrupted.clone(), path, &options).map(|_| ())
            }));
            let took = start.elapsed();
            slowest = slowest.max(took);
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    refused += 1;
                    assert!(!e.to_string().is_empty());
                }
                Err(_) => {
                    let dump = std::env::temp_dir().join(format!("nnc-fuzz-panic-{m}-{case}.onnx"));
                    let _ = std::fs::write(&dump, &corrupted);
                    panic!(
                        "load panicked on mutation {case} of {} (written to {})",
                        path.display(),
                        dump.display()
                    );
                }
            }
            assert!(
                took < SLOW,
                "mutation {case} of {} took {took:?}",
                path.display()
            );
        }
    }
    println!("{MUTATIONS} mutations: {refused} refused, slowest load {slowest:?}");
}
