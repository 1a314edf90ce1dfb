//! `NAME.a`: the model's object file in a static library, in the archive dialect
//! the target's linker expects, with a symbol index so that linkers find
//! `NAME_run` without `ranlib`.

use std::io::Cursor;

use ar_archive_writer::{ArchiveKind, DEFAULT_OBJECT_READER, NewArchiveMember};
use nnc_ir::Target;
use nnc_ir::target::BinaryFormat;

use super::ArtifactError;

/// A static library holding one object file named `object_name` (e.g.
/// `tiny_cnn.o`): GNU format for ELF, Darwin for Mach-O, COFF for Windows.
pub fn static_library(
    object_name: &str,
    object: &[u8],
    target: &Target,
) -> Result<Vec<u8>, ArtifactError> {
    let kind = match target.format {
        BinaryFormat::Elf => ArchiveKind::Gnu,
        BinaryFormat::MachO => ArchiveKind::Darwin,
        BinaryFormat::Coff => ArchiveKind::Coff,
        BinaryFormat::Wasm => {
            return Err(ArtifactError::Unsupported(format!(
                "{target}: a WebAssembly module is not packaged as a static library"
            )));
        }
    };
    let members = [NewArchiveMember::new(
        object,
        &DEFAULT_OBJECT_READER,
        object_name.to_string(),
    )];
    let mut out = Cursor::new(Vec::new());
    ar_archive_writer::write_archive_to_stream(&mut out, &members, kind, false, None)
        .map_err(|e| ArtifactError::Archive(e.to_string()))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::testing::{compile_c, have, run_tool, scratch_dir};
    use cranelift_object::object::write::{Object, StandardSection, Symbol, SymbolSection};
    use cranelift_object::object::{
        self, Architecture, Endianness, SymbolFlags, SymbolKind, SymbolScope,
    };
    use nnc_ir::target::Arch;

    /// An object file exporting `nnc_test_answer`, a `u32` 42 in read-only data.
    fn answer_object(format: object::BinaryFormat, arch: Architecture) -> Vec<u8> {
        let mut obj = Object::new(format, arch, Endianness::Little);
        let section = obj.section_id(StandardSection::ReadOnlyData);
        let offset = obj.append_section_data(section, &42u32.to_le_bytes(), 4);
        obj.add_symbol(Symbol {
            name: b"nnc_test_answer".to_vec(),
            value: offset,
            size: 4,
            kind: SymbolKind::Data,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        });
        obj.write().unwrap()
    }

    fn target(format: BinaryFormat) -> Target {
        Target {
            triple: "test".to_string(),
            arch: Arch::X86_64,
            format,
            hosted: true,
            vector_bytes: 16,
            vector_registers: 16,
            has_fma: false,
            cpu_features: vec![],
            portable_kernels: false,
            no_winograd: false,
        }
    }

    fn host_arch() -> Architecture {
        if cfg!(target_arch = "aarch64") {
            Architecture::Aarch64
        } else if cfg!(target_arch = "riscv64") {
            Architecture::Riscv64
        } else {
            Architecture::X86_64
        }
    }

    #[test]
    fn elf_library_lists_and_links() {
        let object = answer_object(object::BinaryFormat::Elf, host_arch());
        let lib = static_library("answer.o", &object, &target(BinaryFormat::Elf)).unwrap();
        assert!(lib.starts_with(b"!<arch>\n"));
        if !cfg!(target_os = "linux") || !have("ar") || !have("nm") || !have("cc") {
            return;
        }
        let dir = scratch_dir("archive");
        std::fs::write(dir.join("libanswer.a"), &lib).unwrap();
        let listed = run_tool("ar", &dir, &["t", "libanswer.a"]);
        assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "answer.o");
        let symbols = run_tool("nm", &dir, &["libanswer.a"]);
        assert!(String::from_utf8_lossy(&symbols.stdout).contains("R nnc_test_answer"));
        // The index: `nm --print-armap` shows which member defines the symbol.
        let index = run_tool("nm", &dir, &["--print-armap", "libanswer.a"]);
        assert!(String::from_utf8_lossy(&index.stdout).contains("nnc_test_answer in answer.o"));

        std::fs::write(
            dir.join("main.c"),
            "extern const unsigned int nnc_test_answer;\n\
             int main(void) { return nnc_test_answer == 42u ? 0 : 1; }\n",
        )
        .unwrap();
        compile_c(&dir, &["main.c", "-L.", "-lanswer", "-o", "main"]);
        run_tool(&dir.join("main").to_string_lossy(), &dir, &[]);
    }

    #[test]
    fn mach_o_and_coff_libraries_list_their_member() {
        let cases = [
            (
                object::BinaryFormat::MachO,
                BinaryFormat::MachO,
                Architecture::Aarch64,
            ),
            (
                object::BinaryFormat::Coff,
                BinaryFormat::Coff,
                Architecture::X86_64,
            ),
        ];
        for (object_format, format, arch) in cases {
            let object = answer_object(object_format, arch);
            let lib = static_library("answer.o", &object, &target(format)).unwrap();
            assert!(lib.starts_with(b"!<arch>\n"), "{format:?}");
            if !have("llvm-ar") || !have("llvm-nm") {
                continue;
            }
            let dir = scratch_dir("archive-other");
            std::fs::write(dir.join("answer.a"), &lib).unwrap();
            let listed = run_tool("llvm-ar", &dir, &["t", "answer.a"]);
            assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "answer.o");
            let index = run_tool("llvm-nm", &dir, &["--print-armap", "answer.a"]);
            let index = String::from_utf8_lossy(&index.stdout);
            assert!(index.contains("nnc_test_answer"), "{format:?}: {index}");
        }
    }

    #[test]
    fn refuses_webassembly() {
        let err = static_library("m.o", b"", &target(BinaryFormat::Wasm)).unwrap_err();
        assert!(err.to_string().contains("WebAssembly"), "{err}");
    }
}
