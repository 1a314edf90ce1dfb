//! What passes that rebuild a graph node by node share: the old value -> new value
//! map, with constants added to the new graph when first used (so that constants
//! nothing reads any more disappear with the rebuild).

use std::collections::HashMap;

use nnc_ir::{Graph, IrError, ValueDef, ValueId};

/// The rebuilt value of `id`, adding it to `out` first if it is a constant not
/// used yet. Any other value must have been rebuilt already (`pass` names the
/// pass in the error if not).
pub(crate) fn rebuilt_operand(
    pass: &str,
    graph: &Graph,
    out: &mut Graph,
    map: &mut HashMap<ValueId, ValueId>,
    id: ValueId,
) -> Result<ValueId, IrError> {
    if let Some(&new) = map.get(&id) {
        return Ok(new);
    }
    let v = graph.value(id);
    let ValueDef::Const(t) = &v.def else {
        return Err(IrError::Value {
            value: v.name.clone(),
            message: format!("{pass}: operand used before it is defined"),
        });
    };
    let new = out.add_const(v.name.clone(), t.clone())?;
    map.insert(id, new);
    Ok(new)
}
