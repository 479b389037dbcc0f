#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Inline masking end to end: a policy of its own masks `public.people` for `alice` by column
//! rules and content detectors, for `carol` by content detectors only, and not at all for
//! `ci`. Every test checks the bytes the client got (psql's whole stdout and stderr, the
//! driver's printout, raw protocol messages) for every raw spelling of the table's PII, and
//! that the masked forms are where they should be: plain and renamed columns, computed values,
//! JSON and arrays, errors and notices, notifications, COPY, text and binary formats, prepared
//! statements and server-side cursors; then the audit and /metrics evidence.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use sluice_audit::{AuditEvent, Masked, Outcome};
use support::*;

/// Allows everything; alice's results are masked by column and by content, carol's by
/// content only, everyone else's not at all.
const POLICY: &str = r#"package sluice

import rego.v1

column_mask := {
	"columns": [
		{"column": "public.people.ssn", "strategy": "redact"},
		{"column": "public.people.card", "strategy": {"keep_last": 4}},
		{"column": "public.people.email", "strategy": "email_domain"},
		{"column": "*secret*", "strategy": "null"},
	],
	"content": [{"detector": "*", "strategy": "redact"}],
}

content_mask := {"content": [{"detector": "*", "strategy": "redact"}]}

default decision := {"allow": true, "rule": "allow_all", "reasons": []}

decision := {"allow": true, "rule": "masked_columns", "reasons": [], "mask": column_mask} if {
	input.identity.name == "alice"
}

decision := {"allow": true, "rule": "masked_content", "reasons": [], "mask": content_mask} if {
	input.identity.name == "carol"
}
"#;

/// PII in plain columns, in free text, in a JSON document (cards also as bare numbers), in an
/// array and in a bigint; `ssn` is unique, so a duplicate names it in the error's DETAIL.
const PEOPLE: &str = r#"SET ROLE sluice_scram;
CREATE TABLE people (
    id int PRIMARY KEY,
    name text NOT NULL,
    email text,
    ssn text UNIQUE,
    card text,
    phone text,
    secret_note text,
    notes text,
    doc jsonb,
    emails text[],
    card_num bigint
);
INSERT INTO people VALUES
 (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', '4111 1111 1111 1111', '+1 202 555 0143',
  'vault code 8812',
  'write to ada@example.com or ada.l@example.org, ssn 123-45-6789, card 4111-1111-1111-1111, call +1 202 555 0143',
  '{"email": "ada@example.com", "ssn": "123-45-6789", "card": 4111111111111111, "card_text": "4111 1111 1111 1111", "phone": "+1 202 555 0143", "aliases": ["ada.l@example.org"]}',
  '{ada@example.com,ada.l@example.org}', 4111111111111111),
 (2, 'Grace Hopper', 'grace@example.net', '234-56-7890', '5555 5555 5555 4444', '+44 20 7946 0958',
  'vault code 4471',
  'grace@example.net; 234-56-7890; 5555555555554444; +44 20 7946 0958',
  '{"email": "grace@example.net", "ssn": "234-56-7890", "card": 5555555555554444, "phone": "+44 20 7946 0958"}',
  '{grace@example.net}', 5555555555554444);
"#;

/// Every raw spelling of the PII above. None may reach a masked client.
const RAW: &[&str] = &[
    "ada@example.com",
    "ada.l@example.org",
    "grace@example.net",
    "123-45-6789",
    "234-56-7890",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "4111111111111111",
    "5555 5555 5555 4444",
    "5555-5555-5555-4444",
    "5555555555554444",
    "202 555 0143",
    "202-555-0143",
    "2025550143",
    "7946 0958",
];

/// What the `*secret*` column rule turns into NULL (no detector finds it).
const SECRETS: &[&str] = &["vault code 8812", "vault code 4471"];

const COLUMNS: &str =
    "id, name, email, ssn, card, phone, secret_note, notes, doc, emails, card_num";

fn people() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        pg().psql(DATABASE, PEOPLE).unwrap();
    });
}

/// A gateway enforcing [`POLICY`], with `carol` added to the base identities.
struct Masking {
    h: Harness,
    _policies: tempfile::TempDir,
}

impl std::ops::Deref for Masking {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.h
    }
}

impl Masking {
    async fn start() -> Masking {
        Masking::start_with("").await
    }

    /// The gateway with `extra` configuration (more targets) appended.
    async fn start_with(extra: &str) -> Masking {
        tokio::task::spawn_blocking(people).await.unwrap();
        let policies = tempfile::Builder::new()
            .prefix("sluice-test-mask-")
            .tempdir()
            .unwrap();
        std::fs::write(policies.path().join("mask.rego"), POLICY).unwrap();
        let dir = policies.path().display().to_string();
        let extra = extra.to_owned();
        let mut h = Harness::start_with_config(move |text| {
            text + &format!(
                "\n[[identities]]\nname = \"carol\"\nkind = \"human\"\n\n\
                 [policy]\ndir = \"{dir}\"\nwatch = false\n{extra}"
            )
        })
        .await;
        let secret = sluice::token_cmd::create(&h.config, "carol", None)
            .await
            .unwrap();
        h.tokens.insert("carol".into(), secret.expose().to_owned());
        Masking {
            h,
            _policies: policies,
        }
    }

