//! The FMA peaks of the host (128-, 256- and 512-bit vectors): the yardstick of
//! `nnc bench --per-kernel`, at the width the target's GEMM tiles use.
//!
//! Tight loops of independent `vfmadd` on vector registers (enough accumulators
//! to cover the FMA latency on every port), written in C with intrinsics and
//! compiled by the host's C compiler, so that it measures the core and not our
//! code generator. Only on x86_64 hosts (aarch64 and riscv64 run under emulation
//! here, where a peak means nothing).

use std::path::Path;

use nnc_ir::{Arch, Microkernel, Target};

use crate::error::{Error, Result};
use crate::toolchain::Toolchain;

const SOURCE: &str = r#"
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Independent accumulators to cover the FMA latency on every port: 12 where the
   width has 16 registers, 24 for 512-bit (32 registers; 12 do not reach its peak).
   One loop per vector width, the same code with the width's intrinsics. */
#define FMA_LOOP(NAME, TARGET, VEC, SET1, FMADD, ADD, REG, ACC)                         \
__attribute__((target(TARGET), noinline)) static float NAME(long iterations, float seed) { \
    VEC a[ACC];                                                                        \
    _Pragma("GCC unroll 32") for (int j = 0; j < ACC; j++) a[j] = SET1(seed);          \
    const VEC m = SET1(0.999999f), c = SET1(1e-7f);                                    \
    for (long i = 0; i < iterations; i++) {                                            \
        _Pragma("GCC unroll 32") for (int j = 0; j < ACC; j++) {                       \
            a[j] = FMADD(a[j], m, c);                                                  \
            __asm__ volatile("" : "+" REG(a[j]));                                      \
        }                                                                              \
    }                                                                                  \
    VEC s = a[0];                                                                      \
    _Pragma("GCC unroll 32") for (int j = 1; j < ACC; j++) s = ADD(s, a[j]);           \
    float out[16];                                                                     \
    __builtin_memcpy(out, &s, sizeof(float));                                          \
    return out[0];                                                                     \
}

FMA_LOOP(fma128, "fma", __m128, _mm_set1_ps, _mm_fmadd_ps, _mm_add_ps, "x", 12)
FMA_LOOP(fma256, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, "x", 12)
FMA_LOOP(fma512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, "v", 24)

static void measure(const char *name, float (*loop)(long, float), int lanes, int acc) {
    const long iterations = 20000000;
    double best = 0.0;
    float sink = 0.0f;
    for (int run = 0; run < 7; run++) {
        double start = now_s();
        sink += loop(iterations, 1.0f + (float)run);
        double gflops = (double)acc * lanes * 2 * (double)iterations / (now_s() - start) / 1e9;
        if (gflops > best) best = gflops;
    }
    printf("%s: %.2f GFLOP/s (checksum %g)\n", name, best, (double)sink);
}

int main(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("fma")) measure("peak128", fma128, 4, 12);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        measure("peak256", fma256, 8, 12);
    if (__builtin_cpu_supports("avx512f")) measure("peak512", fma512, 16, 24);
    return 0;
}
"#;

/// The measured FMA peaks (best of several runs) of the widths the host has.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Peaks {
    pub bits128: Option<f64>,
    pub bits256: Option<f64>,
    pub bits512: Option<f64>,
}

impl Peaks {
    /// The peak at the vector width of `target`'s GEMM tiles.
    pub fn for_target(&self, target: &Target) -> Option<f64> {
        match target.microkernel() {
            Microkernel::Avx512 => self.bits512,
            Microkernel::Avx2 => self.bits256,
            Microkernel::Portable => self.bits128,
        }
    }
}

/// The measured FMA peaks, or `None` when the target is not x86_64. Run it only
/// for the host (not under emulation); the toolchain's runner prefix (e.g.
/// `taskset`) applies.
pub fn fma_peaks(target: &Target, toolchain: &Toolchain, dir: &Path) -> Result<Option<Peaks>> {
    if target.arch != Arch::X86_64 {
        return Ok(None);
    }
    let source = dir.join("fma_peak.c");
    std::fs::write(&source, SOURCE).map_err(|e| Error::file(&source, e))?;
    let executable = dir.join("fma_peak");
    let status = std::process::Command::new(&toolchain.cc)
        .args(["-O2", "-o"])
        .arg(&executable)
        .arg(&source)
        .status()
        .map_err(|e| Error::Tool(format!("{}: {e}", toolchain.cc)))?;
    if !status.success() {
        return Err(Error::Tool(format!(
            "{} could not build the FMA peak loops",
            toolchain.cc
        )));
    }
    let output = toolchain.run(&executable, &[])?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let peak = |name: &str| {
        stdout.lines().find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(": ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
    };
    Ok(Some(Peaks {
        bits128: peak("peak128"),
        bits256: peak("peak256"),
        bits512: peak("peak512"),
    }))
}
