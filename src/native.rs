//! The native pipeline: graph -> memory plan -> kernels -> object code -> static
//! library, header and manifest; and running what it builds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nnc_backends::artifact::{self, ArtifactPaths, Manifest};
use nnc_backends::schedule::{ArenaLayout, build_program};
use nnc_ir::Target;
use nnc_ir::kernel::Program;
use nnc_passes::memplan::{PlanOptions, plan_memory};

use crate::compile::Compiled;
use crate::error::{Error, Result};

/// Options of a native build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub target: Target,
    /// The C identifier prefix of the generated symbols.
    pub name: String,
    /// Instrument the entry point for per-kernel timing (`nnc bench --per-kernel`):
    /// the library then needs the profiling harness.
    pub profile: bool,
}

/// What a native build made.
pub struct Built {
    pub program: Program,
    pub paths: ArtifactPaths,
    pub manifest: Manifest,
}

/// A model planned and lowered to kernels: what every code generator starts from.
pub struct Lowered {
    pub program: Program,
    /// The memory planner's lower bound of the arena.
    pub arena_lower_bound: usize,
    /// Each pass and stage so far with its time (ms).
    pub timings: Vec<(String, f64)>,
}

/// Plans the arena of an already canonicalised model and lowers it to a kernel
/// program for `options.target`.
pub fn lower(compiled: &Compiled, options: &BuildOptions) -> Result<Lowered> {
    let graph = &compiled.graph;
    let mut timings: Vec<(String, f64)> = compiled
        .passes
        .iter()
        .map(|p| (p.name.to_string(), p.millis))
        .collect();
    let mut timed = |name: &str, since: Instant| {
        timings.push((name.to_string(), since.elapsed().as_secs_f64() * 1e3))
    };

    let t = Instant::now();
    let plan = plan_memory(graph, &PlanOptions::default());
    timed("memplan", t);

    let t = Instant::now();
    let layout = ArenaLayout {
        offsets: &plan.offsets,
        bytes: plan.size,
        align: plan.alignment,
    };
    let program =
        build_program(graph, &layout, &options.target, &options.name).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            Error::Unsupported(format!(
                "{} node(s) cannot be compiled for {}:\n{}",
                errors.len(),
                options.target.triple,
                lines.join("\n")
            ))
        })?;
    timed("lower", t);
    Ok(Lowered {
        program,
        arena_lower_bound: plan.lower_bound,
        timings,
    })
}

/// Compiles an already canonicalised model to native artifacts in `dir`. Nothing is
/// written unless everything succeeds.
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
    let codegen = nnc_backends::cranelift::CodegenOptions {
        profile: options.profile,
    };
    let object = nnc_backends::cranelift::compile_program_with(&program, &options.target, codegen)
        .map_err(|e| Error::Usage(format!("code generation failed: {e}")))?;
    timings.push(("codegen".into(), t.elapsed().as_secs_f64() * 1e3));

    let mut manifest = manifest(
        compiled,
        &program,
        &options.target,
        (arena_lower_bound, object.code_bytes),
        timings,
        started,
    );
    for (entry, call) in manifest.kernels.iter_mut().zip(&program.calls) {
        if let Some(m) = object.microkernels.get(call.kernel) {
            entry.microkernel = m.name().to_string();
        }
    }
    let paths = artifact::write_artifacts(dir, &program, &object.bytes, &manifest, &options.target)
        .map_err(|e| Error::file(dir, e))?;
    Ok(Built {
        program,
        paths,
        manifest,
    })
}

/// The manifest of a build (native or wasm32): the program's facts, the arena's
/// lower bound, the code size, the ONNX ops, the pass timings, what the graph
/// optimiser did, and the compile time so far.
pub fn manifest(
    compiled: &Compiled,
    program: &Program,
    target: &Target,
    (arena_lower_bound, code_bytes): (usize, usize),
    timings: Vec<(String, f64)>,
    started: Instant,
) -> Manifest {
    let mut manifest = Manifest::new(program, target);
    manifest.arena_lower_bound_bytes = arena_lower_bound;
    manifest.code_bytes = code_bytes;
    manifest.onnx_ops = compiled.onnx_ops.clone();
    manifest.passes = timings.into_iter().collect();
    if let Some(r) = &compiled.egraph {
        manifest.rewrites = artifact::RewriteReport {
            rules: r.rewrites.clone(),
            ops_before: r.ops_before.clone(),
            ops_after: r.ops_after.clone(),
            kernels_before: r.kernels_before,
            kernels_after: r.kernels_after,
            stop: r.stop.clone(),
            iterations: r.iterations,
            egraph_nodes: r.egraph_nodes,
            egraph_classes: r.egraph_classes,
            millis: r.millis,
        };
    }
    manifest.compile_ms = started.elapsed().as_secs_f64() * 1e3;
    manifest
}

