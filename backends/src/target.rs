//! Target selection: `--target` names and `--cpu` features -> an [`nnc_ir::Target`],
//! and a `Target` -> the Cranelift ISA that generates its code.
//!
//! The `Target` is the single source of truth: [`isa_for`] derives every Cranelift
//! flag from it, so that what the cost model and the lowerings assume (vector width,
//! FMA) is what the emitter gets.
//!
//! Per architecture:
//! - **x86_64**: the baseline is x86-64-v2 (SSE4.2, POPCNT, CMPXCHG16B); `--cpu`
//!   adds AVX, AVX2, FMA, AVX-512... (`native` detects the host's). FMA is used only
//!   when asked for: without it Cranelift would turn every `fma` into libcalls.
//! - **aarch64**: NEON and FMA are part of the architecture.
//! - **riscv64**: rv64gc plus the V extension (VLEN >= 128), always: Cranelift's
//!   128-bit vectors need it (without it Cranelift panics on vector code). The
//!   generated code therefore needs a V-capable core; qemu runs it with
//!   `-cpu rv64,v=true,vlen=128`.

use std::str::FromStr;

use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use nnc_ir::{Arch, BinaryFormat, Target};
use target_lexicon::{Architecture, OperatingSystem, Triple};
use thiserror::Error;

/// The architectures nnc generates native code for.
pub const SUPPORTED_ARCHS: &str = "x86_64, aarch64, riscv64, wasm32";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    #[error("unknown target '{name}': {reason}")]
    UnknownTarget { name: String, reason: String },
    #[error(
        "target '{triple}': architecture {arch} is not supported (supported: {SUPPORTED_ARCHS})"
    )]
    UnsupportedArch { triple: String, arch: String },
    #[error("target '{triple}': binary format {format} is not supported for native code")]
    UnsupportedFormat { triple: String, format: String },
    #[error("unknown CPU feature '{feature}' for {arch} (known: {known})")]
    UnknownFeature {
        feature: String,
        arch: &'static str,
        known: String,
    },
    #[error("CPU feature 'native' needs the target to be the host's architecture ({host})")]
    NativeNotHost { host: String },
    #[error("Cranelift rejects target '{triple}': {reason}")]
    Isa { triple: String, reason: String },
}

/// Parses a `--target` name (`x86_64`, `aarch64`, `riscv64`, `host` or a full
/// triple) and `--cpu` features into a [`Target`]. `native` among the features is
/// replaced by the host's detected features, so the `Target` says exactly what the
/// code may use.
pub fn parse_target(name: &str, cpu_features: &[String]) -> Result<Target, TargetError> {
    let triple = parse_triple(name)?;
    let arch = arch_of(&triple)?;
    let format = format_of(&triple)?;
    let features = resolve_features(arch, cpu_features)?;
    let has_fma = match arch {
        Arch::X86_64 => features.iter().any(|f| f == "fma"),
        // Only relaxed SIMD has a fused multiply-add (f32x4.relaxed_madd).
        Arch::Wasm32 => features.iter().any(|f| f == "relaxed-simd"),
        _ => true,
    };
    Ok(Target {
        triple: triple.to_string(),
        arch,
        format,
        hosted: is_hosted(&triple),
        vector_bytes: 16,
        vector_registers: match arch {
            // wasm has locals, not registers; its engines map them to the 16
            // vector registers of x86_64 or the 32 of aarch64: plan for the fewer.
            Arch::X86_64 | Arch::Wasm32 => 16,
            _ => 32,
        },
        has_fma,
        cpu_features: features,
        portable_kernels: false,
        no_winograd: false,
    })
}

