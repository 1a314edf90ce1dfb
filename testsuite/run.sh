#!/usr/bin/env bash
# The whole test suite, as CI runs it: build, unit and cross-crate tests, lints, the
# ONNX node tests (strict and ahead-of-time forms, checked against the ratchet) and
# the model zoo. Installs what it needs (a Python venv with pinned onnx) on a fresh
# machine. Usage: testsuite/run.sh [--update-ratchet]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
update_ratchet=""
[ "${1:-}" = "--update-ratchet" ] && update_ratchet="--update-ratchet"

step() { printf '\n== %s ==\n' "$*"; }

step "build"
cargo build --release --locked
nnc="$root/target/release/nnc"

step "lints"
cargo fmt --all -- --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings

step "unit and cross-crate tests"
cargo test --release --locked --workspace

step "example model"
"$nnc" test examples/tiny_cnn

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

step "conformance (eval engine)"
milestone="$root/../shared/conformance/milestone1_cases.txt"
milestone_args=()
[ -f "$milestone" ] && milestone_args=(--milestone "$milestone")
"$python" testsuite/conformance.py --nnc "$nnc" --cases "$cases" --engine eval --form both \
  "${milestone_args[@]}" --ratchet testsuite/ratchet.json $update_ratchet \
  --json "$root/target/conformance-eval.json"

step "model zoo (eval engine)"
testsuite/zoo.sh "$nnc" eval
