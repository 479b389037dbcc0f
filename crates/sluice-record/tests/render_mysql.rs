//! Rendering a MySQL session: the mysql client's interactive table format
//! (`mysql --table`), without timings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{allow, header, row};
use sluice_record::{parse, render, Header, Limits, Recorder, Recording};

// MySQL column type codes (enum_field_types).
const LONG: u32 = 3;
const LONGLONG: u32 = 8;
const NEWDECIMAL: u32 = 246;
const VAR_STRING: u32 = 253;
const DATETIME: u32 = 12;

fn mysql_header(session: &str) -> Header {
    Header {
        protocol: "mysql".to_owned(),
        ..header(session)
    }
}

fn show(recording: &Recording) -> String {
    let mut out = String::new();
    render(recording, &mut out).unwrap();
    out
}

fn read(rec: Recorder) -> Recording {
    parse(&rec.finish("client terminated the session").0).unwrap()
}

/// Records a statement with one result set, as the MySQL relay does.
fn query(
    rec: &mut Recorder,
    n: u64,
    text: &str,
    columns: &[(&str, u32)],
    rows: &[&[Option<&str>]],
) {
    rec.statement(n, text, &allow());
    rec.columns(n, columns);
    for values in rows {
        row(rec, n, values);
    }
    rec.complete(n, &format!("{} rows", rows.len()), 100);
}

#[test]
fn a_session_renders_as_the_mysql_client_printed_it() {
    let mut rec = Recorder::new(&mysql_header("s_my"), Limits::default());
    query(
        &mut rec,
        1,
        "SELECT id, name FROM customers",
        &[("id", LONG), ("name", VAR_STRING)],
        &[&[Some("1"), Some("Ann")], &[Some("2"), None]],
    );
    rec.statement(2, "DELETE FROM t WHERE id = 1", &allow());
    rec.complete(2, "OK, 1 rows affected", 50);
    rec.statement(3, "SELECT 1 FROM nothing", &allow());
    rec.error(
        Some(3),
        "1146 (42S02)",
        "Table 'shop.nothing' doesn't exist",
    );
    // No rows affected and no result set: the relay says `0 rows`.
    rec.statement(4, "UPDATE t SET x = 1 WHERE false", &allow());
    rec.complete(4, "0 rows", 40);
    query(
        &mut rec,
        5,
        "SELECT id FROM t WHERE false",
        &[("id", LONG)],
        &[],
    );
    // Numeric types right-aligned (values and NULL), others left, headers
    // always left; the `;` already there is not doubled.
    query(
        &mut rec,
        6,
        "SELECT price, total, label, at\nFROM items\nLIMIT 1;",
        &[
            ("price", NEWDECIMAL),
            ("total", LONGLONG),
            ("label", VAR_STRING),
            ("at", DATETIME),
        ],
        &[&[
            Some("12.50"),
            None,
            Some("中文"),
            Some("2025-01-02 03:04:05"),
        ]],
    );
    rec.statement(7, "INSERT INTO t VALUES (1), (2)", &allow());
    rec.complete(7, "OK, 2 rows affected", 50);

    let expected = "\
mysql> SELECT id, name FROM customers;
+----+------+
| id | name |
+----+------+
|  1 | Ann  |
|  2 | NULL |
+----+------+
2 rows in set

mysql> DELETE FROM t WHERE id = 1;
Query OK, 1 row affected

mysql> SELECT 1 FROM nothing;
ERROR 1146 (42S02): Table 'shop.nothing' doesn't exist
mysql> UPDATE t SET x = 1 WHERE false;
Query OK, 0 rows affected

mysql> SELECT id FROM t WHERE false;
Empty set

mysql> SELECT price, total, label, at
    -> FROM items
    -> LIMIT 1;
+-------+-------+-------+---------------------+
| price | total | label | at                  |
+-------+-------+-------+---------------------+
| 12.50 |  NULL | 中文  | 2025-01-02 03:04:05 |
+-------+-------+-------+---------------------+
1 row in set

mysql> INSERT INTO t VALUES (1), (2);
Query OK, 2 rows affected

";
    assert_eq!(show(&read(rec)), expected);
}

