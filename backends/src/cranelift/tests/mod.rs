//! End-to-end tests of the Cranelift backend: small programs compiled to objects,
//! linked with a generated C driver, run natively and under qemu, and compared with
//! the kernel interpreter running the same program.
//!
//! A toolchain that is not installed (`aarch64-linux-gnu-gcc`, `qemu-aarch64`,
//! `riscv64-linux-gnu-gcc`, `qemu-riscv64`) skips its runs with a note; compiling
//! for every target is always checked.

mod arith;
mod driver;
mod microkernels;
mod programs;
mod run_tiles;
mod tile_programs;
mod unchanging;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use nnc_ir::kernel::{BufferRef, ElemType, IoSpec, KernelCall, Program, Ty, interp};
use nnc_ir::{DType, Target};

use super::compile_program;
use crate::target::parse_target;

/// A way to link and run code for one target.
struct Toolchain {
    /// `--target` name.
    target: &'static str,
    cpu: &'static [&'static str],
    cc: &'static str,
    cc_args: &'static [&'static str],
    /// Runs the executable (None: natively).
    runner: Option<(&'static str, &'static [&'static str])>,
}

const HOST: Toolchain = Toolchain {
    target: "host",
    cpu: &[],
    cc: "cc",
    cc_args: &[],
    runner: None,
};

/// The host with its own features (AVX, FMA... where present): fused `Fma`.
const HOST_NATIVE: Toolchain = Toolchain {
    cpu: &["native"],
    ..HOST
};

const AARCH64: Toolchain = Toolchain {
    target: "aarch64-unknown-linux-gnu",
    cpu: &[],
    cc: "aarch64-linux-gnu-gcc",
    cc_args: &["-static"],
    runner: Some(("qemu-aarch64", &[])),
};

const RISCV64: Toolchain = Toolchain {
    target: "riscv64gc-unknown-linux-gnu",
    cpu: &[],
    cc: "riscv64-linux-gnu-gcc",
    cc_args: &["-static"],
    runner: Some(("qemu-riscv64", &["-cpu", "rv64,v=true,vlen=128"])),
};

const TOOLCHAINS: [&Toolchain; 4] = [&HOST, &HOST_NATIVE, &AARCH64, &RISCV64];

fn installed(tool: &str) -> bool {
    Command::new("which")
        .arg(tool)
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Toolchain {
    fn target(&self) -> Target {
        let cpu: Vec<String> = self.cpu.iter().map(|s| s.to_string()).collect();
        parse_target(self.target, &cpu).expect("test targets parse")
    }

    /// Whether this toolchain can link and run here (prints a note when not).
    fn usable(&self) -> bool {
        let mut tools = vec![self.cc];
        tools.extend(self.runner.map(|(r, _)| r));
        let missing: Vec<_> = tools.into_iter().filter(|t| !installed(t)).collect();
        if !missing.is_empty() {
            eprintln!(
                "note: skipping runs for {}: {} not installed",
                self.target,
                missing.join(", ")
            );
        }
        missing.is_empty()
    }

    /// Links `object` with the C driver `driver` into `dir` and runs it; its stdout.
    fn link_and_run(&self, dir: &Path, object: &[u8], driver: &str) -> String {
        let obj = dir.join("model.o");
        let src = dir.join("driver.c");
        let exe = dir.join("driver");
        std::fs::write(&obj, object).expect("object is written");
        std::fs::write(&src, driver).expect("driver is written");
        let out = Command::new(self.cc)
            .args(self.cc_args)
            .args(["-O1", "-o"])
            .arg(&exe)
            .arg(&src)
            .arg(&obj)
            .output()
            .expect("the C compiler runs");
        assert!(
            out.status.success(),
            "linking for {} failed:\n{}",
            self.target,
            String::from_utf8_lossy(&out.stderr)
        );
        let out = match self.runner {
            None => Command::new(&exe).output(),
            Some((runner, args)) => Command::new(runner).args(args).arg(&exe).output(),
        }
        .expect("the driver runs");
        assert!(
            out.status.success(),
            "the driver for {} failed ({}):\n{}{}",
            self.target,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("the driver prints text")
    }
}

/// A scratch directory for one test run, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, target: &str) -> Scratch {
        // Tests run in parallel, some on the same program: a counter keeps their
        // directories apart.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nnc-clif-{}-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            target.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir is created");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run of a program produced.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    status: i32,
    outputs: Vec<Vec<u8>>,
}

/// The program run by the kernel interpreter, call by call, on `inputs`: the
/// reference. Outputs start as 0xA5 bytes, the arena as zeros (as the driver's).
fn reference(program: &Program, inputs: &[Vec<u8>]) -> Outcome {
    let mut outputs: Vec<Vec<u8>> = program
        .outputs
        .iter()
        .map(|o| vec![0xA5; o.bytes()])
        .collect();
    let mut arena = vec![0u8; program.arena_bytes];
    let weights: Vec<&[u8]> = program
        .weights
        .iter()
        .map(|w| &w.tensor.bytes()[..])
        .collect();
    for call in &program.calls {
        let kernel = &program.kernels[call.kernel];
        let mut buffers: Vec<Vec<u8>> = call
            .args
            .iter()
            .zip(&kernel.buffers)
            .map(|(arg, buf)| {
                let n = buf.len * buf.elem.size();
                match *arg {
                    BufferRef::Input(k) => inputs[k][..n].to_vec(),
                    BufferRef::Output(k) => outputs[k][..n].to_vec(),
                    BufferRef::Arena { offset } => arena[offset..offset + n].to_vec(),
                    BufferRef::Weight(k) => weights[k][..n].to_vec(),
                }
            })
            .collect();
        let status = interp::run(kernel, &mut buffers)
            .unwrap_or_else(|e| panic!("interpreter: {e}\n{kernel}"));
        for ((arg, buf), bytes) in call.args.iter().zip(&kernel.buffers).zip(&buffers) {
            if !buf.writable {
                continue;
            }
            match *arg {
                BufferRef::Output(k) => outputs[k][..bytes.len()].copy_from_slice(bytes),
                BufferRef::Arena { offset } => {
                    arena[offset..offset + bytes.len()].copy_from_slice(bytes)
                }
                _ => unreachable!("writable buffers are outputs or arena"),
            }
        }
        if status != 0 {
            return Outcome { status, outputs };
        }
    }
    Outcome { status: 0, outputs }
}

/// Compares outputs: floats within a relative 1e-6 (NaN equals NaN), the rest
/// exactly.
fn assert_same(program: &Program, target: &str, got: &Outcome, want: &Outcome) {
    assert_eq!(got.status, want.status, "{target}: status");
    for (k, spec) in program.outputs.iter().enumerate() {
        let (g, w) = (&got.outputs[k], &want.outputs[k]);
        let close = match spec.dtype {
            DType::F32 => g.chunks(4).zip(w.chunks(4)).all(|(a, b)| {
                let a = f32::from_le_bytes(a.try_into().unwrap());
                let b = f32::from_le_bytes(b.try_into().unwrap());
                (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-6 * b.abs().max(1.0)
            }),
            DType::F64 => g.chunks(8).zip(w.chunks(8)).all(|(a, b)| {
                let a = f64::from_le_bytes(a.try_into().unwrap());
                let b = f64::from_le_bytes(b.try_into().unwrap());
                (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-12 * b.abs().max(1.0)
            }),
            _ => g == w,
        };
        assert!(
            close && g.len() == w.len(),
            "{target}: output {k} ({}) differs\n got: {g:?}\nwant: {w:?}",
            spec.name
        );
    }
}

/// Compiles `program` for every toolchain's target, runs it where the toolchain is
/// installed and checks status and outputs against the interpreter, and the
/// descriptor against the host's. Returns the driver's full output of the host run
/// (descriptor lines included).
fn check_program(program: &Program, inputs: &[Vec<u8>]) -> String {
    let want = reference(program, inputs);
    // The same program as WebAssembly, under Node.js.
    for target in crate::wasm::tests::wasm_targets() {
        if let Some((status, outputs)) =
            crate::wasm::tests::run_under_node(program, inputs, &target)
        {
            assert_same(
                program,
                &target.to_string(),
                &Outcome { status, outputs },
                &want,
            );
        }
    }
    let mut host_report = String::new();
    for toolchain in TOOLCHAINS {
        let target = toolchain.target();
        let object = compile_program(program, &target)
            .unwrap_or_else(|e| panic!("{}: {e}", toolchain.target));
        assert!(object.code_bytes > 0);
        if !toolchain.usable() {
            continue;
        }
        let scratch = Scratch::new(&program.name, &target.to_string());
        let report = toolchain.link_and_run(
            &scratch.0,
            &object.bytes,
            &driver::c_driver(program, inputs),
        );
        let got = driver::parse_outcome(&report, program.outputs.len());
        assert_same(program, &target.to_string(), &got, &want);
        if host_report.is_empty() {
            host_report = report;
        } else {
            // The descriptor reads the same on every target.
            let descriptor = |r: &str| -> Vec<String> {
                r.lines()
                    .filter(|l| !l.starts_with("out ") && !l.starts_with("status "))
                    .map(str::to_string)
                    .collect()
            };
            assert_eq!(
                descriptor(&report),
                descriptor(&host_report),
                "{}: descriptor",
                toolchain.target
            );
        }
    }
    host_report
}

/// Little-endian bytes of a slice of numbers.
fn bytes_of<T: nnc_ir::Element>(values: &[T]) -> Vec<u8> {
    T::encode(values)
}

fn io(name: &str, dtype: DType, shape: &[usize]) -> IoSpec {
    IoSpec {
        name: name.into(),
        dtype,
        shape: shape.to_vec(),
    }
}

fn call(kernel: usize, args: &[BufferRef]) -> KernelCall {
    KernelCall {
        kernel,
        kind: "test".into(),
        args: args.to_vec(),
        nodes: vec![],
    }
}

/// A program of one kernel called on inputs `0..n_in` then outputs `0..n_out`.
fn single_kernel(
    name: &str,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
    kernel: nnc_ir::kernel::Kernel,
) -> Program {
    let mut args: Vec<BufferRef> = (0..inputs.len()).map(BufferRef::Input).collect();
    args.extend((0..outputs.len()).map(BufferRef::Output));
    Program {
        name: name.into(),
        inputs,
        outputs,
        arena_bytes: 0,
        arena_align: 16,
        weights: vec![],
        kernels: vec![kernel],
        calls: vec![call(0, &args)],
    }
}

/// The 128-bit vector of `elem`.
fn full(elem: ElemType) -> Ty {
    Ty::vector(elem, (16 / elem.size()) as u8)
}
