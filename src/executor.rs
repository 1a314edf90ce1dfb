//! Running a compiled model with the chosen engine: the reference evaluator, or
//! native code for a target (for wasm32: the WebAssembly module under Node.js).

use nnc_ir::Tensor;

use crate::cli::{Engine, TargetArgs};
use crate::commands::resolve_target;
use crate::compile::Compiled;
use crate::error::{Error, Result};
use crate::native::NativeModel;

/// A model ready to run with one engine.
pub enum Executor<'a> {
    Eval(&'a nnc_ir::Graph),
    Native(Box<NativeModel>),
}

impl<'a> Executor<'a> {
    /// Prepares `compiled` for `engine` (for native: builds and links it).
    pub fn prepare(
        compiled: &'a Compiled,
        engine: Engine,
        target: &TargetArgs,
    ) -> Result<Executor<'a>> {
        match engine {
            Engine::Eval => Ok(Executor::Eval(&compiled.graph)),
            Engine::Native => {
                let runner: Vec<String> = target
                    .runner
                    .as_deref()
                    .map(|r| r.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default();
                let target = resolve_target(target)?;
                if target.arch == nnc_ir::Arch::Wasm32 {
                    let started = std::time::Instant::now();
                    let (model, _) = crate::wasm::prepare(compiled, &target, &runner, started)?;
                    return Ok(Executor::Native(Box::new(model)));
                }
                let model = NativeModel::build(compiled, &target, &runner)?;
                Ok(Executor::Native(Box::new(model)))
            }
        }
    }

    /// Runs the model; inputs are checked against its declared types first.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        match self {
            Executor::Eval(graph) => {
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
                Ok(nnc_ir::eval::run(graph, inputs)?)
            }
            Executor::Native(model) => model.run(inputs),
        }
    }
}
