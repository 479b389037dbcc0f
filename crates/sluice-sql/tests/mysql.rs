//! The MySQL dialect, table-tested: what each statement (and each way of hiding one) is
//! reported as doing.

use std::collections::BTreeMap;

use sluice_sql::{
    Dialect, Lexing, NameContext, SessionChange, SqlError, SqlStatement, StatementKind, MYSQL,
};
use StatementKind::*;

fn shop() -> NameContext {
    NameContext::Database(Some("shop".to_owned()))
}

fn analyze(sql: &str) -> Result<Vec<SqlStatement>, SqlError> {
    MYSQL.analyze(sql, &shop(), Lexing::BackslashEscapes)
}

/// What one case expects of the statement at `index`.
struct Case {
    sql: &'static str,
    index: usize,
    count: usize,
    kind: StatementKind,
    command: &'static str,
    read: &'static [&'static str],
    written: &'static [&'static str],
    functions: &'static [&'static str],
    unbounded: bool,
    change: Option<(&'static str, Option<&'static str>)>,
}

const fn case(sql: &'static str, kind: StatementKind, command: &'static str) -> Case {
    Case {
        sql,
        index: 0,
        count: 1,
        kind,
        command,
        read: &[],
        written: &[],
        functions: &[],
        unbounded: false,
        change: None,
    }
}

impl Case {
    const fn read(mut self, read: &'static [&'static str]) -> Self {
        self.read = read;
        self
    }
    const fn written(mut self, written: &'static [&'static str]) -> Self {
        self.written = written;
        self
    }
    const fn functions(mut self, functions: &'static [&'static str]) -> Self {
        self.functions = functions;
        self
    }
    const fn unbounded(mut self) -> Self {
        self.unbounded = true;
        self
    }
    const fn change(mut self, setting: &'static str, value: Option<&'static str>) -> Self {
        self.change = Some((setting, value));
        self
    }
    const fn at(mut self, index: usize, count: usize) -> Self {
        self.index = index;
        self.count = count;
        self
    }
}

