//! What the compiler needs to know about the machine it generates code for. The
//! cost model (passes) and the code generators (backends) read the same facts.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
    Riscv64,
    Wasm32,
}

/// The object format of native code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryFormat {
    Elf,
    MachO,
    Coff,
    Wasm,
}

/// A code-generation target: architecture, object format and the features that
/// shape kernels (vector width, register count, FMA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The full target triple, e.g. `aarch64-unknown-linux-gnu`.
    pub triple: String,
    pub arch: Arch,
    pub format: BinaryFormat,
    /// Whether the target runs an operating system (false for `*-none*`).
    pub hosted: bool,
    /// Width of the vectors kernels use, in bytes (16 everywhere today: Cranelift
    /// lowers 128-bit vectors on every backend).
    pub vector_bytes: usize,
    /// Vector registers the register allocator can use.
    pub vector_registers: usize,
    /// Fused multiply-add instructions are available.
    pub has_fma: bool,
    /// CPU features asked for (`--cpu`), as given.
    pub cpu_features: Vec<String>,
    /// `--kernels portable`: GEMM tiles use the portable 128-bit code even where
    /// the features allow a wide microkernel.
    pub portable_kernels: bool,
    /// `--no-winograd`: 3x3 stride-1 convolutions keep the direct form instead
    /// of Winograd F(2x2, 3x3) (to measure one against the other).
    pub no_winograd: bool,
}

/// The code a kernel's GEMM tiles become: the portable 128-bit loop nest, or an
/// x86_64 microkernel in 256-bit (AVX2+FMA) or 512-bit (AVX-512F) registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Microkernel {
    Portable,
    Avx2,
    Avx512,
}

impl Microkernel {
    pub fn name(self) -> &'static str {
        match self {
            Microkernel::Portable => "portable",
            Microkernel::Avx2 => "avx2",
            Microkernel::Avx512 => "avx512",
        }
    }
}

impl Target {
    /// Lanes of a vector of `elem_bytes`-byte elements.
    pub fn lanes(&self, elem_bytes: usize) -> u8 {
        (self.vector_bytes / elem_bytes).clamp(1, 16) as u8
    }

    /// f32 lanes per vector.
    pub fn f32_lanes(&self) -> u8 {
        self.lanes(4)
    }

    /// The widest microkernel the CPU features allow (AVX-512F, then AVX2 with
    /// FMA), unless `--kernels portable` asked for the portable code.
    pub fn microkernel(&self) -> Microkernel {
        let has = |f: &str| self.cpu_features.iter().any(|g| g == f);
        if self.arch != Arch::X86_64 || self.portable_kernels {
            Microkernel::Portable
        } else if has("avx512f") && has("fma") {
            Microkernel::Avx512
        } else if has("avx2") && has("fma") {
            Microkernel::Avx2
        } else {
            Microkernel::Portable
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.triple)?;
        if !self.cpu_features.is_empty() {
            write!(f, " (+{})", self.cpu_features.join(",+"))?;
        }
        Ok(())
    }
}
