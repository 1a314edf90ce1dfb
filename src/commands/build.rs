//! `nnc build`: compile a model to `NAME.a`, `NAME.h` and `NAME.json`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use crate::cli::{CompileArgs, TargetArgs};
use crate::compile::compile_for;
use crate::error::{Error, Result};
use crate::native::{BuildOptions, build as build_native};

pub fn build(
    model: &Path,
    target: &TargetArgs,
    dir: &Path,
    name: Option<&str>,
    report: bool,
    args: &CompileArgs,
) -> Result<ExitCode> {
    let started = Instant::now();
    let target = resolve_target(target)?;
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| default_name(model));
    let name =
        nnc_backends::artifact::c_identifier(&name).map_err(|e| Error::Usage(e.to_string()))?;
    let compiled = compile_for(model, args, Some(&target))?;
    let wasm = target.arch == nnc_ir::Arch::Wasm32;
    let options = BuildOptions {
        target,
        name,
        profile: false,
    };
    // The main artifact, what was built, and the other files written beside it.
    let (artifact, calls, manifest, others) = if wasm {
        let built = crate::wasm::build(&compiled, &options, dir, started)?;
        let p = built.paths;
        let others = vec![p.manifest, p.es_module, p.declarations];
        (p.module, built.program.calls.len(), built.manifest, others)
    } else {
        let built = build_native(&compiled, &options, dir, started)?;
        let p = built.paths;
        let others = vec![p.header, p.manifest];
        (p.library, built.program.calls.len(), built.manifest, others)
    };
    println!(
        "{}: {} kernels, code {} B, weights {} B, arena {} B (lower bound {} B), {:.0} ms",
        artifact.display(),
        calls,
        manifest.code_bytes,
        manifest.weights_bytes,
        manifest.arena_bytes,
        manifest.arena_lower_bound_bytes,
        manifest.compile_ms
    );
    if report {
        print_report(&compiled);
    }
    for path in others {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `--report`: what the graph optimiser did.
fn print_report(compiled: &crate::compile::Compiled) {
    let Some(r) = &compiled.egraph else {
        println!("egraph: did not run");
        return;
    };
    print!("{r}");
    let histogram = |ops: &std::collections::BTreeMap<String, usize>| {
        let mut ops: Vec<_> = ops.iter().collect();
        ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let ops: Vec<String> = ops.iter().map(|(op, n)| format!("{op} {n}")).collect();
        ops.join(", ")
    };
    println!("egraph: ops before: {}", histogram(&r.ops_before));
    println!("egraph: ops after:  {}", histogram(&r.ops_after));
}

/// The model file's stem, or its folder's name for the common `<name>/model.onnx`.
fn default_name(model: &Path) -> String {
    let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned());
    let folder = || {
        model
            .canonicalize()
            .ok()?
            .parent()?
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
    };
    match stem.as_deref() {
        Some("model") | None => folder().unwrap_or_else(|| "model".to_string()),
        Some(stem) => stem.to_string(),
    }
}

/// `--target` and `--cpu` as a code-generation target.
pub fn resolve_target(args: &TargetArgs) -> Result<nnc_ir::Target> {
    let mut target = nnc_backends::target::parse_target(&args.target, &args.cpu)
        .map_err(|e| Error::Usage(e.to_string()))?;
    target.portable_kernels = args.kernels == crate::cli::Kernels::Portable;
    target.no_winograd = args.no_winograd;
    Ok(target)
}