    /// psql as `identity` with verbose errors; everything it printed, stdout then stderr.
    fn psql(&self, identity: &str, args: &[&str]) -> String {
        let mut all = vec!["-v", "VERBOSITY=verbose"];
        all.extend_from_slice(args);
        both(&self.h.psql(identity, "app", &all))
    }

    async fn stop(self) {
        self.h.stop().await;
    }
}

fn both(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// Fails naming each raw value found in what the client received.
fn assert_no_raw(what: &str, received: &str) {
    let found: Vec<&str> = RAW
        .iter()
        .chain(SECRETS)
        .copied()
        .filter(|raw| received.contains(raw))
        .collect();
    assert!(
        found.is_empty(),
        "{what}: raw values {found:?} reached the client:\n{received}"
    );
}

/// Like [`assert_no_raw`], for what content rules alone cannot hide (the `*secret*` column's
/// value is no PII a detector knows).
fn assert_no_pii(what: &str, received: &str) {
    let found: Vec<&str> = RAW
        .iter()
        .copied()
        .filter(|raw| received.contains(raw))
        .collect();
    assert!(
        found.is_empty(),
        "{what}: raw values {found:?} reached the client:\n{received}"
    );
}

fn assert_has(what: &str, received: &str, expected: &str) {
    assert!(
        received.contains(expected),
        "{what}: expected {expected:?} in:\n{received}"
    );
}

/// Every message's bytes, lossily as text, for raw-protocol checks.
fn wire_text(messages: &[Msg]) -> String {
    messages
        .iter()
        .map(|m| {
            format!(
                "{}{}\n",
                char::from(m.tag),
                String::from_utf8_lossy(&m.body)
            )
        })
        .collect()
}

const ADA: &str = r#"1|Ada Lovelace|****@example.com|****|**** **** **** 1111|****||write to **** or ****, ssn ****, card ****, call ****|{"ssn": "****", "card": "****", "email": "****", "phone": "****", "aliases": ["****"], "card_text": "****"}|{****,****}|"#;
const GRACE: &str = r#"2|Grace Hopper|****@example.net|****|**** **** **** 4444|****||****; ****; ****; ****|{"ssn": "****", "card": "****", "email": "****", "phone": "****"}|{****}|"#;

// ---- 1. A plain SELECT ----

#[tokio::test(flavor = "multi_thread")]
async fn psql_select_masks_by_column_rule_and_by_content() {
    let m = Masking::start().await;
    let sql = format!("SELECT {COLUMNS} FROM people ORDER BY id");
    let out = m.psql("alice", &["-At", "-c", &sql]);
    assert_no_raw("SELECT *", &out);
    assert_eq!(out, format!("{ADA}\n{GRACE}\n"));

    // The aligned format psql prints by default, and `*`: the same values.
    let out = m.psql("alice", &["-c", "SELECT * FROM people ORDER BY id"]);
    assert_no_raw("aligned SELECT *", &out);
    assert_has("aligned", &out, "**** **** **** 1111");
    assert_has("aligned", &out, "****@example.net");
    assert_has("aligned", &out, "(2 rows)");
    m.stop().await;
}

// ---- 2. Renamed columns, subqueries, CTEs, cursors ----

#[tokio::test(flavor = "multi_thread")]
async fn renamed_columns_keep_their_source_rules() {
    let m = Masking::start().await;
    for (sql, expected) in [
        (
            "SELECT ssn AS x, card AS y, email AS z, secret_note AS w FROM people ORDER BY id",
            "****|**** **** **** 1111|****@example.com|\n****|**** **** **** 4444|****@example.net|\n",
        ),
        (
            "SELECT q.a, q.b FROM (SELECT card AS a, secret_note AS b FROM people) q ORDER BY 1",
            "**** **** **** 1111|\n**** **** **** 4444|\n",
        ),
        (
            "WITH q AS (SELECT id, email AS e, ssn AS s FROM people) SELECT e, s FROM q ORDER BY id",
            "****@example.com|****\n****@example.net|****\n",
        ),
        (
            "SELECT p.ssn, o.card FROM people p JOIN people o ON o.id = p.id ORDER BY p.id",
            "****|**** **** **** 1111\n****|**** **** **** 4444\n",
        ),
    ] {
        let out = m.psql("alice", &["-At", "-c", sql]);
        assert_no_raw(sql, &out);
        assert_eq!(out, expected, "{sql}");
    }

    // A cursor's rows, fetched by simple query, carry the same sources.
    let out = m.psql(
        "alice",
        &[
            "-At",
            "-c",
            "BEGIN",
            "-c",
            "DECLARE c CURSOR FOR SELECT ssn AS x, card, email, phone FROM people ORDER BY id",
            "-c",
            "FETCH 1 FROM c",
            "-c",
            "FETCH ALL FROM c",
            "-c",
            "COMMIT",
        ],
    );
    assert_no_raw("cursor", &out);
    assert_eq!(
        out,
        "BEGIN\nDECLARE CURSOR\n****|**** **** **** 1111|****@example.com|****\n\
         ****|**** **** **** 4444|****@example.net|****\nCOMMIT\n"
    );
    m.stop().await;
}

// ---- 3. Computed values ----

#[tokio::test(flavor = "multi_thread")]
async fn computed_values_are_masked_by_content() {
    let m = Masking::start().await;
    for (sql, expected) in [
        (
            "SELECT email || ' ' || ssn FROM people ORDER BY id",
            "****\n****\n",
        ),
        (
            "SELECT ssn::varchar, card::varchar(40), upper(email), 'call ' || phone FROM people ORDER BY id",
            "****|****|****|call ****\n****|****|****|call ****\n",
        ),
        // Computed from masked columns: masked whole, whatever the expression.
        (
            "SELECT concat_ws(',', name, email, ssn, card, phone) FROM people ORDER BY id",
            "****\n****\n",
        ),
        // A record cannot hold `****` in place of a value: the whole value is NULL.
        ("SELECT p FROM people p ORDER BY id", "\n\n"),
        // Nor can a bigint.
        (
            "SELECT card_num, card_num + 0 FROM people ORDER BY id",
            "|\n|\n",
        ),
        // The name matches a bare rule even without a source.
        (
            "SELECT secret_note::varchar AS secret_note FROM people ORDER BY id",
            "\n\n",
        ),
    ] {
        let out = m.psql("alice", &["-At", "-c", sql]);
        assert_no_raw(sql, &out);
        assert_eq!(out, expected, "{sql}");
    }

    // A value bigger than what the relay streams through unread is still read whole.
    let out = m.psql(
        "alice",
        &[
            "-At",
            "-c",
            "SELECT repeat('x ', 200000) || ssn FROM people ORDER BY id",
        ],
    );
    assert_no_raw("a 400 kB value", &out);
    assert_eq!(out, "****\n****\n");

    // A whole row as JSON is computed from every column, masked ones included: masked whole,
    // and still a JSON document (a string).
    let out = m.psql(
        "alice",
        &["-At", "-c", "SELECT to_json(p) FROM people p ORDER BY id"],
    );
    assert_no_raw("to_json(row)", &out);
    assert_eq!(out, "\"****\"\n\"****\"\n");
    m.stop().await;
}

// ---- 4. JSON documents and arrays ----

#[tokio::test(flavor = "multi_thread")]
async fn json_documents_and_arrays_are_masked_and_stay_valid() {
    let m = Masking::start().await;
    let out = m.psql(
        "alice",
        &["-At", "-c", "SELECT doc FROM people ORDER BY id"],
    );
    assert_no_raw("jsonb", &out);
    let docs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        docs[0],
        serde_json::json!({"email": "****", "ssn": "****", "card": "****", "card_text": "****",
                           "phone": "****", "aliases": ["****"]})
    );
    assert_eq!(docs[1]["card"], "****");

    for (sql, expected) in [
        (
            "SELECT doc->'card', doc->>'ssn', doc->'aliases', doc::json FROM people WHERE id = 1",
            r#""****"|****|["****"]|{"ssn": "****", "card": "****", "email": "****", "phone": "****", "aliases": ["****"], "card_text": "****"}"#,
        ),
        (
            "SELECT jsonb_build_object('n', card_num, 'e', emails) FROM people WHERE id = 1",
            r#"{"e": ["****", "****"], "n": "****"}"#,
        ),
        // Built from a masked column: masked whole.
        (
            "SELECT jsonb_build_object('n', card_num, 's', ssn) FROM people WHERE id = 1",
            r#""****""#,
        ),
        (
            "SELECT emails, emails[1], array_to_string(emails, ' ') FROM people ORDER BY id",
            "{****,****}|****|**** ****\n{****}|****|****",
        ),
        (
            "SELECT array_agg(ssn ORDER BY id), json_agg(email ORDER BY id) FROM people",
            // Aggregates of masked columns are computed from them: masked whole.
            r#"****|"****""#,
        ),
    ] {
        let out = m.psql("alice", &["-At", "-c", sql]);
        assert_no_raw(sql, &out);
        assert_eq!(out.trim_end(), expected, "{sql}");
    }
    m.stop().await;
}

