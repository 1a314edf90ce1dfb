//! What `nnc build --target wasm32` writes for a model `NAME`: `NAME.wasm`,
//! `NAME.json` (the manifest, as for native builds), `NAME.mjs` and `NAME.d.ts`
//! — all four or none.

use std::path::{Path, PathBuf};

use nnc_ir::kernel::Program;

use super::WasmModule;
use super::js;
use crate::artifact::{ArtifactError, Manifest, c_identifier, publish};

/// Where [`write_wasm_artifacts`] put the files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasmArtifactPaths {
    pub module: PathBuf,
    pub manifest: PathBuf,
    pub es_module: PathBuf,
    pub declarations: PathBuf,
}

/// Writes the four files into `dir` (created if missing); `program.name` must be
/// a C identifier (it prefixes the module's exports). All or nothing.
pub fn write_wasm_artifacts(
    dir: &Path,
    program: &Program,
    module: &WasmModule,
    manifest: &Manifest,
) -> Result<WasmArtifactPaths, ArtifactError> {
    let name = &program.name;
    let ident = c_identifier(name)?;
    if ident != *name {
        return Err(ArtifactError::InvalidName {
            name: name.clone(),
            reason: format!("not a C identifier (it could be '{ident}')"),
        });
    }
    let files = [
        (format!("{name}.wasm"), module.bytes.clone()),
        (format!("{name}.json"), manifest.to_json().into_bytes()),
        (format!("{name}.mjs"), js::es_module(program).into_bytes()),
        (
            format!("{name}.d.ts"),
            js::declarations(program).into_bytes(),
        ),
    ];
    publish::publish(dir, &files, &mut |_| Ok(()))?;
    Ok(WasmArtifactPaths {
        module: dir.join(&files[0].0),
        manifest: dir.join(&files[1].0),
        es_module: dir.join(&files[2].0),
        declarations: dir.join(&files[3].0),
    })
}
