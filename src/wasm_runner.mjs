// Runs a model nnc compiled to WebAssembly on raw little-endian tensor files, with
// the C harness's interface (nnc writes this file beside the build it runs):
//
//   node runner.mjs MODEL.mjs [--repeat N] IN_0.bin ... OUT_0.bin ...
//
// With --repeat N it runs N times on the same inputs and prints `run K: T ms` for
// each, as the C harness does for `nnc bench`.
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const modulePath = args.shift();
let repeat = 1;
if (args[0] === "--repeat") {
  args.shift();
  repeat = Number(args.shift());
  if (!Number.isInteger(repeat) || repeat < 1) {
    console.error("runner: --repeat takes a positive integer");
    process.exit(2);
  }
}
const model = await import(pathToFileURL(modulePath).href);
const { inputs, outputs } = model;
if (args.length !== inputs.length + outputs.length) {
  const names = [...inputs.map((_, k) => `IN_${k}.bin`), ...outputs.map((_, k) => `OUT_${k}.bin`)];
  console.error(`usage: node runner.mjs MODEL.mjs [--repeat N] ${names.join(" ")}`);
  process.exit(2);
}
const values = inputs.map((spec, k) => {
  // A copy into a fresh ArrayBuffer: aligned for any typed array.
  const bytes = new Uint8Array(readFileSync(args[k]));
  if (bytes.byteLength % spec.array.BYTES_PER_ELEMENT !== 0) {
    console.error(`runner: input ${k} ('${spec.name}'): ${bytes.byteLength} bytes is not a whole number of ${spec.dtype}`);
    process.exit(2);
  }
  return new spec.array(bytes.buffer);
});
const instance = await model.load();
let results;
for (let r = 1; r <= repeat; r++) {
  const start = process.hrtime.bigint();
  results = instance.run(values);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (repeat > 1) console.log(`run ${r}: ${ms.toFixed(4)} ms`);
}
results.forEach((value, k) => {
  writeFileSync(args[inputs.length + k], new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
});
console.log("status: 0 (OK)");
