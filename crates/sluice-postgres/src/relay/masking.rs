//! Masking what the target sends before the client sees it (docs/masking.md): result rows
//! by column rule or by content, error and notice fields, notification payloads, COPY data.
//!
//! A rewrite happens only when something was masked; otherwise the original bytes are relayed.
//! A value that must be masked but cannot be read or written back in its type becomes NULL
//! and is counted as such; nothing that needs masking is ever relayed as received.

use std::borrow::Cow;

use bytes::BytesMut;

use sluice_core::{ColumnSource, MaskPlan, MaskTally};
use sluice_mask::Strategy;
use sluice_pgwire::backend as be;
use sluice_pgwire::types::{self, BinaryView, TextFit};
use sluice_pgwire::{encode, rows};

use crate::catalog::{Known, TableNames};
use crate::error::PgError;

/// How one result column's values are masked.
enum Action {
    Pass,
    /// A column rule: every value is replaced whole.
    Whole(Strategy),
    /// Detectors run over the value.
    Content,
}

struct ColumnMask {
    action: Action,
    type_oid: u32,
    binary: bool,
    /// What audit names the column by: its source, or its name in the result.
    label: String,
    replaced: u64,
}

/// The masking of one result (a RowDescription and the rows after it).
pub(super) struct ResultMask {
    plan: MaskPlan,
    columns: Vec<ColumnMask>,
}

/// Field types of ErrorResponse/NoticeResponse that hold no data from the statement: severity,
/// code, position, and the server's own source location.
const FIXED_FIELDS: [u8; 8] = [b'S', b'V', b'C', b'P', b'p', b'F', b'L', b'R'];

impl ResultMask {
    /// The masking for the request's `index`-th result, described by `description`; `None`
    /// when no column needs any, so its rows are relayed untouched. `names` answers what the
    /// catalog knows of a table.
    ///
    /// A column whose lineage includes a masked column gets the strategy lineage gives it
    /// (its rule's for a plain reference, a whole-value one for a computed value); other
    /// columns are masked by the rule matching their source or their name. For a request
    /// that reads masked columns but whose result cannot be matched to its lineage, every
    /// column is masked whole.
    pub(super) fn new(
        plan: &MaskPlan,
        index: usize,
        description: &[u8],
        names: impl Fn(u32) -> Known,
    ) -> Result<Option<ResultMask>, PgError> {
        let described = rows::row_description(description).map_err(bad)?;
        let mut columns = Vec::with_capacity(described.len());
        let lineage = plan.result_lineage(index, described.len());
        let unmatched = plan.traced() && lineage.is_none();
        for (i, c) in described.iter().enumerate() {
            let name = String::from_utf8_lossy(c.name);
            let (table, unnamed) = match c.table_oid {
                0 => (None, false),
                oid => match names(oid) {
                    Known::Table(t) => (Some(t), false),
                    Known::NoSuchTable | Known::Unknown => (None, false),
                    Known::Unnamed => (None, true),
                },
            };
            let source = table.as_deref().and_then(|t: &TableNames| {
                t.column(c.attnum).map(|column| ColumnSource {
                    schema: &t.schema,
                    table: &t.table,
                    column,
                })
            });
            let by_lineage = match lineage {
                Some(l) => l.strategy(i),
                None if unmatched => Some(Strategy::Redact),
                None => None,
            };
            let action = match by_lineage.or_else(|| plan.column_strategy(source, &name)) {
                Some(strategy) => Action::Whole(strategy),
                // Its source could be any column a rule masks: fail closed.
                None if unnamed && plan.has_column_rules() => Action::Whole(Strategy::Redact),
                None if plan.has_content() => Action::Content,
                None => Action::Pass,
            };
            let label = match source {
                Some(s) => format!("{}.{}.{}", s.schema, s.table, s.column),
                None => name.into_owned(),
            };
            columns.push(ColumnMask {
                action,
                type_oid: c.type_oid,
                binary: c.is_binary(),
                label,
                replaced: 0,
            });
        }
        if columns.iter().all(|c| matches!(c.action, Action::Pass)) {
            return Ok(None);
        }
        Ok(Some(ResultMask {
            plan: plan.clone(),
            columns,
        }))
    }