// ---- 5. Errors and notices ----

#[tokio::test(flavor = "multi_thread")]
async fn error_and_notice_fields_are_masked() {
    let m = Masking::start().await;
    let out = m.psql(
        "alice",
        &[
            "-c",
            "INSERT INTO people (id, name, ssn) SELECT 3, 'dup', ssn FROM people WHERE id = 1",
        ],
    );
    assert_no_raw("duplicate key", &out);
    assert_has(
        "duplicate key",
        &out,
        "ERROR:  23505: duplicate key value violates unique constraint \"people_ssn_key\"",
    );
    assert_has(
        "duplicate key",
        &out,
        "DETAIL:  Key (ssn)=(****) already exists.",
    );

    // The client's own literal, as the database echoes it back.
    let out = m.psql(
        "alice",
        &[
            "-c",
            "INSERT INTO people (id, name, ssn) VALUES (3, 'dup', '123-45-6789')",
        ],
    );
    assert_no_raw("duplicate literal", &out);
    assert_has(
        "duplicate literal",
        &out,
        "DETAIL:  Key (ssn)=(****) already exists.",
    );

    let out = m.psql("alice", &["-c", "SELECT ssn::int FROM people WHERE id = 1"]);
    assert_no_raw("cast error", &out);
    assert_has(
        "cast error",
        &out,
        "22P02: invalid input syntax for type integer: \"****\"",
    );

    // carol's content rules: under alice's column rules DO is denied (mask_unknown_lineage).
    let out = m.psql(
        "carol",
        &[
            "-c",
            "DO $$DECLARE s text; BEGIN SELECT ssn INTO s FROM people WHERE id = 1; RAISE NOTICE 'ssn %', s; END$$",
            "-c",
            "DO $$BEGIN RAISE NOTICE 'ssn %', '123-45-6789'; END$$",
            "-c",
            "DO $$DECLARE p people; BEGIN SELECT * INTO p FROM people WHERE id = 2; \
             RAISE EXCEPTION 'card %', p.card USING DETAIL = 'mail ' || p.email, HINT = 'call ' || p.phone; END$$",
        ],
    );
    assert_no_pii("RAISE", &out);
    assert_eq!(
        out.matches("NOTICE:  00000: ssn ****\n").count(),
        2,
        "{out}"
    );
    assert_has("RAISE EXCEPTION", &out, "ERROR:  P0001: card ****\n");
    assert_has("RAISE EXCEPTION", &out, "DETAIL:  mail ****\n");
    assert_has("RAISE EXCEPTION", &out, "HINT:  call ****\n");

    // What the audit trail keeps of the errors is the masked message.
    let audit = m.audit().await;
    let errors: Vec<String> = audit
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::StatementResult {
                outcome: Outcome::Error { sqlstate, message },
                ..
            } => Some(format!("{sqlstate} {message}")),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert_no_raw("audited errors", &errors.join("\n"));
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("22P02 ") && e.contains("\"****\"")),
        "{errors:?}"
    );
    m.stop().await;
}

