//! Tests of the WebAssembly backend. Programs run under Node.js (skipped with a
//! note when `node` is not installed) and are compared with the kernel
//! interpreter: every end-to-end program of the Cranelift tests also runs here
//! (`cranelift::tests::check_program` calls [`run_under_node`]), so each kernel
//! IR construct is checked on both emitters.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use nnc_ir::kernel::{
    BinaryOp, BufferRef, ElemType, Expr, IoSpec, KernelBuilder, KernelCall, Program, Ty,
};
use nnc_ir::{DType, Target};

use super::{WasmError, compile_program, js};
use crate::target::parse_target;

pub(crate) fn node_installed() -> bool {
    let found = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("note: skipping WebAssembly runs: node is not installed");
    }
    found
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nnc-wasm-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
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

/// Instantiates the module, writes the inputs into their slots and 0xA5 into the
/// output slots (as the C driver of the native tests does), runs, and prints the
/// status and each output in hex.
const DRIVER: &str = r#"
import { readFileSync } from "node:fs";
const [wasmPath, jobPath] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobPath, "utf8"));
const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), {});
const x = instance.exports;
const mem = new Uint8Array(x.memory.buffer);
const slot = (kind, k) => [x[`${job.name}_${kind}_${k}_offset`].value, x[`${job.name}_${kind}_${k}_bytes`].value];
job.inputs.forEach((hex, k) => mem.set(Buffer.from(hex, "hex"), slot("input", k)[0]));
for (let k = 0; k < job.outputs; k++) { const [o, n] = slot("output", k); mem.fill(0xa5, o, o + n); }
console.log(`status ${x[`${job.name}_run`]()}`);
for (let k = 0; k < job.outputs; k++) {
  const [o, n] = slot("output", k);
  console.log(`out ${Buffer.from(mem.subarray(o, o + n)).toString("hex")}`);
}
"#;

/// The wasm32 targets the tests compile for: SIMD128, and with relaxed SIMD.
pub(crate) fn wasm_targets() -> Vec<Target> {
    vec![
        parse_target("wasm32", &[]).expect("wasm32 parses"),
        parse_target("wasm32", &["relaxed-simd".into()]).expect("wasm32 parses"),
    ]
}

/// Compiles `program` for `target` and runs it under Node.js on `inputs`: its
/// status and outputs, or None when node is not installed.
pub(crate) fn run_under_node(
    program: &Program,
    inputs: &[Vec<u8>],
    target: &Target,
) -> Option<(i32, Vec<Vec<u8>>)> {
    let module =
        compile_program(program, target).unwrap_or_else(|e| panic!("wasm ({target}): {e}"));
    if !node_installed() {
        return None;
    }
    let scratch = Scratch::new(&program.name);
    let wasm = scratch.0.join("model.wasm");
    let job = scratch.0.join("job.json");
    let driver = scratch.0.join("driver.mjs");
    std::fs::write(&wasm, &module.bytes).expect("module is written");
    let hex: Vec<String> = inputs
        .iter()
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .collect();
    let job_json = serde_json::json!({
        "name": program.name,
        "inputs": hex,
        "outputs": program.outputs.len(),
    });
    std::fs::write(&job, job_json.to_string()).expect("job is written");
    std::fs::write(&driver, DRIVER).expect("driver is written");
    let mut cmd = Command::new("node");
    if module.relaxed_simd {
        cmd.arg("--experimental-wasm-relaxed-simd");
    }
    let out = cmd
        .arg(&driver)
        .arg(&wasm)
        .arg(&job)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "node failed on '{}' ({target}):\n{}{}",
        program.name,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("the driver prints text");
    let mut status = None;
    let mut outputs = Vec::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("status ") {
            status = s.trim().parse().ok();
        } else if let Some(hex) = line.strip_prefix("out ") {
            let bytes = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
                .collect();
            outputs.push(bytes);
        }
    }
    Some((status.expect("the driver prints a status"), outputs))
}

fn io(name: &str, dtype: DType, shape: &[usize]) -> IoSpec {
    IoSpec {
        name: name.into(),
        dtype,
        shape: shape.to_vec(),
    }
}

