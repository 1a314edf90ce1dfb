//! The artifacts of a real program: Cranelift's object packaged by
//! [`write_artifacts`], its header compiled into the C harness, linked with the
//! host's `cc` and run. Checks that the header, the archive and the descriptor
//! the backend emits agree.

use nnc_ir::kernel::{BufferRef, ElemType, Expr, KernelBuilder, KernelCall, Program, Ty, Weight};
use nnc_ir::{DType, Tensor};

use super::testing::{have, io, run_tool, scratch_dir};
use super::{Manifest, c_harness, c_harness_profiled, write_artifacts};
use crate::cranelift::{CodegenOptions, compile_program, compile_program_with};
use crate::target::parse_target;

/// `y = relu(x * w)` over f32[8], through an arena slot: two kernels, a weight.
fn scaled_relu() -> Program {
    let mut mul = KernelBuilder::new("mul");
    let x = mul.buffer("x", ElemType::F32, 8, false);
    let w = mul.buffer("w", ElemType::F32, 8, false);
    let t = mul.buffer("t", ElemType::F32, 8, true);
    mul.for_range("i", 0, 8, 4, |k, i| {
        let ty = Ty::vector(ElemType::F32, 4);
        let product = Expr::load(x, i.clone(), ty) * Expr::load(w, i.clone(), ty);
        k.store(t, i, product);
    });
    let mut relu = KernelBuilder::new("relu");
    let t_in = relu.buffer("t", ElemType::F32, 8, false);
    let y = relu.buffer("y", ElemType::F32, 8, true);
    relu.for_range("i", 0, 8, 1, |k, i| {
        let v = Expr::load(t_in, i.clone(), Ty::scalar(ElemType::F32));
        k.store(y, i, v.max(Expr::f32(0.0)));
    });
    let weights: Vec<f32> = vec![1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 0.0, 3.0];
    Program {
        name: "scaled_relu".into(),
        inputs: vec![io("x", DType::F32, &[2, 4])],
        outputs: vec![io("y", DType::F32, &[2, 4])],
        arena_bytes: 32,
        arena_align: 16,
        weights: vec![Weight {
            name: "w".into(),
            tensor: Tensor::from_vec(vec![8], weights).unwrap(),
        }],
        kernels: vec![mul.finish(), relu.finish()],
        calls: vec![
            KernelCall {
                kernel: 0,
                kind: "Mul".into(),
                args: vec![
                    BufferRef::Input(0),
                    BufferRef::Weight(0),
                    BufferRef::Arena { offset: 0 },
                ],
                nodes: vec!["mul".into()],
            },
            KernelCall {
                kernel: 1,
                kind: "Relu".into(),
                args: vec![BufferRef::Arena { offset: 0 }, BufferRef::Output(0)],
                nodes: vec!["relu".into()],
            },
        ],
    }
}

