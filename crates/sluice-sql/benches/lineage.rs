//! What tracing a statement's lineage costs (docs/masking.md, "Lineage"): the gateway does it
//! for a masked session's statements that read a table with masked columns, once per shape
//! while the catalog is fresh; next to it, the analysis every statement gets.

use std::collections::HashMap;
use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sluice_sql::lineage::{lineage, Catalog, CatalogRelation};
use sluice_sql::{Lexing, SearchPath};

struct Tables(HashMap<(String, String), CatalogRelation>);

impl Catalog for Tables {
    fn relation(&self, schema: &str, name: &str) -> Option<CatalogRelation> {
        self.0.get(&(schema.to_owned(), name.to_owned())).cloned()
    }
}

const STATEMENTS: &[(&str, &str)] = &[
    ("one row", "SELECT id, amount FROM bench_pii WHERE id = $1"),
    (
        "computed",
        "SELECT reverse(ssn), amount FROM bench_pii WHERE id = $1",
    ),
    (
        "join and aggregate",
        "SELECT c.id, sum(o.total) FROM bench_pii c JOIN orders o ON o.customer_id = c.id \
         WHERE c.amount > $1 GROUP BY c.id ORDER BY 2 DESC LIMIT 10",
    ),
    ("view", "SELECT * FROM pii_view WHERE id = $1"),
];

fn catalog() -> Tables {
    let columns = |cs: &[&str]| -> Arc<[String]> { cs.iter().map(|c| (*c).to_owned()).collect() };
    let key = |t: &str| ("public".to_owned(), t.to_owned());
    Tables(HashMap::from([
        (
            key("bench_pii"),
            CatalogRelation::Table(columns(&[
                "id",
                "name",
                "email",
                "ssn",
                "card_number",
                "phone",
                "notes",
                "amount",
            ])),
        ),
        (
            key("orders"),
            CatalogRelation::Table(columns(&["id", "customer_id", "total"])),
        ),
        (
            key("pii_view"),
            CatalogRelation::View {
                columns: columns(&["id", "s", "n"]),
                definition: Arc::from(
                    " SELECT bench_pii.id, bench_pii.ssn AS s, upper(bench_pii.name) AS n \
                     FROM bench_pii;",
                ),
            },
        ),
    ]))
}

fn trace(c: &mut Criterion) {
    let path = SearchPath::default();
    let tables = catalog();
    for (name, sql) in STATEMENTS {
        c.bench_function(&format!("lineage/{name}"), |b| {
            b.iter(|| lineage(black_box(sql), &path, Lexing::Standard, &tables))
        });
        c.bench_function(&format!("analysis/{name}"), |b| {
            b.iter(|| sluice_sql::analyze(black_box(sql), &path, Lexing::Standard))
        });
    }
}

criterion_group!(benches, trace);
criterion_main!(benches);
