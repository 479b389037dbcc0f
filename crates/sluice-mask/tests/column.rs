#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sluice_mask::{ColumnPattern, MaskError};

fn pattern(s: &str) -> ColumnPattern {
    s.parse().unwrap()
}

#[test]
fn three_parts_need_a_known_source() {
    let p = pattern("public.customers.ssn");
    assert!(p.matches(Some("public"), Some("customers"), "ssn"));
    assert!(p.matches(Some("PUBLIC"), Some("Customers"), "SSN"));
    assert!(!p.matches(Some("public"), Some("orders"), "ssn"));
    assert!(!p.matches(Some("public"), Some("customers"), "ssn2"));
    assert!(!p.matches(None, None, "ssn"));
    assert!(!p.matches(Some("public"), None, "ssn"));
}

#[test]
fn wildcards_in_each_part() {
    let p = pattern("*.*.email");
    assert!(p.matches(Some("s"), Some("t"), "email"));
    assert!(!p.matches(Some("s"), Some("t"), "email_verified"));
    assert!(!p.matches(None, None, "email"));
    let p = pattern("sales.*.*card*");
    assert!(p.matches(Some("sales"), Some("orders"), "credit_card_number"));
    assert!(p.matches(Some("sales"), Some("orders"), "card"));
    assert!(!p.matches(Some("hr"), Some("orders"), "card"));
    let p = pattern("a*b*c.t.x");
    assert!(p.matches(Some("abc"), Some("t"), "x"));
    assert!(p.matches(Some("aXbYbZc"), Some("t"), "x"));
    assert!(!p.matches(Some("aXbYbZ"), Some("t"), "x"));
}

#[test]
fn bare_patterns_match_any_table_and_computed_columns() {
    let p = pattern("*SSN*");
    assert!(p.matches(None, None, "customer_ssn"));
    assert!(p.matches(Some("public"), Some("people"), "ssn"));
    assert!(!p.matches(None, None, "snn"));
    let p = pattern("phone");
    assert!(p.matches(None, None, "Phone"));
    assert!(!p.matches(None, None, "phone2"));
}

#[test]
fn quoted_parts_are_exact() {
    let p = pattern(r#"public."Customers"."E.Mail*""#);
    assert!(p.matches(Some("public"), Some("Customers"), "E.Mail*"));
    assert!(!p.matches(Some("public"), Some("customers"), "E.Mail*"));
    assert!(!p.matches(Some("public"), Some("Customers"), "E.Mail2"));
    let p = pattern(r#""say ""hi""""#);
    assert!(p.matches(None, None, r#"say "hi""#));
}

#[test]
fn malformed_patterns_are_refused() {
    for bad in [
        "", "a.b", "a.b.c.d", "a..b", ".a", "a.", r#""open"#, r#""a"b"#, r#"a"b""#, r#""""#,
    ] {
        assert!(
            matches!(
                bad.parse::<ColumnPattern>(),
                Err(MaskError::ColumnPattern { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn reads_from_config_and_prints_as_written() {
    let p: ColumnPattern = serde_json::from_str(r#""*.*.Email""#).unwrap();
    assert!(p.matches(Some("x"), Some("y"), "email"));
    assert_eq!(p.to_string(), "*.*.Email");
    assert!(serde_json::from_str::<ColumnPattern>(r#""a.b""#).is_err());
}
