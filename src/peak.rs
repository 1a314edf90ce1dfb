//! The 128-bit FMA peak of the host: the yardstick of `nnc bench --per-kernel`.
//!
//! A tight loop of independent `vfmadd` on 128-bit registers (enough accumulators
//! to cover the FMA latency on every port), written in C with intrinsics and
//! compiled by the host's C compiler, so that it measures the core and not our
//! code generator. Only on x86_64 hosts (aarch64 and riscv64 run under emulation
//! here, where a peak means nothing).

use std::path::Path;

use nnc_ir::{Arch, Target};

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

/* 12 independent accumulators: 2 FMA ports x 4-cycle latency needs at least 8. */
__attribute__((target("fma"), noinline)) static float fma_loop(long iterations, float seed) {
    __m128 a0 = _mm_set1_ps(seed), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m128 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    const __m128 m = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-7f);
    for (long i = 0; i < iterations; i++) {
        a0 = _mm_fmadd_ps(a0, m, c); a1 = _mm_fmadd_ps(a1, m, c);
        a2 = _mm_fmadd_ps(a2, m, c); a3 = _mm_fmadd_ps(a3, m, c);
        a4 = _mm_fmadd_ps(a4, m, c); a5 = _mm_fmadd_ps(a5, m, c);
        a6 = _mm_fmadd_ps(a6, m, c); a7 = _mm_fmadd_ps(a7, m, c);
        a8 = _mm_fmadd_ps(a8, m, c); a9 = _mm_fmadd_ps(a9, m, c);
        a10 = _mm_fmadd_ps(a10, m, c); a11 = _mm_fmadd_ps(a11, m, c);
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5),
                         "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
    }
    __m128 s = _mm_add_ps(_mm_add_ps(_mm_add_ps(a0, a1), _mm_add_ps(a2, a3)),
                          _mm_add_ps(_mm_add_ps(a4, a5), _mm_add_ps(a6, a7)));
    s = _mm_add_ps(s, _mm_add_ps(_mm_add_ps(a8, a9), _mm_add_ps(a10, a11)));
    return _mm_cvtss_f32(s);
}

int main(void) {
    const long iterations = 20000000;
    double best = 0.0;
    float sink = 0.0f;
    for (int run = 0; run < 7; run++) {
        double start = now_s();
        sink += fma_loop(iterations, 1.0f + (float)run);
        double gflops = 12.0 * 4 * 2 * (double)iterations / (now_s() - start) / 1e9;
        if (gflops > best) best = gflops;
    }
    printf("peak: %.2f GFLOP/s (checksum %g)\n", best, (double)sink);
    return 0;
}
"#;

/// The measured 128-bit FMA peak (best of several runs), or `None` when the
/// target is not x86_64. Run it only for the host (not under emulation); the
/// toolchain's runner prefix (e.g. `taskset`) applies.
pub fn fma128_peak_gflops(
    target: &Target,
    toolchain: &Toolchain,
    dir: &Path,
) -> Result<Option<f64>> {
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
            "{} could not build the FMA peak loop",
            toolchain.cc
        )));
    }
    let output = toolchain.run(&executable, &[])?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let peak = stdout.lines().find_map(|l| {
        l.strip_prefix("peak: ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    Ok(peak)
}
