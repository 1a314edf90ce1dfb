//! One module per subcommand.

mod inspect;
mod run;
mod test;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::Result;

pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
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
            compile,
        } => run::run(&model, &inputs, &output_dir, format, engine, &compile),
        Command::Test {
            cases,
            engine,
            rtol,
            atol,
            argmax,
            compile,
        } => {
            let tolerance = crate::compare::Tolerance { rtol, atol, argmax };
            test::test(&cases, engine, tolerance, &compile)
        }
    }
}