/// `y = relu(x) + w` over 10 floats: vector body and scalar tail, a weight.
fn relu_program() -> Program {
    let mut k = KernelBuilder::new("relu add");
    let x = k.buffer("x", ElemType::F32, 10, false);
    let w = k.buffer("w", ElemType::F32, 10, false);
    let y = k.buffer("y", ElemType::F32, 10, true);
    let v = Ty::vector(ElemType::F32, 4);
    k.for_range("i", 0, 8, 4, |k, i| {
        let zero = Expr::f32(0.0).splat(4);
        let r = Expr::load(x, i.clone(), v).binary(BinaryOp::Max, zero);
        k.store(y, i.clone(), r + Expr::load(w, i, v));
    });
    k.for_range("t", 8, 10, 1, |k, i| {
        let r = Expr::load(x, i.clone(), Ty::F32).binary(BinaryOp::Max, Expr::f32(0.0));
        k.store(y, i.clone(), r + Expr::load(w, i, Ty::F32));
    });
    let kernel = k.finish();
    let w: Vec<f32> = (0..10).map(|i| i as f32 * 0.5).collect();
    Program {
        name: "relu".into(),
        inputs: vec![io("x", DType::F32, &[10])],
        outputs: vec![io("y", DType::F32, &[10])],
        arena_bytes: 0,
        arena_align: 16,
        weights: vec![nnc_ir::kernel::Weight {
            name: "w".into(),
            tensor: nnc_ir::Tensor::from_vec(vec![10], w).expect("weight"),
        }],
        kernels: vec![kernel],
        calls: vec![KernelCall {
            kernel: 0,
            kind: "test".into(),
            args: vec![
                BufferRef::Input(0),
                BufferRef::Weight(0),
                BufferRef::Output(0),
            ],
            nodes: vec![],
        }],
    }
}

#[test]
fn modules_validate_import_nothing_and_export_the_slots() {
    let program = relu_program();
    for target in wasm_targets() {
        let module = compile_program(&program, &target).unwrap();
        super::validate(&module.bytes, module.relaxed_simd).unwrap();
        let mut exports = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&module.bytes) {
            match payload.unwrap() {
                wasmparser::Payload::ImportSection(_) => panic!("the module imports"),
                wasmparser::Payload::ExportSection(s) => {
                    exports.extend(s.into_iter().map(|e| e.unwrap().name.to_string()))
                }
                _ => {}
            }
        }
        for name in [
            "memory",
            "relu_run",
            "relu_input_0_offset",
            "relu_input_0_bytes",
            "relu_output_0_offset",
            "relu_output_0_bytes",
        ] {
            assert!(exports.iter().any(|e| e == name), "{name} in {exports:?}");
        }
        let map = &module.map;
        assert_eq!(map.inputs[0].bytes, 40);
        assert!(map.inputs[0].offset >= map.arena.offset + map.arena.bytes);
        assert!(map.weights_offset > 0);
    }
}

#[test]
fn relu_runs_under_node() {
    let program = relu_program();
    let x: Vec<f32> = (0..10).map(|i| i as f32 - 4.5).collect();
    let inputs = vec![nnc_ir::Element::encode(&x)];
    for target in wasm_targets() {
        let Some((status, outputs)) = run_under_node(&program, &inputs, &target) else {
            return;
        };
        assert_eq!(status, 0);
        let y: Vec<f32> = outputs[0]
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let want: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, v)| v.max(0.0) + i as f32 * 0.5)
            .collect();
        assert_eq!(y, want);
    }
}

#[test]
fn malformed_programs_are_errors() {
    let target = parse_target("wasm32", &[]).unwrap();
    let mut program = relu_program();
    program.calls[0].args[0] = BufferRef::Input(3);
    let e = compile_program(&program, &target).unwrap_err();
    assert!(matches!(e, WasmError::InvalidProgram { .. }), "{e}");
    let mut program = relu_program();
    program.kernels[0].buffers[0].len = 11;
    let e = compile_program(&program, &target).unwrap_err();
    assert!(e.to_string().contains("relu"), "{e}");
}

