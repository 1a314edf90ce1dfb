//! `nnc`: the command line of the nnc neural-network compiler.
//!
//! Exit codes: 0 = success, 1 = test failures, 2 = bad input, unsupported model or
//! bad usage. nnc never panics on user input; a panic is a bug and is reported as an
//! internal error (exit 2) instead of a backtrace.

mod cli;
mod commands;
mod compare;
mod compile;
mod error;
mod executor;
mod native;
mod peak;
mod profile;
mod tensor_io;
mod toolchain;
mod wasm;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    std::panic::set_hook(Box::new(|info| {
        eprintln!("nnc: internal error (a bug in nnc, please report it): {info}");
    }));
    match std::panic::catch_unwind(|| commands::dispatch(args)) {
        Ok(Ok(code)) => code,
        Ok(Err(error)) => {
            eprintln!("nnc: error: {error}");
            ExitCode::from(2)
        }
        Err(_) => ExitCode::from(2),
    }
}
