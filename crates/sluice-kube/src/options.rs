//! `dryRun`: the server accepts only `All` (any other value is a 400), and a write is a dry
//! run when every value given is `All`. Whatever is unclear counts as a real write.

use crate::query::Query;

/// At least one value, and all of them `All`.
pub(crate) fn dry_run_all<'a>(values: impl Iterator<Item = &'a str>) -> bool {
    let mut any = false;
    for value in values {
        if value != "All" {
            return false;
        }
        any = true;
    }
    any
}

/// Whether a DELETE (one object or a collection) is a dry run, once its body is known: the
/// server decodes its `DeleteOptions` from the body when there is one (what kubectl sends,
/// with `"dryRun":["All"]` for `--dry-run=server`) and from the query only when the body is
/// empty, so a `dryRun=All` in the query beside a body deletes for real. A body that is not
/// JSON (protobuf, YAML) reads as a real delete.
pub fn delete_dry_run(query: &str, body: &[u8]) -> bool {
    if body.is_empty() {
        return Query::parse(query).is_ok_and(|q| dry_run_all(q.all("dryRun")));
    }
    let Ok(options) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    match options.get("dryRun").and_then(|v| v.as_array()) {
        Some(values) => {
            // A value that is not a string makes the body invalid for the server: no dry run.
            let strings: Option<Vec<&str>> = values.iter().map(|v| v.as_str()).collect();
            strings.is_some_and(|s| dry_run_all(s.into_iter()))
        }
        None => false,
    }
}
