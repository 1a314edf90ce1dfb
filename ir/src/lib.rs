//! nnc's intermediate representation.
//!
//! - [`Graph`]: the typed tensor graph every stage reads and writes — values with a
//!   static [`TensorType`], constant [`Tensor`]s, and nodes whose [`Op`] carries parsed
//!   attributes, kept in topological order.
//! - [`ops`]: every operator, each with its shape inference and reference evaluation.
//! - [`eval`]: runs a whole graph with those reference implementations; the ground
//!   truth for constant folding and for testing passes and backends.
//! - [`verify`]: the invariants checked after every pass.

pub mod cost;
mod dtype;
mod dump;
mod error;
pub mod eval;
mod graph;
pub mod kernel;
pub mod ops;
pub mod shape;
pub mod target;
mod tensor;
mod types;
mod verify;

pub use dtype::DType;
pub use error::{IrError, OpError, OpResult};
pub use graph::{Graph, KNOWN_VALUE_LIMIT, Node, NodeId, Value, ValueDef, ValueId};
pub use half::f16;
pub use ops::Op;
pub use target::{Arch, BinaryFormat, Microkernel, Target};
pub use tensor::{Element, Tensor};
pub use types::{Fact, TensorType};
pub use verify::verify;