const CASES: &[Case] = &[
    // Reads and names.
    case("SELECT * FROM orders", Read, "SELECT").read(&["shop.orders"]),
    case(
        "select * from Orders o join crm.Customers c on o.c = c.id",
        Read,
        "SELECT",
    )
    .read(&["crm.customers", "shop.orders"]),
    case("SELECT * FROM `Orders`, `crm`.`Big Table`", Read, "SELECT")
        .read(&["crm.Big Table", "shop.Orders"]),
    case(
        "SELECT (SELECT max(id) FROM a) FROM b WHERE x IN (SELECT x FROM c)",
        Read,
        "SELECT",
    )
    .read(&["shop.a", "shop.b", "shop.c"])
    .functions(&["max"]),
    case(
        "WITH x AS (SELECT * FROM orders) SELECT * FROM x",
        Read,
        "SELECT",
    )
    .read(&["shop.orders"]),
    // A non-recursive CTE's own body reads the table of its name.
    case(
        "WITH secret AS (SELECT * FROM secret) SELECT * FROM secret",
        Read,
        "SELECT",
    )
    .read(&["shop.secret"]),
    case(
        "SELECT * FROM (WITH s AS (SELECT 1) SELECT * FROM s) a, s",
        Read,
        "SELECT",
    )
    .read(&["shop.s"]),
    case("SELECT a INTO @v FROM t", Read, "SELECT").read(&["shop.t"]),
    case("SELECT 1 UNION TABLE `Crm`.secret", Read, "SELECT").read(&["Crm.secret"]),
    case("SELECT 1 FROM DUAL", Read, "SELECT"),
    case("SELECT LOAD_FILE('/etc/passwd')", Read, "SELECT").functions(&["load_file"]),
    case("SELECT my_udf(a), UPPER(b) FROM t", Read, "SELECT")
        .read(&["shop.t"])
        .functions(&["my_udf", "upper"]),
    case("HANDLER t OPEN", Read, "HANDLER").read(&["shop.t"]),
    case("HANDLER other.t READ FIRST", Read, "HANDLER").read(&["other.t"]),
    // Writes.
    case("INSERT INTO t (a) SELECT a FROM s", Write, "INSERT")
        .read(&["shop.s"])
        .written(&["shop.t"]),
    case("REPLACE INTO t VALUES (1)", Write, "REPLACE").written(&["shop.t"]),
    case("UPDATE t SET a = 1 WHERE id = 2", Write, "UPDATE").written(&["shop.t"]),
    case("UPDATE t SET a = 1", Write, "UPDATE")
        .written(&["shop.t"])
        .unbounded(),
    case("DELETE FROM t", Write, "DELETE")
        .written(&["shop.t"])
        .unbounded(),
    case(
        "DELETE FROM t WHERE id IN (SELECT id FROM t)",
        Write,
        "DELETE",
    )
    .read(&["shop.t"])
    .written(&["shop.t"]),
    case(
        "DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id WHERE t2.x = 1",
        Write,
        "DELETE",
    )
    .read(&["shop.t2"])
    .written(&["shop.t1"]),
    case("TRUNCATE TABLE t", Write, "TRUNCATE")
        .written(&["shop.t"])
        .unbounded(),
    case(
        "LOAD DATA LOCAL INFILE 'f.csv' INTO TABLE t",
        Write,
        "LOAD DATA",
    )
    .written(&["shop.t"]),
    case(
        "LOAD DATA INFILE '/var/f.csv' INTO TABLE d.t",
        Procedural,
        "LOAD DATA",
    )
    .written(&["d.t"]),
    // DDL.
    case("CREATE TABLE t (id INT)", Ddl, "CREATE TABLE").written(&["shop.t"]),
    case("CREATE TABLE t AS SELECT * FROM s", Ddl, "CREATE TABLE")
        .read(&["shop.s"])
        .written(&["shop.t"]),
    case("ALTER TABLE t ADD COLUMN c INT", Ddl, "ALTER TABLE").written(&["shop.t"]),
    case("DROP TABLE t, other.u", Ddl, "DROP TABLE").written(&["other.u", "shop.t"]),
    case("RENAME TABLE a TO b", Ddl, "RENAME TABLE").written(&["shop.a", "shop.b"]),
    case("CREATE DATABASE d", Ddl, "CREATE DATABASE"),
    case("GRANT SELECT ON shop.* TO 'u'@'%'", Ddl, "GRANT SELECT"),
    // Procedural.
    case("CALL p(1)", Procedural, "CALL").functions(&["p"]),
    case("PREPARE s FROM @sql", Procedural, "PREPARE"),
    case("PREPARE s FROM 'DROP TABLE t'", Procedural, "PREPARE"),
    case("EXECUTE s", Procedural, "EXECUTE"),
    case(
        "SELECT a FROM t INTO OUTFILE '/tmp/x'",
        Procedural,
        "SELECT INTO OUTFILE",
    ),
    case(
        "SELECT a INTO DUMPFILE '/tmp/x' FROM t",
        Procedural,
        "SELECT INTO OUTFILE",
    ),
    // Session changes.
    case("USE other", SessionChange, "USE").change("database", Some("other")),
    case("USE `Other`", SessionChange, "USE").change("database", Some("Other")),
    case("SET sql_mode = 'ANSI_QUOTES'", SessionChange, "SET")
        .change("sql_mode", Some("ANSI_QUOTES")),
    case("SET SESSION Autocommit = 0", SessionChange, "SET").change("autocommit", Some("0")),
    case("SET @@session.wait_timeout = 10", SessionChange, "SET")
        .change("wait_timeout", Some("10")),
    case("SET GLOBAL max_connections = 1", SessionChange, "SET")
        .change("global.max_connections", Some("1")),
    case("SET @@GLOBAL.read_only = 0", SessionChange, "SET").change("global.read_only", Some("0")),
    case("SET @v = 1", SessionChange, "SET").change("@v", Some("1")),
    case("SET NAMES utf8mb4", SessionChange, "SET").change("names", Some("utf8mb4")),
    // Transactions and utility.
    case("BEGIN", Transaction, "BEGIN"),
    case("START TRANSACTION", Transaction, "START"),
    case(
        "START TRANSACTION /*!40100 WITH CONSISTENT SNAPSHOT */",
        Transaction,
        "START",
    ),
    case(
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        Transaction,
        "START",
    ),
    case("COMMIT", Transaction, "COMMIT"),
    case("ROLLBACK", Transaction, "ROLLBACK"),
    case("SHOW TABLES", Utility, "SHOW"),
    case("SHOW GRANTS", Utility, "SHOW"),
    case("EXPLAIN SELECT * FROM t", Utility, "EXPLAIN").read(&["shop.t"]),
    // Evasions: executable comments run, other comments do not hide statements.
    case("SELECT 1 /*!50000 ; DROP TABLE t */", Ddl, "DROP TABLE")
        .written(&["shop.t"])
        .at(1, 2),
    case("SELECT 1 /*! ; DROP TABLE t */", Ddl, "DROP TABLE")
        .written(&["shop.t"])
        .at(1, 2),
    case("SELECT 1 /*!40101 FROM secret */", Read, "SELECT").read(&["shop.secret"]),
    case(
        "SELECT 1 # ; DROP TABLE t\n; DELETE FROM u",
        Write,
        "DELETE",
    )
    .written(&["shop.u"])
    .unbounded()
    .at(1, 2),
    case(
        "SELECT 1 -- ; DROP TABLE t\n; DELETE FROM u",
        Write,
        "DELETE",
    )
    .written(&["shop.u"])
    .unbounded()
    .at(1, 2),
    // `--` before a non-space is two minus signs, not a comment.
    case("SELECT 1 --1; DROP TABLE t", Ddl, "DROP TABLE")
        .written(&["shop.t"])
        .at(1, 2),
    case(
        "SELECT ';DROP TABLE t', `a;b` FROM t; UPDATE u SET a = 1",
        Write,
        "UPDATE",
    )
    .written(&["shop.u"])
    .unbounded()
    .at(1, 2),
    case("SELECT 'it\\'s; DROP TABLE t' FROM t", Read, "SELECT").read(&["shop.t"]),
    case("SELECT \"a;b\" FROM t", Read, "SELECT").read(&["shop.t"]),
    case(
        "SELECT 1 FROM t WHERE a = \"x\\\";DROP TABLE t;--\"",
        Read,
        "SELECT",
    )
    .read(&["shop.t"]),
    // No escapes in backtick names: the backslash ends nothing.
    case("SELECT `a\\` FROM t; DROP TABLE u", Ddl, "DROP TABLE")
        .written(&["shop.u"])
        .at(1, 2),
    case("SELECT `LOAD_FILE`('/etc/passwd')", Read, "SELECT").functions(&["load_file"]),
];

