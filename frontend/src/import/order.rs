//! The order in which nodes are converted. Exporters do not always write nodes
//! in topological order, so the graph of producers and consumers is sorted; the
//! same walk finds values nobody defines, values defined twice, and cycles.

use std::collections::{HashMap, HashSet};

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::FrontendError;
use crate::model::Model;

/// Node indices in an order where every node follows the producers of its
/// operands; the file's order when it already is one.
pub(crate) fn node_order(model: &Model, labels: &[String]) -> Result<Vec<usize>, FrontendError> {
    let graph = &model.graph;
    let node_error = |i: usize, message: String| {
        let node = &graph.node[i];
        FrontendError::Node {
            path: model.path.clone(),
            node: labels[i].clone(),
            op_type: node.op_type.clone(),
            opset: model
                .opset(crate::model::normalize_domain(&node.domain))
                .unwrap_or(0),
            message,
            unsupported: false,
        }
    };
    let defined: HashSet<&str> = graph
        .input
        .iter()
        .map(|v| v.name.as_str())
        .chain(graph.initializer.iter().map(|t| t.name.as_str()))
        .collect();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, node) in graph.node.iter().enumerate() {
        for out in node.output.iter().filter(|o| !o.is_empty()) {
            if defined.contains(out.as_str()) {
                return Err(node_error(
                    i,
                    format!("output '{out}' is also a graph input or initializer"),
                ));
            }
            if let Some(&other) = producer.get(out.as_str()) {
                return Err(node_error(
                    i,
                    format!(
                        "output '{out}' is also produced by node '{}'",
                        labels[other]
                    ),
                ));
            }
            producer.insert(out, i);
        }
    }
    let mut deps = DiGraph::<usize, ()>::with_capacity(graph.node.len(), graph.node.len());
    let indices: Vec<NodeIndex> = (0..graph.node.len()).map(|i| deps.add_node(i)).collect();
    let mut sorted = true;
    for (i, node) in graph.node.iter().enumerate() {
        for input in node.input.iter().filter(|n| !n.is_empty()) {
            if let Some(&p) = producer.get(input.as_str()) {
                deps.add_edge(indices[p], indices[i], ());
                sorted &= p < i;
            } else if !defined.contains(input.as_str()) {
                return Err(node_error(
                    i,
                    format!(
                        "input '{input}' is not produced by any node, nor a graph input or \
                         initializer"
                    ),
                ));
            }
        }
    }
    if sorted {
        return Ok((0..graph.node.len()).collect());
    }
    match toposort(&deps, None) {
        Ok(order) => Ok(order.into_iter().map(|n| deps[n]).collect()),
        Err(cycle) => {
            let i = deps[cycle.node_id()];
            Err(model.graph_error(format!(
                "the graph has a cycle through node '{}' ({})",
                labels[i], graph.node[i].op_type
            )))
        }
    }
}
