//! How long analysing pgbench's statements takes: the gateway does this for every statement.

use criterion::{black_box, criterion_group, criterion_main, Criterion};

const PGBENCH: &[(&str, &str)] = &[
    (
        "update",
        "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
    ),
    (
        "select",
        "SELECT abalance FROM pgbench_accounts WHERE aid = $2;",
    ),
    (
        "insert",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($3, $2, $1, $4, CURRENT_TIMESTAMP);",
    ),
];

fn analyze(c: &mut Criterion) {
    let path = sluice_sql::SearchPath::default();
    for (name, sql) in PGBENCH {
        c.bench_function(name, |b| {
            b.iter(|| sluice_sql::analyze(black_box(sql), &path, sluice_sql::Lexing::Standard))
        });
    }
    // The parser alone, to see what the analysis adds.
    for (name, sql) in PGBENCH {
        c.bench_function(&format!("parse only/{name}"), |b| {
            b.iter(|| pg_query::parse(black_box(sql), pg_query::ParserOptions::DEFAULT))
        });
    }
}

criterion_group!(benches, analyze);
criterion_main!(benches);