/// The Cranelift ISA generating code for `target`: optimising for speed,
/// position-independent (static libraries are commonly linked into PIE
/// executables, and PC-relative addressing costs nothing on bare metal either),
/// no stack probes (kernels have small frames and no OS may be there to probe),
/// the verifier in debug builds.
pub fn isa_for(target: &Target) -> Result<OwnedTargetIsa, TargetError> {
    let triple = parse_triple(&target.triple)?;
    let arch = arch_of(&triple)?;
    let isa_error = |reason: String| TargetError::Isa {
        triple: target.triple.clone(),
        reason,
    };

    let mut shared = settings::builder();
    let verifier = if cfg!(debug_assertions) {
        "true"
    } else {
        "false"
    };
    for (name, value) in [
        ("opt_level", "speed"),
        ("is_pic", "true"),
        ("enable_verifier", verifier),
        ("enable_probestack", "false"),
    ] {
        shared
            .set(name, value)
            .map_err(|e| isa_error(format!("setting {name}={value}: {e}")))?;
    }

    let mut isa = cranelift_codegen::isa::lookup(triple)
        .map_err(|e| isa_error(format!("no backend: {e}")))?;
    for flag in isa_flags(arch, target)? {
        isa.enable(flag)
            .map_err(|e| isa_error(format!("flag {flag}: {e}")))?;
    }
    isa.finish(settings::Flags::new(shared))
        .map_err(|e| isa_error(e.to_string()))
}

/// A target name -> a triple with a binary format the object writer accepts.
fn parse_triple(name: &str) -> Result<Triple, TargetError> {
    let full = match name {
        "x86_64" => "x86_64-unknown-linux-gnu",
        "aarch64" => "aarch64-unknown-linux-gnu",
        "riscv64" => "riscv64gc-unknown-linux-gnu",
        "wasm32" => "wasm32-unknown-unknown",
        other => other,
    };
    let mut triple = if full == "host" {
        Triple::host()
    } else {
        Triple::from_str(full).map_err(|e| TargetError::UnknownTarget {
            name: name.to_string(),
            reason: e.to_string(),
        })?
    };
    // target-lexicon leaves the format of bare-metal triples (`aarch64-unknown-none`)
    // unknown, and the object writer refuses an unknown format: ELF is what every
    // bare-metal toolchain for these architectures links.
    if triple.binary_format == target_lexicon::BinaryFormat::Unknown {
        triple.binary_format = target_lexicon::BinaryFormat::Elf;
    }
    Ok(triple)
}

fn arch_of(triple: &Triple) -> Result<Arch, TargetError> {
    match triple.architecture {
        Architecture::X86_64 => Ok(Arch::X86_64),
        Architecture::Aarch64(_) => Ok(Arch::Aarch64),
        Architecture::Riscv64(_) => Ok(Arch::Riscv64),
        Architecture::Wasm32 => Ok(Arch::Wasm32),
        other => Err(TargetError::UnsupportedArch {
            triple: triple.to_string(),
            arch: other.to_string(),
        }),
    }
}

fn format_of(triple: &Triple) -> Result<BinaryFormat, TargetError> {
    let unsupported = || TargetError::UnsupportedFormat {
        triple: triple.to_string(),
        format: triple.binary_format.to_string(),
    };
    let format = match triple.binary_format {
        target_lexicon::BinaryFormat::Elf => BinaryFormat::Elf,
        target_lexicon::BinaryFormat::Macho => BinaryFormat::MachO,
        target_lexicon::BinaryFormat::Coff => BinaryFormat::Coff,
        target_lexicon::BinaryFormat::Wasm => BinaryFormat::Wasm,
        _ => return Err(unsupported()),
    };
    // The object writer emits riscv64 only as ELF.
    if matches!(triple.architecture, Architecture::Riscv64(_)) && format != BinaryFormat::Elf {
        return Err(unsupported());
    }
    // WebAssembly is its own format, and only wasm32 is written as it.
    if (triple.architecture == Architecture::Wasm32) != (format == BinaryFormat::Wasm) {
        return Err(unsupported());
    }
    Ok(format)
}

fn is_hosted(triple: &Triple) -> bool {
    !matches!(
        triple.operating_system,
        OperatingSystem::None_ | OperatingSystem::Unknown
    )
}

/// A `--cpu` feature: its name, the Cranelift ISA flags it turns on, and the
/// features it implies.
struct Feature {
    name: &'static str,
    flags: &'static [&'static str],
    implies: &'static [&'static str],
}

const fn feature(
    name: &'static str,
    flags: &'static [&'static str],
    implies: &'static [&'static str],
) -> Feature {
    Feature {
        name,
        flags,
        implies,
    }
}

