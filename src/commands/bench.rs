//! `nnc bench`: build a model natively, time it with the C harness, and report
//! latency percentiles, GFLOP/s and the sizes of what was built. A wasm32 build is
//! timed under Node.js by the runner script, which prints the same lines.
//!
//! Warm-up runs happen in the same harness process as the timed runs (so caches,
//! page tables and the branch predictor are warm) and are left out of the
//! statistics. Timings of a foreign target run under qemu are reported but
//! meaningless as a measure of the target's speed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use nnc_backends::artifact::{self, Manifest};
use nnc_ir::kernel::{IoSpec, Program};
use nnc_ir::{DType, Tensor};

use crate::cli::{CompileArgs, TargetArgs};
use crate::commands::resolve_target;
use crate::compile::compile_for;
use crate::error::{Error, Result};
use crate::native::{BuildOptions, ScratchDir, build as build_native};
use crate::tensor_io::read_tensor;
use crate::toolchain::{Toolchain, toolchain_for};
use crate::{peak, profile};

/// How to time a model.
pub struct BenchOptions {
    pub runs: usize,
    pub warmup: usize,
    /// Run the harness on this CPU only (`taskset -c`).
    pub pin: Option<usize>,
    pub json: bool,
    /// Time every kernel and print the slowest this many (`--per-kernel`).
    pub per_kernel: Option<usize>,
}

/// Latency statistics of the timed runs, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub min: f64,
    pub mean: f64,
}

