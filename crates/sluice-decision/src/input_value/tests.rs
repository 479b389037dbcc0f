//! The built document must be exactly the one serde describes, for every kind of request.

use super::*;
use crate::facts::SessionChange;
use crate::{
    ChannelOpen, ChannelType, FileAccess, FileOperation, FileVia, HttpRequest, KubeRequest,
    KubeVerb, PostgresSession, ShellCommand, SimpleCommand,
};

struct Facts {
    identity: IdentityFacts,
    target: TargetFacts,
    session: SessionFacts,
    time: TimeFacts,
    grants: Vec<GrantFacts>,
    statement: SqlStatement,
    command: ShellCommand,
    channel: ChannelOpen,
    file: FileAccess,
    http: HttpRequest,
    kube: KubeRequest,
}

fn facts() -> Facts {
    Facts {
        identity: IdentityFacts {
            name: "alice".into(),
            kind: "human".into(),
            groups: vec!["analysts".into()],
            attributes: [("team".to_string(), "data".to_string())].into(),
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
            id: "s1".into(),
            client_address: "10.0.0.1".into(),
            application_name: None,
            started_at: "2024-05-01T10:00:00Z".into(),
            protocol: "postgres".into(),
            section: SessionSection::Postgres(PostgresSession {
                search_path: vec!["$user".into(), "public".into()],
                settings: [("datestyle".to_string(), "ISO".to_string())].into(),
            }),
        },
        time: TimeFacts {
            now: "2024-05-01T12:00:00+02:00".into(),
            timezone: "Europe/Berlin".into(),
            weekday: "wednesday".into(),
            hour: 12,
        },
        grants: vec![GrantFacts {
            id: "g1".into(),
            target: "orders".into(),
            scope: "write".into(),
            reason: "incident".into(),
            expires_at: "2024-05-01T13:00:00Z".into(),
            approvers: vec!["bob".into()],
        }],
        statement: SqlStatement {
            text: "SET role admin".into(),
            kind: StatementKind::SessionChange,
            command: "SET".into(),
            tables_read: vec![],
            tables_written: vec!["public.t".into()],
            functions: vec!["now".into()],
            unbounded_write: false,
            session_change: Some(SessionChange {
                setting: "role".into(),
                value: Some("admin".into()),
            }),
            parameter_count: 2,
            masked_columns_in_predicates: vec![crate::facts::MaskedPredicate {
                column: "public.customers.ssn".into(),
                clause: "where".into(),
                comparison: "equality".into(),
                strategy: "redact".into(),
            }],
        },
        command: ShellCommand {
            text: "sudo ls -l /var/log | grep err".into(),
            programs: vec!["sudo".into(), "ls".into(), "grep".into()],
            argv: vec!["sudo".into(), "ls".into(), "-l".into(), "/var/log".into()],
            commands: vec![
                SimpleCommand {
                    program: "ls".into(),
                    name: "ls".into(),
                    argv: vec!["ls".into(), "-l".into(), "/var/log".into()],
                    wrappers: vec!["sudo".into()],
                    shell_depth: 0,
                },
                SimpleCommand {
                    program: "/bin/grep".into(),
                    name: "grep".into(),
                    argv: vec!["/bin/grep".into(), "err".into()],
                    wrappers: vec![],
                    shell_depth: 1,
                },
            ],
            unresolved: vec!["command_substitution".into()],
            interactive: true,
            parsed: true,
        },
        channel: ChannelOpen {
            channel_type: ChannelType::DirectTcpip,
            host: Some("db.internal".into()),
            port: Some(5432),
            originator: Some("10.0.0.1".into()),
            name: None,
        },
        file: FileAccess {
            operation: FileOperation::Rename,
            path: "/srv/app/a".into(),
            target_path: Some("/srv/app/b".into()),
            via: FileVia::Sftp,
        },
        http: HttpRequest {
            method: "GET".into(),
            host: "api.internal".into(),
            path: "/v1/orders".into(),
            query: [("state".to_string(), vec!["open".into(), "paid".into()])].into(),
            headers: [("accept".to_string(), vec!["application/json".into()])].into(),
            content_type: None,
            body_size: Some(0),
        },
        kube: KubeRequest {
            verb: KubeVerb::Connect,
            path: "/api/v1/namespaces/shop/pods/web-0/exec".into(),
            api_group: String::new(),
            api_version: "v1".into(),
            resource: "pods".into(),
            subresource: Some("exec".into()),
            namespace: Some("shop".into()),
            name: Some("web-0".into()),
            label_selector: None,
            field_selector: Some("status.phase=Running".into()),
            dry_run: false,
            container: Some("web".into()),
            command: Some(vec!["sh".into(), "-c".into(), "id".into()]),
        },
    }
}

