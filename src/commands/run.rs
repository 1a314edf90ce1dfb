//! `nnc run`: compile a model, run it on input files, write its outputs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nnc_ir::{Graph, Tensor};

use crate::cli::{CompileArgs, Engine, TensorFormat};
use crate::compile::compile;
use crate::error::{Error, Result};
use crate::tensor_io::{read_tensor, write_npy, write_pb};

pub fn run(
    model: &Path,
    inputs: &[PathBuf],
    output_dir: &Path,
    format: TensorFormat,
    engine: Engine,
    args: &CompileArgs,
) -> Result<ExitCode> {
    let compiled = compile(model, args)?;
    let tensors = inputs
        .iter()
        .map(|p| read_tensor(p))
        .collect::<Result<Vec<_>>>()?;
    let outputs = execute(&compiled.graph, &tensors, engine)?;
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

/// Runs the compiled graph with the chosen engine. Inputs are checked against the
/// graph's declared types first, so a wrong file is a clear error.
pub fn execute(graph: &Graph, inputs: &[Tensor], engine: Engine) -> Result<Vec<Tensor>> {
    if inputs.len() != graph.inputs().len() {
        let names: Vec<&str> = graph
            .inputs()
            .iter()
            .map(|&i| graph.value(i).name.as_str())
            .collect();
        return Err(Error::Usage(format!(
            "the model takes {} inputs ({}), {} were given",
            names.len(),
            names.join(", "),
            inputs.len()
        )));
    }
    match engine {
        Engine::Eval => Ok(nnc_ir::eval::run(graph, inputs)?),
    }
}