pub fn bench(
    model: &Path,
    target: &TargetArgs,
    options: &BenchOptions,
    args: &CompileArgs,
) -> Result<ExitCode> {
    if options.runs == 0 {
        return Err(Error::Usage("--runs must be at least 1".into()));
    }
    let started = Instant::now();
    let target_spec = resolve_target(target)?;
    let compiled = compile_for(model, args, Some(&target_spec))?;
    let macs = nnc_ir::cost::graph_macs(&compiled.graph);

    let wasm = target_spec.arch == nnc_ir::Arch::Wasm32;
    let mut toolchain = if wasm {
        // The runner is Node.js, added once the build is there.
        Toolchain {
            cc: String::new(),
            cc_flags: vec![],
            runner: vec![],
        }
    } else {
        toolchain_for(&target_spec)?
    };
    let emulated = !toolchain.runner.is_empty();
    let mut prefix: Vec<String> = target
        .runner
        .as_deref()
        .map(|r| r.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    if let Some(cpu) = options.pin {
        prefix.splice(0..0, ["taskset".into(), "-c".into(), cpu.to_string()]);
    }
    toolchain.runner.splice(0..0, prefix);

    let scratch = ScratchDir::new()?;
    let lib_dir = scratch.0.join("lib");
    let build_options = BuildOptions {
        target: target_spec.clone(),
        name: "model".into(),
        profile: options.per_kernel.is_some(),
    };
    let (built, executable) = if wasm {
        if build_options.profile {
            return Err(Error::Usage(
                "--per-kernel profiles native builds only, not wasm32".into(),
            ));
        }
        let built = crate::wasm::build(&compiled, &build_options, &lib_dir, started)?;
        let command = crate::wasm::runner_command(&target_spec, &scratch.0)?;
        toolchain.runner.extend(command);
        let executable = built.paths.es_module.clone();
        (Built::from(built), executable)
    } else {
        let built = build_native(&compiled, &build_options, &lib_dir, started)?;
        let harness = scratch.0.join("harness.c");
        let harness_source = if build_options.profile {
            artifact::c_harness_profiled(&built.program)
        } else {
            artifact::c_harness(&built.program)
        };
        std::fs::write(&harness, harness_source).map_err(|e| Error::file(&harness, e))?;
        let executable = scratch.0.join("harness");
        toolchain.link(&[&harness, &built.paths.library], &lib_dir, &executable)?;
        (Built::from(built), executable)
    };

    let (inputs, source) = bench_inputs(model, &built.program)?;
    let mut args = Vec::new();
    for (k, tensor) in inputs.iter().enumerate() {
        let path = scratch.0.join(format!("input_{k}.bin"));
        std::fs::write(&path, tensor.bytes()).map_err(|e| Error::file(&path, e))?;
        args.push(path);
    }
    args.extend(
        (0..built.program.outputs.len()).map(|k| scratch.0.join(format!("output_{k}.bin"))),
    );
    let mut harness_args: Vec<PathBuf> = vec![
        "--repeat".into(),
        (options.warmup + options.runs).to_string().into(),
    ];
    harness_args.extend(args);
    let run = toolchain.run(&executable, &harness_args)?;
    let stdout = String::from_utf8_lossy(&run.stdout);
    if !run.status.success() {
        return Err(Error::Tool(format!(
            "the compiled model failed ({}): {}{}",
            run.status,
            stdout,
            String::from_utf8_lossy(&run.stderr)
        )));
    }
    let times = parse_run_times(&stdout);
    if times.len() != options.warmup + options.runs {
        return Err(Error::Tool(format!(
            "the harness printed {} run times, {} were expected:\n{stdout}",
            times.len(),
            options.warmup + options.runs
        )));
    }
    let latency = latency(&times[options.warmup..]);
    let report = Report {
        model,
        target: &target_spec.triple,
        emulated,
        pin: options.pin,
        runs: options.runs,
        warmup: options.warmup,
        inputs: source,
        latency,
        macs,
        manifest: &built.manifest,
        kernel_calls: built.program.calls.len(),
    };
    if options.json {
        println!("{}", report.json());
    } else {
        report.print();
    }
    if let Some(top) = options.per_kernel {
        let times = profile::parse_call_times(&stdout, built.program.calls.len())
            .map_err(|e| Error::Tool(format!("the profiling harness: {e}")))?;
        let calls = profile::profile_calls(&compiled.graph, &built.program, &times, options.warmup);
        let peaks = if emulated {
            None
        } else {
            peak::fma_peaks(&target_spec, &toolchain, &scratch.0)?
        };
        let peak = peaks.and_then(|p| p.for_target(&target_spec));
        println!();
        if let Some(p) = peaks {
            let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
            println!(
                "FMA peaks (GFLOP/s): 128-bit {}, 256-bit {}, 512-bit {}; GEMM tiles: {}",
                show(p.bits128),
                show(p.bits256),
                show(p.bits512),
                target_spec.microkernel().name()
            );
        }
        print!("{}", profile::render(&calls, peak, top));
    }
    Ok(ExitCode::SUCCESS)
}

/// What bench needs of a build, native or wasm.
struct Built {
    program: Program,
    manifest: Manifest,
}

impl From<crate::native::Built> for Built {
    fn from(b: crate::native::Built) -> Self {
        Built {
            program: b.program,
            manifest: b.manifest,
        }
    }
}

impl From<crate::wasm::Built> for Built {
    fn from(b: crate::wasm::Built) -> Self {
        Built {
            program: b.program,
            manifest: b.manifest,
        }
    }
}

/// Where the inputs came from, for the report.
#[derive(Clone, Copy)]
enum InputSource {
    DataSet,
    Random,
}

/// The model's test inputs (`test_data_set_0/input_K.pb` beside it) when they fit
/// its declared inputs, else seeded random ones.
fn bench_inputs(model: &Path, program: &Program) -> Result<(Vec<Tensor>, InputSource)> {
    let set = model
        .parent()
        .unwrap_or(Path::new("."))
        .join("test_data_set_0");
    let files: Vec<PathBuf> = (0..program.inputs.len())
        .map(|k| set.join(format!("input_{k}.pb")))
        .collect();
    if !files.is_empty() && files.iter().all(|f| f.is_file()) {
        let tensors = files
            .iter()
            .map(|f| read_tensor(f))
            .collect::<Result<Vec<_>>>()?;
        let fits = tensors
            .iter()
            .zip(&program.inputs)
            .all(|(t, spec)| t.dtype() == spec.dtype && t.shape() == spec.shape.as_slice());
        if fits {
            return Ok((tensors, InputSource::DataSet));
        }
    }
    let mut rng = SplitMix(0x6e6e_635f_6265_6e63);
    let tensors = program
        .inputs
        .iter()
        .map(|spec| random_tensor(spec, &mut rng))
        .collect::<Result<Vec<_>>>()?;
    Ok((tensors, InputSource::Random))
}

/// Floats uniform in [-1, 1); integers in 0..4 (small enough to be valid indices
/// for most gathers); booleans 0 or 1.
fn random_tensor(spec: &IoSpec, rng: &mut SplitMix) -> Result<Tensor> {
    let count: usize = spec.shape.iter().product();
    let values: Vec<f64> = (0..count)
        .map(|_| {
            let u = rng.unit();
            if spec.dtype.is_float() {
                2.0 * u - 1.0
            } else if spec.dtype == DType::Bool {
                (u * 2.0).floor()
            } else {
                (u * 4.0).floor()
            }
        })
        .collect();
    Tensor::from_f64_values(spec.dtype, spec.shape.clone(), &values)
        .map_err(|e| Error::Usage(format!("input '{}': {e}", spec.name)))
}

/// A tiny seeded generator: the benchmark's inputs need only be reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The `run K: T ms` lines of the harness's output, in order.
fn parse_run_times(stdout: &str) -> Vec<f64> {
    stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("run ")?;
            let (_, time) = rest.split_once(": ")?;
            time.strip_suffix(" ms")?.trim().parse().ok()
        })
        .collect()
}

