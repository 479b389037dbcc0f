//! The rules a policy declares, for the dead-rule list: every `"rule": "NAME"` entry in its
//! source. Rules are named by the entries they add to the decision's `deny` and `allow` sets
//! (docs/policy.md), and a decision names the rule that decided, so a declared name that no
//! audit record carries in the window is a rule that decided nothing.

use std::collections::BTreeSet;

/// The names in `"rule": "NAME"` entries of the given Rego sources (pass the policy files,
/// not its `_test.rego` files, whose fixtures would count as rules), sorted and unique.
/// Comments are skipped; a name built at run time (`sprintf`) cannot be seen and is not listed.
pub fn declared_rules<'a>(sources: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut names = BTreeSet::new();
    for source in sources {
        for line in source.lines() {
            let code = line.split_once('#').map_or(line, |(code, _)| code);
            let mut rest = code;
            while let Some(at) = rest.find("\"rule\"") {
                rest = &rest[at + "\"rule\"".len()..];
                let Some(value) = rest.trim_start().strip_prefix(':') else {
                    continue;
                };
                let Some(value) = value.trim_start().strip_prefix('"') else {
                    continue;
                };
                if let Some(end) = value.find('"') {
                    let name = &value[..end];
                    if !name.is_empty() && !name.contains('\\') {
                        names.insert(name.to_owned());
                    }
                }
            }
        }
    }
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_rule_entries() {
        let rego = r#"
package sluice
default decision := {"allow": false, "rule": "default_deny"}
deny contains {"rule": "no_drop", "reason": "x"} if { true }
allow contains {"rule":"reads","reason": "y"} if { true }
# allow contains {"rule": "commented_out"}
allow contains {"rule": name, "reason": "z"} if { name := "computed" }
"#;
        assert_eq!(declared_rules([rego]), ["default_deny", "no_drop", "reads"]);
    }
}
