//! The driver's errors: everything a command can fail with, as a user-facing message.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Frontend(#[from] nnc_frontend::FrontendError),
    #[error(transparent)]
    Ir(#[from] nnc_ir::IrError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn file(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        Error::File {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// Whether the model was refused as unsupported (rather than being malformed):
    /// `nnc test` counts such cases as skipped.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Error::Frontend(e) if e.is_unsupported())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
