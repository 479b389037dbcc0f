//! Masking a result's values: per column, the column rule that matches the table and column
//! the target names as its source (the column definition's org_table and org_name), or for a
//! computed column (no source) of a request that reads a masked table the whole value;
//! detectors over every other value.

use std::borrow::Cow;

use bytes::BytesMut;
use sluice_core::{MaskPlan, MaskTally, StatementPermit};
use sluice_mask::Strategy;
use sluice_mywire::caps::{self, types};
use sluice_mywire::response::ColumnDef;
use sluice_mywire::rows::ValueType;

/// What masking does to one column.
pub struct ColumnMask {
    /// Replaced whole.
    pub strategy: Option<Strategy>,
    /// Named in the audit record's counts.
    pub label: String,
}

/// One result's columns: how each is read (binary rows) and masked.
pub struct ResultColumns {
    pub names: Vec<String>,
    pub kinds: Vec<ValueType>,
    /// `None` when the request's results are not masked.
    pub masks: Option<Vec<ColumnMask>>,
}

/// Reads one column definition, and rewrites it when its values will be replaced by text
/// (a masked number is a string from then on, so clients do not parse it as one).
pub fn column(
    permit: Option<&StatementPermit>,
    def: &ColumnDef<'_>,
    result: &mut ResultColumns,
    out: &mut BytesMut,
) -> bool {
    result
        .names
        .push(String::from_utf8_lossy(def.name).into_owned());
    result.kinds.push(ValueType {
        column_type: def.column_type,
        unsigned: def.flags & caps::UNSIGNED_FLAG != 0,
    });
    let Some(plan) = permit.and_then(StatementPermit::mask) else {
        return false;
    };
    let masks = result.masks.get_or_insert_with(Vec::new);
    let schema = String::from_utf8_lossy(def.schema);
    let table = String::from_utf8_lossy(def.org_table);
    let column = String::from_utf8_lossy(def.org_name);
    let name = String::from_utf8_lossy(def.name);
    let computed = def.org_table.is_empty() || def.org_name.is_empty();
    let source = (!computed).then(|| sluice_core::ColumnSource {
        schema: &schema,
        table: &table,
        column: &column,
    });
    let mut strategy = plan.column_strategy(source, &name);
    if strategy.is_none() && computed && reads_masked(plan, permit) {
        strategy = Some(Strategy::Redact);
    }
    let label = if computed {
        name.to_string()
    } else {
        format!("{schema}.{table}.{column}")
    };
    let retype = strategy.is_some() && !types::is_string(def.column_type);
    masks.push(ColumnMask { strategy, label });
    if retype {
        let mut text = def.clone();
        text.column_type = types::VAR_STRING;
        text.charset = caps::UTF8MB4_GENERAL_CI;
        text.flags &= !(caps::BINARY_FLAG | caps::UNSIGNED_FLAG);
        text.length = text.length.max(1020);
        text.decimals = 0;
        text.encode(out);
        return true;
    }
    false
}

fn reads_masked(plan: &MaskPlan, permit: Option<&StatementPermit>) -> bool {
    plan.has_column_rules()
        && permit.is_some_and(|p| p.relations_read().iter().any(|r| plan.masks_relation(r)))
}

/// A value as masking leaves it: `None` is NULL.
pub fn value<'v>(
    plan: &MaskPlan,
    mask: &ColumnMask,
    tally: &mut MaskTally,
    text: &'v [u8],
) -> Option<Cow<'v, [u8]>> {
    match &mask.strategy {
        Some(strategy) => {
            tally.add_column(&mask.label, 1);
            plan.mask_value(&as_text(text), strategy)
                .map(|s| Cow::Owned(s.into_bytes()))
        }
        None if plan.has_content() => {
            let s = as_text(text);
            match plan.mask_content(&s, tally) {
                Some(masked) => Some(Cow::Owned(masked.into_bytes())),
                None => Some(Cow::Borrowed(text)),
            }
        }
        None => Some(Cow::Borrowed(text)),
    }
}

/// A value as text: borrowed when it is UTF-8, as nearly every value is.
fn as_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}
