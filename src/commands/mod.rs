//! One module per subcommand.

mod bench;
mod build;
pub use build::resolve_target;
mod inspect;
mod run;
mod test;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::Result;

pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Build {
            model,
            target,
            output_dir,
            name,
            report,
            compile,
        } => build::build(
            &model,
            &target,
            &output_dir,
            name.as_deref(),
            report,
            &compile,
        ),
        Command::Inspect {
            model,
            json,
            compile,
        } => inspect::inspect(&model, json, &compile),
        Command::Run {
            model,
            inputs,
            output_dir,
            format,
            engine,
            target,
            compile,
        } => run::run(
            &model,
            &inputs,
            &output_dir,
            format,
            engine,
            &target,
            &compile,
        ),
        Command::Bench {
            model,
            target,
            runs,
            warmup,
            pin,
            json,
            per_kernel,
            compile,
        } => {
            let options = bench::BenchOptions {
                runs,
                warmup,
                pin,
                json,
                per_kernel,
            };
            bench::bench(&model, &target, &options, &compile)
        }
        Command::Test {
            cases,
            engine,
            target,
            rtol,
            atol,
            argmax,
            compile,
        } => {
            let tolerance = crate::compare::Tolerance { rtol, atol, argmax };
            test::test(&cases, engine, &target, tolerance, &compile)
        }
    }
}