#[test]
fn every_case_is_read_as_mysql_does() {
    assert!(CASES.len() >= 40);
    for c in CASES {
        let statements = analyze(c.sql).unwrap_or_else(|e| panic!("{}: {e}", c.sql));
        assert_eq!(statements.len(), c.count, "{}: {statements:#?}", c.sql);
        let s = &statements[c.index];
        assert_eq!(s.kind, c.kind, "{}", c.sql);
        assert_eq!(s.command, c.command, "{}", c.sql);
        assert_eq!(s.tables_read, c.read, "{}", c.sql);
        assert_eq!(s.tables_written, c.written, "{}", c.sql);
        assert_eq!(s.functions, c.functions, "{}", c.sql);
        assert_eq!(s.unbounded_write, c.unbounded, "{}", c.sql);
        let change = s
            .session_change
            .as_ref()
            .map(|c| (c.setting.as_str(), c.value.as_deref()));
        assert_eq!(change, c.change, "{}", c.sql);
    }
}

#[test]
fn unreadable_text_is_rejected() {
    for sql in [
        "DELIMITER //",
        "SELECT 1 /*! DROP TABLE t",
        "SELECT 'unterminated",
        "SELEC 1",
        "SELECT 1 /*!5000 1 */",
        "SET a = 1, b = 2",
        // Whether the WHERE runs depends on the server's version.
        "DELETE FROM t /*!99999 WHERE id = 1 */",
        "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END",
        // Not read by the parser library alone (in a UNION it is, and reads the table).
        "TABLE secret",
        // MariaDB runs it, MySQL does not.
        "SELECT 1 /*M! ; DROP TABLE t */",
        // A comment in an executable comment may run past its `*/` in the server.
        "SELECT 1 /*! # */, (SELECT s FROM x)",
    ] {
        assert!(
            matches!(analyze(sql), Err(SqlError::Rejected(_))),
            "{sql}: {:?}",
            analyze(sql)
        );
    }
}