/// The input `scaled_relu` is run on, and what it must give.
const X: [f32; 8] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
const Y: [f32; 8] = [1.0, 0.0, 6.0, 0.0, 2.5, 0.0, 0.0, 24.0];

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// How to link and run for one target: `--target` name, C compiler and its extra
/// flags, and the emulator (None: natively).
struct Toolchain {
    target: &'static str,
    cc: &'static str,
    cc_args: &'static [&'static str],
    runner: Option<(&'static str, &'static [&'static str])>,
}

const TOOLCHAINS: [Toolchain; 3] = [
    Toolchain {
        target: "host",
        cc: "cc",
        cc_args: &[],
        runner: None,
    },
    Toolchain {
        target: "aarch64-unknown-linux-gnu",
        cc: "aarch64-linux-gnu-gcc",
        cc_args: &["-static"],
        runner: Some(("qemu-aarch64", &[])),
    },
    Toolchain {
        target: "riscv64gc-unknown-linux-gnu",
        cc: "riscv64-linux-gnu-gcc",
        cc_args: &["-static"],
        runner: Some(("qemu-riscv64", &["-cpu", "rv64,v=true,vlen=128"])),
    },
];

#[test]
fn cranelift_objects_link_with_the_header_and_harness() {
    if !cfg!(all(unix, not(target_os = "macos"))) || !have("nm") {
        return;
    }
    for toolchain in &TOOLCHAINS {
        if have(toolchain.cc) && toolchain.runner.is_none_or(|(runner, _)| have(runner)) {
            build_and_run(toolchain);
        }
    }
}

fn build_and_run(toolchain: &Toolchain) {
    let program = scaled_relu();
    let target = parse_target(toolchain.target, &[]).unwrap();
    let object = compile_program(&program, &target).unwrap();
    let mut manifest = Manifest::new(&program, &target);
    manifest.code_bytes = object.code_bytes;
    let dir = scratch_dir("end-to-end");
    let paths = write_artifacts(&dir, &program, &object.bytes, &manifest, &target).unwrap();
    assert!(paths.header.exists() && paths.manifest.exists());

    let symbols = run_tool("nm", &dir, &["scaled_relu.a"]);
    let symbols = String::from_utf8_lossy(&symbols.stdout);
    assert!(symbols.contains("T scaled_relu_run"), "{symbols}");
    assert!(symbols.contains("scaled_relu_descriptor"), "{symbols}");

    let cc = |args: &[&str]| {
        let mut all = vec!["-Wall", "-Werror"];
        all.extend_from_slice(toolchain.cc_args);
        all.extend_from_slice(args);
        run_tool(toolchain.cc, &dir, &all);
    };
    let run = |exe: &str, args: &[&str]| {
        let exe = dir.join(exe).to_string_lossy().into_owned();
        match toolchain.runner {
            None => run_tool(&exe, &dir, args),
            Some((runner, runner_args)) => {
                run_tool(runner, &dir, &[runner_args, &[exe.as_str()], args].concat())
            }
        }
    };

    // The descriptor the backend emitted says what the header says.
    let check = "#include <string.h>\n#include \"scaled_relu.h\"\n\
        int main(void) {\n\
            const nnc_model_desc *d = &scaled_relu_descriptor;\n\
            return !(d->abi_version == NNC_ABI_VERSION && d->num_inputs == SCALED_RELU_NUM_INPUTS\n\
                && d->arena_size == SCALED_RELU_ARENA_SIZE && d->arena_align == SCALED_RELU_ARENA_ALIGN\n\
                && d->inputs[0].bytes == SCALED_RELU_INPUT_0_BYTES && d->inputs[0].rank == 2\n\
                && d->inputs[0].shape[1] == 4 && d->outputs[0].dtype == SCALED_RELU_OUTPUT_0_DTYPE\n\
                && strcmp(d->outputs[0].name, SCALED_RELU_OUTPUT_0_NAME) == 0);\n\
        }\n";
    std::fs::write(dir.join("check.c"), check).unwrap();
    cc(&["-std=c99", "check.c", "scaled_relu.a", "-o", "check"]);
    run("check", &[]);

    std::fs::write(dir.join("harness.c"), c_harness(&program)).unwrap();
    cc(&[
        "-std=c11",
        "harness.c",
        "-I.",
        "scaled_relu.a",
        "-o",
        "harness",
    ]);
    std::fs::write(dir.join("x.bin"), f32_bytes(&X)).unwrap();
    run("harness", &["x.bin", "y.bin"]);
    let y = std::fs::read(dir.join("y.bin")).unwrap();
    assert_eq!(y, f32_bytes(&Y), "{}", toolchain.target);
}

/// A profiled build links only with the profiling harness, computes the same
/// outputs, and reports one time per call and run.
#[test]
fn profiled_builds_time_every_call() {
    if !cfg!(all(unix, not(target_os = "macos"))) || !have("cc") {
        return;
    }
    let program = scaled_relu();
    let target = parse_target("host", &[]).unwrap();
    let options = CodegenOptions { profile: true };
    let object = compile_program_with(&program, &target, options).unwrap();
    let manifest = Manifest::new(&program, &target);
    let dir = scratch_dir("profiled");
    write_artifacts(&dir, &program, &object.bytes, &manifest, &target).unwrap();
    std::fs::write(dir.join("harness.c"), c_harness_profiled(&program)).unwrap();
    run_tool(
        "cc",
        &dir,
        &[
            "-Wall",
            "-Werror",
            "-std=c11",
            "harness.c",
            "-I.",
            "scaled_relu.a",
            "-o",
            "harness",
        ],
    );
    std::fs::write(dir.join("x.bin"), f32_bytes(&X)).unwrap();
    let exe = dir.join("harness").to_string_lossy().into_owned();
    let out = run_tool(&exe, &dir, &["--repeat", "3", "x.bin", "y.bin"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let calls: Vec<Vec<f64>> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("call "))
        .map(|l| {
            let (_, times) = l.split_once(':').unwrap();
            times
                .split_whitespace()
                .map(|t| t.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(calls.len(), 2, "{stdout}");
    assert!(
        calls
            .iter()
            .all(|t| t.len() == 3 && t.iter().all(|&ms| ms >= 0.0)),
        "{stdout}"
    );
    let y = std::fs::read(dir.join("y.bin")).unwrap();
    assert_eq!(y, f32_bytes(&Y));

    // The unprofiled harness does not define the mark, so it cannot link.
    std::fs::write(dir.join("plain.c"), c_harness(&program)).unwrap();
    let plain = std::process::Command::new("cc")
        .current_dir(&*dir)
        .args(["-std=c11", "plain.c", "-I.", "scaled_relu.a", "-o", "plain"])
        .output()
        .unwrap();
    assert!(!plain.status.success());
}