/// The directory of a build nnc makes for itself (native `run`/`test`), removed
/// when dropped.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new() -> Result<Self> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nnc-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::file(&dir, e))?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A model built for a target and linked with the harness, ready to run many times.
pub struct NativeModel {
    // Kept so that the build lives as long as the model.
    scratch: ScratchDir,
    executable: PathBuf,
    toolchain: crate::toolchain::Toolchain,
    program: Program,
}

impl NativeModel {
    /// Builds `compiled` for `target` in a scratch directory and links the harness.
    /// `runner` (e.g. valgrind) is put in front of the command that runs it.
    pub fn build(compiled: &Compiled, target: &Target, runner: &[String]) -> Result<NativeModel> {
        let mut toolchain = crate::toolchain::toolchain_for(target)?;
        toolchain.runner.splice(0..0, runner.iter().cloned());
        let scratch = ScratchDir::new()?;
        let lib_dir = scratch.0.join("lib");
        let options = BuildOptions {
            target: target.clone(),
            name: "model".into(),
            profile: false,
        };
        let built = build(compiled, &options, &lib_dir, Instant::now())?;
        let harness = scratch.0.join("harness.c");
        std::fs::write(&harness, artifact::c_harness(&built.program))
            .map_err(|e| Error::file(&harness, e))?;
        let executable = scratch.0.join("harness");
        toolchain.link(&[&harness, &built.paths.library], &lib_dir, &executable)?;
        Ok(NativeModel {
            scratch,
            executable,
            toolchain,
            program: built.program,
        })
    }

    /// A model already built in `scratch`: `toolchain.run(executable, files)` runs
    /// it on input files and writes output files (the C harness's interface).
    pub fn prepared(
        scratch: ScratchDir,
        executable: PathBuf,
        toolchain: crate::toolchain::Toolchain,
        program: Program,
    ) -> NativeModel {
        NativeModel {
            scratch,
            executable,
            toolchain,
            program,
        }
    }

    /// Runs the model on `inputs` and returns its outputs.
    pub fn run(&self, inputs: &[nnc_ir::Tensor]) -> Result<Vec<nnc_ir::Tensor>> {
        if inputs.len() != self.program.inputs.len() {
            return Err(Error::Usage(format!(
                "the model takes {} inputs, {} were given",
                self.program.inputs.len(),
                inputs.len()
            )));
        }
        let mut args = Vec::new();
        for (k, (tensor, spec)) in inputs.iter().zip(&self.program.inputs).enumerate() {
            if tensor.dtype() != spec.dtype || tensor.shape() != spec.shape.as_slice() {
                return Err(Error::Usage(format!(
                    "input '{}' must be {}{:?}, is {}{:?}",
                    spec.name,
                    spec.dtype,
                    spec.shape,
                    tensor.dtype(),
                    tensor.shape()
                )));
            }
            let path = self.scratch.0.join(format!("input_{k}.bin"));
            std::fs::write(&path, tensor.bytes()).map_err(|e| Error::file(&path, e))?;
            args.push(path);
        }
        let outputs: Vec<PathBuf> = (0..self.program.outputs.len())
            .map(|k| self.scratch.0.join(format!("output_{k}.bin")))
            .collect();
        args.extend(outputs.iter().cloned());
        let run = self.toolchain.run(&self.executable, &args)?;
        if !run.status.success() {
            return Err(Error::Tool(format!(
                "the compiled model failed ({}): {}{}",
                run.status,
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            )));
        }
        outputs
            .iter()
            .zip(&self.program.outputs)
            .map(|(path, spec)| {
                let bytes = std::fs::read(path).map_err(|e| Error::file(path, e))?;
                nnc_ir::Tensor::from_bytes(spec.dtype, spec.shape.clone(), bytes.into())
                    .map_err(|e| Error::file(path, e))
            })
            .collect()
    }
}
