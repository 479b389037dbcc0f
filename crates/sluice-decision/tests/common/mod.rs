//! Facts and policies shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use sluice_decision::{
    Bundle, GrantFacts, IdentityFacts, Input, PostgresSession, RegoOptions, RegoPolicy, Request,
    SessionFacts, SessionSection, SqlDialect, SqlStatement, StatementKind, TargetFacts, TimeFacts,
};

pub const POLICY: &str = include_str!("../fixtures/sluice.rego");
pub const POLICY_TESTS: &str = include_str!("../fixtures/sluice_test.rego");

pub struct Facts {
    pub identity: IdentityFacts,
    pub target: TargetFacts,
    pub session: SessionFacts,
    pub time: TimeFacts,
    pub grants: Vec<GrantFacts>,
}

impl Facts {
    pub fn new(name: &str, kind: &str, groups: &[&str]) -> Self {
        Self {
            identity: IdentityFacts {
                name: name.into(),
                kind: kind.into(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                attributes: Default::default(),
                claims: Default::default(),
                provider: None,
                task: None,
            },
            target: TargetFacts {
                name: "orders".into(),
                kind: "postgres".into(),
                tags: [("env".to_string(), "production".to_string())].into(),
                database: "orders".into(),
            },
            session: SessionFacts {
                id: "s-1".into(),
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
            grants: Vec::new(),
        }
    }

    pub fn input<'a>(&'a self, statement: &'a SqlStatement) -> Input<'a> {
        Input {
            identity: &self.identity,
            target: &self.target,
            session: &self.session,
            request: Request::Statement {
                statement,
                dialect: SqlDialect::Postgresql,
                index: 0,
                count: 1,
                parameters: None,
            },
            time: &self.time,
            grants: &self.grants,
        }
    }
}

pub fn statement(text: &str, kind: StatementKind) -> SqlStatement {
    SqlStatement {
        text: text.into(),
        kind,
        command: text.split_whitespace().next().unwrap_or("").to_uppercase(),
        tables_read: vec!["public.orders".into()],
        tables_written: Vec::new(),
        functions: Vec::new(),
        unbounded_write: false,
        session_change: None,
        parameter_count: 0,
        masked_columns_in_predicates: Vec::new(),
    }
}

pub fn bundle(files: &[(&str, &str)]) -> Bundle {
    Bundle::new(
        files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect(),
    )
    .unwrap()
}

pub fn compile(files: &[(&str, &str)]) -> RegoPolicy {
    RegoPolicy::compile(&bundle(files), RegoOptions::default()).unwrap()
}

pub fn compile_with_timeout(files: &[(&str, &str)], timeout: Duration) -> RegoPolicy {
    RegoPolicy::compile(
        &bundle(files),
        RegoOptions {
            eval_timeout: timeout,
            git_commit: None,
        },
    )
    .unwrap()
}

pub fn example() -> RegoPolicy {
    compile(&[
        ("policies/sluice.rego", POLICY),
        ("policies/sluice_test.rego", POLICY_TESTS),
    ])
}
