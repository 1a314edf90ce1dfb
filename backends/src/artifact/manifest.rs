//! `NAME.json`: the facts of the header (interface, memory) plus the compile
//! report (what ran, what it cost), for tools and for people comparing builds.

use std::collections::BTreeMap;

use nnc_ir::Target;
use nnc_ir::kernel::{IoSpec, Program};
use serde::{Deserialize, Serialize};

use super::abi::{ABI_VERSION, onnx_code};

/// The manifest of a compiled model. [`Manifest::new`] fills what the program
/// and target know; the driver sets the rest (`onnx_ops`, `passes`, `code_bytes`,
/// `arena_lower_bound_bytes`, `compile_ms`), which are empty or 0 until then.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    /// The target triple.
    pub target: String,
    pub nnc_version: String,
    pub abi_version: u32,
    /// Arena the model needs (`NAME_ARENA_SIZE`).
    pub arena_bytes: usize,
    pub arena_align: usize,
    /// The memory planner's lower bound: the most bytes live at any one time.
    pub arena_lower_bound_bytes: usize,
    /// Bytes of constant tensors in read-only data.
    pub weights_bytes: usize,
    /// Bytes of machine code.
    pub code_bytes: usize,
    pub inputs: Vec<TensorEntry>,
    pub outputs: Vec<TensorEntry>,
    /// Nodes of the imported ONNX model per op type.
    pub onnx_ops: BTreeMap<String, usize>,
    /// The kernel calls, in execution order.
    pub kernels: Vec<KernelEntry>,
    /// The compiler's passes in the order they ran, with their time.
    pub passes: PassTimes,
    /// What the e-graph optimiser did (empty when it did not run).
    #[serde(default)]
    pub rewrites: RewriteReport,
    /// Wall time of the whole compilation.
    pub compile_ms: f64,
}

/// A model input or output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorEntry {
    pub name: String,
    /// `f32`, `i64`, ... ([`nnc_ir::DType::name`]).
    pub dtype: String,
    /// The ONNX `TensorProto.DataType` code, as in the header.
    pub dtype_code: u32,
    pub shape: Vec<usize>,
    pub bytes: usize,
}

/// One kernel call: which kernel, for which ONNX nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelEntry {
    /// The kernel's name (what it computes, e.g. `conv2d_3x3_relu`).
    pub kind: String,
    pub nodes: Vec<String>,
    /// The code its GEMM tiles became: `portable`, `avx2` or `avx512`
    /// ([`nnc_ir::Microkernel::name`]; `portable` for kernels without tiles).
    #[serde(default = "portable")]
    pub microkernel: String,
}

fn portable() -> String {
    nnc_ir::Microkernel::Portable.name().to_string()
}

/// The e-graph optimiser's account: rule -> times applied, the graph's op
/// histogram and run-time node count (nodes that become kernels) before and after
/// it, why saturation stopped and how large the e-graph grew.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RewriteReport {
    pub rules: BTreeMap<String, usize>,
    pub ops_before: BTreeMap<String, usize>,
    pub ops_after: BTreeMap<String, usize>,
    pub kernels_before: usize,
    pub kernels_after: usize,
    pub stop: String,
    pub iterations: usize,
    pub egraph_nodes: usize,
    pub egraph_classes: usize,
    pub millis: f64,
}

/// Milliseconds per pass, in the order the passes ran: a JSON object
/// `{"canonicalize": 0.4, "memplan": 0.1, ...}` whose keys keep that order (a pass
/// that ran again appears as `name#2`, ...). Collect it from `(name, ms)` pairs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassTimes(pub Vec<(String, f64)>);

impl FromIterator<(String, f64)> for PassTimes {
    fn from_iter<I: IntoIterator<Item = (String, f64)>>(iter: I) -> Self {
        let mut times = PassTimes::default();
        for (name, ms) in iter {
            times.push(name, ms);
        }
        times
    }
}

impl PassTimes {
    /// Appends a pass; a name already present gets a `#k` suffix.
    pub fn push(&mut self, name: String, ms: f64) {
        let runs = self.0.iter().filter(|(n, _)| base_name(n) == name).count();
        let name = if runs == 0 {
            name
        } else {
            format!("{name}#{}", runs + 1)
        };
        self.0.push((name, ms));
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).map(|&(_, ms)| ms)
    }
}

fn base_name(name: &str) -> &str {
    name.split_once('#').map_or(name, |(base, _)| base)
}