#[test]
fn a_version_that_changes_nothing_is_read() {
    let statements = analyze("SELECT 1 /*!80000 + 1 */ FROM t").unwrap();
    assert_eq!(statements[0].tables_read, ["shop.t"]);
}

#[test]
fn backslashes_are_refused_unless_the_session_escapes_with_them() {
    let sql = "SELECT 'a\\'' FROM t";
    assert_eq!(
        MYSQL.analyze(sql, &shop(), Lexing::Standard),
        Err(SqlError::Ambiguous)
    );
    assert_eq!(
        MYSQL.analyze(sql, &shop(), Lexing::Unsettled),
        Err(SqlError::Ambiguous)
    );
    assert!(MYSQL
        .analyze(sql, &shop(), Lexing::BackslashEscapes)
        .is_ok());
}

#[test]
fn without_a_database_names_do_not_resolve() {
    let none = NameContext::Database(None);
    let s = MYSQL
        .analyze("SELECT * FROM t, d.u", &none, Lexing::BackslashEscapes)
        .unwrap();
    assert_eq!(s[0].tables_read, ["d.u", "mysql_unresolved.t"]);
}

#[test]
fn text_and_shape_hide_constants() {
    let s = analyze("SELECT * FROM t WHERE a = 'x' AND b = 42;  SELECT  1").unwrap();
    assert_eq!(s[0].text, "SELECT * FROM t WHERE a = $1 AND b = $2");
    assert_eq!(s[1].text, "SELECT $1");
    assert_eq!(
        MYSQL
            .shape("SELECT * FROM t WHERE a = 'x' /* c */ AND b = 42")
            .as_deref(),
        Some("SELECT * FROM t WHERE a = $1 AND b = $2")
    );
    assert_eq!(
        MYSQL.shape("SELECT * FROM t WHERE a = 'y' AND b = 7"),
        MYSQL.shape("SELECT * FROM t WHERE a = 'x' AND b = 42")
    );
    assert_eq!(MYSQL.shape("SELECT * FROM t WHERE a = ?"), None);
    assert_eq!(MYSQL.shape("SELECT 'a\\'b'"), None);
    assert_eq!(MYSQL.shape("DELETE FROM t /*!99999 WHERE id = 1 */"), None);
    let p = analyze("SELECT * FROM t WHERE a = ? AND b = ?").unwrap();
    assert_eq!(p[0].parameter_count, 2);
}

fn change(setting: &str, value: Option<&str>) -> SessionChange {
    SessionChange {
        setting: setting.to_owned(),
        value: value.map(str::to_owned),
    }
}

#[test]
fn the_dialect_follows_the_current_database() {
    let d: &dyn Dialect = &MYSQL;
    assert_eq!(d.name().as_str(), "mysql");
    let start = d.initial_names(&BTreeMap::new(), "shop").unwrap();
    assert_eq!(start, shop());
    assert_eq!(
        d.initial_names(&BTreeMap::new(), "").unwrap(),
        NameContext::Database(None)
    );
    let used = analyze("USE other").unwrap();
    let moved = d
        .follow(&start, &start, used[0].session_change.as_ref().unwrap())
        .unwrap();
    assert_eq!(moved, NameContext::Database(Some("other".to_owned())));
    let s = d
        .analyze("SELECT * FROM t", &moved, Lexing::BackslashEscapes)
        .unwrap();
    assert_eq!(s[0].tables_read, ["other.t"]);
    assert!(d.moves_names(&change("database", Some("other"))));
    assert!(!d.moves_names(&change("sql_mode", Some("ANSI"))));
    assert_eq!(d.follow(&start, &start, &change("sql_mode", None)), None);
    // `USE db; SELECT ...` in one string: the USE moves the names, which the core rule uses
    // to deny the string.
    let both = analyze("USE other; SELECT * FROM t").unwrap();
    assert!(d.moves_names(both[0].session_change.as_ref().unwrap()));
}
