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
    /// The model is valid but nnc cannot compile it for this engine / target.
    #[error("{0}")]
    Unsupported(String),
    /// A tool nnc runs (C compiler, qemu) failed or is missing.
    #[error("{0}")]
    Tool(String),
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
        match self {
            Error::Frontend(e) => e.is_unsupported(),
            Error::Unsupported(_) => true,
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
