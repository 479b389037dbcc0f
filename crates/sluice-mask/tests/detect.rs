#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sluice_mask::{Builtin, CustomDetector, Detectors, Found, MaskError, Validation};

fn all() -> Detectors {
    Detectors::all_builtin().unwrap()
}

/// `(detector name, matched text)` for every match in `text`.
fn found<'t>(detectors: &Detectors, text: &'t str) -> Vec<(String, &'t str)> {
    let mut out = Vec::new();
    detectors.find(text, &mut out);
    out.iter()
        .map(|Found { detector, range }| {
            (detectors.name(*detector).to_owned(), &text[range.clone()])
        })
        .collect()
}

/// Asserts that each text yields exactly one match, by `name`, of exactly `expected`.
fn assert_one(name: &str, cases: &[(&str, &str)]) {
    let detectors = all();
    for (text, expected) in cases {
        assert_eq!(
            found(&detectors, text),
            vec![(name.to_owned(), *expected)],
            "in {text:?}"
        );
    }
}

/// Asserts that nothing at all is found in each text.
fn assert_none(cases: &[&str]) {
    let detectors = all();
    for text in cases {
        assert_eq!(found(&detectors, text), vec![], "in {text:?}");
    }
}

#[test]
fn email() {
    assert_one(
        "email",
        &[
            ("ada@example.com", "ada@example.com"),
            (
                "mail ada.lovelace+x@mail.example.co.uk today",
                "ada.lovelace+x@mail.example.co.uk",
            ),
            (r#"{"email":"ada@example.com"}"#, "ada@example.com"),
            ("<ada@example.com>", "ada@example.com"),
            ("ada@example.com.", "ada@example.com"),
        ],
    );
    assert_none(&[
        "ada@localhost",
        "@example.com",
        "ada@example.c",
        "ada@.com",
        "a @ b.com",
    ]);
}

#[test]
fn us_ssn() {
    assert_one(
        "us_ssn",
        &[
            ("123-45-6789", "123-45-6789"),
            ("ssn 123 45 6789.", "123 45 6789"),
            (r#"{"ssn":"123-45-6789"}"#, "123-45-6789"),
        ],
    );
    assert_none(&[
        "000-12-3456",
        "666-12-3456",
        "912-34-5678",
        "123-00-6789",
        "123-45-0000",
        "123456789",
        "123-456-789",
        "x123-45-6789",
    ]);
}

#[test]
fn payment_card() {
    assert_one(
        "payment_card",
        &[
            ("4111 1111 1111 1111", "4111 1111 1111 1111"),
            ("4111-1111-1111-1111", "4111-1111-1111-1111"),
            ("card=4111111111111111;", "4111111111111111"),
            ("Amex 378282246310005", "378282246310005"),
            ("5555555555554444", "5555555555554444"),
            ("2223003122003222", "2223003122003222"),
            ("4111 1111 1111 1111 123", "4111 1111 1111 1111"),
        ],
    );
    assert_none(&[
        "4111 1111 1111 1112",
        "4111111111111112",
        "0000000000000000",
        "1111111111111117",
        "41111111111111111111",
        "order 4111111111111111x",
    ]);
}

#[test]
fn iban() {
    assert_one(
        "iban",
        &[
            ("DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
            (
                "pay to GB82WEST12345698765432 now",
                "GB82WEST12345698765432",
            ),
            ("FR1420041010050500013M02606", "FR1420041010050500013M02606"),
            ("NO9386011117947", "NO9386011117947"),
            (
                "DE89 3704 0044 0532 0130 00 AB12",
                "DE89 3704 0044 0532 0130 00",
            ),
        ],
    );
    assert_none(&[
        "GB82WEST12345698765433",
        "GB82 WEST",
        "de89370400440532013000",
    ]);
    // A wrong check digit is not an IBAN. Scanning resumes inside a failed candidate, so its
    // digit groups may still be something else: here, by chance, a Luhn-valid number.
    let detectors = all();
    let mistyped = "DE89 3704 0044 0532 0130 01";
    assert!(found(&detectors, mistyped)
        .iter()
        .all(|(name, _)| name != "iban"));
}

#[test]
fn phone() {
    assert_one(
        "phone",
        &[
            ("+1 202 555 0143", "+1 202 555 0143"),
            ("call +44 20 7946 0958 today", "+44 20 7946 0958"),
            ("+442079460958", "+442079460958"),
            ("202-555-0143", "202-555-0143"),
            ("202.555.0143", "202.555.0143"),
            ("(202) 555-0143", "(202) 555-0143"),
            ("020 7946 0958", "020 7946 0958"),
            ("+1 (202) 555-0143", "+1 (202) 555-0143"),
        ],
    );
    assert_none(&[
        "2025550143",
        "1700000000",
        "2024-01-15 10:30:00",
        "+1 202",
        "+1 2023 4",
        "15.01.2024",
        "v1.2.3",
    ]);
}

#[test]
fn ipv4() {
    assert_one(
        "ipv4",
        &[
            ("192.168.1.10", "192.168.1.10"),
            ("from 10.0.0.1.", "10.0.0.1"),
            ("10.0.0.0/8", "10.0.0.0"),
            ("host=255.255.255.255", "255.255.255.255"),
        ],
    );
    assert_none(&[
        "999.999.999.999",
        "256.1.1.1",
        "1.2.3.4.5",
        "01.02.03.04",
        "1.2.3",
    ]);
}

#[test]
fn ipv6() {
    assert_one(
        "ipv6",
        &[
            (
                "2001:db8:85a3::8a2e:370:7334",
                "2001:db8:85a3::8a2e:370:7334",
            ),
            ("::1", "::1"),
            ("from fe80::1: refused", "fe80::1"),
            ("[2001:db8::1]:5432", "2001:db8::1"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
            (
                "2001:0db8:0000:0000:0000:ff00:0042:8329",
                "2001:0db8:0000:0000:0000:ff00:0042:8329",
            ),
        ],
    );
    assert_none(&[
        "12:30:45",
        "00:1A:2B:3C:4D:5E",
        "std::vector",
        "a :: b",
        "2001:db8:::1",
        "1:2:3:4:5:6:7:8:9",
    ]);
}

#[test]
fn jwt() {
    let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.\
                 dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
    let bearer = format!("Authorization: Bearer {token}");
    assert_one(
        "jwt",
        &[(token, token), (unsigned, unsigned), (&bearer, token)],
    );
    // eyJ… that is not a JSON header with "alg": `{"foo":"bar"}` and random base64url.
    assert_none(&[
        "eyJmb28iOiJiYXIifQ.eyJzdWIiOiJ4In0.c2ln",
        "eyJxQk9vX3pMaWVyd.c29tZXRoaW5n.ZWxzZQ",
        "eyJhbGciOiJIUzI1NiJ9",
    ]);
}

#[test]
fn private_key() {
    let block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----";
    let text = format!("key:\n{block}\ntrailer");
    let json = r#"{"k":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\n-----END PRIVATE KEY-----"}"#;
    let truncated = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA";
    assert_one(
        "private_key",
        &[
            (&text, block),
            (json, &json[6..json.len() - 2]),
            (truncated, truncated),
        ],
    );
    assert_none(&["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"]);
}

#[test]
fn secrets() {
    assert_one(
        "aws_access_key",
        &[("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE")],
    );
    assert_one(
        "aws_access_key",
        &[("id=ASIAY34FZKBOKMUTVV7A,", "ASIAY34FZKBOKMUTVV7A")],
    );
    let ghp = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
    let pat =
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQR";
    assert_one("github_token", &[(ghp, ghp), (pat, pat)]);
    let slack = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
    assert_one("slack_token", &[(slack, slack)]);
    assert_none(&[
        "AKIA1234",
        "ghp_short",
        "xoxz-1234567890abc",
        "AKIAIOSFODNN7EXAMPLEX",
    ]);
}

#[test]
fn password() {
    assert_one(
        "password",
        &[
            ("password=hunter2", "hunter2"),
            (
                "host=db user=app passwd: 's3cr3t' sslmode=require",
                "s3cr3t",
            ),
            ("PGPASSWORD=abc123 psql", "abc123"),
            (r#"{"user":"ada","password":"hunter2"}"#, "hunter2"),
            ("Server=x;Pwd=p@ss;Database=y", "p@ss"),
            (r#"{"pwd": 123456}"#, "123456"),
        ],
    );
    assert_none(&[
        r#"{"password": null}"#,
        r#"{"password": ""}"#,
        "password",
        "password reset",
    ]);
}

#[test]
fn mixed_texts() {
    let detectors = all();
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "Ada Lovelace <ada@example.com> 123-45-6789",
            &[("email", "ada@example.com"), ("us_ssn", "123-45-6789")],
        ),
        (
            r#"{"ssn":"123-45-6789","card":"4111 1111 1111 1111"}"#,
            &[
                ("us_ssn", "123-45-6789"),
                ("payment_card", "4111 1111 1111 1111"),
            ],
        ),
        (
            "{a@b.co,c@d.org}",
            &[("email", "a@b.co"), ("email", "c@d.org")],
        ),
        (
            "ada@example.com|+1 202 555 0143|10.1.2.3",
            &[
                ("email", "ada@example.com"),
                ("phone", "+1 202 555 0143"),
                ("ipv4", "10.1.2.3"),
            ],
        ),
        (
            "Patient called from 202-555-0143 about invoice 4111111111111111, DOB 1990-01-01.",
            &[
                ("phone", "202-555-0143"),
                ("payment_card", "4111111111111111"),
            ],
        ),
        // A JSON escape right before an email is not part of it.
        (
            r#"{"note":"line\nada@example.com"}"#,
            &[("email", "ada@example.com")],
        ),
        (
            r#"{"note":"\u00e9ada@example.com"}"#,
            &[("email", "ada@example.com")],
        ),
    ];
    for (text, expected) in cases {
        let expected: Vec<(String, &str)> = expected
            .iter()
            .map(|(n, s)| ((*n).to_owned(), *s))
            .collect();
        assert_eq!(found(&detectors, text), expected, "in {text:?}");
    }
}

#[test]
fn nothing_in_ordinary_values() {
    assert_none(&[
        "",
        "42",
        "3.14159",
        "-17",
        "2024-01-15",
        "2024-01-15 10:30:00+00",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "Lovelace",
        "true",
        "{1,2,3}",
        r#"{"id": 12, "tags": ["a", "b"], "ok": true}"#,
        "The quick brown fox jumps over the lazy dog. Zoë's café: 12 € each.",
        "1700000000123",
    ]);
}

#[test]
fn custom_detectors_come_first_and_validate() {
    let custom = [
        CustomDetector {
            name: "employee_id".into(),
            pattern: r"(?-u:\b)EMP-[0-9]{6}(?-u:\b)".into(),
            validate: Validation::None,
        },
        CustomDetector {
            name: "loyalty_card".into(),
            pattern: r"(?-u:\b)LC[0-9]{10}(?-u:\b)".into(),
            validate: Validation::Luhn,
        },
        CustomDetector {
            name: "account".into(),
            pattern: r"(?-u:\b)ACCT [A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}(?-u:\b)".into(),
            validate: Validation::None,
        },
    ];
    let detectors = Detectors::new(&[Builtin::Email, Builtin::Iban], &custom).unwrap();
    assert_eq!(detectors.len(), 5);
    assert_eq!(
        detectors.name(detectors.ids().next().unwrap()),
        "employee_id"
    );
    assert_eq!(
        found(
            &detectors,
            "EMP-001234 LC0000000018 LC0000000017 ada@example.com"
        ),
        vec![
            ("employee_id".to_owned(), "EMP-001234"),
            ("loyalty_card".to_owned(), "LC0000000018"),
            ("email".to_owned(), "ada@example.com"),
        ]
    );
    let mod97 = [CustomDetector {
        name: "ch_iban".into(),
        pattern: r"CH[0-9]{2}[0-9A-Z]{17}".into(),
        validate: Validation::Mod97,
    }];
    let detectors = Detectors::new(&[], &mod97).unwrap();
    assert_eq!(found(&detectors, "CH9300762011623852957").len(), 1);
    assert_eq!(found(&detectors, "CH9300762011623852958").len(), 0);
}

#[test]
fn each_detector_alone_finds_its_examples() {
    // Alone, a detector's screen holds only its own triggers; these examples avoid digits
    // where the trigger is a literal, so the literal search is what lets them through.
    let cases: &[(Builtin, &str, &str)] = &[
        (
            Builtin::Email,
            "write to ada@example.com",
            "ada@example.com",
        ),
        (Builtin::UsSsn, "ssn 123-45-6789", "123-45-6789"),
        (
            Builtin::PaymentCard,
            "4111 1111 1111 1111",
            "4111 1111 1111 1111",
        ),
        (
            Builtin::Iban,
            "GB82WEST12345698765432",
            "GB82WEST12345698765432",
        ),
        (Builtin::Phone, "+1 202 555 0143", "+1 202 555 0143"),
        (Builtin::Ipv4, "10.0.0.1", "10.0.0.1"),
        (Builtin::Ipv6, "fe80::abcd", "fe80::abcd"),
        (
            Builtin::Jwt,
            "eyJhbGciOiJkaXIifQ.eyJzdWIiOiJ.c2ln",
            "eyJhbGciOiJkaXIifQ.eyJzdWIiOiJ.c2ln",
        ),
        (
            Builtin::PrivateKey,
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
        ),
        (
            Builtin::AwsAccessKey,
            "AKIAIOSFODNNAEXAMPLE",
            "AKIAIOSFODNNAEXAMPLE",
        ),
        (
            Builtin::GithubToken,
            "ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
            "ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
        ),
        (
            Builtin::SlackToken,
            "xoxb-abcdefghijkl",
            "xoxb-abcdefghijkl",
        ),
        (Builtin::Password, "pwd=swordfish", "swordfish"),
    ];
    for (builtin, text, expected) in cases {
        let detectors = Detectors::new(&[*builtin], &[]).unwrap();
        assert_eq!(
            found(&detectors, text),
            vec![(builtin.name().to_owned(), *expected)],
            "{builtin} in {text:?}"
        );
    }
}

#[test]
fn custom_detectors_are_searched_when_no_builtin_can_match() {
    let custom = [CustomDetector {
        name: "project_code".into(),
        pattern: r"(?-u:\b)PRJ-[A-Z]{4}(?-u:\b)".into(),
        validate: Validation::None,
    }];
    let detectors = Detectors::new(&Builtin::ALL, &custom).unwrap();
    assert_eq!(
        found(&detectors, "see PRJ-ABCD today"),
        vec![("project_code".to_owned(), "PRJ-ABCD")]
    );
    assert_eq!(
        found(&detectors, "see PRJ-ABCD, ada@example.com"),
        vec![
            ("project_code".to_owned(), "PRJ-ABCD"),
            ("email".to_owned(), "ada@example.com")
        ]
    );
}

#[test]
fn configuration_errors() {
    let custom = |name: &str, pattern: &str| CustomDetector {
        name: name.into(),
        pattern: pattern.into(),
        validate: Validation::None,
    };
    assert!(matches!(
        Detectors::new(&[], &[custom("x", "(")]),
        Err(MaskError::Pattern { .. })
    ));
    assert!(matches!(
        Detectors::new(&[], &[custom("x", "a*")]),
        Err(MaskError::EmptyMatch(_))
    ));
    assert!(matches!(
        Detectors::new(&[], &[custom("x", "a"), custom("x", "b")]),
        Err(MaskError::DuplicateDetector(_))
    ));
    assert!(matches!(
        Detectors::new(&[], &[custom("email", "a")]),
        Err(MaskError::DuplicateDetector(_))
    ));
    assert!(matches!(
        "emails".parse::<Builtin>(),
        Err(MaskError::UnknownDetector(_))
    ));
}

#[test]
fn names_round_trip() {
    let detectors = all();
    for builtin in Builtin::ALL {
        assert_eq!(builtin.name().parse::<Builtin>().unwrap(), builtin);
        let id = detectors.id(builtin.name()).unwrap();
        assert_eq!(detectors.builtin(id), Some(builtin));
        let json = format!("\"{}\"", builtin.name());
        assert_eq!(serde_json::from_str::<Builtin>(&json).unwrap(), builtin);
    }
    let custom: CustomDetector =
        serde_json::from_str(r#"{"name":"x","pattern":"X[0-9]+","validate":"mod97"}"#).unwrap();
    assert_eq!(custom.validate, Validation::Mod97);
}

#[test]
fn shareable_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Detectors>();
    send_sync::<sluice_mask::Masker>();
}

#[test]
fn empty_set_finds_nothing() {
    let detectors = Detectors::new(&[], &[]).unwrap();
    assert!(detectors.is_empty());
    assert_eq!(found(&detectors, "ada@example.com"), vec![]);
}

#[test]
fn matches_whole_tells_whether_a_value_keeps_its_shape() {
    let detectors = all();
    let email = detectors.id("email").unwrap();
    let card = detectors.id("payment_card").unwrap();
    assert!(detectors.matches_whole(email, "ada@example.com"));
    assert!(detectors.matches_whole(email, "****@example.com"));
    assert!(!detectors.matches_whole(email, "****"));
    assert!(!detectors.matches_whole(email, "tok_0123456789abcdef"));
    assert!(!detectors.matches_whole(email, " ada@example.com"));
    assert!(detectors.matches_whole(card, "4111 1111 1111 1111"));
    assert!(!detectors.matches_whole(card, "****-****-****-1111"));
    assert!(!detectors.matches_whole(card, "4111 1111 1111 1112"));
}
