//! Column lineage, table-tested against a small catalog: every way of computing a value from
//! a column keeps the column among its sources; predicates name the columns they compare.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use sluice_sql::lineage::{
    lineage, Catalog, CatalogRelation, Clause, Comparison, Ends, LineageError, Named,
    StatementLineage,
};
use sluice_sql::{Lexing, SearchPath};

struct TestCatalog(HashMap<(String, String), CatalogRelation>);

impl Catalog for TestCatalog {
    fn relation(&self, schema: &str, name: &str) -> Option<CatalogRelation> {
        self.0.get(&(schema.to_owned(), name.to_owned())).cloned()
    }
}

fn catalog() -> TestCatalog {
    let table = |cols: &[&str]| {
        CatalogRelation::Table(
            cols.iter()
                .map(|c| (*c).to_owned())
                .collect::<Vec<_>>()
                .into(),
        )
    };
    let mut m = HashMap::new();
    let key = |s: &str, t: &str| (s.to_owned(), t.to_owned());
    m.insert(
        key("public", "customers"),
        table(&[
            "id",
            "name",
            "email",
            "ssn",
            "card_number",
            "phone",
            "notes",
            "profile",
        ]),
    );
    m.insert(
        key("public", "orders"),
        table(&["id", "customer_id", "total"]),
    );
    m.insert(
        key("public", "v_customers"),
        CatalogRelation::View {
            columns: vec!["id".to_owned(), "tax_id".to_owned(), "shout".to_owned()].into(),
            definition: Arc::from(
                " SELECT customers.id, customers.ssn AS tax_id, upper(customers.name) AS shout FROM customers;",
            ),
        },
    );
    m.insert(
        key("public", "v_nested"),
        CatalogRelation::View {
            columns: vec!["t".to_owned()].into(),
            definition: Arc::from(" SELECT v_customers.tax_id AS t FROM v_customers;"),
        },
    );
    m.insert(key("public", "gone"), CatalogRelation::Missing);
    TestCatalog(m)
}