// ---- 6. Notifications ----

#[tokio::test(flavor = "multi_thread")]
async fn notification_payloads_are_masked() {
    let m = Masking::start().await;
    let out = m.psql(
        "alice",
        &[
            "-c",
            "LISTEN ch",
            "-c",
            "NOTIFY ch, 'mail ada@example.com'",
            "-c",
            "SELECT pg_notify('ch', 'ssn ' || ssn || ' card ' || card) FROM people WHERE id = 1",
        ],
    );
    assert_no_raw("NOTIFY", &out);
    assert_has(
        "NOTIFY",
        &out,
        "Asynchronous notification \"ch\" with payload \"mail ****\" received",
    );
    // Under column rules a masked column may not be handed to pg_notify (lineage cannot
    // follow a payload); under content rules (carol) the payload is masked on the way.
    assert_has(
        "pg_notify",
        &out,
        "mask_unknown_lineage: pg_notify() is given public.people.",
    );
    let out = m.psql(
        "carol",
        &[
            "-c",
            "LISTEN ch",
            "-c",
            "SELECT pg_notify('ch', 'ssn ' || ssn || ' card ' || card) FROM people WHERE id = 1",
        ],
    );
    assert_no_raw("pg_notify", &out);
    assert_has(
        "pg_notify",
        &out,
        "Asynchronous notification \"ch\" with payload \"ssn **** card ****\" received",
    );

    // From another session, not through the gateway, to an idle listener: relayed as it
    // arrives, masked under the session's latest rules.
    let (mut c, _) = m.raw_login("alice", "app").await;
    c.send(&query_msg("LISTEN ch2")).await;
    let mut seen = c.until_ready().await;
    tokio::task::spawn_blocking(|| {
        pg().psql(
            DATABASE,
            "SELECT pg_notify('ch2', email || ' ' || phone) FROM people WHERE id = 2",
        )
        .unwrap()
    })
    .await
    .unwrap();
    let notification = c.recv().await;
    assert_eq!(notification.tag, b'A', "{notification:?}");
    seen.push(notification.clone());
    c.send(&query_msg("SELECT 1")).await;
    seen.extend(c.until_ready().await);
    let wire = wire_text(&seen);
    assert_no_raw("notification from elsewhere", &wire);
    assert!(
        notification.body.ends_with(b"ch2\0**** ****\0"),
        "{notification:?}"
    );
    m.stop().await;
}

