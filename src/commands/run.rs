//! `nnc run`: compile a model, run it on input files, write its outputs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{CompileArgs, Engine, TargetArgs, TensorFormat};
use crate::commands::resolve_target;
use crate::compile::compile_for;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::tensor_io::{read_tensor, write_npy, write_pb};

pub fn run(
    model: &Path,
    inputs: &[PathBuf],
    output_dir: &Path,
    format: TensorFormat,
    engine: Engine,
    target: &TargetArgs,
    args: &CompileArgs,
) -> Result<ExitCode> {
    // Native code is costed on its target; the evaluator has none.
    let spec = match engine {
        Engine::Native => Some(resolve_target(target)?),
        Engine::Eval => None,
    };
    let compiled = compile_for(model, args, spec.as_ref())?;
    let tensors = inputs
        .iter()
        .map(|p| read_tensor(p))
        .collect::<Result<Vec<_>>>()?;
    let outputs = Executor::prepare(&compiled, engine, target)?.run(&tensors)?;
    std::fs::create_dir_all(output_dir).map_err(|e| Error::file(output_dir, e))?;
    for (k, (tensor, &id)) in outputs.iter().zip(compiled.graph.outputs()).enumerate() {
        let name = &compiled.graph.value(id).name;
        let path = match format {
            TensorFormat::Pb => output_dir.join(format!("output_{k}.pb")),
            TensorFormat::Npy => output_dir.join(format!("output_{k}.npy")),
        };
        match format {
            TensorFormat::Pb => write_pb(&path, name, tensor)?,
            TensorFormat::Npy => write_npy(&path, tensor)?,
        }
        println!("{name}: {:?} -> {}", tensor, path.display());
    }
    Ok(ExitCode::SUCCESS)
}
