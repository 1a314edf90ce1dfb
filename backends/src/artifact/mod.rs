//! What `nnc build` writes for a model `NAME`: the static library `NAME.a` (the
//! object code with the weights in read-only data), the C header `NAME.h` and the
//! manifest `NAME.json` — all three or none ([`write_artifacts`]). Also the C
//! harness the CLI links for `--engine native`.
//!
//! The Rust binding is `nnc_runtime::declare_model!(NAME)`, over the same
//! `NAME_run` / `NAME_descriptor` symbols the header declares.

mod abi;
mod archive;
#[cfg(test)]
mod end_to_end;
mod harness;
mod header;
mod ident;
mod manifest;
pub(crate) mod publish;
#[cfg(test)]
mod testing;

use std::io;
use std::path::{Path, PathBuf};

use nnc_ir::Target;
use nnc_ir::kernel::Program;
use thiserror::Error;

pub use abi::{ABI_VERSION, STATUS_CODES, onnx_code};
pub use archive::static_library;
pub use harness::{c_harness, c_harness_profiled};
pub use header::{c_header, macro_prefix};
pub use ident::{c_identifier, c_string_literal};
pub use manifest::{KernelEntry, Manifest, PassTimes, RewriteReport, TensorEntry};

#[derive(Debug, Error)]
pub enum ArtifactError {
    #[error("model name '{name}': {reason}")]
    InvalidName { name: String, reason: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot write the static library: {0}")]
    Archive(String),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where [`write_artifacts`] put the files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactPaths {
    pub library: PathBuf,
    pub header: PathBuf,
    pub manifest: PathBuf,
}

/// Writes `NAME.a` (holding `object` as `NAME.o`), `NAME.h` and `NAME.json` into
/// `dir` (created if missing), NAME being `program.name`, which must be a C
/// identifier ([`c_identifier`] makes one). All or nothing: when any step fails,
/// `dir` is left as it was.
pub fn write_artifacts(
    dir: &Path,
    program: &Program,
    object: &[u8],
    manifest: &Manifest,
    target: &Target,
) -> Result<ArtifactPaths, ArtifactError> {
    let name = &program.name;
    let ident = c_identifier(name)?;
    if ident != *name {
        return Err(ArtifactError::InvalidName {
            name: name.clone(),
            reason: format!("not a C identifier (it could be '{ident}')"),
        });
    }
    let files = [
        (
            format!("{name}.a"),
            static_library(&format!("{name}.o"), object, target)?,
        ),
        (format!("{name}.h"), c_header(program).into_bytes()),
        (format!("{name}.json"), manifest.to_json().into_bytes()),
    ];
    publish::publish(dir, &files, &mut |_| Ok(()))?;
    Ok(ArtifactPaths {
        library: dir.join(&files[0].0),
        header: dir.join(&files[1].0),
        manifest: dir.join(&files[2].0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use testing::{host_target, program, scratch_dir};

    #[test]
    fn writes_library_header_and_manifest() {
        let root = scratch_dir("write");
        let dir = root.join("out");
        let p = program("tiny_cnn", 64, 16);
        let target = host_target();
        let manifest = Manifest::new(&p, &target);
        let paths = write_artifacts(&dir, &p, b"not really an object", &manifest, &target).unwrap();
        assert_eq!(paths.library, dir.join("tiny_cnn.a"));
        assert!(
            std::fs::read(&paths.library)
                .unwrap()
                .starts_with(b"!<arch>\n")
        );
        assert_eq!(
            std::fs::read_to_string(&paths.header).unwrap(),
            c_header(&p)
        );
        assert_eq!(
            std::fs::read_to_string(&paths.manifest).unwrap(),
            manifest.to_json()
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
    }

    #[test]
    fn writes_nothing_when_a_step_fails() {
        let root = scratch_dir("write-fail");
        let dir = root.join("out");
        let p = program("tiny_cnn", 64, 16);
        let mut wasm = host_target();
        wasm.format = nnc_ir::BinaryFormat::Wasm;
        let manifest = Manifest::new(&p, &wasm);
        let err = write_artifacts(&dir, &p, b"", &manifest, &wasm).unwrap_err();
        assert!(matches!(err, ArtifactError::Unsupported(_)), "{err}");
        assert!(!dir.exists());

        let bad = program("my-model", 64, 16);
        let err = write_artifacts(&dir, &bad, b"", &manifest, &host_target()).unwrap_err();
        assert!(err.to_string().contains("'my_model'"), "{err}");
        assert!(!dir.exists());
    }
}
