//! What can be wrong with a model, said so that the user can act on it.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// An error of the frontend. Its `Display` is the complete message for the user:
/// it names the file, and the node, op, opset, tensor or input concerned.
#[derive(Debug, Error)]
pub enum FrontendError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not an ONNX model: {reason}", path.display())]
    NotAModel { path: PathBuf, reason: String },
    #[error(
        "{}: ONNX IR version {version} is not supported (nnc reads IR versions {}..={})",
        path.display(), crate::MIN_IR_VERSION, crate::MAX_IR_VERSION
    )]
    IrVersion { path: PathBuf, version: i64 },
    #[error(
        "{}: opset {version} of the default ONNX domain is not supported (nnc reads opsets \
         {}..={}); convert the model with onnx.version_converter",
        path.display(), crate::MIN_OPSET, crate::MAX_OPSET
    )]
    Opset { path: PathBuf, version: i64 },
    #[error("{}: {}", path.display(), list_domains(domains))]
    UnknownDomains {
        path: PathBuf,
        /// Each unsupported domain with the nodes that use it.
        domains: Vec<(String, Vec<String>)>,
    },
    #[error("{}: {} unsupported op(s):\n{}", path.display(), ops.len(), list_ops(ops))]
    UnsupportedOps {
        path: PathBuf,
        ops: Vec<UnsupportedOp>,
    },
    #[error("{}: tensor '{tensor}': {message}", path.display())]
    Tensor {
        path: PathBuf,
        tensor: String,
        message: String,
        /// The model is valid but uses something nnc refuses (see `is_unsupported`).
        unsupported: bool,
    },
    #[error("{}: input '{input}': {message}", path.display())]
    Input {
        path: PathBuf,
        input: String,
        message: String,
        /// The model is valid but uses something nnc refuses (see `is_unsupported`).
        unsupported: bool,
    },
    #[error("{}: node '{node}' ({op_type}, opset {opset}): {message}", path.display())]
    Node {
        path: PathBuf,
        node: String,
        op_type: String,
        opset: i64,
        message: String,
        /// The model is valid but uses something nnc refuses (see `is_unsupported`).
        unsupported: bool,
    },
    #[error("{}: {message}", path.display())]
    Graph { path: PathBuf, message: String },
}

impl FrontendError {
    /// Whether the model was refused for using something nnc does not support
    /// (an IR version, opset, domain, op, dtype or op feature), as opposed to
    /// being malformed or unreadable. `nnc test` counts such a model as skipped
    /// rather than failed, so this is decided by the error's kind, never by its
    /// wording.
    pub fn is_unsupported(&self) -> bool {
        match self {
            FrontendError::IrVersion { .. }
            | FrontendError::Opset { .. }
            | FrontendError::UnknownDomains { .. }
            | FrontendError::UnsupportedOps { .. } => true,
            FrontendError::Tensor { unsupported, .. }
            | FrontendError::Input { unsupported, .. }
            | FrontendError::Node { unsupported, .. } => *unsupported,
            FrontendError::Io { .. }
            | FrontendError::NotAModel { .. }
            | FrontendError::Graph { .. } => false,
        }
    }
}

/// What is wrong with one part of a model (a node, a tensor, an input) before
/// the caller adds which part and where: its message, and whether the model is
/// at fault or nnc refuses it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertError {
    pub message: String,
    /// The model is valid ONNX but uses something nnc refuses (a dtype, a
    /// training-mode node, an operand that is only known at run time...);
    /// otherwise the model is malformed.
    pub unsupported: bool,
}

impl ConvertError {
    /// The model is wrong: a bad attribute value, inconsistent shapes, a missing
    /// operand.
    pub fn malformed(message: impl Into<String>) -> Self {
        ConvertError {
            message: message.into(),
            unsupported: false,
        }
    }

    /// The model is valid but uses something nnc does not support.
    pub fn unsupported(message: impl Into<String>) -> Self {
        ConvertError {
            message: message.into(),
            unsupported: true,
        }
    }

    /// The same problem, its message prefixed with where it was found
    /// ("attribute 'value'").
    pub fn within(self, place: &str) -> Self {
        ConvertError {
            message: format!("{place}: {}", self.message),
            ..self
        }
    }
}

/// Plain messages and IR op errors are about a malformed model; refusals are
/// made with `refuse!` or [`ConvertError::unsupported`].
impl From<String> for ConvertError {
    fn from(message: String) -> Self {
        ConvertError::malformed(message)
    }
}

impl From<&str> for ConvertError {
    fn from(message: &str) -> Self {
        ConvertError::malformed(message)
    }
}

impl From<nnc_ir::OpError> for ConvertError {
    fn from(e: nnc_ir::OpError) -> Self {
        ConvertError::malformed(e.0)
    }
}

/// Fails with a formatted message about a malformed model.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::ConvertError::malformed(format!($($arg)*)))
    };
}
pub(crate) use bail;

/// Fails with a formatted message refusing a valid feature nnc does not support.
macro_rules! refuse {
    ($($arg:tt)*) => {
        return Err($crate::error::ConvertError::unsupported(format!($($arg)*)))
    };
}
pub(crate) use refuse;

/// An op nnc cannot convert, with every node that uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedOp {
    pub domain: String,
    pub op_type: String,
    /// The opset version of the op's domain imported by the model.
    pub opset: i64,
    pub nodes: Vec<String>,
    /// Why: no converter, not at this opset, unknown domain, model-local function.
    pub reason: String,
}

impl fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = if self.domain.is_empty() {
            String::new()
        } else {
            format!("{}::", self.domain)
        };
        write!(
            f,
            "{domain}{} (opset {}): {}; node(s) {}",
            self.op_type,
            self.opset,
            self.reason,
            list_names(&self.nodes)
        )
    }
}

fn list_ops(ops: &[UnsupportedOp]) -> String {
    let lines: Vec<String> = ops.iter().map(|op| format!("  {op}")).collect();
    lines.join("\n")
}

fn list_domains(domains: &[(String, Vec<String>)]) -> String {
    let parts: Vec<String> = domains
        .iter()
        .map(|(domain, nodes)| {
            format!(
                "operator domain '{domain}' is not supported (used by node(s) {})",
                list_names(nodes)
            )
        })
        .collect();
    parts.join("; ")
}

/// Names quoted and joined; long lists are cut with a count of the rest.
pub(crate) fn list_names(names: &[String]) -> String {
    const SHOWN: usize = 12;
    let quoted: Vec<String> = names.iter().take(SHOWN).map(|n| format!("'{n}'")).collect();
    let more = names.len().saturating_sub(SHOWN);
    if more > 0 {
        format!("{} and {more} more", quoted.join(", "))
    } else {
        quoted.join(", ")
    }
}
