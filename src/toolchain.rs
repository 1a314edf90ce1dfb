//! The C compiler and runner for each target: how `nnc run/test --engine native`
//! links a generated library with its harness and executes it (natively, or under
//! qemu-user for other architectures).

use std::path::{Path, PathBuf};
use std::process::Command;

use nnc_ir::{Arch, Target};

use crate::error::{Error, Result};

/// How to compile and run a C program for a target on this machine.
#[derive(Clone, Debug)]
pub struct Toolchain {
    pub cc: String,
    pub cc_flags: Vec<String>,
    /// The emulator and its flags, for foreign architectures.
    pub runner: Vec<String>,
}

/// The toolchain for `target`, or an error naming the Debian packages to install.
pub fn toolchain_for(target: &Target) -> Result<Toolchain> {
    if !target.hosted || !target.triple.contains("linux") {
        return Err(Error::Unsupported(format!(
            "target {} can be built (nnc build) but not run here: nnc runs linux targets only",
            target.triple
        )));
    }
    let host = host_arch();
    let toolchain = match target.arch {
        arch if Some(arch) == host => Toolchain {
            cc: "cc".into(),
            cc_flags: vec![],
            runner: vec![],
        },
        Arch::Aarch64 => Toolchain {
            cc: "aarch64-linux-gnu-gcc".into(),
            cc_flags: vec!["-static".into()],
            runner: vec!["qemu-aarch64".into()],
        },
        Arch::Riscv64 => Toolchain {
            cc: "riscv64-linux-gnu-gcc".into(),
            cc_flags: vec!["-static".into()],
            // The generated code uses the V extension with 128-bit vectors.
            runner: vec![
                "qemu-riscv64".into(),
                "-cpu".into(),
                "rv64,v=true,vlen=128".into(),
            ],
        },
        Arch::X86_64 => Toolchain {
            cc: "x86_64-linux-gnu-gcc".into(),
            cc_flags: vec!["-static".into()],
            runner: vec!["qemu-x86_64".into()],
        },
        Arch::Wasm32 => {
            return Err(Error::Unsupported("wasm32 is not a native target".into()));
        }
    };
    let packages = |arch: &str| format!("gcc-{arch}-linux-gnu qemu-user");
    let debian_arch = match target.arch {
        Arch::Aarch64 => "aarch64",
        Arch::Riscv64 => "riscv64",
        _ => "x86-64",
    };
    if !on_path(&toolchain.cc) {
        return Err(Error::Tool(format!(
            "{} is not installed: `apt-get install {}` (Debian) to run {} code",
            toolchain.cc,
            packages(debian_arch),
            target.triple
        )));
    }
    if let Some(emulator) = toolchain.runner.first().filter(|e| !on_path(e)) {
        return Err(Error::Tool(format!(
            "{emulator} is not installed: `apt-get install qemu-user` (Debian) to run {} code",
            target.triple
        )));
    }
    Ok(toolchain)
}

fn host_arch() -> Option<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Arch::X86_64),
        "aarch64" => Some(Arch::Aarch64),
        "riscv64" => Some(Arch::Riscv64),
        _ => None,
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

impl Toolchain {
    /// Compiles `sources` (C files and static libraries, headers in `include`)
    /// into the executable `output`.
    pub fn link(&self, sources: &[&Path], include: &Path, output: &Path) -> Result<()> {
        let mut command = Command::new(&self.cc);
        command
            .args(["-std=c11", "-O1", "-I"])
            .arg(include)
            .arg("-o")
            .arg(output)
            .args(sources)
            .args(&self.cc_flags);
        run_checked(&mut command, &self.cc)
    }

    /// Runs `program` with `args` (under the emulator if any).
    pub fn run(&self, program: &Path, args: &[PathBuf]) -> Result<std::process::Output> {
        let mut command = match self.runner.split_first() {
            Some((emulator, flags)) => {
                let mut c = Command::new(emulator);
                c.args(flags).arg(program);
                c
            }
            None => Command::new(program),
        };
        command.args(args);
        command
            .output()
            .map_err(|e| Error::Tool(format!("cannot run {}: {e}", program.display())))
    }
}

fn run_checked(command: &mut Command, what: &str) -> Result<()> {
    let output = command
        .output()
        .map_err(|e| Error::Tool(format!("cannot run {what}: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Tool(format!(
            "{what} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}
