//! Typed access to a node's attributes, with errors that say which attribute is
//! wrong and how.

use crate::proto::{AttributeProto, AttributeType, TensorProto};

use super::{ConvResult, ConvertError};

/// The attributes of one node.
#[derive(Clone, Copy)]
pub struct Attrs<'a> {
    list: &'a [AttributeProto],
}

impl<'a> Attrs<'a> {
    pub fn new(list: &'a [AttributeProto]) -> Self {
        Attrs { list }
    }

    pub fn has(&self, name: &str) -> bool {
        self.list.iter().any(|a| a.name == name)
    }

    /// The attribute `name` if present, checked to be of kind `want`.
    fn get(&self, name: &str, want: AttributeType) -> ConvResult<Option<&'a AttributeProto>> {
        let Some(attr) = self.list.iter().find(|a| a.name == name) else {
            return Ok(None);
        };
        let kind = kind_of(attr);
        // Old exporters leave `type` unset; a scalar then reads as either number.
        let scalar_guess = kind == AttributeType::Undefined
            && matches!(want, AttributeType::Int | AttributeType::Float);
        if kind != want && !scalar_guess {
            return Err(ConvertError::malformed(format!(
                "attribute '{name}' must be {}, is {}",
                want.describe(),
                kind.describe()
            )));
        }
        Ok(Some(attr))
    }

    pub fn opt_int(&self, name: &str) -> ConvResult<Option<i64>> {
        Ok(self.get(name, AttributeType::Int)?.map(|a| a.i))
    }

    pub fn int(&self, name: &str, default: i64) -> ConvResult<i64> {
        Ok(self.opt_int(name)?.unwrap_or(default))
    }

    /// An int attribute used as a flag (0 or 1).
    pub fn flag(&self, name: &str, default: bool) -> ConvResult<bool> {
        match self.opt_int(name)? {
            None => Ok(default),
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(other) => Err(ConvertError::malformed(format!(
                "attribute '{name}' must be 0 or 1, is {other}"
            ))),
        }
    }

    /// A non-negative int attribute.
    pub fn count(&self, name: &str, default: usize) -> ConvResult<usize> {
        match self.opt_int(name)? {
            None => Ok(default),
            Some(v) => usize::try_from(v).map_err(|_| {
                ConvertError::malformed(format!("attribute '{name}' must be non-negative, is {v}"))
            }),
        }
    }

    pub fn opt_float(&self, name: &str) -> ConvResult<Option<f32>> {
        Ok(self.get(name, AttributeType::Float)?.map(|a| {
            if a.r#type == AttributeType::Undefined as i32 && a.f == 0.0 && a.i != 0 {
                a.i as f32
            } else {
                a.f
            }
        }))
    }

    pub fn float(&self, name: &str, default: f32) -> ConvResult<f32> {
        Ok(self.opt_float(name)?.unwrap_or(default))
    }

    pub fn opt_string(&self, name: &str) -> ConvResult<Option<&'a str>> {
        let Some(attr) = self.get(name, AttributeType::String)? else {
            return Ok(None);
        };
        std::str::from_utf8(&attr.s)
            .map(Some)
            .map_err(|_| ConvertError::malformed(format!("attribute '{name}' is not valid UTF-8")))
    }

    pub fn string(&self, name: &str, default: &'a str) -> ConvResult<&'a str> {
        Ok(self.opt_string(name)?.unwrap_or(default))
    }

    pub fn opt_ints(&self, name: &str) -> ConvResult<Option<&'a [i64]>> {
        Ok(self
            .get(name, AttributeType::Ints)?
            .map(|a| a.ints.as_slice()))
    }

    /// A list of non-negative ints.
    pub fn opt_counts(&self, name: &str) -> ConvResult<Option<Vec<usize>>> {
        let Some(ints) = self.opt_ints(name)? else {
            return Ok(None);
        };
        ints.iter()
            .map(|&v| usize::try_from(v))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(|_| {
                ConvertError::malformed(format!(
                    "attribute '{name}' must hold non-negative ints, is {ints:?}"
                ))
            })
    }

    pub fn opt_floats(&self, name: &str) -> ConvResult<Option<&'a [f32]>> {
        Ok(self
            .get(name, AttributeType::Floats)?
            .map(|a| a.floats.as_slice()))
    }

    pub fn opt_tensor(&self, name: &str) -> ConvResult<Option<&'a TensorProto>> {
        Ok(self
            .get(name, AttributeType::Tensor)?
            .and_then(|a| a.t.as_ref()))
    }
}

/// The attribute's kind: its `type` field, or for files that leave it unset, the
/// field that holds a value.
fn kind_of(attr: &AttributeProto) -> AttributeType {
    let declared = AttributeType::try_from(attr.r#type).unwrap_or(AttributeType::Undefined);
    if declared != AttributeType::Undefined {
        return declared;
    }
    if !attr.ints.is_empty() {
        AttributeType::Ints
    } else if !attr.floats.is_empty() {
        AttributeType::Floats
    } else if !attr.strings.is_empty() {
        AttributeType::Strings
    } else if attr.t.is_some() {
        AttributeType::Tensor
    } else if attr.sparse_tensor.is_some() {
        AttributeType::SparseTensor
    } else if !attr.s.is_empty() {
        AttributeType::String
    } else {
        AttributeType::Undefined
    }
}