/// The ES module runs the model on typed arrays and refuses wrong ones with
/// errors naming the input.
#[test]
fn es_module_runs_and_checks_sizes() {
    let program = relu_program();
    let target = parse_target("wasm32", &[]).unwrap();
    let module = compile_program(&program, &target).unwrap();
    if !node_installed() {
        return;
    }
    let scratch = Scratch::new("esm");
    std::fs::write(scratch.0.join("relu.wasm"), &module.bytes).unwrap();
    std::fs::write(scratch.0.join("relu.mjs"), js::es_module(&program)).unwrap();
    let script = r#"
import { run, load, inputs } from "./relu.mjs";
const x = Float32Array.from({ length: 10 }, (_, i) => i - 4.5);
const [y] = await run([x]);
console.log(`y ${Array.from(y).join(",")}`);
const model = await load();
for (const bad of [[], [new Float32Array(9)], [new Float64Array(10)], "x"]) {
  try { model.run(bad); console.log("accepted"); } catch (e) { console.log(`error ${e.message}`); }
}
console.log(`inputs ${JSON.stringify(inputs.map((i) => [i.name, i.dtype, i.shape]))}`);
"#;
    let path = scratch.0.join("check.mjs");
    std::fs::write(&path, script).unwrap();
    let out = Command::new("node").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("y 0,0.5,1,1.5,2,3,4.5,6,7.5,9"), "{text}");
    assert!(!text.contains("accepted"), "{text}");
    assert!(
        text.contains("expected an array of 1 inputs, got 0"),
        "{text}"
    );
    assert!(
        text.contains("input 0 ('x', f32[10]) must have 10 elements, got 9"),
        "{text}"
    );
    assert!(
        text.contains("must be a Float32Array, got Float64Array"),
        "{text}"
    );
    assert!(text.contains(r#"inputs [["x","f32",[10]]]"#), "{text}");
}

#[test]
fn artifacts_are_written_all_or_nothing() {
    let program = relu_program();
    let target = parse_target("wasm32", &[]).unwrap();
    let module = compile_program(&program, &target).unwrap();
    let manifest = crate::artifact::Manifest::new(&program, &target);
    let root = Scratch::new("artifacts");
    let dir = root.0.join("out");
    let paths = super::write_wasm_artifacts(&dir, &program, &module, &manifest).unwrap();
    assert_eq!(std::fs::read(&paths.module).unwrap(), module.bytes);
    assert_eq!(
        std::fs::read_to_string(&paths.manifest).unwrap(),
        manifest.to_json()
    );
    assert!(
        std::fs::read_to_string(&paths.es_module)
            .unwrap()
            .contains(r#"const NAME = "relu";"#)
    );
    assert!(
        std::fs::read_to_string(&paths.declarations)
            .unwrap()
            .contains("run(values: Inputs): Outputs")
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 4);

    let mut bad = program.clone();
    bad.name = "my-model".into();
    let other = root.0.join("other");
    let err = super::write_wasm_artifacts(&other, &bad, &module, &manifest).unwrap_err();
    assert!(err.to_string().contains("'my_model'"), "{err}");
    assert!(!other.exists());
}

/// Compiles `kernel` alone into a validated module (its buffers bound to the
/// arena one after another): every kernel a lowering test makes must have wasm.
pub(crate) fn assert_compiles(kernel: &nnc_ir::kernel::Kernel) {
    let mut args = Vec::new();
    let mut offset = 0;
    for buffer in &kernel.buffers {
        args.push(BufferRef::Arena { offset });
        offset = (offset + buffer.len * buffer.elem.size()).next_multiple_of(16);
    }
    let program = Program {
        name: "lowered".into(),
        inputs: vec![],
        outputs: vec![],
        arena_bytes: offset.max(16),
        arena_align: 16,
        weights: vec![],
        kernels: vec![kernel.clone()],
        calls: vec![KernelCall {
            kernel: 0,
            kind: "test".into(),
            args,
            nodes: vec![],
        }],
    };
    for target in wasm_targets() {
        compile_program(&program, &target)
            .unwrap_or_else(|e| panic!("wasm ({target}): {e}\n{kernel}"));
    }
}
