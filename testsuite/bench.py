#!/usr/bin/env python3
"""Times nnc, onnxruntime and tract on ONNX models, one core each, and writes
BENCHMARKS.md.

    testsuite/.venv/bin/python testsuite/bench.py [MODEL_DIR_OR_ONNX ...]
        [--runs N] [--rounds R] [--budget S] [--cpu CPU] [--cpu-features avx2,fma]
        [--kernels auto|portable]
        [--nnc PATH] [--out BENCHMARKS.md] [--wasm | --only-wasm] [--wasm-cpu relaxed-simd]

Default models: every folder of ../shared/zoo. Each model folder holds model.onnx
and, ideally, test_data_set_0/input_K.pb (used as the inputs of every engine;
random inputs otherwise).

Method: the whole script (and so the nnc harness it starts) is pinned to one CPU;
onnxruntime runs with one intra-op and one inter-op thread, sequential execution
and all graph optimisations; tract runs its default optimised CPU plan. The
engines are interleaved: R rounds, each timing nnc, then onnxruntime, then tract,
each after its own warm-up; an engine's figure is the median over rounds of the
median of its runs in that round. Each engine gets up to N timed runs per round,
fewer (at least 3) when that would take more than --budget seconds.

nnc is timed by its own harness (`nnc bench --json`: clock around NAME_run only);
onnxruntime and tract by time.perf_counter around one `run` call from Python,
which adds a few microseconds of binding overhead: it only matters for the
smallest models.

With --wasm (or --only-wasm, which times nothing else), a second table compares
nnc's WebAssembly build (`nnc bench --target wasm32`, timed by its Node.js runner
around `NAME_run`) with onnxruntime-web's single-threaded SIMD wasm backend
(`ort.env.wasm.numThreads = 1`, timed around `session.run` by
testsuite/bench_ort_web.mjs) under the same Node.js. onnxruntime-web is installed
with npm into target/ort-web from the pinned testsuite/package.json and lockfile.

Not part of CI: timings depend on the machine and on what else runs on it.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ZOO = REPO.parent / "shared" / "zoo"
WARMUP = 2


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*", type=Path,
                   help="model folders or .onnx files (default: every model in ../shared/zoo)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per engine per round (max)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    p.add_argument("--budget", type=float, default=3.0,
                   help="seconds of timed runs per engine per round; fewer runs past it")
    p.add_argument("--cpu", type=int, default=None,
                   help="CPU to pin to (default: the last one this process may use)")
    p.add_argument("--cpu-features", default="",
                   help="nnc --cpu features, e.g. avx2,fma (default: the target's baseline)")
    p.add_argument("--kernels", choices=["auto", "portable"], default="auto",
                   help="nnc --kernels: GEMM tiles as AVX2/AVX-512 microkernels where the "
                        "features allow (auto), or the portable 128-bit code")
    p.add_argument("--nnc", type=Path, default=REPO / "target" / "release" / "nnc",
                   help="the nnc binary (build it with cargo build --release)")
    p.add_argument("--nnc-label", default=None,
                   help="what to call the nnc build in the report (default: this checkout's "
                        "git revision)")
    p.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    p.add_argument("--no-tract", action="store_true", help="skip tract even if installed")
    p.add_argument("--wasm", action="store_true",
                   help="also time nnc's wasm32 build and onnxruntime-web under Node.js")
    p.add_argument("--only-wasm", action="store_true",
                   help="time only the wasm engines (nnc wasm32, onnxruntime-web)")
    p.add_argument("--wasm-cpu", default="",
                   help="nnc --cpu features for wasm32, e.g. relaxed-simd")
    args = p.parse_args()
    args.wasm = args.wasm or args.only_wasm
    return args


def model_path(arg: Path) -> Path:
    return arg / "model.onnx" if arg.is_dir() else arg


def model_name(path: Path) -> str:
    return path.parent.name if path.name == "model.onnx" else path.stem


def load_inputs(path: Path, session):
    """test_data_set_0/input_K.pb beside the model, else seeded random inputs
    shaped like the session's inputs."""
    data_set = path.parent / "test_data_set_0"
    metas = session.get_inputs()
    files = [data_set / f"input_{k}.pb" for k in range(len(metas))]
    if files and all(f.is_file() for f in files):
        arrays = [numpy_helper.to_array(onnx.load_tensor(str(f))) for f in files]
        return {m.name: a for m, a in zip(metas, arrays)}, "test_data_set_0"
    rng = np.random.default_rng(0)
    inputs = {}
    for m in metas:
        shape = [d if isinstance(d, int) else 1 for d in m.shape]
        if "float" in m.type:
            dtype = np.float16 if "float16" in m.type else np.float32
            inputs[m.name] = rng.uniform(-1, 1, shape).astype(dtype)
        elif "bool" in m.type:
            inputs[m.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            inputs[m.name] = rng.integers(0, 4, shape).astype(np.int64)
    return inputs, "random"


def time_runs(run, budget: float, max_runs: int):
    """Warm-up, then up to max_runs timed calls of `run` (ms), at least 3, fewer
    when the budget would be exceeded."""
    for _ in range(WARMUP):
        run()
    times = []
    spent = 0.0
    while len(times) < max_runs and (len(times) < 3 or spent < budget):
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        times.append(elapsed * 1e3)
        spent += elapsed
    return statistics.median(times), len(times)


class Nnc:
    name = "nnc"
    target_args: list = []

    def __init__(self, exe: Path, path: Path, cpu: int, features: str, kernels: str = "auto"):
        self.exe, self.path, self.cpu, self.features = exe, path, cpu, features
        self.kernels = kernels
        probe = self.bench(runs=1, warmup=1)
        self.info = probe
        self.estimate_ms = probe["median_ms"]

    def bench(self, runs: int, warmup: int) -> dict:
        command = [str(self.exe), "bench", str(self.path), "--json", "--runs", str(runs),
                   "--warmup", str(warmup), "--pin", str(self.cpu), *self.target_args]
        if self.features:
            command += ["--cpu", self.features]
        if self.kernels != "auto":
            command += ["--kernels", self.kernels]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            message = lines[-1] if lines else f"nnc bench exited with {done.returncode}"
            raise RuntimeError(message.removeprefix("nnc: error: "))
        return json.loads(done.stdout.strip().splitlines()[-1])

    def round(self, budget: float, max_runs: int):
        runs = max(3, min(max_runs, int(budget * 1e3 / max(self.estimate_ms, 1e-3))))
        result = self.bench(runs=runs, warmup=WARMUP)
        self.estimate_ms = result["median_ms"]
        return result["median_ms"], runs


class NncWasm(Nnc):
    """nnc's wasm32 build, timed under Node.js by nnc bench's runner script."""
    name = "nnc-wasm"
    target_args = ["--target", "wasm32"]


ORT_WEB_DIR = REPO / "target" / "ort-web"


def install_ort_web() -> Path:
    """onnxruntime-web at the version pinned in testsuite/package.json (npm ci)."""
    if not (ORT_WEB_DIR / "node_modules" / "onnxruntime-web").is_dir():
        ORT_WEB_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(REPO / "testsuite" / name, ORT_WEB_DIR / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ORT_WEB_DIR, check=True,
                       capture_output=True)
    return ORT_WEB_DIR


class OrtWeb:
    """onnxruntime-web, wasm backend, one thread, SIMD, under Node.js."""
    name = "ort-web"
    dtypes = {np.float32: "float32", np.float64: "float64", np.int64: "int64",
              np.int32: "int32", np.int8: "int8", np.uint8: "uint8", np.bool_: "bool"}

    def __init__(self, path: Path):
        self.path = path
        self.dir = install_ort_web()
        self.scratch = Path(tempfile.mkdtemp(prefix="nnc-ort-web-"))
        self.estimate_ms = None

    def prepare(self, inputs: dict):
        self.inputs = []
        for k, (name, value) in enumerate(inputs.items()):
            file = self.scratch / f"input_{k}.bin"
            file.write_bytes(np.ascontiguousarray(value).tobytes())
            dtype = self.dtypes.get(value.dtype.type)
            if dtype is None:
                raise RuntimeError(f"input dtype {value.dtype} not handled")
            self.inputs.append({"name": name, "dtype": dtype, "shape": list(value.shape),
                                "file": str(file)})
        self.estimate_ms = self.bench(runs=1, warmup=1)["median_ms"]

    def bench(self, runs: int, warmup: int) -> dict:
        job = self.scratch / "job.json"
        job.write_text(json.dumps({"inputs": self.inputs, "warmup": warmup, "runs": runs}))
        done = subprocess.run(["node", str(REPO / "testsuite" / "bench_ort_web.mjs"),
                               str(self.dir), str(self.path), str(job)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"node exited with {done.returncode}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def round(self, budget: float, max_runs: int):
        runs = max(3, min(max_runs, int(budget * 1e3 / max(self.estimate_ms, 1e-3))))
        result = self.bench(runs=runs, warmup=WARMUP)
        self.estimate_ms = result["median_ms"]
        return result["median_ms"], runs


class Ort:
    name = "onnxruntime"

    def __init__(self, path: Path):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])

    def prepare(self, inputs: dict):
        self.inputs = inputs

    def round(self, budget: float, max_runs: int):
        return time_runs(lambda: self.session.run(None, self.inputs), budget, max_runs)


class Tract:
    name = "tract"

    def __init__(self, path: Path):
        import tract
        # into_model types and declutters; into_runnable optimises for the CPU.
        self.runnable = tract.onnx().load(str(path)).into_model().into_runnable()

    def prepare(self, inputs: dict):
        self.inputs = list(inputs.values())

    def round(self, budget: float, max_runs: int):
        return time_runs(lambda: self.runnable.run(self.inputs), budget, max_runs)


def tract_version():
    try:
        import tract
        return tract.version()
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return None


def bench_model(path: Path, args, use_tract: bool) -> dict:
    row = {"model": model_name(path), "notes": []}
    engines = []
    if not args.only_wasm:
        try:
            nnc = Nnc(args.nnc, path, args.cpu, args.cpu_features, args.kernels)
            row["mflops"] = nnc.info["mflops"]
            row["nnc_inputs"] = nnc.info["inputs"]
            row["arena_bytes"] = nnc.info["arena_bytes"]
            row["code_bytes"] = nnc.info["code_bytes"]
            engines.append(nnc)
        except Exception as e:  # noqa: BLE001 - reported in the table
            row["notes"].append(f"nnc: {e}")
    if args.wasm:
        try:
            nnc_wasm = NncWasm(args.nnc, path, args.cpu, args.wasm_cpu)
            row.setdefault("mflops", nnc_wasm.info["mflops"])
            engines.append(nnc_wasm)
        except Exception as e:  # noqa: BLE001
            row["notes"].append(f"nnc-wasm: {e}")
    ort_session = None
    try:
        ort_session = Ort(path)
        if not args.only_wasm:
            engines.append(ort_session)
    except Exception as e:  # noqa: BLE001
        row["notes"].append(f"onnxruntime: {e}")
    inputs = None
    if ort_session is not None:
        inputs, source = load_inputs(path, ort_session.session)
        ort_session.prepare(inputs)
        row["inputs"] = source
    if args.wasm and inputs is not None:
        try:
            web = OrtWeb(path)
            web.prepare(inputs)
            engines.append(web)
        except Exception as e:  # noqa: BLE001
            row["notes"].append(f"ort-web: {e}")
    if use_tract and inputs is not None and not args.only_wasm:
        try:
            t = Tract(path)
            t.prepare(inputs)
            t.runnable.run(t.inputs)  # fails here on unsupported ops/types
            engines.append(t)
        except Exception as e:  # noqa: BLE001
            row["notes"].append(f"tract: {str(e).strip().splitlines()[0][:120]}")

    medians = {e.name: [] for e in engines}
    runs = {e.name: 0 for e in engines}
    for _ in range(args.rounds):
        for engine in list(engines):
            try:
                ms, n = engine.round(args.budget, args.runs)
                medians[engine.name].append(ms)
                runs[engine.name] += n
            except Exception as e:  # noqa: BLE001
                row["notes"].append(f"{engine.name}: {e}")
                engines.remove(engine)
                medians.pop(engine.name)
    for name, ms in medians.items():
        if ms:
            row[name] = statistics.median(ms)
            row[f"{name}_runs"] = runs[name]
    return row


def fmt_ms(v):
    if v is None:
        return ""
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def fmt_ratio(a, b):
    return f"{a / b:.1f}x" if a is not None and b else ""


def table(rows) -> str:
    head = ("| model | MFLOPs | nnc ms | ORT ms | nnc/ORT | tract ms | nnc/tract "
            "| nnc GFLOP/s |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        nnc, ort, tract = r.get("nnc"), r.get("onnxruntime"), r.get("tract")
        mflops = r.get("mflops")
        gflops = f"{mflops / nnc:.2f}" if nnc and mflops else ""
        lines.append(
            f"| {r['model']} | {'' if mflops is None else f'{mflops:.1f}'} | {fmt_ms(nnc)} "
            f"| {fmt_ms(ort)} | {fmt_ratio(nnc, ort)} | {fmt_ms(tract)} "
            f"| {fmt_ratio(nnc, tract)} | {gflops} |")
    return "\n".join(lines)


def wasm_table(rows) -> str:
    head = "| model | MFLOPs | nnc-wasm ms | ORT-web ms | nnc-wasm/ORT-web | nnc-wasm GFLOP/s |"
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        nnc, web = r.get("nnc-wasm"), r.get("ort-web")
        mflops = r.get("mflops")
        gflops = f"{mflops / nnc:.2f}" if nnc and mflops else ""
        lines.append(
            f"| {r['model']} | {'' if mflops is None else f'{mflops:.1f}'} | {fmt_ms(nnc)} "
            f"| {fmt_ms(web)} | {fmt_ratio(nnc, web)} | {gflops} |")
    return "\n".join(lines)


def node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "not installed"


def write_wasm_report(rows, args, command: str, started: datetime.datetime, load):
    """--only-wasm: the wasm table alone, with how it was made."""
    lock = json.loads((REPO / "testsuite" / "package-lock.json").read_text())
    web = lock["packages"]["node_modules/onnxruntime-web"]["version"]
    lines = [
        "## WebAssembly (Node.js)",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}; Node.js {node_version()}; "
        f"onnxruntime-web {web} (wasm backend, 1 thread, SIMD); nnc {args.nnc_label or git_rev()} "
        f"`--target wasm32` {('--cpu ' + args.wasm_cpu) if args.wasm_cpu else '(SIMD128, no relaxed SIMD)'}; "
        f"pinned to CPU {args.cpu}; load average {load[0]:.1f} at the start, {load[1]:.1f} at the end",
        f"- command: `{command}`",
        f"- method: {args.rounds} interleaved rounds, each engine warmed up then timed up to "
        f"{args.runs} runs per round; nnc-wasm by its Node.js runner around `NAME_run` (inputs "
        "copied in and outputs out included), onnxruntime-web around `session.run`.",
        "",
        wasm_table(rows),
        "",
    ]
    notes = [(r["model"], n) for r in rows for n in r["notes"]]
    if notes:
        lines += ["Notes:", ""] + [f"- {m}: {n}" for m, n in notes] + [""]
    args.out.write_text("\n".join(lines))


def lscpu() -> dict:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return {}
    fields = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "") if rev else "unknown"
    except OSError:
        return "unknown"


