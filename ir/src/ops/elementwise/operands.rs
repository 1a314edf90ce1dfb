//! Checking an op's operand list: how many operands and outputs, which are present.
//! Works on facts (shape inference) and on tensors (evaluation) alike.

use crate::{OpResult, op_bail, op_ensure};

/// Checks that between `min` and `max` operands are given and that the node asks
/// for exactly `outputs` outputs.
pub(crate) fn check_counts<T>(
    inputs: &[Option<T>],
    min: usize,
    max: usize,
    num_outputs: usize,
    outputs: usize,
) -> OpResult<()> {
    op_ensure!(
        (min..=max).contains(&inputs.len()),
        "expected {} operands, got {}",
        if min == max {
            min.to_string()
        } else {
            format!("{min} to {max}")
        },
        inputs.len()
    );
    op_ensure!(
        num_outputs == outputs,
        "expected {outputs} output(s), the node asks for {num_outputs}"
    );
    Ok(())
}

/// The `index`-th operand, which must be present.
pub(crate) fn required<T: Copy>(inputs: &[Option<T>], index: usize, what: &str) -> OpResult<T> {
    match inputs.get(index).copied().flatten() {
        Some(operand) => Ok(operand),
        None => op_bail!("operand {index} ({what}) is required"),
    }
}

/// The `index`-th operand if it is given.
pub(crate) fn optional<T: Copy>(inputs: &[Option<T>], index: usize) -> Option<T> {
    inputs.get(index).copied().flatten()
}
