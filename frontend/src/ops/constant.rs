//! Constant nodes: their value, whichever attribute holds it, becomes an IR
//! constant named as the node's output.

use nnc_ir::Tensor;

use super::{Converter, at};
use crate::import::{ConvResult, NodeCtx, bail, refuse};

pub(super) static CONVERTERS: &[Converter] = &[at("Constant", 1, constant)];

fn constant(ctx: &mut NodeCtx) -> ConvResult<()> {
    const FORMS: [&str; 8] = [
        "value",
        "value_float",
        "value_floats",
        "value_int",
        "value_ints",
        "value_string",
        "value_strings",
        "sparse_value",
    ];
    let present: Vec<&str> = FORMS.into_iter().filter(|f| ctx.attrs.has(f)).collect();
    let form = match present.as_slice() {
        [one] => *one,
        [] => bail!("Constant has none of the attributes {}", FORMS.join(", ")),
        many => bail!(
            "Constant has more than one value attribute: {}",
            many.join(", ")
        ),
    };
    let attrs = ctx.attrs;
    let tensor = match form {
        "value" => match attrs.opt_tensor("value")? {
            Some(proto) => ctx.attr_tensor("value", proto)?,
            None => bail!("attribute 'value' holds no tensor"),
        },
        "value_float" => Tensor::scalar(attrs.float("value_float", 0.0)?),
        "value_floats" => {
            let v = attrs
                .opt_floats("value_floats")?
                .unwrap_or_default()
                .to_vec();
            Tensor::from_vec(vec![v.len()], v)?
        }
        "value_int" => Tensor::scalar(attrs.int("value_int", 0)?),
        "value_ints" => {
            let v = attrs.opt_ints("value_ints")?.unwrap_or_default().to_vec();
            Tensor::from_vec(vec![v.len()], v)?
        }
        "sparse_value" => refuse!("sparse constants (attribute 'sparse_value') are not supported"),
        _ => refuse!("string constants (attribute '{form}') are not supported"),
    };
    ctx.const_output(0, tensor)?;
    Ok(())
}
