//! The converter table: for each ONNX op type, the functions that turn one of its
//! nodes into IR nodes, each valid from an opset version on.
//!
//! A converter is chosen by (op type, opset version of the default domain): the
//! entry with the newest `since` not newer than the model's opset. So when an op's
//! semantics change at some opset (Clip's min/max becoming inputs at 11), there is
//! one entry per form; versions that only add dtypes need no entry.
//!
//! To add an op: write `fn convert(ctx: &mut NodeCtx) -> ConvResult<()>` in the
//! family file it belongs to (read attributes with `ctx.attrs`, operands with
//! `ctx.input` / `ctx.known`, finish with `ctx.add(op, inputs)`), then list it in
//! that file's `CONVERTERS` with the opset it is valid from.

mod constant;
mod elementwise;
mod linalg;
mod movement;
mod nn;
mod norm;
mod quant;
mod reduce;
mod resize;
mod shape;
mod softmax;

use std::collections::BTreeMap;

use crate::FrontendError;
use crate::error::UnsupportedOp;
use crate::import::{ConvResult, NodeCtx, node_labels};
use crate::model::{Model, normalize_domain};

/// Converts one ONNX node.
pub type ConvertFn = fn(&mut NodeCtx) -> ConvResult<()>;

/// One form of an op: the converter for opsets from `since` on (until the next
/// entry of the same op).
pub struct Converter {
    pub op_type: &'static str,
    pub since: i64,
    pub convert: ConvertFn,
}

/// Shorthand for table entries.
pub(crate) const fn at(op_type: &'static str, since: i64, convert: ConvertFn) -> Converter {
    Converter {
        op_type,
        since,
        convert,
    }
}

/// Every family's table.
static FAMILIES: &[&[Converter]] = &[
    constant::CONVERTERS,
    elementwise::CONVERTERS,
    linalg::CONVERTERS,
    movement::CONVERTERS,
    nn::CONVERTERS,
    norm::CONVERTERS,
    quant::CONVERTERS,
    reduce::CONVERTERS,
    resize::CONVERTERS,
    shape::CONVERTERS,
    softmax::CONVERTERS,
];

/// The converter of `op_type` at `opset`, or why there is none.
pub(crate) fn find(op_type: &str, opset: i64) -> Result<&'static Converter, String> {
    let forms = || {
        FAMILIES
            .iter()
            .flat_map(|family| family.iter())
            .filter(move |c| c.op_type == op_type)
    };
    if let Some(found) = forms().filter(|c| c.since <= opset).max_by_key(|c| c.since) {
        return Ok(found);
    }
    match forms().map(|c| c.since).min() {
        Some(first) => Err(format!("nnc converts {op_type} from opset {first} on")),
        None => Err("nnc has no converter for this op".to_string()),
    }
}

/// Every node nnc cannot convert, grouped by op: unknown domains, calls to
/// model-local functions, and ops without a converter at the model's opset.
pub(crate) fn unsupported_ops(model: &Model) -> Vec<UnsupportedOp> {
    let labels = node_labels(model);
    let mut found: BTreeMap<(String, String), UnsupportedOp> = BTreeMap::new();
    for (node, label) in model.graph.node.iter().zip(&labels) {
        let domain = normalize_domain(&node.domain);
        let opset = model.opset(domain).unwrap_or(0);
        let is_function = model
            .proto
            .functions
            .iter()
            .any(|f| f.name == node.op_type && normalize_domain(&f.domain) == domain);
        let reason = if is_function {
            Some("calls a model-local function, which nnc does not inline".to_string())
        } else if !domain.is_empty() {
            Some(if opset == 0 {
                format!(
                    "domain '{domain}' is not imported by the model, and nnc supports only the default ONNX domain"
                )
            } else {
                format!("nnc supports only the default ONNX domain, not '{domain}'")
            })
        } else if opset == 0 {
            Some("the model imports no opset for the default ONNX domain".to_string())
        } else {
            find(&node.op_type, opset).err()
        };
        if let Some(reason) = reason {
            found
                .entry((domain.to_string(), node.op_type.clone()))
                .or_insert_with(|| UnsupportedOp {
                    domain: domain.to_string(),
                    op_type: node.op_type.clone(),
                    opset,
                    nodes: Vec::new(),
                    reason,
                })
                .nodes
                .push(label.clone());
        }
    }
    found.into_values().collect()
}

/// Fails, before anything is converted, if any node cannot be, with one error
/// listing every unsupported op and its nodes (an unknown-domain error when
/// foreign domains are the only problem).
pub(crate) fn check_support(model: &Model) -> Result<(), FrontendError> {
    let unsupported = unsupported_ops(model);
    let is_function = |op: &UnsupportedOp| op.reason.contains("model-local function");
    let mut domains: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for op in unsupported
        .iter()
        .filter(|op| !op.domain.is_empty() && !is_function(op))
    {
        domains
            .entry(op.domain.clone())
            .or_default()
            .extend(op.nodes.iter().cloned());
    }
    let only_domains = domains.values().map(Vec::len).sum::<usize>()
        == unsupported.iter().map(|op| op.nodes.len()).sum::<usize>();
    if !domains.is_empty() && only_domains {
        return Err(FrontendError::UnknownDomains {
            path: model.path.clone(),
            domains: domains.into_iter().collect(),
        });
    }
    if !unsupported.is_empty() {
        return Err(FrontendError::UnsupportedOps {
            path: model.path.clone(),
            ops: unsupported,
        });
    }
    Ok(())
}

/// Checks dims read from an operand (Expand's shape, ConstantOfShape's input)
/// before the IR sees them: non-negative, and not absurdly many elements.
pub(crate) fn checked_dims(dims: &[i64]) -> ConvResult<()> {
    crate::tensor::checked_shape(dims)
        .map(|_| ())
        .map_err(|e| crate::import::ConvertError::malformed(format!("shape operand: {e}")))
}
