//! Running a bundle's own `test_*` rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{compile, example};

#[test]
fn example_tests_pass() {
    let report = example().run_tests();
    assert_eq!(report.failed, vec![], "{report:#?}");
    assert_eq!(report.passed_count(), 3);
    let names: Vec<_> = report.passed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "test_analyst_reads",
            "test_dangerous_functions_are_data",
            "test_ddl_on_production_denied"
        ]
    );
    assert_eq!(report.passed[0].package, "sluice_test");
    assert_eq!(
        report.passed[0].file.as_deref(),
        Some("policies/sluice_test.rego")
    );
}

#[test]
fn counts_failures_with_reasons() {
    let policy = compile(&[
        (
            "p.rego",
            "package sluice\nimport rego.v1\ndecision := {\"allow\": input.ok == true, \"rule\": \"r\"}\nlimit := 3\n",
        ),
        (
            "p_test.rego",
            r#"package sluice.tests
import rego.v1
import data.sluice

test_with_input if sluice.decision.allow with input as {"ok": true}
test_with_data if sluice.limit == 5 with data.sluice.limit as 5
test_false := a if { a := sluice.decision.allow with input as {"ok": false} }
test_undefined if input.missing
test_error if {
	print("about to fail")
	regex.match("(", "x")
}
test_not_bool := 7
test_helper(x) := x
"#,
        ),
    ]);
    let report = policy.run_tests();
    assert_eq!(report.passed_count(), 2, "{report:#?}");
    assert_eq!(report.failed_count(), 4, "{report:#?}");
    assert_eq!(report.total(), 6);
    assert!(!report.success());
    let failed = |name: &str| {
        report
            .failed
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.message.clone())
            .unwrap()
    };
    assert_eq!(failed("test_false"), "evaluated to false");
    assert_eq!(failed("test_undefined"), "undefined");
    assert_eq!(failed("test_not_bool"), "evaluated to 7");
    let error = failed("test_error");
    assert!(error.starts_with("p_test.rego:11:"), "{error}");
    assert!(error.contains("p_test.rego:10: about to fail"), "{error}");
    assert_eq!(report.failed[0].package, "sluice.tests");
}

/// The example policies (examples/policies) keep the decision cache on: one rule reading a
/// session fact the cache key leaves out would make every statement a parse and an evaluation
/// (it happened once, when `session.settings` was added to the input but not to the key).
#[test]
fn the_example_policies_are_cacheable() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rego"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let policy = compile(&files);
    assert!(policy.cacheable());
    assert_eq!(policy.run_tests().failed, vec![]);
}