fn analysed(sql: &str) -> Vec<StatementLineage> {
    lineage(sql, &SearchPath::default(), Lexing::Standard, &catalog())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Each output as `(sources, counted, plain)`, sources as `table.column`.
fn outputs(sql: &str) -> Vec<(Vec<String>, Vec<String>, bool)> {
    let s = analysed(sql).pop().unwrap();
    s.outputs
        .unwrap_or_else(|| panic!("{sql}: no outputs"))
        .into_iter()
        .map(|o| {
            let names = |set: &std::collections::BTreeSet<sluice_sql::lineage::ColumnId>| {
                set.iter()
                    .map(|c| format!("{}.{}", c.table, c.column))
                    .collect()
            };
            (
                names(&o.lineage.sources),
                names(&o.lineage.counted),
                o.lineage.plain,
            )
        })
        .collect()
}

fn computed(cols: &[&str]) -> (Vec<String>, Vec<String>, bool) {
    (
        cols.iter().map(|c| (*c).to_owned()).collect(),
        vec![],
        false,
    )
}

fn plain(col: &str) -> (Vec<String>, Vec<String>, bool) {
    (vec![col.to_owned()], vec![], true)
}

fn none() -> (Vec<String>, Vec<String>, bool) {
    (vec![], vec![], false)
}

#[test]
fn expressions_keep_their_sources() {
    for sql in [
        "SELECT replace(ssn, '-', '') FROM customers",
        "SELECT reverse(ssn) FROM customers",
        "SELECT translate(ssn, '0123456789', 'abcdefghij') FROM customers",
        "SELECT encode(convert_to(ssn, 'UTF8'), 'base64') FROM customers",
        "SELECT ssn || 'x' FROM customers",
        "SELECT substr(ssn, 1, 3) FROM customers",
        "SELECT ssn::bytea FROM customers",
        "SELECT CASE WHEN ssn LIKE '1%' THEN 'one' ELSE ssn END FROM customers",
        "SELECT coalesce(NULL, ssn) FROM customers",
        "SELECT (SELECT ssn FROM customers LIMIT 1)",
        "SELECT x FROM (SELECT reverse(ssn) AS x FROM customers) q",
        "WITH t AS (SELECT md5(ssn) AS h FROM customers) SELECT h FROM t",
        "SELECT min(ssn) FROM customers",
        "SELECT string_agg(ssn, ',') FROM customers",
        "SELECT array_agg(ssn ORDER BY ssn) FROM customers",
        "SELECT json_agg(ssn) FROM customers",
        "SELECT lag(ssn) OVER (ORDER BY id) FROM customers",
        "SELECT ARRAY[ssn] FROM customers",
        "SELECT ROW(ssn) FROM customers",
        "SELECT ssn COLLATE \"C\" FROM customers",
    ] {
        assert_eq!(outputs(sql), vec![computed(&["customers.ssn"])], "{sql}");
    }
}

#[test]
fn plain_references_through_every_kind_of_from_item() {
    for sql in [
        "SELECT ssn FROM customers",
        "SELECT ssn AS x FROM customers",
        "SELECT c.ssn FROM customers c",
        "SELECT public.customers.ssn FROM public.customers",
        "WITH t AS (SELECT ssn FROM customers) SELECT ssn FROM t",
        "WITH t(s) AS (SELECT ssn FROM customers) SELECT s FROM t",
        "SELECT s FROM (SELECT ssn AS s FROM customers) q",
        "SELECT q.a FROM (SELECT ssn FROM customers) q(a)",
        "SELECT l.v FROM customers c, LATERAL (SELECT c.ssn AS v) l",
        "SELECT tax_id FROM v_customers",
        "SELECT t FROM v_nested",
        "SELECT ssn FROM customers UNION ALL SELECT ssn FROM customers",
    ] {
        assert_eq!(outputs(sql), vec![plain("customers.ssn")], "{sql}");
    }
    assert_eq!(
        outputs("SELECT shout FROM v_customers"),
        vec![computed(&["customers.name"])]
    );
}

#[test]
fn stars_expand_in_order() {
    let all = outputs("SELECT * FROM customers");
    assert_eq!(all.len(), 8);
    assert_eq!(all[3], plain("customers.ssn"));
    let joined =
        outputs("SELECT o.*, c.ssn FROM orders o JOIN customers c ON c.id = o.customer_id");
    assert_eq!(joined.len(), 4);
    assert_eq!(joined[3], plain("customers.ssn"));
    // USING merges the named columns and puts them first.
    let using = outputs("SELECT * FROM customers JOIN orders USING (id)");
    assert_eq!(using.len(), 8 + 3 - 1);
    assert_eq!(using[0], computed(&["customers.id", "orders.id"]));
    assert_eq!(using[3], plain("customers.ssn"));
    assert_eq!(using[9], plain("orders.total"));
}

#[test]
fn whole_rows_and_sets_carry_every_column() {
    for sql in [
        "SELECT row_to_json(c) FROM customers c",
        "SELECT c FROM customers c",
        "SELECT to_jsonb(c.*) FROM customers c",
    ] {
        let o = outputs(sql);
        assert_eq!(o.len(), 1, "{sql}");
        assert!(o[0].0.contains(&"customers.ssn".to_owned()), "{sql}: {o:?}");
        assert!(!o[0].2, "{sql}");
    }
    assert_eq!(
        outputs("SELECT name FROM customers UNION SELECT ssn FROM customers"),
        vec![computed(&["customers.name", "customers.ssn"])]
    );
}

#[test]
fn counts_reveal_no_value() {
    assert_eq!(
        outputs("SELECT count(*), count(ssn), count(DISTINCT ssn) FROM customers"),
        vec![
            none(),
            (vec![], vec!["customers.ssn".to_owned()], false),
            (vec![], vec!["customers.ssn".to_owned()], false),
        ]
    );
    // Counting what an expression of the column gives is a test of its value.
    assert_eq!(
        outputs("SELECT count(CASE WHEN ssn = 'x' THEN 1 END) FROM customers"),
        vec![computed(&["customers.ssn"])]
    );
}

#[test]
fn functions_in_from_of_unknown_width_leave_a_rest() {
    let s = analysed("SELECT * FROM customers c, unnest(ARRAY[c.ssn]) u")
        .pop()
        .unwrap();
    assert_eq!(s.outputs.as_ref().unwrap().len(), 8);
    let rest = s.rest.unwrap();
    assert!(rest.sources.iter().any(|c| c.column == "ssn"));
    assert_eq!(
        outputs("SELECT v FROM customers c, unnest(ARRAY[c.ssn]) AS u(v)"),
        vec![computed(&["customers.ssn"])]
    );
}

#[test]
fn modifications_return_what_they_wrote_and_read() {
    assert_eq!(
        outputs("DELETE FROM customers WHERE id = 1 RETURNING ssn"),
        vec![plain("customers.ssn")]
    );
    assert_eq!(
        outputs("UPDATE customers SET phone = ssn WHERE id = 1 RETURNING phone"),
        vec![computed(&["customers.phone", "customers.ssn"])]
    );
    let inserted = outputs(
        "INSERT INTO orders (customer_id) SELECT length(ssn) FROM customers RETURNING customer_id",
    );
    assert_eq!(
        inserted,
        vec![computed(&["customers.ssn", "orders.customer_id"])]
    );
    assert!(analysed("UPDATE customers SET name = 'x' WHERE id = 1")[0]
        .outputs
        .is_none());
}

#[test]
fn predicates_name_the_columns_they_compare() {
    let uses = |sql: &str| -> Vec<(String, &'static str, &'static str)> {
        analysed(sql)
            .into_iter()
            .flat_map(|s| s.predicates.into_iter())
            .map(|p| (p.column.column, p.clause.as_str(), p.comparison.as_str()))
            .collect()
    };
    assert_eq!(
        uses("SELECT count(*) FROM customers WHERE ssn = '123-45-6789'"),
        vec![("ssn".into(), "where", "equality")]
    );
    assert_eq!(
        uses("SELECT id FROM customers WHERE ssn LIKE '1%'"),
        vec![("ssn".into(), "where", "pattern")]
    );
    assert_eq!(
        uses("SELECT id FROM customers WHERE ssn BETWEEN '1' AND '2'"),
        vec![("ssn".into(), "where", "range")]
    );
    assert_eq!(
        uses("SELECT id FROM customers WHERE upper(ssn) > 'A'"),
        vec![("ssn".into(), "where", "range")]
    );
    assert_eq!(
        uses("SELECT EXISTS (SELECT 1 FROM customers WHERE ssn IN ('1', '2'))"),
        vec![("ssn".into(), "where", "equality")]
    );
    assert_eq!(
        uses("SELECT ssn AS s FROM customers ORDER BY s"),
        vec![("ssn".into(), "order_by", "other")]
    );
    assert_eq!(
        uses("SELECT row_number() OVER (ORDER BY ssn) FROM customers"),
        vec![("ssn".into(), "window", "other")]
    );
    assert_eq!(
        uses("SELECT count(*) FILTER (WHERE ssn = 'x') FROM customers"),
        vec![("ssn".into(), "filter", "equality")]
    );
    assert_eq!(
        uses("SELECT ssn, count(*) FROM customers GROUP BY ssn HAVING count(*) > 1"),
        vec![("ssn".into(), "group_by", "other")]
    );
    let joined = uses("SELECT o.total FROM orders o JOIN customers c ON c.ssn = o.id::text");
    assert!(
        joined.contains(&("ssn".into(), "join", "equality")),
        "{joined:?}"
    );
    assert!(
        joined.contains(&("id".into(), "join", "equality")),
        "{joined:?}"
    );
    assert_eq!(
        uses("DELETE FROM customers WHERE ssn = 'x'"),
        vec![("ssn".into(), "where", "equality")]
    );
    assert_eq!(
        uses("EXPLAIN ANALYZE SELECT * FROM customers WHERE ssn = 'x'"),
        vec![("ssn".into(), "where", "equality")]
    );
    assert!(uses("SELECT ssn FROM customers").is_empty());
    // Clause and comparison reach the policy as these names.
    assert_eq!(Clause::Join.as_str(), "join");
    assert_eq!(Comparison::Pattern.as_str(), "pattern");
}

#[test]
fn cursors_prepared_statements_and_copy() {
    let declared = analysed("DECLARE c CURSOR FOR SELECT reverse(ssn) FROM customers")
        .pop()
        .unwrap();
    assert!(!declared.hold);
    let (name, inner) = declared.defines.unwrap();
    assert_eq!(name, Named::Cursor("c".into()));
    assert!(
        analysed("DECLARE h SCROLL CURSOR WITH HOLD FOR SELECT 1")
            .pop()
            .unwrap()
            .hold
    );
    let ends = |sql: &str| analysed(sql).pop().unwrap().ends;
    assert_eq!(ends("CLOSE c"), Some(Ends::One(Named::Cursor("c".into()))));
    assert_eq!(ends("CLOSE ALL"), Some(Ends::AllCursors));
    assert_eq!(
        ends("DEALLOCATE p"),
        Some(Ends::One(Named::Prepared("p".into())))
    );
    assert_eq!(ends("DEALLOCATE ALL"), Some(Ends::AllPrepared));
    assert_eq!(ends("DISCARD ALL"), Some(Ends::Everything));
    for end in [
        "COMMIT",
        "END",
        "ROLLBACK",
        "ABORT",
        "ROLLBACK TO SAVEPOINT s",
        "PREPARE TRANSACTION 'x'",
    ] {
        assert_eq!(ends(end), Some(Ends::Transaction), "{end}");
    }
    assert_eq!(ends("BEGIN"), None);
    assert!(inner.outputs.as_ref().unwrap()[0]
        .lineage
        .sources
        .iter()
        .any(|c| c.column == "ssn"));
    assert_eq!(
        analysed("FETCH 10 FROM c").pop().unwrap().uses,
        Some(Named::Cursor("c".into()))
    );
    assert_eq!(
        analysed("EXECUTE p(1)").pop().unwrap().uses,
        Some(Named::Prepared("p".into()))
    );
    let copied = analysed("COPY customers (id, ssn) TO STDOUT")
        .pop()
        .unwrap();
    assert!(copied.copy);
    assert_eq!(copied.outputs.unwrap().len(), 2);
    assert_eq!(
        outputs("COPY (SELECT reverse(ssn) FROM customers) TO STDOUT"),
        vec![computed(&["customers.ssn"])]
    );
}

#[test]
fn the_catalog_is_asked_for_what_it_has_not_read_and_gaps_are_unresolved() {
    match lineage(
        "SELECT * FROM customers, elsewhere.unknown",
        &SearchPath::default(),
        Lexing::Standard,
        &catalog(),
    ) {
        Err(LineageError::NeedCatalog(needed)) => {
            assert_eq!(needed, vec![("elsewhere".to_owned(), "unknown".to_owned())]);
        }
        other => panic!("{other:?}"),
    }
    let s = analysed("SELECT x FROM gone").pop().unwrap();
    assert!(s.unresolved);
    assert!(
        analysed("SELECT nope FROM customers")
            .pop()
            .unwrap()
            .unresolved
    );
    assert!(
        !analysed("SELECT ssn FROM customers")
            .pop()
            .unwrap()
            .unresolved
    );
    let touched = analysed("SELECT t FROM v_nested").pop().unwrap().relations;
    assert!(touched.contains(&("public".to_owned(), "customers".to_owned())));
}

#[test]
fn values_and_recursion_keep_every_source() {
    let l = &analysed(
        "SELECT * FROM (VALUES ('a')) v(a) JOIN LATERAL (SELECT ssn || a AS z FROM customers) j ON true",
    )[0];
    assert!(!l.unresolved, "{l:?}");
    assert_eq!(
        outputs("SELECT * FROM (VALUES ('a')) v(a) JOIN LATERAL (SELECT ssn || a AS z FROM customers) j ON true"),
        vec![none(), computed(&["customers.ssn"])]
    );
    // Values rotate through three columns: each ends up with every source.
    let sql = "WITH RECURSIVE t(a, b, c, n) AS (SELECT ssn, name, email, 1 FROM customers \
               UNION ALL SELECT b, c, a, n + 1 FROM t WHERE n < 3) SELECT a FROM t";
    assert!(!analysed(sql)[0].unresolved);
    assert_eq!(
        outputs(sql),
        vec![computed(&[
            "customers.email",
            "customers.name",
            "customers.ssn"
        ])]
    );
}

#[test]
fn calls_name_the_columns_their_arguments_carry() {
    let l = &analysed("SELECT pg_notify('c', reverse(ssn)), count(*), app.f(id) FROM customers")[0];
    let calls: Vec<(Option<&str>, &str, Vec<&str>)> = l
        .calls
        .iter()
        .map(|c| {
            (
                c.schema.as_deref(),
                c.name.as_str(),
                c.sources.iter().map(|s| s.column.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            (None, "pg_notify", vec!["ssn"]),
            (None, "reverse", vec!["ssn"]),
            (Some("app"), "f", vec!["id"]),
        ]
    );
    // What a prepared statement compares is known when it is prepared.
    let prepared = &analysed("PREPARE p AS SELECT 1 FROM customers WHERE ssn = $1")[0];
    assert!(prepared.predicates.iter().any(|p| p.column.column == "ssn"));
}

#[test]
fn a_function_that_picks_rows_by_itself_compares() {
    let l =
        &analysed("SELECT id FROM customers WHERE starts_with(ssn, '1') ORDER BY length(name)")[0];
    let uses: Vec<(&str, Clause, Comparison)> = l
        .predicates
        .iter()
        .map(|p| (p.column.column.as_str(), p.clause, p.comparison))
        .collect();
    assert!(
        uses.contains(&("ssn", Clause::Where, Comparison::Equality)),
        "{uses:?}"
    );
    assert!(
        uses.contains(&("name", Clause::OrderBy, Comparison::Other)),
        "{uses:?}"
    );
}
