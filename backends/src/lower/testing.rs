//! Test support for lowerings: one node, lowered, checked, interpreted on given
//! inputs and compared with the reference evaluator (`Op::eval`).

use nnc_ir::kernel::{bounds, check, interp};
use nnc_ir::{Arch, BinaryFormat, Graph, Op, Target, Tensor, TensorType};

/// The target lowering tests use: 128-bit vectors, FMA.
pub fn test_target() -> Target {
    Target {
        triple: "x86_64-unknown-linux-gnu".into(),
        arch: Arch::X86_64,
        format: BinaryFormat::Elf,
        hosted: true,
        vector_bytes: 16,
        vector_registers: 16,
        has_fma: true,
        cpu_features: vec![],
        portable_kernels: false,
        no_winograd: false,
    }
}

/// A graph with one node `op` over `inputs` (`None` = absent optional operand;
/// inputs listed in `constants` become constants, the others graph inputs).
pub fn single_node_graph(
    op: Op,
    inputs: &[Option<&Tensor>],
    constants: &[usize],
    num_outputs: usize,
) -> Graph {
    let mut graph = Graph::new("test");
    let mut operands = Vec::new();
    for (k, input) in inputs.iter().enumerate() {
        operands.push(input.map(|t| {
            let name = format!("in{k}");
            if constants.contains(&k) {
                graph.add_const(name, t.clone()).expect("constant is added")
            } else {
                graph
                    .add_input(name, TensorType::new(t.dtype(), t.shape().to_vec()))
                    .expect("input is added")
            }
        }));
    }
    let names = (0..num_outputs).map(|k| format!("out{k}")).collect();
    let outputs = graph
        .add_node("node", op, operands, names)
        .expect("the node type-checks");
    graph.set_outputs(outputs);
    graph
}

/// Lowers the graph's single node and checks the kernel against `Op::eval` on
/// `values` (one per operand of the node, `None` for absent ones): floats within
/// `atol + rtol * |expected|`, everything else exactly. Panics with a readable
/// message (this is test code).
pub fn check_lowering(graph: &Graph, values: &[Option<&Tensor>], rtol: f64, atol: f64) {
    check_lowering_for(graph, values, rtol, atol, &test_target());
}

/// [`check_lowering`] for code generated for `target` (its tile shapes and
/// vector width).
pub fn check_lowering_for(
    graph: &Graph,
    values: &[Option<&Tensor>],
    rtol: f64,
    atol: f64,
    target: &Target,
) {
    let (_, node) = graph.nodes().next().expect("one node");
    let lowered = super::lower_node_full(graph, node, target).unwrap_or_else(|e| panic!("{e}"));
    let kernel = lowered.kernel;
    check::check(&kernel).unwrap_or_else(|e| panic!("type check: {e}\n{kernel}"));
    bounds::check(&kernel).unwrap_or_else(|e| panic!("bounds: {e}\n{kernel}"));
    crate::wasm::tests::assert_compiles(&kernel);

    let expected = node
        .op
        .eval(values, node.outputs.len())
        .expect("reference evaluates");
    let mut buffers: Vec<Vec<u8>> = values
        .iter()
        .flatten()
        .map(|t| t.bytes().to_vec())
        .collect();
    for &out in &node.outputs {
        // Poison the outputs so that an element the kernel forgets shows up.
        buffers.push(vec![0xA5; graph.value(out).ty.bytes()]);
    }
    let first_output = buffers.len() - node.outputs.len();
    for extra in &lowered.extras {
        buffers.push(match extra {
            super::ExtraBuffer::Weight(t) => t.bytes().to_vec(),
            // Scratch holds whatever the previous kernel left.
            super::ExtraBuffer::Scratch { bytes } => vec![0x5A; *bytes],
        });
    }
    let status =
        interp::run(&kernel, &mut buffers).unwrap_or_else(|e| panic!("interpreter: {e}\n{kernel}"));
    assert_eq!(status, 0, "kernel failed with status {status}");

    for (k, want) in expected.iter().enumerate() {
        let bytes = buffers[first_output + k].clone().into();
        let got = Tensor::from_bytes(want.dtype(), want.shape().to_vec(), bytes)
            .expect("output has the expected size");
        assert_close(
            &got,
            want,
            rtol,
            atol,
            &format!("{} output {k}", node.op.name()),
        );
    }
}

