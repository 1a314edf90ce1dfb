//! External tensor data: weights kept in files beside the model, named by the
//! tensor's `external_data` entries (`location`, `offset`, `length`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;

use crate::proto::TensorProto;

/// Resolves external data relative to the model's directory. Each file is
/// memory-mapped once and every tensor in it is a slice of that mapping.
pub struct ExternalData {
    /// The model's directory; `None` when the model did not come from a file.
    dir: Option<PathBuf>,
    files: RefCell<HashMap<PathBuf, Bytes>>,
}

impl ExternalData {
    pub fn new(dir: &Path) -> Self {
        ExternalData {
            dir: Some(dir.to_path_buf()),
            files: RefCell::default(),
        }
    }

    /// For tensors that cannot refer to external files.
    #[cfg(test)]
    pub fn none() -> Self {
        ExternalData {
            dir: None,
            files: RefCell::default(),
        }
    }

    /// The `len` bytes of `proto`'s data in its external file.
    pub fn slice(&self, proto: &TensorProto, len: usize) -> Result<Bytes, String> {
        let mut location = None;
        let mut offset = 0usize;
        let mut length = None;
        for entry in &proto.external_data {
            let number = || {
                entry.value.parse::<usize>().map_err(|_| {
                    format!(
                        "external data {} '{}' is not a byte count",
                        entry.key, entry.value
                    )
                })
            };
            match entry.key.as_str() {
                "location" => location = Some(entry.value.as_str()),
                "offset" => offset = number()?,
                "length" => length = Some(number()?),
                _ => {}
            }
        }
        let location = location.ok_or("external data has no 'location'")?;
        if let Some(length) = length
            && length != len
        {
            return Err(format!(
                "external data length {length} does not match the {len} bytes its shape needs"
            ));
        }
        let file = self.file(location)?;
        let end = offset
            .checked_add(len)
            .filter(|&end| end <= file.len())
            .ok_or_else(|| {
                format!(
                    "external data [{offset}, +{len}) runs past the end of '{location}' ({} bytes)",
                    file.len()
                )
            })?;
        Ok(file.slice(offset..end))
    }

    /// The mapped contents of the external file at `location`, checked to stay
    /// inside the model's directory.
    fn file(&self, location: &str) -> Result<Bytes, String> {
        let dir = self
            .dir
            .as_ref()
            .ok_or("external data is not allowed here")?;
        let relative = Path::new(location);
        let inside = !location.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !inside {
            return Err(format!(
                "external data location '{location}' must be a relative path inside the model's directory"
            ));
        }
        let path = dir.join(relative);
        let canonical = path
            .canonicalize()
            .map_err(|e| format!("cannot open external data file {}: {e}", path.display()))?;
        let canonical_dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if !canonical.starts_with(&canonical_dir) {
            return Err(format!(
                "external data location '{location}' leads outside the model's directory"
            ));
        }
        if let Some(bytes) = self.files.borrow().get(&canonical) {
            return Ok(bytes.clone());
        }
        let bytes = crate::map_file(&canonical)
            .map_err(|e| format!("cannot read external data file {}: {e}", path.display()))?;
        self.files.borrow_mut().insert(canonical, bytes.clone());
        Ok(bytes)
    }
}
