//! Why a call of a model was refused or failed.

use core::fmt;

use crate::{DType, status};

/// Which side of the model a buffer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Io {
    Input,
    Output,
}

impl fmt::Display for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Io::Input => "input",
            Io::Output => "output",
        })
    }
}

/// An error of [`Model::run`](crate::Model::run). Every variant but
/// [`Error::Status`] is found before the generated code runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The library was generated for another descriptor layout.
    AbiVersion { expected: u32, found: u32 },
    /// The number of input or output buffers is not the model's.
    Count {
        io: Io,
        expected: usize,
        found: usize,
    },
    /// The model has more inputs or outputs than [`MAX_TENSORS`](crate::MAX_TENSORS)
    /// (the pointer arrays live on the stack: this crate does not allocate).
    TooManyTensors { io: Io, count: usize, max: usize },
    /// A buffer's length in bytes is not the tensor's.
    Size {
        io: Io,
        index: usize,
        name: &'static str,
        expected: u64,
        found: usize,
    },
    /// A buffer is not aligned to its element size.
    Misaligned {
        io: Io,
        index: usize,
        name: &'static str,
        align: usize,
    },
    /// The descriptor names an element type this runtime does not know.
    UnknownDType {
        io: Io,
        index: usize,
        name: &'static str,
        code: u32,
    },
    /// A typed call (e.g. [`Model::run_f32`](crate::Model::run_f32)) on a tensor of
    /// another element type.
    DType {
        io: Io,
        index: usize,
        name: &'static str,
        expected: DType,
        found: DType,
    },
    /// The arena is smaller than the model needs.
    ArenaTooSmall { needed: u64, found: usize },
    /// The arena is not aligned to the model's arena alignment.
    ArenaMisaligned { align: u64 },
    /// The generated code returned a non-zero status (see [`status`]).
    Status(i32),
}

/// The name and meaning of a status code `NAME_run` documents.
pub fn status_name(code: i32) -> Option<(&'static str, &'static str)> {
    status::ALL
        .iter()
        .find(|(_, value, _)| *value == code)
        .map(|&(name, _, meaning)| (name, meaning))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::AbiVersion { expected, found } => write!(
                f,
                "the model's descriptor has ABI version {found}, this runtime reads version {expected}"
            ),
            Error::Count {
                io,
                expected,
                found,
            } => write!(f, "the model has {expected} {io}s, {found} given"),
            Error::TooManyTensors { io, count, max } => write!(
                f,
                "the model has {count} {io}s, more than the {max} this runtime supports"
            ),
            Error::Size {
                io,
                index,
                name,
                expected,
                found,
            } => write!(
                f,
                "{io} {index} ('{name}') must be {expected} bytes, the buffer has {found}"
            ),
            Error::Misaligned {
                io,
                index,
                name,
                align,
            } => write!(
                f,
                "{io} {index} ('{name}') must be aligned to {align} bytes"
            ),
            Error::UnknownDType {
                io,
                index,
                name,
                code,
            } => write!(
                f,
                "{io} {index} ('{name}') has element type code {code}, unknown to this runtime"
            ),
            Error::DType {
                io,
                index,
                name,
                expected,
                found,
            } => write!(
                f,
                "{io} {index} ('{name}') is {found}, the call passes {expected}"
            ),
            Error::ArenaTooSmall { needed, found } => write!(
                f,
                "the model needs an arena of {needed} bytes, the buffer has {found}"
            ),
            Error::ArenaMisaligned { align } => {
                write!(f, "the arena must be aligned to {align} bytes")
            }
            Error::Status(code) => match status_name(code) {
                Some((name, meaning)) => {
                    write!(f, "the model failed with status {code} ({name}: {meaning})")
                }
                None => write!(f, "the model failed with status {code}"),
            },
        }
    }
}

impl core::error::Error for Error {}
