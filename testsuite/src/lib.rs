//! nnc's regression suite.
//!
//! The scripts beside this crate drive the `nnc` binary: `run.sh` (the whole suite,
//! what CI runs), `gen_node_tests.py` (writes the ONNX node tests in their strict
//! and ahead-of-time forms), `conformance.py` (pass rates and the ratchet) and
//! `zoo.sh` (the model zoo). The Rust tests in `tests/` check properties across
//! crates on real models: e.g. that canonicalisation preserves every zoo model's
//! outputs. This library holds what those tests share.

use std::path::PathBuf;

/// The shared model zoo (`../shared/zoo` beside the checkout, or `$NNC_ZOO`), if
/// present on this machine.
pub fn zoo_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("NNC_ZOO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/zoo"));
    dir.is_dir().then_some(dir)
}

/// Every model folder of the zoo, sorted by name.
pub fn zoo_models() -> Vec<PathBuf> {
    let Some(dir) = zoo_dir() else {
        return Vec::new();
    };
    let mut models: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    models.sort();
    models
}
