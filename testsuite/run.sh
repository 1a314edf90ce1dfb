#!/usr/bin/env bash
# The whole test suite, as CI runs it: build, lints, unit and cross-crate tests, the
# example model and the Rust runtime example, the ONNX node tests (strict and
# ahead-of-time forms; reference evaluator, native x86_64, native aarch64 under
# qemu, wasm32 under Node.js) checked against the ratchet, and the model zoo on
# every engine and target. Installs what it needs on a fresh Debian machine: the
# cross compilers, qemu and Node.js (apt-get), a Python venv with pinned onnx (pip).
# Usage: testsuite/run.sh [--update-ratchet]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
update_ratchet=""
[ "${1:-}" = "--update-ratchet" ] && update_ratchet="--update-ratchet"

step() { printf '\n== %s ==\n' "$*"; }

# ---- prerequisites (a failure here stops the run)
step "cross toolchains and qemu"
testsuite/setup_toolchains.sh

step "build"
cargo build --release --locked
nnc="$root/target/release/nnc"

step "lints"
cargo fmt --all -- --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings

step "python side (onnx node tests)"
testsuite/setup_venv.sh
python="$root/testsuite/.venv/bin/python"
cases="$root/target/node-tests"
stamp="$cases/.generated-by"
want="$("$python" -c 'import onnx; print(onnx.__version__)') $(sha1sum testsuite/gen_node_tests.py | cut -c1-12)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  rm -rf "$cases"
  "$python" testsuite/gen_node_tests.py "$cases"
  echo "$want" > "$stamp"
fi

# ---- test steps: each runs even if an earlier one failed; the summary says which
passed=0
failed=0
failures=()
check() {
  local name=$1
  shift
  step "$name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

milestone="$root/../shared/conformance/milestone1_cases.txt"
milestone_args=()
[ -f "$milestone" ] && milestone_args=(--milestone "$milestone")
conformance() {
  "$python" testsuite/conformance.py --nnc "$nnc" --cases "$cases" "${milestone_args[@]}" \
    --ratchet testsuite/ratchet.json $update_ratchet "$@"
}

check "unit and cross-crate tests" cargo test --release --locked --workspace
check "example model (native)" "$nnc" test examples/tiny_cnn
check "Rust runtime example" bash -c "cd examples/rust_runtime && NNC='$nnc' cargo run --release --quiet"
check "conformance: reference evaluator" conformance --engine eval --form both \
  --json "$root/target/conformance-eval.json"
check "conformance: native x86_64" conformance --engine native --form both \
  --json "$root/target/conformance-native.json"
check "conformance: native aarch64 (qemu)" conformance --engine native --target aarch64 \
  --form aot --json "$root/target/conformance-aarch64.json"
check "conformance: wasm32 (node)" conformance --engine native --target wasm32 \
  --form aot --json "$root/target/conformance-wasm32.json"
check "zoo: reference evaluator" testsuite/zoo.sh "$nnc" eval
check "zoo: native x86_64" testsuite/zoo.sh "$nnc" native
# The wide GEMM microkernels, at each level the host can run.
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
  check "zoo: native x86_64 AVX2 microkernels" testsuite/zoo.sh "$nnc" native --cpu avx2,fma
  check "conformance: native x86_64 AVX2 microkernels" conformance --engine native \
    --form aot --cpu avx2,fma --json "$root/target/conformance-native-avx2.json"
fi
if grep -qw avx512f /proc/cpuinfo; then
  check "zoo: native x86_64 AVX-512 microkernels" testsuite/zoo.sh "$nnc" native --cpu avx512f
  check "conformance: native x86_64 AVX-512 microkernels" conformance --engine native \
    --form aot --cpu avx512f --json "$root/target/conformance-native-avx512.json"
fi
check "zoo: native aarch64 (qemu)" testsuite/zoo.sh "$nnc" native --target aarch64
check "zoo: native riscv64 (qemu), small models" \
  env ZOO_MODELS="kws_dscnn mlp_784_256_256_10 mobilenet_v2" testsuite/zoo.sh "$nnc" native --target riscv64
check "zoo: wasm32 (node)" testsuite/zoo.sh "$nnc" native --target wasm32
check "zoo: valgrind (no invalid access)" \
  env ZOO_MODELS="kws_dscnn mobilenet_v2" testsuite/zoo.sh "$nnc" native --runner "valgrind --error-exitcode=1 -q"
check "bare-metal build has no undefined symbols" testsuite/check_bare_metal.sh "$nnc"

step "summary"
[ "$failed" -eq 0 ] || echo "failing steps: ${failures[*]}"
echo "suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
