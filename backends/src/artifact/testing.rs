//! Helpers of the artifact tests: small programs, scratch directories, and the
//! host's C toolchain (tests that need a tool it lacks are skipped, saying so).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use nnc_ir::kernel::{IoSpec, Program};
use nnc_ir::{Arch, BinaryFormat, DType, Target};

pub fn io(name: &str, dtype: DType, shape: &[usize]) -> IoSpec {
    IoSpec {
        name: name.to_string(),
        dtype,
        shape: shape.to_vec(),
    }
}

/// A program with no code: inputs `input.1: f32[1,3,8,8]` (768 bytes) and
/// `n: i64[]`, output `lo"gits\: f32[2,5]` (40 bytes).
pub fn program(name: &str, arena_bytes: usize, arena_align: usize) -> Program {
    Program {
        name: name.to_string(),
        inputs: vec![
            io("input.1", DType::F32, &[1, 3, 8, 8]),
            io("n", DType::I64, &[]),
        ],
        outputs: vec![io("lo\"gits\\", DType::F32, &[2, 5])],
        arena_bytes,
        arena_align,
        weights: vec![],
        kernels: vec![],
        calls: vec![],
    }
}

/// A fresh empty directory for one test, removed when the test passes (kept for
/// a look when it fails).
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn scratch_dir(tag: &str) -> Scratch {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir()
        .join("nnc-artifact-tests")
        .join(format!("{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// Whether `tool` runs on this machine; says so when it does not.
pub fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: '{tool}' not found");
    }
    found
}

/// Runs `tool args` in `dir`, failing the test with its output if it fails.
pub fn run_tool(tool: &str, dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `cc -Wall -Werror args` in `dir`.
pub fn compile_c(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["-Wall", "-Werror"];
    all.extend_from_slice(args);
    run_tool("cc", dir, &all)
}

/// The machine the tests run on, as a target (for archives the host links).
pub fn host_target() -> Target {
    let (arch, format) = if cfg!(target_arch = "aarch64") {
        (Arch::Aarch64, BinaryFormat::Elf)
    } else if cfg!(target_arch = "riscv64") {
        (Arch::Riscv64, BinaryFormat::Elf)
    } else {
        (Arch::X86_64, BinaryFormat::Elf)
    };
    let format = if cfg!(target_os = "macos") {
        BinaryFormat::MachO
    } else if cfg!(windows) {
        BinaryFormat::Coff
    } else {
        format
    };
    Target {
        triple: "host".to_string(),
        arch,
        format,
        hosted: true,
        vector_bytes: 16,
        vector_registers: 16,
        has_fma: false,
        cpu_features: vec![],
        portable_kernels: false,
        no_winograd: false,
    }
}
