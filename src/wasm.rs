//! The WebAssembly pipeline: graph -> memory plan -> kernels (as for native code)
//! -> a WebAssembly module with its manifest and ES module; and running what it
//! builds under Node.js.
//!
//! A wasm build runs through the same [`NativeModel`] as native code: its
//! "executable" is the generated `model.mjs`, run by a small Node.js script
//! (`wasm_runner.mjs`, embedded in nnc) with the C harness's interface (input
//! files in, output files out, `--repeat N` printing run times), so `run`, `test`
//! and `bench` treat both alike.

use std::path::Path;
use std::time::Instant;

use nnc_backends::artifact::Manifest;
use nnc_backends::wasm::{self, RELAXED_SIMD, WasmArtifactPaths, write_wasm_artifacts};
use nnc_ir::Target;
use nnc_ir::kernel::Program;

use crate::compile::Compiled;
use crate::error::{Error, Result};
use crate::native::{BuildOptions, Lowered, NativeModel, ScratchDir, lower};
use crate::toolchain::Toolchain;

/// The runner script, written beside each build nnc runs.
const RUNNER: &str = include_str!("wasm_runner.mjs");

/// What a wasm build made.
pub struct Built {
    pub program: Program,
    pub paths: WasmArtifactPaths,
    pub manifest: Manifest,
}

/// Compiles an already canonicalised model to `NAME.wasm`, `NAME.json`, `NAME.mjs`
/// and `NAME.d.ts` in `dir`. Nothing is written unless everything succeeds.
pub fn build(
    compiled: &Compiled,
    options: &BuildOptions,
    dir: &Path,
    started: Instant,
) -> Result<Built> {
    let Lowered {
        program,
        arena_lower_bound,
        mut timings,
    } = lower(compiled, options)?;
    let t = Instant::now();
    let module = wasm::compile_program(&program, &options.target)
        .map_err(|e| Error::Usage(format!("code generation failed: {e}")))?;
    timings.push(("codegen".into(), t.elapsed().as_secs_f64() * 1e3));

    let manifest = crate::native::manifest(
        compiled,
        &program,
        &options.target,
        (arena_lower_bound, module.code_bytes),
        timings,
        started,
    );
    let paths =
        write_wasm_artifacts(dir, &program, &module, &manifest).map_err(|e| Error::file(dir, e))?;
    Ok(Built {
        program,
        paths,
        manifest,
    })
}

/// The command that runs a build for `target` like the C harness: `node`, the
/// flags the target's features need, and the runner script (written into `dir`).
pub fn runner_command(target: &Target, dir: &Path) -> Result<Vec<String>> {
    let found = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        return Err(Error::Tool(
            "node is not installed: `apt-get install nodejs` (Debian) to run wasm32 code".into(),
        ));
    }
    let mut command = vec!["node".to_string()];
    if target.cpu_features.iter().any(|f| f == RELAXED_SIMD) {
        command.push("--experimental-wasm-relaxed-simd".into());
    }
    let script = dir.join("runner.mjs");
    std::fs::write(&script, RUNNER).map_err(|e| Error::file(&script, e))?;
    command.push(script.display().to_string());
    Ok(command)
}

/// Builds `compiled` for the wasm32 `target` in a scratch directory, ready to
/// run under Node.js. `runner` is put in front of the node command.
pub fn prepare(
    compiled: &Compiled,
    target: &Target,
    runner: &[String],
    started: Instant,
) -> Result<(NativeModel, Built)> {
    let scratch = ScratchDir::new()?;
    let mut command = runner.to_vec();
    command.extend(runner_command(target, &scratch.0)?);
    let lib_dir = scratch.0.join("lib");
    let options = BuildOptions {
        target: target.clone(),
        name: "model".into(),
        profile: false,
    };
    let built = build(compiled, &options, &lib_dir, started)?;
    let toolchain = Toolchain {
        cc: String::new(),
        cc_flags: vec![],
        runner: command,
    };
    let executable = built.paths.es_module.clone();
    let model = NativeModel::prepared(scratch, executable, toolchain, built.program.clone());
    Ok((model, built))
}