impl Serialize for PassTimes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, ms) in &self.0 {
            map.serialize_entry(name, ms)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PassTimes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PassTimes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map from pass names to milliseconds")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PassTimes, A::Error> {
                let mut times = Vec::new();
                while let Some(entry) = map.next_entry::<String, f64>()? {
                    times.push(entry);
                }
                Ok(PassTimes(times))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl Manifest {
    /// What `program` and `target` say; the driver's fields empty.
    pub fn new(program: &Program, target: &Target) -> Manifest {
        Manifest {
            name: program.name.clone(),
            target: target.triple.clone(),
            nnc_version: env!("CARGO_PKG_VERSION").to_string(),
            abi_version: ABI_VERSION,
            arena_bytes: program.arena_bytes,
            arena_align: program.arena_align.max(1),
            arena_lower_bound_bytes: 0,
            weights_bytes: program.weights.iter().map(|w| w.tensor.bytes().len()).sum(),
            code_bytes: 0,
            inputs: program.inputs.iter().map(TensorEntry::new).collect(),
            outputs: program.outputs.iter().map(TensorEntry::new).collect(),
            onnx_ops: BTreeMap::new(),
            kernels: program
                .calls
                .iter()
                .map(|call| KernelEntry {
                    kind: call.kind.clone(),
                    nodes: call.nodes.clone(),
                    microkernel: portable(),
                })
                .collect(),
            passes: PassTimes::default(),
            rewrites: RewriteReport::default(),
            compile_ms: 0.0,
        }
    }

    /// Counts op types into `onnx_ops` (e.g. from the imported graph's nodes).
    pub fn count_ops<'a>(&mut self, ops: impl IntoIterator<Item = &'a str>) {
        for op in ops {
            *self.onnx_ops.entry(op.to_string()).or_default() += 1;
        }
    }

    /// Pretty-printed JSON, ending in a newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest always serializes");
        text.push('\n');
        text
    }
}

impl TensorEntry {
    fn new(spec: &IoSpec) -> TensorEntry {
        TensorEntry {
            name: spec.name.clone(),
            dtype: spec.dtype.name().to_string(),
            dtype_code: onnx_code(spec.dtype),
            shape: spec.shape.clone(),
            bytes: spec.bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::testing::program;
    use nnc_ir::kernel::{BufferRef, Kernel, KernelCall, Weight};
    use nnc_ir::{Arch, BinaryFormat, DType, Tensor};

    fn kernel(name: &str) -> Kernel {
        Kernel {
            name: name.to_string(),
            buffers: vec![],
            vars: vec![],
            body: vec![],
        }
    }

    #[test]
    fn reports_the_program_and_the_drivers_facts() {
        let mut p = program("tiny_cnn", 4096, 64);
        p.kernels = vec![kernel("conv2d_relu"), kernel("gemm")];
        p.calls = vec![
            KernelCall {
                kernel: 0,
                kind: "conv2d_relu".into(),
                args: vec![BufferRef::Input(0), BufferRef::Arena { offset: 0 }],
                nodes: vec!["conv1".into(), "relu1".into()],
            },
            KernelCall {
                kernel: 1,
                kind: "gemm".into(),
                args: vec![BufferRef::Arena { offset: 0 }, BufferRef::Output(0)],
                nodes: vec!["fc".into()],
            },
        ];
        p.weights = vec![Weight {
            name: "w".into(),
            tensor: Tensor::zeros(DType::F32, vec![3, 5]).unwrap(),
        }];
        let target = Target {
            triple: "aarch64-unknown-linux-gnu".into(),
            arch: Arch::Aarch64,
            format: BinaryFormat::Elf,
            hosted: true,
            vector_bytes: 16,
            vector_registers: 32,
            has_fma: true,
            cpu_features: vec![],
            portable_kernels: false,
            no_winograd: false,
        };
        let mut m = Manifest::new(&p, &target);
        m.count_ops(["Conv", "Relu", "Gemm", "Relu"]);
        m.passes = [
            ("canonicalize", 1.5),
            ("memplan", 0.25),
            ("canonicalize", 0.5),
        ]
        .into_iter()
        .map(|(n, ms)| (n.to_string(), ms))
        .collect();
        m.arena_lower_bound_bytes = 1024;
        m.compile_ms = 12.0;

        assert_eq!(m.weights_bytes, 60);
        assert_eq!(m.inputs[0].bytes, 768);
        assert_eq!(m.inputs[1].dtype, "i64");
        assert_eq!(m.onnx_ops["Relu"], 2);
        assert_eq!(m.kernels[0].kind, "conv2d_relu");
        assert_eq!(m.kernels[0].nodes, ["conv1", "relu1"]);

        let json = m.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["name"], "tiny_cnn");
        assert_eq!(value["target"], "aarch64-unknown-linux-gnu");
        assert_eq!(value["arena_bytes"], 4096);
        assert_eq!(value["arena_lower_bound_bytes"], 1024);
        assert_eq!(value["inputs"][0]["shape"], serde_json::json!([1, 3, 8, 8]));
        assert_eq!(value["inputs"][0]["dtype_code"], 1);
        assert_eq!(value["kernels"][1]["kind"], "gemm");
        assert_eq!(value["passes"]["canonicalize#2"], 0.5);
        let order: Vec<&str> = json
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split_once("\":"))
            .map(|(k, _)| k)
            .skip_while(|k| *k != "passes")
            .skip(1)
            .take(3)
            .collect();
        assert_eq!(order, ["canonicalize", "memplan", "canonicalize#2"]);
        assert_eq!(m.passes.get("memplan"), Some(0.25));
        assert_eq!(value["onnx_ops"]["Conv"], 1);
        let back: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }
}