/// [`check_lowering`] on 16 vector registers (x86_64) and on 32 (aarch64):
/// the tile shapes a lowering picks depend on the register count.
pub fn check_lowering_on_16_and_32_registers(
    graph: &Graph,
    values: &[Option<&Tensor>],
    rtol: f64,
    atol: f64,
) {
    let aarch64 = Target {
        arch: Arch::Aarch64,
        vector_registers: 32,
        ..test_target()
    };
    check_lowering_for(graph, values, rtol, atol, &test_target());
    check_lowering_for(graph, values, rtol, atol, &aarch64);
}

/// The wide x86 targets (AVX-512, then AVX2 + FMA) at 128-bit vectors, so
/// that a lowering takes its microkernel forms.
pub fn wide_targets() -> [Target; 2] {
    let with = |features: &[&str]| Target {
        cpu_features: features.iter().map(|f| f.to_string()).collect(),
        ..test_target()
    };
    [
        with(&["avx", "avx2", "fma", "avx512f"]),
        with(&["avx", "avx2", "fma"]),
    ]
}

/// The form (`Lowered::form`) the only node of a graph of `op` over `inputs`
/// (weights at 1 and 2) takes on `target`: tests assert which form ran.
pub fn lowered_form(op: Op, inputs: &[Option<&Tensor>], target: &Target) -> Option<&'static str> {
    let graph = single_node_graph(op, inputs, &[1, 2], 1);
    let (_, node) = graph.nodes().next().expect("one node");
    let lowered = super::lower_node_full(&graph, node, target).expect("lowers");
    lowered.form
}

/// Convolution pads for test round `round`: each side its own cycle, from none
/// to past the kernel (the bottom and right short of it), so that the rounds
/// cover their combinations.
pub fn round_pads(round: usize, kernel: [usize; 2]) -> [usize; 4] {
    [
        round % (kernel[0] + 1),
        (round / 2) % (kernel[1] + 1),
        (round / 3) % kernel[0],
        (round / 4) % kernel[1],
    ]
}

/// Builds the graph for `op` on `inputs` (operands listed in `constants` become
/// weights, the others graph inputs) and checks its lowering on those values.
pub fn check_op(
    op: Op,
    inputs: &[Option<&Tensor>],
    constants: &[usize],
    num_outputs: usize,
    rtol: f64,
    atol: f64,
) {
    let graph = single_node_graph(op, inputs, constants, num_outputs);
    check_lowering(&graph, inputs, rtol, atol);
}

pub fn assert_close(got: &Tensor, want: &Tensor, rtol: f64, atol: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    let exact = !want.dtype().is_float();
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        let same = if exact {
            a == b
        } else if a.is_nan() || b.is_nan() {
            a.is_nan() && b.is_nan()
        } else {
            a == b || (a - b).abs() <= atol + rtol * b.abs()
        };
        assert!(same, "{what}: element {i}: got {a}, expected {b}");
    }
}

/// Two epilogues a fused Conv often carries, for tests of where they run: a
/// residual Add (operand 0) then ReLU, and a Clip.
pub fn residual_relu_and_clip() -> [Vec<nnc_ir::ops::Step>; 2] {
    use nnc_ir::ops::{Binary, Step, Unary};
    [
        vec![
            Step::Binary {
                op: Binary::Add,
                operand: 0,
                swapped: false,
            },
            Step::Unary(Unary::Relu),
        ],
        vec![Step::Clip {
            min: Some(-0.1),
            max: Some(0.1),
        }],
    ]
}