# A hand-written section of the report from this heading on survives a rerun.
KEPT_HEADING = "## Analysis"


def write_report(rows, args, command: str, started: datetime.datetime, tract_ver, load):
    import onnxruntime
    cpu = lscpu()
    flags = set(cpu.get("Flags", "").split())
    simd = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f") if f in flags]
    features = args.cpu_features or "baseline (no --cpu)"
    if args.kernels != "auto":
        features += f", --kernels {args.kernels}"
    lines = [
        "# Benchmarks",
        "",
        "Single-core latency of nnc's native code against onnxruntime and tract, made by "
        "`testsuite/bench.py` (not run in CI; rerun it on your machine, numbers from "
        "different machines do not compare).",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {cpu.get('Model name', platform.processor() or 'unknown')}, "
        f"{os.cpu_count()} logical CPUs ({cpu.get('Architecture', platform.machine())}; "
        f"SIMD: {', '.join(simd) or 'unknown'}), pinned to CPU {args.cpu}; load average "
        f"{load[0]:.1f} at the start, {load[1]:.1f} at the end (other work on the machine "
        "shows up as noise)",
        f"- nnc {args.nnc_label or git_rev()} (native code for the host, CPU features: {features}); "
        f"onnxruntime {onnxruntime.__version__}; "
        f"tract {tract_ver or 'not available'}; Python {platform.python_version()}",
        f"- command: `{command}`",
        f"- method: {args.rounds} interleaved rounds (nnc, onnxruntime, tract), each engine "
        f"warmed up then timed up to {args.runs} runs per round (at least 3, fewer past "
        f"{args.budget:g} s); figure = median over rounds of the per-round median. "
        "onnxruntime: 1 intra-op + 1 inter-op thread, sequential, ORT_ENABLE_ALL. "
        "nnc is timed by its C harness around `NAME_run`; onnxruntime and tract by "
        "`time.perf_counter` around one Python `run` call (a few microseconds of "
        "binding overhead). MFLOPs = 2 x MACs of nnc's compiled graph; "
        "GFLOP/s = MFLOPs / nnc ms.",
        "",
        table(rows),
        "",
    ]
    if args.wasm:
        lines += ["WebAssembly under Node.js " + node_version() + " (nnc `--target wasm32` vs "
                  "onnxruntime-web, wasm backend, 1 thread, SIMD):", "", wasm_table(rows), ""]
    notes = [(r["model"], n) for r in rows for n in r["notes"]]
    if any(r["model"].endswith("int8_qdq") for r in rows):
        notes.append(("mobilenet_v2_int8_qdq",
                      "int8 QDQ model: nnc runs the QDQ form as written (float convolutions "
                      "between QuantizeLinear/DequantizeLinear pairs, weights dequantized at "
                      "run time); onnxruntime fuses each group into an int8 kernel. MFLOPs "
                      "count the convolutions' MACs either way"))
    if notes:
        lines.append("Notes:")
        lines.append("")
        lines.extend(f"- {model}: {note}" for model, note in notes)
        lines.append("")
    previous = args.out.read_text() if args.out.is_file() else ""
    kept = previous.find(KEPT_HEADING)
    if kept >= 0:
        lines.append(previous[kept:].rstrip("\n"))
        lines.append("")
    args.out.write_text("\n".join(lines))