// ---- 7. COPY TO STDOUT ----

#[tokio::test(flavor = "multi_thread")]
async fn copy_to_stdout_is_masked_by_content_and_refused_under_column_rules() {
    let m = Masking::start().await;
    let out = m.psql(
        "carol",
        &[
            "-c",
            &format!("COPY (SELECT {COLUMNS} FROM people ORDER BY id) TO STDOUT"),
        ],
    );
    assert_no_pii("COPY text", &out);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let ada: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(
        ada[..8],
        [
            "1",
            "Ada Lovelace",
            "****",
            "****",
            "****",
            "****",
            "vault code 8812",
            "write to **** or ****, ssn ****, card ****, call ****"
        ],
        "{out}"
    );
    assert_eq!(ada[9..], ["{****,****}", "****"], "{out}");

    let out = m.psql(
        "carol",
        &[
            "-c",
            "COPY people (id, email, ssn, card, phone, notes) TO STDOUT WITH (FORMAT csv, HEADER)",
        ],
    );
    assert_no_pii("COPY csv", &out);
    assert_eq!(
        out,
        "id,email,ssn,card,phone,notes\n\
         1,****,****,****,****,\"write to **** or ****, ssn ****, card ****, call ****\"\n\
         2,****,****,****,****,****; ****; ****; ****\n"
    );

    // Binary COPY data cannot be scanned: none of it is relayed.
    let out = m.psql(
        "carol",
        &["-c", "COPY people TO STDOUT WITH (FORMAT binary)"],
    );
    assert_no_raw("COPY binary", &out);
    assert_has(
        "COPY binary",
        &out,
        "ERROR:  0A000: sluice: binary COPY output cannot be masked",
    );
    assert!(!out.contains("PGCOPY"), "{out}");

    // Column rules cannot follow COPY: denied before anything runs, in either spelling.
    for sql in [
        "COPY (SELECT ssn, card FROM people) TO STDOUT",
        "COPY people TO STDOUT WITH (FORMAT csv)",
    ] {
        let out = m.psql("alice", &["-c", sql]);
        assert_no_raw(sql, &out);
        assert_has(
            sql,
            &out,
            "ERROR:  42501: sluice: denied by policy rule sluice.mask_copy",
        );
    }
    // The session goes on after the denial.
    let out = m.psql(
        "alice",
        &[
            "-At",
            "-c",
            "COPY people TO STDOUT",
            "-c",
            "SELECT ssn FROM people WHERE id = 1",
        ],
    );
    assert_has("after the denial", &out, "sluice.mask_copy");
    assert!(out.starts_with("****\n"), "{out}");
    m.stop().await;
}

// ---- 8. The unmasked identity ----

