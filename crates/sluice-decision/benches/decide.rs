//! Decision cost: a full evaluation (cache miss) and a cache hit, for one typical statement.
//!
//! Uses the example policies in `examples/policies` when they exist, else the test fixture
//! policy of the same shape. Parsing the SQL is not part of either figure.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sluice_decision::{
    Bundle, CacheKey, CacheSubject, Decision, DecisionCache, IdentityFacts, Input, Policy,
    PostgresSession, RegoOptions, RegoPolicy, Request, SessionFacts, SessionSection, SqlDialect,
    SqlStatement, StatementKind, TargetFacts, TimeFacts,
};

const FALLBACK: &str = include_str!("../tests/fixtures/sluice.rego");

fn rego_files(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rego_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rego") {
            if let Ok(text) = std::fs::read_to_string(&path) {
                let name = path.strip_prefix(root).unwrap_or(&path);
                out.push((name.display().to_string(), text));
            }
        }
    }
}

fn compile(files: Vec<(String, String)>) -> Result<RegoPolicy, sluice_decision::DecisionError> {
    Bundle::new(files).and_then(|b| RegoPolicy::compile(&b, RegoOptions::default()))
}

/// The policies to measure: the examples (when present), the fixture, and a policy that
/// decides without looking at the input (the fixed cost of a decision).
fn policies() -> Vec<(&'static str, RegoPolicy)> {
    let mut policies = Vec::new();
    let examples: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "examples",
        "policies",
    ]
    .iter()
    .collect();
    let mut files = Vec::new();
    rego_files(&examples, &examples, &mut files);
    if !files.is_empty() {
        match compile(files) {
            Ok(policy) => policies.push(("examples", policy)),
            Err(e) => eprintln!("examples/policies does not compile: {e}"),
        }
    }
    for (name, text) in [
        ("fixture", FALLBACK),
        (
            "constant",
            "package sluice\ndecision := {\"allow\": true, \"rule\": \"constant\"}\n",
        ),
    ] {
        match compile(vec![(format!("{name}.rego"), text.to_owned())]) {
            Ok(policy) => policies.push((name, policy)),
            Err(e) => eprintln!("the {name} policy does not compile: {e}"),
        }
    }
    policies
}

struct Facts {
    identity: IdentityFacts,
    target: TargetFacts,
    session: SessionFacts,
    time: TimeFacts,
    statement: SqlStatement,
}

fn facts(name: &str) -> Facts {
    Facts {
        identity: IdentityFacts {
            name: name.into(),
            kind: "human".into(),
            groups: vec!["analysts".into(), "staff".into()],
            attributes: [("team".to_string(), "data".to_string())].into(),
            claims: Default::default(),
            provider: None,
            task: None,
        },
        target: TargetFacts {
            name: "orders".into(),
            kind: "postgres".into(),
            tags: [
                ("env".to_string(), "production".to_string()),
                ("tier".to_string(), "1".to_string()),
            ]
            .into(),
            database: "orders".into(),
        },
        session: SessionFacts {
            id: "0b6f3c1e-5b8c-4d0f-9d5e-2f1b7a9c4e21".into(),
            client_address: "10.0.0.5".into(),
            application_name: Some("psql".into()),
            started_at: "2024-05-01T10:00:00Z".into(),
            protocol: "postgres".into(),
            section: SessionSection::Postgres(PostgresSession {
                search_path: vec!["$user".into(), "public".into()],
                settings: Default::default(),
            }),
        },
        time: TimeFacts {
            now: "2024-05-01T12:00:00+02:00".into(),
            timezone: "Europe/Berlin".into(),
            weekday: "wednesday".into(),
            hour: 12,
        },
        statement: SqlStatement {
            text: "SELECT id, total FROM orders WHERE customer_id = 42".into(),
            kind: StatementKind::Read,
            command: "SELECT".into(),
            tables_read: vec!["public.orders".into()],
            tables_written: Vec::new(),
            functions: Vec::new(),
            unbounded_write: false,
            session_change: None,
            parameter_count: 0,
            masked_columns_in_predicates: Vec::new(),
        },
    }
}

impl Facts {
    fn input(&self) -> Input<'_> {
        Input {
            identity: &self.identity,
            target: &self.target,
            session: &self.session,
            request: Request::Statement {
                statement: &self.statement,
                dialect: SqlDialect::Postgresql,
                index: 0,
                count: 1,
                parameters: None,
            },
            time: &self.time,
            grants: &[],
        }
    }
}

fn decide(c: &mut Criterion) {
    let policies = policies();
    let Some((_, policy)) = policies.first() else {
        return;
    };
    let alice = facts("alice");
    let bob = facts("bob");

    for (name, policy) in &policies {
        eprintln!("{name}: {:?}", policy.decide(&alice.input()));
        c.bench_function(&format!("decide/{name}/miss"), |b| {
            b.iter(|| policy.decide(black_box(&alice.input())))
        });
    }
    // Alternating subjects: the per-thread input parts are rebuilt every time.
    let mut flip = false;
    c.bench_function("decide/first/miss_new_subject", |b| {
        b.iter(|| {
            flip = !flip;
            let facts = if flip { &alice } else { &bob };
            policy.decide(black_box(&facts.input()))
        })
    });

    let cache: DecisionCache<Arc<Decision>> = DecisionCache::new(10_000);
    let subject = Arc::new(CacheSubject::new(
        &alice.identity,
        &alice.target,
        &alice.session,
        &[],
    ));
    let key = CacheKey {
        policy: policy.version(),
        subject: &subject,
        clock: 475_618,
        text: &alice.statement.text,
        index: 0,
        count: 1,
    };
    cache.insert(&key, Arc::new(policy.decide(&alice.input())));
    // Fill the rest of the cache so that the hit is not the only entry.
    for i in 0..5_000 {
        let text = format!("SELECT {i}");
        cache.insert(
            &CacheKey { text: &text, ..key },
            Arc::new(policy.decide(&alice.input())),
        );
    }
    // The key the caller builds per statement: a session's own subject `Arc` (pointer-equal).
    c.bench_function("cache/hit", |b| b.iter(|| cache.get(black_box(&key))));
    // Another session of the same subject: equal facts behind a different `Arc`.
    let other_session = Arc::new(CacheSubject::new(
        &alice.identity,
        &alice.target,
        &alice.session,
        &[],
    ));
    c.bench_function("cache/hit_other_session", |b| {
        b.iter(|| {
            cache.get(black_box(&CacheKey {
                subject: &other_session,
                ..key
            }))
        })
    });
    c.bench_function("cache/miss", |b| {
        b.iter(|| {
            cache.get(black_box(&CacheKey {
                text: "SELECT 1 FROM nowhere",
                ..key
            }))
        })
    });
}

criterion_group!(benches, decide);
criterion_main!(benches);
