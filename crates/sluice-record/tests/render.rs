//! Rendering: psql's aligned output, checked against what psql 15 printed for
//! the same results (`psql -X`, default settings), timed replay, and search.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{allow, header, row, Clock};
use sluice_record::{parse, render_psql, replay_timed, search, Limits, Recorder, Recording};

const INT4: u32 = 23;
const TEXT: u32 = 25;
const NUMERIC: u32 = 1700;

fn render(recording: &Recording) -> String {
    let mut out = String::new();
    render_psql(recording, &mut out).unwrap();
    out
}

fn read(rec: Recorder) -> Recording {
    parse(&rec.finish("client terminated the session").0).unwrap()
}

/// Records one query's result (columns, text rows, tag).
fn query(
    rec: &mut Recorder,
    n: u64,
    text: &str,
    columns: &[(&str, u32)],
    rows: &[&[Option<&str>]],
    tag: &str,
) {
    rec.statement(n, text, &allow());
    if !columns.is_empty() || tag.starts_with("SELECT") && !rows.is_empty() {
        rec.columns(n, columns);
    }
    for values in rows {
        row(rec, n, values);
    }
    rec.complete(n, tag, 100);
}

#[test]
fn a_session_renders_as_psql_printed_it() {
    let mut rec = Recorder::new(&header("s_psql"), Limits::default());
    query(
        &mut rec,
        1,
        "select * from users order by id nulls last;",
        &[
            ("id", INT4),
            ("name", TEXT),
            ("balance", NUMERIC),
            ("note", TEXT),
        ],
        &[
            &[Some("1"), Some("ada"), Some("12.5"), Some("first")],
            &[Some("4"), Some("é中文"), Some("100"), Some("")],
            &[Some("22"), Some("grace hopper"), None, None],
            &[None, Some("x"), Some("-3"), Some("multi\nline")],
        ],
        "SELECT 4",
    );
    rec.statement(2, "update users set note = 'n' where id = 1;", &allow());
    rec.complete(2, "UPDATE 1", 50);
    query(
        &mut rec,
        3,
        "insert into users values (5,'z',0,'') returning id, name;",
        &[("id", INT4), ("name", TEXT)],
        &[&[Some("5"), Some("z")]],
        "INSERT 0 1",
    );
    rec.statement(4, "select 1/0;", &allow());
    rec.error(Some(4), "22012", "division by zero");
    rec.statement(
        5,
        "do $$ begin raise notice 'hello %', 42; end $$;",
        &allow(),
    );
    rec.notice(Some(5), "NOTICE", "00000", "hello 42");
    rec.complete(5, "DO", 70);
    query(
        &mut rec,
        6,
        "select 'a'::text as x, 3.5::float8 as f, 7::oid as o, true as b;",
        &[("x", TEXT), ("f", 701), ("o", 26), ("b", 16)],
        &[&[Some("a"), Some("3.5"), Some("7"), Some("t")]],
        "SELECT 1",
    );
    query(&mut rec, 7, "select;", &[], &[&[]], "SELECT 1");
    query(
        &mut rec,
        8,
        "select 1 where false;",
        &[("?column?", INT4)],
        &[],
        "SELECT 0",
    );

    let expected = "\
shop=> select * from users order by id nulls last;
 id |     name     | balance | note  
----+--------------+---------+-------
  1 | ada          |    12.5 | first
  4 | é中文        |     100 | 
 22 | grace hopper |         | 
    | x            |      -3 | multi+
    |              |         | line
(4 rows)

shop=> update users set note = 'n' where id = 1;
UPDATE 1
shop=> insert into users values (5,'z',0,'') returning id, name;
 id | name 
----+------
  5 | z
(1 row)

INSERT 0 1
shop=> select 1/0;
ERROR:  division by zero
shop=> do $$ begin raise notice 'hello %', 42; end $$;
NOTICE:  hello 42
DO
shop=> select 'a'::text as x, 3.5::float8 as f, 7::oid as o, true as b;
 x |  f  | o | b 
---+-----+---+---
 a | 3.5 | 7 | t
(1 row)

shop=> select;
--
(1 row)

shop=> select 1 where false;
 ?column? 
----------
(0 rows)

";
    assert_eq!(render(&read(rec)), expected);
}