/// The catalog connection cannot be opened (the target's role may have one connection, which
/// the session uses): a statement on a table masking must trace is denied
/// (`mask_unknown_lineage`), and the session goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_catalog_that_cannot_be_read_denies_what_masking_must_trace_and_the_session_goes_on() {
    pg().psql(
        "postgres",
        "DROP ROLE IF EXISTS mask_one_connection;
         CREATE ROLE mask_one_connection LOGIN PASSWORD 'target-secret-7f3a'
           CONNECTION LIMIT 1 IN ROLE sluice_scram;",
    )
    .unwrap();
    std::env::set_var("SLUICE_TEST_MASK_PASSWORD", TARGET_PASSWORD);
    let m = Masking::start_with(&format!(
        "\n[[targets]]\nname = \"one-connection\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\n\
         port = {}\ndatabase = \"app\"\nuser = \"mask_one_connection\"\n\
         password_env = \"SLUICE_TEST_MASK_PASSWORD\"\ntls = \"disable\"\n",
        pg().port
    ))
    .await;
    let out = both(&m.h.psql(
        "alice",
        "one-connection",
        &[
            "-At",
            "-c",
            "SELECT name, notes FROM people WHERE id = 1",
            "-c",
            "SELECT 'still here'",
        ],
    ));
    assert_no_raw("unnamed catalog", &out);
    assert!(!out.contains("Ada"), "{out}");
    assert!(out.starts_with("still here\n"), "{out}");
    assert_has(
        "unreadable catalog",
        &out,
        "mask_unknown_lineage: the target's catalog could not be read",
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_without_mask_rules_sees_raw_values() {
    let m = Masking::start().await;
    let out = m.psql(
        "ci",
        &[
            "-At",
            "-c",
            "SELECT email, ssn, card, phone, secret_note, card_num FROM people ORDER BY id",
        ],
    );
    assert_eq!(
        out,
        "ada@example.com|123-45-6789|4111 1111 1111 1111|+1 202 555 0143|vault code 8812|4111111111111111\n\
         grace@example.net|234-56-7890|5555 5555 5555 4444|+44 20 7946 0958|vault code 4471|5555555555554444\n"
    );
    let out = m.psql(
        "ci",
        &["-c", "COPY (SELECT ssn FROM people ORDER BY id) TO STDOUT"],
    );
    assert_eq!(out, "123-45-6789\n234-56-7890\n");
    let audit = m.audit().await;
    assert!(
        audit.iter().all(|r| !matches!(
            &r.event,
            AuditEvent::StatementResult {
                masked: Some(_),
                ..
            }
        )),
        "{audit:?}"
    );
    m.stop().await;
}

// ---- 9. Evidence: audit and /metrics ----

/// GET on the admin listener; the body.
async fn admin_get(h: &Harness, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(h.gateway.admin_addr.unwrap())
        .await
        .unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: sluice\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The value of a metric line `name value`.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_records_and_metrics_count_what_was_masked() {
    let m = Masking::start().await;
    let sql = format!("SELECT {COLUMNS} FROM people ORDER BY id");
    let out = m.psql("alice", &["-At", "-c", &sql]);
    assert_eq!(out, format!("{ADA}\n{GRACE}\n"));
    m.psql(
        "alice",
        &[
            "-c",
            "INSERT INTO people (id, name, ssn) SELECT 3, 'dup', ssn FROM people WHERE id = 1",
        ],
    );
    m.psql("ci", &["-c", "SELECT ssn FROM people"]);

    let audit = m.audit().await;
    let statement_of = |session: &str, statement: u64| {
        audit.iter().find_map(|r| match &r.event {
            AuditEvent::Statement {
                session: s,
                statement: n,
                text,
                ..
            } if s == session && *n == statement => Some(text.clone()),
            _ => None,
        })
    };
    let results: Vec<(String, String, Option<Masked>)> = audit
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::StatementResult {
                session,
                statement,
                identity,
                masked,
                ..
            } => Some((
                identity.clone(),
                statement_of(session, *statement).unwrap(),
                masked.clone(),
            )),
            _ => None,
        })
        .collect();
    let select = results
        .iter()
        .find(|(_, text, _)| *text == sql)
        .unwrap_or_else(|| panic!("{results:#?}"));
    let masked = select.2.clone().expect("no masked on the SELECT's result");
    let columns: Vec<(&str, u64)> = masked
        .columns
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        columns,
        [
            ("public.people.card", 2),
            ("public.people.email", 2),
            ("public.people.secret_note", 2),
            ("public.people.ssn", 2),
        ],
        "{masked:?}"
    );
    for detector in ["email", "us_ssn", "payment_card", "phone"] {
        assert!(
            masked.detectors.get(detector).copied().unwrap_or(0) > 0,
            "{detector}: {masked:?}"
        );
    }
    // The bigints could not hold `****`.
    assert_eq!(masked.nulled, 2, "{masked:?}");

    let dup = results
        .iter()
        .find(|(_, text, _)| text.starts_with("INSERT"))
        .unwrap();
    assert_eq!(
        dup.2.as_ref().unwrap().detectors.get("us_ssn").copied(),
        Some(1),
        "{dup:?}"
    );
    let unmasked = results.iter().find(|(who, _, _)| who == "ci").unwrap();
    assert_eq!(unmasked.2, None, "{unmasked:?}");

    // Nothing in the audit trail holds a raw value: no statement text here carries one, and
    // what is recorded of results is recorded after masking.
    let trail = std::fs::read_to_string(m.config.audit_path()).unwrap();
    let alice_only: String = trail
        .lines()
        .filter(|l| !l.contains("\"identity\":\"ci\""))
        .collect::<Vec<_>>()
        .join("\n");
    assert_no_raw("audit trail", &alice_only);

    let metrics = admin_get(&m, "/metrics").await;
    assert_eq!(
        metric(&metrics, "sluice_masked_statements_total"),
        2,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "sluice_masked_values_total{by=\"column_rule\"}"),
        8
    );
    assert_eq!(
        metric(&metrics, "sluice_masked_values_total{by=\"null\"}"),
        2
    );
    assert_eq!(
        metric(&metrics, "sluice_masked_spans_total{detector=\"us_ssn\"}"),
        masked.detectors["us_ssn"] + 1
    );
    assert_eq!(
        metric(&metrics, "sluice_masked_spans_total{detector=\"email\"}"),
        masked.detectors["email"]
    );
    m.stop().await;
}

