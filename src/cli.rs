//! The command-line grammar (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "nnc",
    version,
    about = "Ahead-of-time neural-network compiler for edge targets"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compile a model to a static library, a C header and a manifest.
    Build {
        model: PathBuf,
        #[command(flatten)]
        target: TargetArgs,
        /// Output directory (created if missing).
        #[arg(short = 'o', long = "output-dir", default_value = ".")]
        output_dir: PathBuf,
        /// Prefix of the generated symbols and file names (default: the model
        /// file's stem as a C identifier).
        #[arg(long)]
        name: Option<String>,
        /// Print what the graph optimiser did (rules applied, ops and kernels
        /// before and after, e-graph size).
        #[arg(long)]
        report: bool,
        #[command(flatten)]
        compile: CompileArgs,
    },
    /// Show a model's inputs, outputs, ops, parameters, MACs and unsupported ops.
    Inspect {
        model: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        compile: CompileArgs,
    },
    /// Run a model on input tensors and write its outputs.
    Run {
        model: PathBuf,
        /// Input tensors in graph-input order: ONNX TensorProto `.pb` or `.npy`.
        #[arg(short = 'i', long = "input", num_args = 1.., required = true)]
        inputs: Vec<PathBuf>,
        /// Where to write `output_K.pb` (or `.npy`).
        #[arg(short = 'o', long = "output-dir", default_value = ".")]
        output_dir: PathBuf,
        #[arg(long, value_enum, default_value_t = TensorFormat::Pb)]
        format: TensorFormat,
        #[arg(long, value_enum, default_value_t = Engine::Native)]
        engine: Engine,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        compile: CompileArgs,
    },
    /// Run test cases in the ONNX backend-test layout and compare with their outputs.
    Test {
        /// Case folders: `model.onnx` and `test_data_set_N/{input,output}_K.pb`.
        #[arg(required = true)]
        cases: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Engine::Native)]
        engine: Engine,
        #[command(flatten)]
        target: TargetArgs,
        /// Relative tolerance for floats.
        #[arg(long, default_value_t = 1e-3)]
        rtol: f64,
        /// Absolute tolerance for floats.
        #[arg(long, default_value_t = 1e-5)]
        atol: f64,
        /// Also require the same argmax along the last axis of every output.
        #[arg(long)]
        argmax: bool,
        #[command(flatten)]
        compile: CompileArgs,
    },
    /// Build a model natively and time it: latency percentiles, GFLOP/s, sizes.
    Bench {
        model: PathBuf,
        #[command(flatten)]
        target: TargetArgs,
        /// Timed runs (after the warm-up).
        #[arg(long, default_value_t = 50)]
        runs: usize,
        /// Untimed runs first, in the same process.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Run the model on this CPU only (`taskset -c CPU`).
        #[arg(long, value_name = "CPU")]
        pin: Option<usize>,
        /// Machine-readable output (one JSON object).
        #[arg(long)]
        json: bool,
        /// Also time every kernel (an instrumented build) and print the time per
        /// kernel kind and the slowest TOP calls with GFLOP/s, GB/s and the share
        /// of the measured FMA peak at the width of the GEMM tiles (128, 256 or 512 bits).
        #[arg(long, value_name = "TOP", num_args = 0..=1, default_missing_value = "15")]
        per_kernel: Option<usize>,
        #[command(flatten)]
        compile: CompileArgs,
    },
}

/// Options of the compilation pipeline shared by every command.
#[derive(Args, Debug, Clone, Default)]
pub struct CompileArgs {
    /// Fix an input's shape: `NAME=1x3x224x224` (for symbolic dims). Repeatable.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    pub input_shapes: Vec<String>,
    /// Print the graph after these passes (`frontend`, a pass name, or `all`).
    #[arg(long = "dump-after", value_name = "PASS", value_delimiter = ',')]
    pub dump_after: Vec<String>,
    /// E-graph rules not to apply (names as `nnc build --report` prints them), or
    /// `all` to skip the e-graph optimiser.
    #[arg(long = "disable-rules", value_name = "RULE", value_delimiter = ',')]
    pub disable_rules: Vec<String>,
    /// E-graph saturation stops at this many e-nodes (default 200000).
    #[arg(long = "egraph-node-limit", value_name = "N")]
    pub egraph_node_limit: Option<usize>,
    /// E-graph saturation stops after this many iterations (default 30).
    #[arg(long = "egraph-iter-limit", value_name = "N")]
    pub egraph_iter_limit: Option<usize>,
    /// E-graph saturation stops after this many seconds (default 5).
    #[arg(long = "egraph-time-limit", value_name = "SECONDS")]
    pub egraph_time_limit: Option<f64>,
}

/// The machine code is generated for.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// `host`, `x86_64`, `aarch64`, `riscv64`, `wasm32`, or a full target triple
    /// (e.g. `aarch64-unknown-none` for bare metal, `wasm32-unknown-unknown`).
    #[arg(long, default_value = "host")]
    pub target: String,
    /// CPU features: e.g. `avx2,fma`, `avx512f`, or `native`; for wasm32
    /// `relaxed-simd` (fused multiply-add).
    #[arg(long, value_delimiter = ',')]
    pub cpu: Vec<String>,
    /// GEMM tiles: `auto` (AVX-512 or AVX2 microkernels where `--cpu` allows),
    /// or `portable` (the 128-bit code every target has).
    #[arg(long, value_enum, default_value = "auto")]
    pub kernels: Kernels,
    /// Keep 3x3 stride-1 convolutions direct instead of Winograd F(2x2, 3x3)
    /// (to measure one against the other).
    #[arg(long)]
    pub no_winograd: bool,
    /// Run the compiled model under this command (native engine), e.g.
    /// `--runner "valgrind --error-exitcode=1"`.
    #[arg(long)]
    pub runner: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    Auto,
    Portable,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Native code for `--target`, linked with a C harness and run (under qemu
    /// for foreign architectures; wasm32 under Node.js).
    Native,
    /// The reference evaluator (`ir::eval`).
    Eval,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorFormat {
    Pb,
    Npy,
}