/// x86_64 features beyond the x86-64-v2 baseline. AVX-512F implies FMA and AVX2 (every
/// CPU with it has them), so `--cpu avx512f` gets fused multiply-adds.
const X86_FEATURES: &[Feature] = &[
    feature("avx", &["has_avx"], &[]),
    feature("avx2", &["has_avx2"], &["avx"]),
    feature("fma", &["has_fma"], &["avx"]),
    feature("bmi1", &["has_bmi1"], &[]),
    feature("bmi2", &["has_bmi2"], &[]),
    feature("lzcnt", &["has_lzcnt"], &[]),
    feature("avxvnni", &["has_avx_vnni"], &["avx2"]),
    feature("avx512f", &["has_avx512f"], &["avx2", "fma"]),
    feature("avx512vl", &["has_avx512vl"], &["avx512f"]),
    feature("avx512dq", &["has_avx512dq"], &["avx512f"]),
    feature("avx512bitalg", &["has_avx512bitalg"], &["avx512f"]),
    feature("avx512vbmi", &["has_avx512vbmi"], &["avx512f"]),
    feature("avx512vnni", &["has_avx512vnni"], &["avx512f"]),
];

/// Always on: x86-64-v2.
const X86_BASELINE: &[&str] = &[
    "has_sse3",
    "has_ssse3",
    "has_sse41",
    "has_sse42",
    "has_popcnt",
    "has_cmpxchg16b",
];

/// aarch64 extensions beyond ARMv8.0-A (NEON and FMA are always there).
const AARCH64_FEATURES: &[Feature] = &[
    feature("neon", &[], &[]),
    feature("lse", &["has_lse"], &[]),
    feature("fp16", &["has_fp16"], &[]),
    feature("dotprod", &["has_dotprod"], &[]),
    feature("i8mm", &["has_i8mm"], &[]),
];

/// riscv64 extensions beyond rv64gcv.
const RISCV64_FEATURES: &[Feature] = &[
    feature("v", &[], &[]),
    feature("c", &["has_zca", "has_zcd"], &[]),
    feature("zba", &["has_zba"], &[]),
    feature("zbb", &["has_zbb"], &[]),
    feature("zbs", &["has_zbs"], &[]),
    feature("zfa", &["has_zfa"], &[]),
    feature("zicond", &["has_zicond"], &[]),
];

/// wasm32 features beyond SIMD128 (which is always used; no Cranelift flags: the
/// WebAssembly emitter reads the feature names).
const WASM32_FEATURES: &[Feature] = &[
    feature("simd128", &[], &[]),
    feature("relaxed-simd", &[], &["simd128"]),
];

/// Always on: V (the base G extensions are Cranelift's defaults).
const RISCV64_BASELINE: &[&str] = &["has_v"];

fn features_of(arch: Arch) -> (&'static str, &'static [Feature]) {
    match arch {
        Arch::X86_64 => ("x86_64", X86_FEATURES),
        Arch::Aarch64 => ("aarch64", AARCH64_FEATURES),
        Arch::Riscv64 => ("riscv64", RISCV64_FEATURES),
        Arch::Wasm32 => ("wasm32", WASM32_FEATURES),
    }
}

/// The `--cpu` list -> known feature names, `native` expanded, implications added,
/// in table order (so equal requests give equal targets). Items may also be
/// comma-separated and carry a leading `+`.
fn resolve_features(arch: Arch, requested: &[String]) -> Result<Vec<String>, TargetError> {
    let (arch_name, table) = features_of(arch);
    let mut wanted: Vec<&'static str> = Vec::new();
    let names = requested
        .iter()
        .flat_map(|item| item.split(','))
        .map(|name| name.trim().trim_start_matches('+'))
        .filter(|name| !name.is_empty());
    for name in names {
        if name == "native" {
            wanted.extend(native_features(arch)?);
            continue;
        }
        let name = match name {
            "sse4.1" | "sse4.2" | "sse41" | "sse42" | "sse3" | "ssse3" | "popcnt"
                if arch == Arch::X86_64 =>
            {
                continue; // part of the baseline
            }
            other => other,
        };
        match table.iter().find(|f| f.name == name) {
            Some(f) => wanted.push(f.name),
            None => {
                let known: Vec<&str> = table.iter().map(|f| f.name).collect();
                return Err(TargetError::UnknownFeature {
                    feature: name.to_string(),
                    arch: arch_name,
                    known: format!("{}, native", known.join(", ")),
                });
            }
        }
    }
    // Close over implications.
    let mut i = 0;
    while i < wanted.len() {
        if let Some(f) = table.iter().find(|f| f.name == wanted[i]) {
            for implied in f.implies {
                if !wanted.contains(implied) {
                    wanted.push(implied);
                }
            }
        }
        i += 1;
    }
    Ok(table
        .iter()
        .filter(|f| wanted.contains(&f.name))
        .map(|f| f.name.to_string())
        .collect())
}