    /// The table OIDs of a description that `names` does not know yet.
    pub(super) fn unknown_tables(
        description: &[u8],
        names: impl Fn(u32) -> Known,
    ) -> Result<Vec<u32>, PgError> {
        let mut unknown: Vec<u32> = rows::row_description(description)
            .map_err(bad)?
            .iter()
            .map(|c| c.table_oid)
            .filter(|&oid| oid != 0 && matches!(names(oid), Known::Unknown))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        Ok(unknown)
    }

    /// Masks one DataRow; appends the rewritten message to `out` and returns true, or returns
    /// false when nothing changed (relay the original).
    pub(super) fn mask_row(
        &mut self,
        body: &[u8],
        tally: &mut MaskTally,
        out: &mut BytesMut,
    ) -> Result<bool, PgError> {
        let values = rows::data_row(body).map_err(bad)?;
        if values.len() != self.columns.len() {
            return Err(bad("a row does not match its description"));
        }
        let mut replaced: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
        for (i, (value, column)) in values.iter().zip(&mut self.columns).enumerate() {
            let Some(value) = value else { continue };
            match mask_value(&self.plan, column, value, tally) {
                Replacement::Keep => {}
                Replacement::Null => replaced.push((i, None)),
                Replacement::Bytes(b) => replaced.push((i, Some(b))),
            }
        }
        if replaced.is_empty() {
            return Ok(false);
        }
        let mut next = replaced.iter().peekable();
        let merged =
            values
                .iter()
                .enumerate()
                .map(|(i, original)| match next.next_if(|(at, _)| *at == i) {
                    Some((_, new)) => new.as_deref(),
                    None => *original,
                });
        rows::encode_data_row(out, merged).map_err(bad)?;
        Ok(true)
    }

    /// Moves the per-column counts into the statement's tally.
    pub(super) fn flush(&mut self, tally: &mut MaskTally) {
        for c in &mut self.columns {
            tally.add_column(&c.label, c.replaced);
            c.replaced = 0;
        }
    }
}

enum Replacement {
    Keep,
    Null,
    Bytes(Vec<u8>),
}

fn mask_value(
    plan: &MaskPlan,
    column: &mut ColumnMask,
    value: &[u8],
    tally: &mut MaskTally,
) -> Replacement {
    match column.action {
        Action::Pass => Replacement::Keep,
        Action::Whole(strategy) => {
            column.replaced += 1;
            whole(plan, column, value, &strategy, tally)
        }
        Action::Content => content(plan, column, value, tally),
    }
}

/// A column rule's replacement, in a form the column's type can hold, else NULL.
fn whole(
    plan: &MaskPlan,
    column: &ColumnMask,
    value: &[u8],
    strategy: &Strategy,
    tally: &mut MaskTally,
) -> Replacement {
    if *strategy == Strategy::Null {
        return Replacement::Null;
    }
    let text: Cow<'_, str> = if column.binary {
        match types::binary_view(column.type_oid, value) {
            BinaryView::Text(t) => Cow::Borrowed(t),
            BinaryView::Rendered(r) => Cow::Owned(r),
            BinaryView::Inert | BinaryView::Opaque => Cow::Borrowed(""),
        }
    } else {
        String::from_utf8_lossy(value)
    };
    let Some(masked) = plan.mask_value(&text, strategy) else {
        return Replacement::Null;
    };
    fitted(column, masked, tally)
}

/// Detectors over a value; a masked value its type cannot hold becomes NULL.
fn content(
    plan: &MaskPlan,
    column: &ColumnMask,
    value: &[u8],
    tally: &mut MaskTally,
) -> Replacement {
    if !column.binary {
        let Ok(text) = std::str::from_utf8(value) else {
            // Not UTF-8 (another client_encoding): unreadable to the detectors.
            tally.add_nulled();
            return Replacement::Null;
        };
        return match plan.mask_content(text, tally) {
            None => Replacement::Keep,
            Some(masked) => fitted(column, masked, tally),
        };
    }
    match types::binary_view(column.type_oid, value) {
        BinaryView::Inert => Replacement::Keep,
        BinaryView::Text(text) => match plan.mask_content(text, tally) {
            None => Replacement::Keep,
            Some(masked) => fitted(column, masked, tally),
        },
        BinaryView::Rendered(text) => match plan.mask_content(&text, tally) {
            None => Replacement::Keep,
            Some(_) => {
                tally.add_nulled();
                Replacement::Null
            }
        },
        BinaryView::Opaque => {
            tally.add_nulled();
            Replacement::Null
        }
    }
}

