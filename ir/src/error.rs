//! Errors of the IR: what an op found wrong with its operands, and where in the graph.

use thiserror::Error;

/// What an op found wrong with its operands or attributes. It does not know which
/// node it belongs to; [`IrError::Node`] adds that.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{0}")]
pub struct OpError(pub String);

impl From<String> for OpError {
    fn from(message: String) -> Self {
        OpError(message)
    }
}

impl From<&str> for OpError {
    fn from(message: &str) -> Self {
        OpError(message.to_string())
    }
}

pub type OpResult<T> = Result<T, OpError>;

/// Returns early from an op's shape inference or evaluation with a formatted [`OpError`].
#[macro_export]
macro_rules! op_bail {
    ($($arg:tt)*) => {
        return Err($crate::OpError(format!($($arg)*)))
    };
}

/// Checks a condition inside an op, failing with a formatted [`OpError`].
#[macro_export]
macro_rules! op_ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::op_bail!($($arg)*);
        }
    };
}

/// An error about a graph, naming the node (and its op) or value it concerns.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum IrError {
    #[error("node '{node}' ({op}): {message}")]
    Node {
        node: String,
        op: String,
        message: String,
    },
    #[error("value '{value}': {message}")]
    Value { value: String, message: String },
    #[error("{0}")]
    Graph(String),
}

impl IrError {
    pub fn node(node: &str, op: &str, message: impl Into<String>) -> Self {
        IrError::Node {
            node: node.to_string(),
            op: op.to_string(),
            message: message.into(),
        }
    }
}