/// Percentiles by linear interpolation between the closest ranks.
fn latency(times: &[f64]) -> Latency {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let pos = q * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        let (a, b) = (sorted[lo], sorted[hi.min(sorted.len() - 1)]);
        a + (b - a) * (pos - lo as f64)
    };
    Latency {
        median: at(0.5),
        p10: at(0.1),
        p90: at(0.9),
        min: sorted.first().copied().unwrap_or(f64::NAN),
        mean: sorted.iter().sum::<f64>() / sorted.len().max(1) as f64,
    }
}

struct Report<'a> {
    model: &'a Path,
    target: &'a str,
    emulated: bool,
    pin: Option<usize>,
    runs: usize,
    warmup: usize,
    inputs: InputSource,
    latency: Latency,
    macs: u64,
    manifest: &'a Manifest,
    kernel_calls: usize,
}

impl Report<'_> {
    /// 2 FLOPs per MAC over the median latency.
    fn gflops(&self) -> f64 {
        2.0 * self.macs as f64 / (self.latency.median * 1e6)
    }

    fn inputs_name(&self) -> &'static str {
        match self.inputs {
            InputSource::DataSet => "test_data_set_0",
            InputSource::Random => "random",
        }
    }

    fn print(&self) {
        let l = &self.latency;
        let m = self.manifest;
        println!("model:    {}", self.model.display());
        println!(
            "target:   {}{}",
            self.target,
            if self.emulated {
                " (under emulation: timings say nothing about the target's speed)"
            } else {
                ""
            }
        );
        let pin = self.pin.map(|c| format!(", pinned to CPU {c}"));
        println!(
            "runs:     {} timed after {} warm-up, {} inputs{}",
            self.runs,
            self.warmup,
            self.inputs_name(),
            pin.unwrap_or_default()
        );
        println!(
            "latency:  median {:.3} ms, p10 {:.3} ms, p90 {:.3} ms (min {:.3}, mean {:.3})",
            l.median, l.p10, l.p90, l.min, l.mean
        );
        println!(
            "compute:  {:.1} MFLOP, {:.2} GFLOP/s",
            2.0 * self.macs as f64 / 1e6,
            self.gflops()
        );
        println!(
            "sizes:    arena {} B, code {} B, weights {} B, {} kernel calls",
            m.arena_bytes, m.code_bytes, m.weights_bytes, self.kernel_calls
        );
    }

    fn json(&self) -> String {
        let l = &self.latency;
        let m = self.manifest;
        let value = serde_json::json!({
            "model": self.model.display().to_string(),
            "target": self.target,
            "emulated": self.emulated,
            "pin": self.pin,
            "runs": self.runs,
            "warmup": self.warmup,
            "inputs": self.inputs_name(),
            "median_ms": l.median,
            "p10_ms": l.p10,
            "p90_ms": l.p90,
            "min_ms": l.min,
            "mean_ms": l.mean,
            "macs": self.macs,
            "mflops": 2.0 * self.macs as f64 / 1e6,
            "gflops": self.gflops(),
            "arena_bytes": m.arena_bytes,
            "code_bytes": m.code_bytes,
            "weights_bytes": m.weights_bytes,
            "kernel_calls": self.kernel_calls,
            "compile_ms": m.compile_ms,
        });
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_harness_run_lines() {
        let out = "run 1: 1.500 ms\nrun 2: 0.250 ms\nstatus: 0 (OK)\nbest: 0.250 ms\n";
        assert_eq!(parse_run_times(out), vec![1.5, 0.25]);
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let times: Vec<f64> = (1..=11).map(f64::from).collect();
        let l = latency(&times);
        assert_eq!(l.median, 6.0);
        assert_eq!(l.p10, 2.0);
        assert_eq!(l.p90, 10.0);
        assert_eq!(l.min, 1.0);
        assert_eq!(l.mean, 6.0);
        let l = latency(&[4.0, 2.0]);
        assert_eq!(l.median, 3.0);
        assert_eq!(latency(&[7.0]).p90, 7.0);
    }

    #[test]
    fn random_inputs_are_in_range() {
        let mut rng = SplitMix(1);
        let spec = IoSpec {
            name: "x".into(),
            dtype: DType::F32,
            shape: vec![2, 50],
        };
        let t = random_tensor(&spec, &mut rng).unwrap();
        assert!(t.to_f64_vec().iter().all(|v| (-1.0..1.0).contains(v)));
    }
}