/// `masked` in the column's type and format: text types take it as is, JSON types as a JSON
/// string when it is not a document any more, anything else is NULL.
fn fitted(column: &ColumnMask, masked: String, tally: &mut MaskTally) -> Replacement {
    let text = match types::text_fit(column.type_oid) {
        TextFit::Text => masked,
        TextFit::Json if serde_json::from_str::<serde::de::IgnoredAny>(&masked).is_ok() => masked,
        TextFit::Json => serde_json::Value::String(masked).to_string(),
        TextFit::Other => {
            tally.add_nulled();
            return Replacement::Null;
        }
    };
    if !column.binary {
        return Replacement::Bytes(text.into_bytes());
    }
    let mut out = Vec::with_capacity(text.len() + 1);
    if types::encode_binary_text(column.type_oid, &text, &mut out) {
        Replacement::Bytes(out)
    } else {
        tally.add_nulled();
        Replacement::Null
    }
}

/// Masks the data-bearing fields of an ErrorResponse or NoticeResponse (`DETAIL: Key
/// (ssn)=(123-45-6789) already exists.`). Appends the rewritten message to `out` and returns
/// true when something was masked.
pub(super) fn mask_report(
    plan: &MaskPlan,
    tag: u8,
    body: &[u8],
    tally: &mut MaskTally,
    out: &mut BytesMut,
) -> Result<bool, PgError> {
    let fields = be::all_fields(tag, body).map_err(bad)?;
    // Names the report gives in fields of their own may stay where the message quotes them.
    let names: Vec<String> = fields
        .iter()
        .filter(|(kind, _)| NAME_FIELDS.contains(kind))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    let mut masked: Vec<Option<String>> = Vec::with_capacity(fields.len());
    for (kind, value) in &fields {
        if FIXED_FIELDS.contains(kind) {
            masked.push(None);
            continue;
        }
        let text = String::from_utf8_lossy(value);
        let found = plan.mask_content(&text, tally);
        // A request reading masked columns may fail on a value computed from one
        // (`reverse(ssn)::int`), which no detector knows: the values PostgreSQL quotes in its
        // messages are withheld. Fields that name schema objects are left as they are.
        masked.push(if plan.traced() && !NAME_FIELDS.contains(kind) {
            withhold_quoted(found.as_deref().unwrap_or(&text), &names).or(found)
        } else {
            found
        });
    }
    if masked.iter().all(Option::is_none) {
        return Ok(false);
    }
    let rewritten: Vec<(u8, &[u8])> = fields
        .iter()
        .zip(&masked)
        .map(|((kind, value), m)| (*kind, m.as_deref().map_or(*value, str::as_bytes)))
        .collect();
    encode::fields_message(out, tag, &rewritten);
    Ok(true)
}

/// Fields of a report that name schema objects, not values: schema, table, column, data
/// type, constraint.
const NAME_FIELDS: [u8; 5] = [b's', b't', b'c', b'd', b'n'];

