//! A readable text form of a graph, for `--dump-after` and for pinned test cases.
//!
//! ```text
//! graph tiny_cnn
//!   input  input: f32[1x3x32x32]
//!   const  conv.weight: f32[8x3x3x3]
//!   %conv_out: f32[1x8x32x32] = Conv(input, conv.weight, conv.bias) {...}  # node conv0
//!   output %logits
//! ```

use std::fmt;

use crate::{Graph, ValueDef};

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "graph {}", self.name)?;
        for &id in self.inputs() {
            let v = self.value(id);
            writeln!(f, "  input  {}: {}", v.name, v.ty)?;
        }
        for (_, v) in self.values() {
            if let ValueDef::Const(t) = &v.def {
                if t.len() <= 8 {
                    writeln!(f, "  const  {}: {:?}", v.name, t)?;
                } else {
                    writeln!(f, "  const  {}: {}", v.name, v.ty)?;
                }
            }
        }
        for (_, node) in self.nodes() {
            let outs: Vec<String> = node
                .outputs
                .iter()
                .map(|&o| format!("%{}: {}", self.value(o).name, self.value(o).ty))
                .collect();
            let ins: Vec<String> = node
                .inputs
                .iter()
                .map(|i| match i {
                    Some(id) => self.value(*id).name.clone(),
                    None => "_".to_string(),
                })
                .collect();
            writeln!(
                f,
                "  {} = {}({}) {:?}  # {}",
                outs.join(", "),
                node.op.label(),
                ins.join(", "),
                node.op,
                node.name
            )?;
        }
        let outs: Vec<String> = self
            .outputs()
            .iter()
            .map(|&o| format!("%{}", self.value(o).name))
            .collect();
        writeln!(f, "  output {}", outs.join(", "))
    }
}
