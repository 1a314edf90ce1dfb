#!/usr/bin/env bash
# Installs what the native engine needs to link and run generated code for every
# target nnc tests on: the aarch64 and riscv64 GNU cross compilers and qemu-user
# (Debian packages; needs root, as CI has), and Node.js for wasm32. Does nothing
# when they are present.
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v riscv64-linux-gnu-gcc >/dev/null || need+=(gcc-riscv64-linux-gnu libc6-dev-riscv64-cross)
command -v qemu-aarch64 >/dev/null && command -v qemu-riscv64 >/dev/null || need+=(qemu-user)
command -v valgrind >/dev/null || need+=(valgrind)
command -v nm >/dev/null || need+=(binutils)
# wasm32 code runs under Node.js.
command -v node >/dev/null || need+=(nodejs)
if [ ${#need[@]} -eq 0 ]; then
  echo "toolchains present"
  exit 0
fi
echo "installing: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