/// `text` with every value PostgreSQL quotes in a message replaced: spans in double quotes
/// (`invalid input syntax for type integer: "9876-54-321"`) and key values (`Key (ssn)=(...)`),
/// except quoted `names` (the report's own schema, table, column, type, constraint).
/// `None` when there is none.
fn withhold_quoted(text: &str, names: &[String]) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    loop {
        let quote = rest.find('"');
        let key = rest.find(")=(");
        match (quote, key) {
            (Some(q), k) if k.is_none_or(|k| q < k) => {
                let Some(end) = rest[q + 1..].find('"') else {
                    break;
                };
                let quoted = &rest[q + 1..q + 1 + end];
                out.push_str(&rest[..=q]);
                if names.iter().any(|n| n == quoted) {
                    out.push_str(quoted);
                } else {
                    out.push_str(sluice_mask::REDACTED);
                    changed = true;
                }
                out.push('"');
                rest = &rest[q + 1 + end + 1..];
            }
            (_, Some(k)) => {
                let start = k + 3;
                // The value runs to the parenthesis that closes it.
                let mut depth = 1usize;
                let mut end = None;
                for (i, ch) in rest[start..].char_indices() {
                    match ch {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(start + i);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let end = end.unwrap_or(rest.len());
                out.push_str(&rest[..start]);
                out.push_str(sluice_mask::REDACTED);
                rest = &rest[end..];
                changed = true;
            }
            _ => break,
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Masks a NOTIFY's channel and payload (a channel name can be made from data too).
pub(super) fn mask_notification(
    plan: &MaskPlan,
    body: &[u8],
    tally: &mut MaskTally,
    out: &mut BytesMut,
) -> Result<bool, PgError> {
    let (pid, channel, payload) = be::notification(body).map_err(bad)?;
    let new_channel = plan.mask_content(&String::from_utf8_lossy(channel), tally);
    let new_payload = plan.mask_content(&String::from_utf8_lossy(payload), tally);
    if new_channel.is_none() && new_payload.is_none() {
        return Ok(false);
    }
    encode::notification(
        out,
        pid,
        new_channel.as_deref().map_or(channel, str::as_bytes),
        new_payload.as_deref().map_or(payload, str::as_bytes),
    );
    Ok(true)
}

/// Masks a ParameterStatus value: `set_config('application_name', ssn, false)` reports the
/// new value to the client.
pub(super) fn mask_parameter_status(
    plan: &MaskPlan,
    body: &[u8],
    tally: &mut MaskTally,
    out: &mut BytesMut,
) -> Result<bool, PgError> {
    let (name, value) = be::parameter_status(body).map_err(bad)?;
    match plan.mask_content(&String::from_utf8_lossy(value), tally) {
        None => Ok(false),
        Some(masked) => {
            encode::parameter_status(out, name, masked.as_bytes());
            Ok(true)
        }
    }
}

/// Masks one CopyData message of a text or CSV COPY TO STDOUT. The replacements add no tab,
/// comma, quote or backslash, so the rows keep their shape.
pub(super) fn mask_copy_data(
    plan: &MaskPlan,
    body: &[u8],
    tally: &mut MaskTally,
    out: &mut BytesMut,
) -> Result<bool, PgError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| PgError::Masking("COPY data is not UTF-8, so it cannot be masked".into()))?;
    // Field by field: in text format a tab in a value is written `\t`, so a raw tab always
    // separates fields, and each field is masked as the value it is (a JSON document stays
    // one). In CSV a tab is just a character, and the pieces are masked as text alike.
    let mut masked_any = false;
    let mut rewritten = String::with_capacity(text.len());
    for (i, field) in text.split('\t').enumerate() {
        if i > 0 {
            rewritten.push('\t');
        }
        match plan.mask_content(field, tally) {
            Some(masked) => {
                masked_any = true;
                rewritten.push_str(&masked);
            }
            None => rewritten.push_str(field),
        }
    }
    if masked_any {
        encode::copy_data(out, rewritten.as_bytes());
    }
    Ok(masked_any)
}

fn bad(e: impl std::fmt::Display) -> PgError {
    PgError::UpstreamProtocol(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::withhold_quoted;

    #[test]
    fn quoted_values_and_key_values_are_withheld() {
        let none: &[String] = &[];
        assert_eq!(
            withhold_quoted(
                "invalid input syntax for type integer: \"9876-54-321\"",
                none
            )
            .as_deref(),
            Some("invalid input syntax for type integer: \"****\"")
        );
        assert_eq!(
            withhold_quoted("Key (ssn)=(123-45-6789) already exists.", none).as_deref(),
            Some("Key (ssn)=(****) already exists.")
        );
        assert_eq!(
            withhold_quoted("Key (a, b)=(x (1), \"y\") exists; \"z\"", none).as_deref(),
            Some("Key (a, b)=(****) exists; \"****\"")
        );
        assert_eq!(withhold_quoted("division by zero", none), None);
        assert_eq!(withhold_quoted("unterminated \"quote", none), None);
        let names = ["people_ssn_key".to_owned()];
        assert_eq!(
            withhold_quoted("violates unique constraint \"people_ssn_key\"", &names),
            None
        );
    }
}
