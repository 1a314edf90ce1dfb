// Times onnxruntime-web's single-threaded SIMD wasm backend on one model under
// Node.js, for testsuite/bench.py's wasm column:
//
//   node testsuite/bench_ort_web.mjs ORT_WEB_DIR MODEL.onnx JOB.json
//
// JOB.json: {"inputs": [{"name", "dtype", "shape", "file"}], "warmup": W,
// "runs": N}; each file holds the raw little-endian tensor. Prints one JSON line:
// {"median_ms", "runs", "times_ms"} (a clock around each `session.run`).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [ortDir, modelPath, jobPath] = process.argv.slice(2);
const require = createRequire(join(ortDir, "package.json"));
const ort = require("onnxruntime-web");
ort.env.wasm.numThreads = 1;
ort.env.wasm.simd = true;
ort.env.logLevel = "error";

const job = JSON.parse(readFileSync(jobPath, "utf8"));
const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};
const session = await ort.InferenceSession.create(readFileSync(modelPath), {
  executionProviders: ["wasm"],
  graphOptimizationLevel: "all",
  executionMode: "sequential",
});
const feeds = {};
for (const input of job.inputs) {
  const bytes = new Uint8Array(readFileSync(input.file));
  const Ctor = ARRAYS[input.dtype];
  if (!Ctor) throw new Error(`dtype ${input.dtype} is not supported by this script`);
  feeds[input.name] = new ort.Tensor(input.dtype, new Ctor(bytes.buffer), input.shape);
}
for (let i = 0; i < job.warmup; i++) await session.run(feeds);
const times = [];
for (let i = 0; i < job.runs; i++) {
  const start = process.hrtime.bigint();
  await session.run(feeds);
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
}
const sorted = [...times].sort((a, b) => a - b);
const mid = sorted.length >> 1;
const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
console.log(JSON.stringify({ median_ms: median, runs: times.length, times_ms: times }));