def main():
    args = parse_args()
    if args.cpu is None:
        args.cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {args.cpu})
    if not args.nnc.is_file():
        sys.exit(f"{args.nnc} not found: run `cargo build --release` first, or pass --nnc")
    # A private copy, so that a rebuild during the run cannot mix two compilers.
    snapshot = Path(tempfile.mkdtemp(prefix="nnc-bench-"))
    shutil.copy2(args.nnc, snapshot / "nnc")
    args.nnc = snapshot / "nnc"
    try:
        run_all(args)
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)


def run_all(args):
    paths = [model_path(m) for m in args.models] or sorted(
        p / "model.onnx" for p in DEFAULT_ZOO.iterdir() if (p / "model.onnx").is_file())
    tract_ver = None if args.no_tract else tract_version()
    if tract_ver is None and not args.no_tract:
        print("tract: not available (pip install tract into the venv to compare with it)")
    command = " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = os.getloadavg()[0]
    rows = []
    for path in paths:
        print(f"== {model_name(path)}", flush=True)
        row = bench_model(path, args, tract_ver is not None)
        for note in row["notes"]:
            print(f"   {note}")
        rows.append(row)
    load = (load_start, os.getloadavg()[0])
    if args.only_wasm:
        print(wasm_table(rows))
        write_wasm_report(rows, args, command, started, load)
        print(f"wrote {args.out}")
        return
    print(table(rows))
    if args.wasm:
        print(wasm_table(rows))
    write_report(rows, args, command, started, tract_ver, load)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