/// The host's features (names of the table of `arch`), if `arch` is the host's.
fn native_features(arch: Arch) -> Result<Vec<&'static str>, TargetError> {
    let host_arch = arch_of(&Triple::host()).ok();
    if host_arch != Some(arch) {
        return Err(TargetError::NativeNotHost {
            host: Triple::host().to_string(),
        });
    }
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! detect {
            ($($name:tt),*) => {
                $(if std::is_x86_feature_detected!($name) { found.push($name); })*
            };
        }
        detect!(
            "avx",
            "avx2",
            "fma",
            "bmi1",
            "bmi2",
            "lzcnt",
            "avxvnni",
            "avx512f",
            "avx512vl",
            "avx512dq",
            "avx512bitalg",
            "avx512vbmi",
            "avx512vnni"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! detect {
            ($($name:tt),*) => {
                $(if std::arch::is_aarch64_feature_detected!($name) { found.push($name); })*
            };
        }
        detect!("lse", "fp16", "dotprod", "i8mm");
    }
    Ok(found)
}

/// The Cranelift ISA flags for `target`: the architecture's baseline plus its
/// features. On x86_64, `has_fma` follows `target.has_fma` so that the emitter (which
/// emits `fma` only when `has_fma`) and the ISA agree even for a hand-made `Target`.
fn isa_flags(arch: Arch, target: &Target) -> Result<Vec<&'static str>, TargetError> {
    let (arch_name, table) = features_of(arch);
    let mut flags: Vec<&'static str> = match arch {
        Arch::X86_64 => X86_BASELINE.to_vec(),
        Arch::Riscv64 => RISCV64_BASELINE.to_vec(),
        _ => Vec::new(),
    };
    let mut names: Vec<&str> = target.cpu_features.iter().map(String::as_str).collect();
    if arch == Arch::X86_64 && target.has_fma {
        names.extend(["fma", "avx"]);
    }
    for name in names {
        let Some(f) = table.iter().find(|f| f.name == name) else {
            return Err(TargetError::UnknownFeature {
                feature: name.to_string(),
                arch: arch_name,
                known: table.iter().map(|f| f.name).collect::<Vec<_>>().join(", "),
            });
        };
        for flag in f.flags {
            if !flags.contains(flag) {
                flags.push(flag);
            }
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn short_names_are_linux_triples() {
        let t = parse_target("x86_64", &[]).unwrap();
        assert_eq!(t.triple, "x86_64-unknown-linux-gnu");
        assert_eq!(
            (t.arch, t.format, t.hosted),
            (Arch::X86_64, BinaryFormat::Elf, true)
        );
        assert!(!t.has_fma);
        assert_eq!(t.vector_registers, 16);

        let t = parse_target("aarch64", &[]).unwrap();
        assert_eq!(t.triple, "aarch64-unknown-linux-gnu");
        assert!(t.has_fma);
        assert_eq!(t.vector_registers, 32);

        let t = parse_target("riscv64", &[]).unwrap();
        assert_eq!(t.triple, "riscv64gc-unknown-linux-gnu");
        assert_eq!(t.arch, Arch::Riscv64);
        assert!(t.has_fma);
        assert_eq!(t.vector_bytes, 16);
    }

    #[test]
    fn host_is_the_machine() {
        let t = parse_target("host", &[]).unwrap();
        assert_eq!(t.triple, Triple::host().to_string());
        isa_for(&t).unwrap();
    }

    #[test]
    fn bare_metal_and_other_formats() {
        let t = parse_target("aarch64-unknown-none", &[]).unwrap();
        assert_eq!((t.format, t.hosted), (BinaryFormat::Elf, false));
        isa_for(&t).unwrap();
        let t = parse_target("aarch64-unknown-none-elf", &[]).unwrap();
        assert_eq!((t.format, t.hosted), (BinaryFormat::Elf, false));
        let t = parse_target("riscv64gc-unknown-none-elf", &[]).unwrap();
        assert_eq!((t.format, t.hosted), (BinaryFormat::Elf, false));
        isa_for(&t).unwrap();
        let t = parse_target("aarch64-apple-darwin", &[]).unwrap();
        assert_eq!(t.format, BinaryFormat::MachO);
        isa_for(&t).unwrap();
        let t = parse_target("x86_64-pc-windows-msvc", &[]).unwrap();
        assert_eq!(t.format, BinaryFormat::Coff);
        isa_for(&t).unwrap();
    }

    #[test]
    fn unsupported_targets_are_clear_errors() {
        let e = parse_target("armv7-unknown-linux-gnueabihf", &[]).unwrap_err();
        assert!(e.to_string().contains("x86_64, aarch64, riscv64"), "{e}");
        let e = parse_target("not-a-triple-at-all", &[]).unwrap_err();
        assert!(matches!(e, TargetError::UnknownTarget { .. }), "{e}");
        let e = parse_target("riscv64gc-apple-darwin", &[]).unwrap_err();
        assert!(matches!(e, TargetError::UnsupportedFormat { .. }), "{e}");
    }

    #[test]
    fn wasm32_is_a_target_of_its_own_format() {
        for name in ["wasm32", "wasm32-unknown-unknown"] {
            let t = parse_target(name, &[]).unwrap();
            assert_eq!(t.triple, "wasm32-unknown-unknown");
            assert_eq!((t.arch, t.format), (Arch::Wasm32, BinaryFormat::Wasm));
            assert_eq!(t.vector_bytes, 16);
            assert!(!t.has_fma);
        }
        let t = parse_target("wasm32", &features(&["relaxed-simd"])).unwrap();
        assert_eq!(t.cpu_features, features(&["simd128", "relaxed-simd"]));
        assert!(t.has_fma);
        let e = parse_target("wasm32", &features(&["avx2"])).unwrap_err();
        assert!(e.to_string().contains("relaxed-simd"), "{e}");
    }

    #[test]
    fn x86_features_map_and_imply() {
        let t = parse_target("x86_64", &features(&["avx2", "fma"])).unwrap();
        assert_eq!(t.cpu_features, features(&["avx", "avx2", "fma"]));
        assert!(t.has_fma);
        let t = parse_target("x86_64", &features(&["+avx512f"])).unwrap();
        assert_eq!(t.cpu_features, features(&["avx", "avx2", "fma", "avx512f"]));
        assert!(t.has_fma);
        isa_for(&t).unwrap();
        let t = parse_target("x86_64", &features(&["sse4.2,avx"])).unwrap();
        assert_eq!(t.cpu_features, features(&["avx"]));
        assert!(!t.has_fma);
    }

    #[test]
    fn unknown_features_name_the_known_ones() {
        let e = parse_target("x86_64", &features(&["avx9000"])).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("avx9000") && msg.contains("avx512f"), "{msg}");
        let e = parse_target("aarch64", &features(&["avx"])).unwrap_err();
        assert!(e.to_string().contains("dotprod"), "{e}");
    }

    #[test]
    fn native_is_resolved_on_the_host_only() {
        let host = parse_target("host", &features(&["native"])).unwrap();
        assert!(!host.cpu_features.iter().any(|f| f == "native"));
        isa_for(&host).unwrap();
        let other = if host.arch == Arch::Aarch64 {
            "x86_64"
        } else {
            "aarch64"
        };
        let e = parse_target(other, &features(&["native"])).unwrap_err();
        assert!(matches!(e, TargetError::NativeNotHost { .. }), "{e}");
    }

    #[test]
    fn isa_flags_follow_the_target() {
        let t = parse_target("x86_64", &features(&["fma"])).unwrap();
        let isa = isa_for(&t).unwrap();
        let flag = |name: &str| {
            isa.isa_flags()
                .iter()
                .find(|f| f.name == name)
                .and_then(|f| f.as_bool())
        };
        assert_eq!(flag("has_fma"), Some(true));
        assert_eq!(flag("has_sse42"), Some(true));
        assert_eq!(flag("has_avx512f"), Some(false));
        let isa = isa_for(&parse_target("riscv64", &[]).unwrap()).unwrap();
        let has_v = isa
            .isa_flags()
            .iter()
            .find(|f| f.name == "has_v")
            .and_then(|f| f.as_bool());
        assert_eq!(has_v, Some(true));
    }
}