// ---- 10. A driver: text, binary, prepared, server-side cursors ----

/// Runs a driver script from tests/drivers (Python from `SLUICE_TEST_PYTHON`, as
/// `run_python_driver`) with `env`; fails unless it exits 0; returns what it printed.
async fn python_driver_output(script: &str, env: Vec<(&'static str, String)>) -> String {
    let script: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/drivers")
        .join(script);
    let python = std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).envs(env).output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the driver script failed (scripts/test.sh installs psycopg):\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

#[tokio::test(flavor = "multi_thread")]
async fn psycopg_text_binary_prepared_and_named_cursors_are_masked() {
    let m = Masking::start().await;
    let out = python_driver_output(
        "psycopg_masking.py",
        vec![
            ("SLUICE_DSN", m.conninfo("alice", "app")),
            ("SLUICE_DSN_CONTENT", m.conninfo("carol", "app")),
        ],
    )
    .await;
    assert_no_raw("psycopg", &out);

    let ada_doc = serde_json::json!({"email": "****", "ssn": "****", "card": "****",
        "card_text": "****", "phone": "****", "aliases": ["****"]});
    let grace_doc =
        serde_json::json!({"email": "****", "ssn": "****", "card": "****", "phone": "****"});
    let row = |id: u32, binary: bool| {
        let (name, email, card, notes, doc, emails) = if id == 1 {
            (
                "Ada Lovelace",
                "****@example.com",
                "**** **** **** 1111",
                "write to **** or ****, ssn ****, card ****, call ****",
                ada_doc.clone(),
                serde_json::json!(["****", "****"]),
            )
        } else {
            (
                "Grace Hopper",
                "****@example.net",
                "**** **** **** 4444",
                "****; ****; ****; ****",
                grace_doc.clone(),
                serde_json::json!(["****"]),
            )
        };
        // In binary an array cannot be rewritten: NULL. A bigint never holds `****`: NULL.
        let emails = if binary {
            serde_json::Value::Null
        } else {
            emails
        };
        serde_json::json!([id, name, email, "****", card, "****", null, notes, doc, emails, null])
    };
    let mut by_mode: std::collections::BTreeMap<&str, Vec<serde_json::Value>> = Default::default();
    let mut other = Vec::new();
    for line in out.lines() {
        let (mode, rest) = line.split_once(' ').unwrap_or((line, ""));
        match serde_json::from_str::<serde_json::Value>(rest) {
            Ok(v) if v.is_array() => by_mode.entry(mode).or_default().push(v),
            _ => other.push(line),
        }
    }
    for (mode, binary, times) in [
        ("text", false, 1),
        ("binary", true, 1),
        ("prepared", false, 2),
        ("prepared-binary", true, 1),
        ("named", false, 1),
        ("named-binary", true, 1),
    ] {
        let expected: Vec<serde_json::Value> = (0..times)
            .flat_map(|_| [row(1, binary), row(2, binary)])
            .collect();
        assert_eq!(
            by_mode.get(mode),
            Some(&expected),
            "{mode}: the driver printed\n{out}"
        );
    }
    assert_eq!(
        by_mode.get("pipeline"),
        Some(&vec![serde_json::json!(["****", "**** **** **** 1111"])]),
        "{out}"
    );
    assert_eq!(
        by_mode.get("copy"),
        Some(&vec![
            serde_json::json!([
                "1",
                "****",
                "****",
                "****",
                "write to **** or ****, ssn ****, card ****, call ****"
            ]),
            serde_json::json!(["2", "****", "****", "****", "****; ****; ****; ****"]),
        ]),
        "{out}"
    );
    assert_eq!(
        other,
        [
            "copy refused True",
            "unique violation Key (ssn)=(****) already exists.",
            "psycopg masking done"
        ],
        "{out}"
    );
    m.stop().await;
}

/// Execute with a row limit, twice on one portal, then a second portal in the same batch: each
/// Execute's rows are masked (the gateway describes the portal before each).
#[tokio::test(flavor = "multi_thread")]
async fn partial_executes_of_one_portal_are_masked() {
    let m = Masking::start().await;
    let (mut c, _) = m.raw_login("alice", "app").await;
    let execute = |portal: &str, max_rows: i32| {
        let mut b = portal.as_bytes().to_vec();
        b.push(0);
        b.extend_from_slice(&max_rows.to_be_bytes());
        frontend_msg(b'E', &b)
    };
    let mut batch = parse_msg(
        "s",
        "SELECT ssn, card, email, notes FROM people ORDER BY id",
    );
    batch.extend(bind_msg("p", "s", &[]));
    batch.extend(execute("p", 1));
    batch.extend(execute("p", 1));
    batch.extend(bind_msg("q", "s", &[]));
    batch.extend(execute("q", 0));
    batch.extend(sync_msg());
    c.send(&batch).await;
    let replies = c.until_ready().await;
    let wire = wire_text(&replies);
    assert_no_raw("partial executes", &wire);
    let tags: String = replies.iter().map(|r| char::from(r.tag)).collect();
    assert_eq!(tags, "12DsDs2DDCZ", "{replies:?}");
    let rows: Vec<&Msg> = replies.iter().filter(|r| r.tag == b'D').collect();
    for row in rows {
        let text = String::from_utf8_lossy(&row.body);
        assert!(
            text.contains("****") && text.contains("**** **** **** "),
            "{row:?}"
        );
    }
    m.stop().await;
}

// ---- Channels besides values that carry data to the client ----
//
// These go beyond the cases above: data a masked statement reads reaches the client in a
// message masking does not look at. Each fails while the leak is there.

/// A column name made from data needs dynamic SQL (a cursor opened in a DO block): under
/// column rules DO is denied, and so is a FETCH from a cursor sluice never saw declared.
#[tokio::test(flavor = "multi_thread")]
async fn column_names_made_from_data_are_masked() {
    let m = Masking::start().await;
    let out = m.psql(
        "alice",
        &[
            "-c",
            "BEGIN",
            "-c",
            "DO $$DECLARE c refcursor := 'leak'; BEGIN OPEN c FOR EXECUTE \
             format('SELECT 1 AS %I', (SELECT ssn FROM people WHERE id = 1)); END$$",
            "-c",
            "FETCH ALL FROM leak",
            "-c",
            "COMMIT",
        ],
    );
    assert_has("DO", &out, "mask_unknown_lineage: DO runs code");
    assert_has(
        "FETCH",
        &out,
        "cursor \"leak\" was not declared by SQL in this session",
    );
    assert_no_raw("a column named by data", &out);
    m.stop().await;
}

/// A notification channel named by data is relayed raw; only the payload is masked.
#[tokio::test(flavor = "multi_thread")]
async fn notification_channels_made_from_data_are_masked() {
    let m = Masking::start().await;
    // carol: content rules only, so DO is not denied as code lineage cannot follow.
    let out = m.psql(
        "carol",
        &[
            "-c",
            "DO $$BEGIN EXECUTE format('LISTEN %I', (SELECT ssn FROM people WHERE id = 1)); \
             PERFORM pg_notify(ssn, 'x') FROM people WHERE id = 1; END$$",
        ],
    );
    assert_has("notification", &out, "Asynchronous notification");
    assert_no_raw("a channel named by data", &out);
    m.stop().await;
}

/// ParameterStatus (application_name set from data) is relayed raw.
#[tokio::test(flavor = "multi_thread")]
async fn parameter_status_carries_no_raw_data() {
    let m = Masking::start().await;
    // carol: content rules only (under alice's column rules, set_config may not be given a
    // masked column at all: mask_unknown_lineage).
    let (mut c, _) = m.raw_login("carol", "app").await;
    c.send(&query_msg(
        "SELECT set_config('application_name', ssn, false) FROM people WHERE id = 1",
    ))
    .await;
    let replies = c.until_ready().await;
    let wire = wire_text(&replies);
    assert!(replies.iter().any(|r| r.tag == b'D'), "{replies:?}");
    assert_no_raw("ParameterStatus", &wire);
    m.stop().await;
}

/// A value glued to another (`email || ssn`) is one no detector finds (they need a word
/// boundary); lineage masks it whole, as computed from masked columns.
#[tokio::test(flavor = "multi_thread")]
async fn glued_computed_values_are_masked() {
    let m = Masking::start().await;
    let out = m.psql(
        "alice",
        &[
            "-At",
            "-c",
            "SELECT email || ssn, name || ssn FROM people ORDER BY id",
        ],
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_no_raw("glued", &out);
    m.stop().await;
}

/// COPY text data is masked field by field, so a card stored as a bare JSON number in a jsonb
/// column becomes `"****"` and the copied document still parses.
#[tokio::test(flavor = "multi_thread")]
async fn copy_masking_keeps_json_documents_valid() {
    let m = Masking::start().await;
    let out = m.psql(
        "carol",
        &[
            "-c",
            "COPY (SELECT id, doc FROM people ORDER BY id) TO STDOUT",
        ],
    );
    assert_no_pii("COPY jsonb", &out);
    assert_eq!(out.lines().count(), 2, "{out}");
    for line in out.lines() {
        let (_, doc) = line.split_once('\t').unwrap();
        assert!(
            serde_json::from_str::<serde_json::Value>(doc).is_ok(),
            "not JSON any more: {doc}"
        );
    }
    m.stop().await;
}