#[test]
fn cells_format_as_psql_does() {
    // Each case: the columns and one row, and what psql printed.
    type Case<'a> = (&'a [(&'a str, u32)], &'a [Option<&'a str>], &'a str);
    let cases: &[Case] = &[
        (
            &[("a long column header", TEXT), ("identifier of user", INT4)],
            &[Some("grace hopper"), Some("22")],
            " a long column header | identifier of user 
----------------------+--------------------
 grace hopper         |                 22
",
        ),
        (
            &[("c", TEXT), ("t", TEXT)],
            &[Some("ababab"), Some("tab\tx")],
            "   c    |     t     
--------+-----------
 ababab | tab     x
",
        ),
        (
            &[("m", TEXT), ("after", TEXT)],
            &[Some("a\nbb\nccc"), Some("q")],
            "  m  | after 
-----+-------
 a  +| q
 bb +| 
 ccc | 
",
        ),
        (
            &[("a", TEXT), ("m", TEXT)],
            &[Some("q"), Some("a\nbbbbb\ncc")],
            " a |   m   
---+-------
 q | a    +
   | bbbbb+
   | cc
",
        ),
        (
            &[("h", TEXT), ("n", INT4)],
            &[Some("x\ny"), Some("1")],
            " h | n 
---+---
 x+| 1
 y | 
",
        ),
        (
            &[("c", TEXT), ("d", TEXT)],
            &[Some("ctl\u{1}\rz"), Some("v")],
            "     c      | d 
------------+---
 ctl\\x01\\rz | v
",
        ),
        (
            &[("x", TEXT), ("n", INT4)],
            &[Some("a"), None],
            " x | n 
---+---
 a |  
",
        ),
        (
            &[("x", TEXT), ("n", INT4)],
            &[Some("a\nb"), Some("12345")],
            " x |   n   
---+-------
 a+| 12345
 b | 
",
        ),
        (
            &[("n", NUMERIC), ("t", TEXT)],
            &[Some("1.5"), Some("p\nq")],
            "  n  | t 
-----+---
 1.5 | p+
     | q
",
        ),
        (
            &[("t", TEXT), ("u", TEXT)],
            &[Some("x\ty\tz"), Some("12345678\tw")],
            "         t         |         u         
-------------------+-------------------
 x       y       z | 12345678        w
",
        ),
    ];
    for (columns, values, table) in cases {
        let mut rec = Recorder::new(&header("s_cells"), Limits::default());
        query(&mut rec, 1, "q", columns, &[values], "SELECT 1");
        let expected = format!("shop=> q\n{table}(1 row)\n\n");
        assert_eq!(render(&read(rec)), expected);
    }
}

#[test]
fn truncation_incompleteness_and_multi_line_prompts_render_as_comments() {
    let mut rec = Recorder::new(
        &header("s_trunc"),
        Limits {
            max_rows_per_statement: 2,
            ..Limits::default()
        },
    );
    rec.statement(1, "select n\nfrom big;", &allow());
    rec.columns(1, &[("n", INT4)]);
    for i in 1..=5 {
        row(&mut rec, 1, &[Some(&i.to_string())]);
    }
    rec.complete(1, "SELECT 5", 10);
    rec.statement(2, "select pg_sleep(100);", &allow());
    let bytes = rec.take();
    // The gateway stopped: no end line.
    let recording = parse(&bytes).unwrap();
    let expected = "\
shop=> select n
shop-> from big;
 n 
---
 1
 2
(5 rows)

-- recording truncated: recorded 2 of the statement's rows; the rest were sent to the client but not recorded
shop=> select pg_sleep(100);
-- recording incomplete: the gateway stopped before the session ended
";
    assert_eq!(render(&recording), expected);
}

#[test]
fn session_level_events_render_in_place() {
    let mut rec = Recorder::new(&header("s_events"), Limits::default());
    rec.statement(1, "select 1;", &allow());
    rec.columns(1, &[("?column?", INT4)]);
    row(&mut rec, 1, &[Some("1")]);
    rec.complete(1, "SELECT 1", 5);
    rec.notice(None, "WARNING", "01000", "the gateway is shutting down");
    rec.error(
        None,
        "57P01",
        "terminating connection due to administrator command",
    );
    let expected = "\
shop=> select 1;
 ?column? 
----------
        1
(1 row)

WARNING:  the gateway is shutting down
ERROR:  terminating connection due to administrator command
";
    assert_eq!(render(&read(rec)), expected);
}

#[test]
fn replay_is_timed_by_the_recording() {
    let clock = Clock::default();
    let mut rec = clock.recorder(&header("s_timed"), Limits::default());
    clock.set_ms(1_000);
    rec.statement(1, "select 1;", &allow());
    clock.set_ms(1_500);
    rec.complete(1, "SELECT 1", 500_000);
    clock.set_ms(11_500);
    rec.statement(2, "update t set a = 1;", &allow());
    clock.set_ms(12_000);
    rec.complete(2, "UPDATE 3", 500_000);
    let recording = read(rec);

    let chunks = replay_timed(&recording, 2.0, None);
    let delays: Vec<Duration> = chunks.iter().map(|(d, _)| *d).collect();
    assert_eq!(
        delays,
        [500, 250, 5_000, 250].map(Duration::from_millis),
        "{chunks:?}"
    );
    let joined: String = chunks.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(joined, render(&recording));
    assert_eq!(chunks[2].1, "shop=> update t set a = 1;\n");
    assert_eq!(chunks[3].1, "UPDATE 3\n");

    let capped = replay_timed(&recording, 1.0, Some(Duration::from_secs(2)));
    assert_eq!(capped[2].0, Duration::from_secs(2));
    assert!(replay_timed(&recording, 0.0, None)
        .iter()
        .all(|(d, _)| d.is_zero()));
}

#[test]
fn search_finds_statements_by_text_ignoring_case() {
    let mut rec = Recorder::new(&header("s_search"), Limits::default());
    rec.statement(1, "SELECT * FROM Users", &allow());
    rec.statement(2, "UPDATE orders SET x = 1", &allow());
    rec.statement(3, "select email from users where id = 1", &allow());
    let recording = read(rec);
    assert_eq!(search(&recording, "users"), [1, 3]);
    assert_eq!(search(&recording, "ORDERS"), [2]);
    assert!(search(&recording, "payments").is_empty());
}