fn same_as_json(input: &Input<'_>, builder: &mut InputBuilder) {
    let json = serde_json::to_string(input).unwrap();
    let expected = Value::from_json_str(&json).unwrap();
    assert_eq!(builder.build(input), expected, "{json}");
}

#[test]
fn matches_the_serde_document() {
    let f = facts();
    let params = [Some("1".to_string()), None];
    let mut builder = InputBuilder::default();
    let mut kinds = std::collections::HashSet::new();
    let mut api_session = f.session.clone();
    api_session.section = SessionSection::None;
    let unlike_kube = KubeRequest {
        verb: KubeVerb::List,
        path: "/apis/apps/v1/deployments".into(),
        api_group: "apps".into(),
        api_version: "v1".into(),
        resource: "deployments".into(),
        subresource: None,
        namespace: None,
        name: None,
        label_selector: Some("app=web".into()),
        field_selector: None,
        dry_run: true,
        container: None,
        command: None,
    };
    let unlike_channel = ChannelOpen {
        channel_type: ChannelType::Session,
        host: None,
        port: None,
        originator: None,
        name: None,
    };
    for request in [
        Request::Connect,
        Request::Statement {
            statement: &f.statement,
            dialect: SqlDialect::Postgresql,
            index: 1,
            count: 3,
            parameters: None,
        },
        Request::Statement {
            statement: &f.statement,
            dialect: SqlDialect::Postgresql,
            index: 0,
            count: 1,
            parameters: Some(&params),
        },
        Request::Access {
            scope: "write",
            duration_seconds: 1800,
            reason: "incident 42",
        },
        Request::Command {
            command: &f.command,
        },
        Request::Channel {
            channel: &f.channel,
        },
        Request::Channel {
            channel: &unlike_channel,
        },
        Request::File { file: &f.file },
        Request::Http { http: &f.http },
        Request::Kube { kube: &f.kube },
        Request::Kube { kube: &unlike_kube },
    ] {
        kinds.insert(request.kind());
        for session in [&f.session, &api_session] {
            let input = Input {
                identity: &f.identity,
                target: &f.target,
                session,
                request,
                time: &f.time,
                grants: &f.grants,
            };
            same_as_json(&input, &mut builder);
        }
    }
    assert_eq!(
        kinds.len(),
        8,
        "every kind of request is compared: {kinds:?}"
    );
}

/// What schema version 1 policies read is still there, with the same values.
#[test]
fn version_one_names_stay() {
    let f = facts();
    let statement = Request::Statement {
        statement: &f.statement,
        dialect: SqlDialect::Postgresql,
        index: 0,
        count: 1,
        parameters: None,
    };
    let input = Input {
        identity: &f.identity,
        target: &f.target,
        session: &f.session,
        request: statement,
        time: &f.time,
        grants: &f.grants,
    };
    let json = serde_json::to_value(input).unwrap();
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["request"]["action"], "statement");
    assert_eq!(json["request"]["kind"], "sql");
    assert_eq!(json["request"]["dialect"], "postgresql");
    assert_eq!(json["request"]["statement"]["command"], "SET");
    let session = &json["session"];
    assert_eq!(session["search_path"], session["postgres"]["search_path"]);
    assert_eq!(session["settings"], session["postgres"]["settings"]);
    assert_eq!(session["settings"]["datestyle"], "ISO");
    for (request, action) in [
        (Request::Connect, "connect"),
        (
            Request::Command {
                command: &f.command,
            },
            "command",
        ),
        (Request::Kube { kube: &f.kube }, "kube"),
    ] {
        let json = serde_json::to_value(Input { request, ..input }).unwrap();
        assert_eq!(json["request"]["action"], action);
        assert_eq!(json["request"]["kind"], action);
    }
}

#[test]
fn reused_parts_follow_changed_facts() {
    let mut f = facts();
    let mut builder = InputBuilder::default();
    let input = |f: &Facts| {
        let json = serde_json::to_string(&Input {
            identity: &f.identity,
            target: &f.target,
            session: &f.session,
            request: Request::Connect,
            time: &f.time,
            grants: &f.grants,
        })
        .unwrap();
        Value::from_json_str(&json).unwrap()
    };
    let build = |f: &Facts, b: &mut InputBuilder| {
        b.build(&Input {
            identity: &f.identity,
            target: &f.target,
            session: &f.session,
            request: Request::Connect,
            time: &f.time,
            grants: &f.grants,
        })
    };
    assert_eq!(build(&f, &mut builder), input(&f));
    f.identity.name = "mallory".into();
    f.session.postgres_mut().unwrap().search_path = vec!["evil".into()];
    f.grants.clear();
    f.time.hour = 13;
    assert_eq!(build(&f, &mut builder), input(&f));
    f.grants = facts().grants;
    assert_eq!(build(&f, &mut builder), input(&f));
}
