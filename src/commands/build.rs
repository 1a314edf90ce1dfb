//! `nnc build`: compile a model to `NAME.a`, `NAME.h` and `NAME.json`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use crate::cli::{CompileArgs, TargetArgs};
use crate::compile::compile;
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
    let compiled = compile(model, args)?;
    if target.arch == nnc_ir::Arch::Wasm32 {
        let built = crate::wasm::build(
            &compiled,
            &BuildOptions {
                target,
                name,
                profile: false,
            },
            dir,
            started,
        )?;
        let m = &built.manifest;
        println!(
            "{}: {} kernels, code {} B, weights {} B, arena {} B (lower bound {} B), {:.0} ms",
            built.paths.module.display(),
            built.program.calls.len(),
            m.code_bytes,
            m.weights_bytes,
            m.arena_bytes,
            m.arena_lower_bound_bytes,
            m.compile_ms
        );
        for path in [
            &built.paths.manifest,
            &built.paths.es_module,
            &built.paths.declarations,
        ] {
            println!("{}", path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let built = build_native(
        &compiled,
        &BuildOptions {
            target,
            name,
            profile: false,
        },
        dir,
        started,
    )?;
    let m = &built.manifest;
    println!(
        "{}: {} kernels, code {} B, weights {} B, arena {} B (lower bound {} B), {:.0} ms",
        built.paths.library.display(),
        built.program.calls.len(),
        m.code_bytes,
        m.weights_bytes,
        m.arena_bytes,
        m.arena_lower_bound_bytes,
        m.compile_ms
    );
    if report {
        print_report(&compiled);
    }
    println!("{}", built.paths.header.display());
    println!("{}", built.paths.manifest.display());
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
    nnc_backends::target::parse_target(&args.target, &args.cpu)
        .map_err(|e| Error::Usage(e.to_string()))
}