#[test]
fn a_multi_statement_string_prints_one_table_per_result_set() {
    let mut rec = Recorder::new(&mysql_header("s_multi"), Limits::default());
    rec.statement(1, "SELECT 1 AS a; SELECT 'x' AS b, 2 AS c", &allow());
    rec.columns(1, &[("a", LONGLONG)]);
    row(&mut rec, 1, &[Some("1")]);
    rec.columns(1, &[("b", VAR_STRING), ("c", LONGLONG)]);
    row(&mut rec, 1, &[Some("x"), Some("2")]);
    row(&mut rec, 1, &[Some("yy"), Some("30")]);
    rec.complete(1, "3 rows", 80);
    // A later statement of the string failed: the sets before it print,
    // then its error.
    rec.statement(2, "SELECT 1 AS a; SELECT * FROM nothing", &allow());
    rec.columns(2, &[("a", LONGLONG)]);
    row(&mut rec, 2, &[Some("1")]);
    rec.error(
        Some(2),
        "1146 (42S02)",
        "Table 'shop.nothing' doesn't exist",
    );

    let expected = "\
mysql> SELECT 1 AS a; SELECT 'x' AS b, 2 AS c;
+---+
| a |
+---+
| 1 |
+---+
1 row in set

+----+----+
| b  | c  |
+----+----+
| x  |  2 |
| yy | 30 |
+----+----+
2 rows in set

mysql> SELECT 1 AS a; SELECT * FROM nothing;
+---+
| a |
+---+
| 1 |
+---+
1 row in set

ERROR 1146 (42S02): Table 'shop.nothing' doesn't exist
";
    assert_eq!(show(&read(rec)), expected);
}

#[test]
fn denials_truncation_and_an_incomplete_recording() {
    let mut rec = Recorder::new(
        &mysql_header("s_my_trunc"),
        Limits {
            max_rows_per_statement: 2,
            ..Limits::default()
        },
    );
    // A denied statement: the relay records the error for the session.
    rec.statement(1, "DROP TABLE customers", &allow());
    rec.error(
        None,
        "1142 (42000)",
        "sluice: denied by policy rule no_ddl: DDL is not allowed",
    );
    // The row cap: the count comes from the completion.
    query(
        &mut rec,
        2,
        "SELECT n FROM big",
        &[("n", LONG)],
        &[&[Some("1")], &[Some("2")], &[Some("3")]],
    );
    // A code without its state prints without one.
    rec.statement(3, "SELECT 1", &allow());
    rec.error(Some(3), "1317", "Query execution was interrupted");
    // The gateway stopped mid-statement: no completion, no end line.
    rec.statement(4, "SELECT SLEEP(100)", &allow());
    let recording = parse(&rec.take()).unwrap();

    let expected = "\
mysql> DROP TABLE customers;
ERROR 1142 (42000): sluice: denied by policy rule no_ddl: DDL is not allowed
mysql> SELECT n FROM big;
+---+
| n |
+---+
| 1 |
| 2 |
+---+
3 rows in set

-- recording truncated: recorded 2 of the statement's rows; the rest were sent to the client but not recorded
mysql> SELECT 1;
ERROR 1317: Query execution was interrupted
mysql> SELECT SLEEP(100);
-- recording incomplete: the gateway stopped before the session ended
";
    assert_eq!(show(&recording), expected);
}

#[test]
fn a_postgres_recording_still_renders_as_psql() {
    let mut rec = Recorder::new(&header("s_pg"), Limits::default());
    rec.statement(1, "delete from t;", &allow());
    rec.complete(1, "DELETE 0", 5);
    assert_eq!(show(&read(rec)), "shop=> delete from t;\nDELETE 0\n");
}
