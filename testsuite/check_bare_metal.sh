#!/usr/bin/env bash
# A model built for bare metal (aarch64-unknown-none) must link with nothing but
# itself: no libc, no libm, no compiler runtime. Checks `nm -u` is empty.
# Usage: testsuite/check_bare_metal.sh NNC_BIN
set -euo pipefail
nnc="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
model="$root/../shared/zoo/mobilenet_v2/model.onnx"
[ -f "$model" ] || model="$root/examples/tiny_cnn/model.onnx"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$nnc" build "$model" --target aarch64-unknown-none -o "$out" --name bare_metal
undefined="$(nm -u "$out/bare_metal.a" | grep -v -e '^$' -e ':$' || true)"
if [ -n "$undefined" ]; then
  echo "undefined symbols in the aarch64-unknown-none build:"
  echo "$undefined"
  exit 1
fi
echo "nm -u: no undefined symbols"
cc -std=c99 -Wall -Werror -pedantic -I"$out" -x c -c -o /dev/null - <<'C'
#include "bare_metal.h"
int main(void) { return BARE_METAL_NUM_INPUTS == 1 ? 0 : 1; }
C
echo "header compiles with -std=c99 -Wall -Werror -pedantic"
