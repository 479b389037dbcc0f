//! The proof types of the enforcement sequence, exercised on a real gateway (store, audit
//! trail and policy on disk, a token issued and verified as `sluice token create` and a client
//! login do it): permits audit themselves when dropped, a finished permit is audited once, and
//! bytes reach a target's writer only with a seal of the same session that accounts for them.
//!
//! No target is contacted: sessions are opened and requests admitted without connecting
//! upstream, and the "target" is a `Vec<u8>` the session's `UpstreamWriter` writes into.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_audit::{AuditEvent, AuditRecord, SearchFilter};
use sluice_core::config::Config;
use sluice_core::gateway::unix_now;
use sluice_core::policy::PolicyState;
use sluice_core::token::{self, SALT_LEN};
use sluice_core::{Admission, Ask, AuditBatch, Gateway, Outcome, Session, SessionRequest};
use sluice_sql::Lexing;
use sluice_store::{SqliteStore, Store};

/// A gateway built the way `sluice run` builds one, in a temporary data directory.
struct Fixture {
    gateway: Gateway,
    /// The token secret `alice` logs in with.
    token: String,
    /// Kept alive so the data directory outlives the gateway.
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn start() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("sluice-proofs-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        // The target's port is never connected to: the tests stop before any upstream login.
        let text = format!(
            r#"
[gateway]
data_dir = "{data}"

[[identities]]
name = "alice"
kind = "human"

[[targets]]
name = "app"
kind = "postgres"
host = "127.0.0.1"
port = 5432
database = "app"
user = "app"
tls = "disable"

[policy]
builtin = "allow-all"
"#,
            data = data.display()
        );
        let config = Config::parse(&text).unwrap();
        std::fs::create_dir_all(&config.gateway.data_dir).unwrap();

        // As `sluice token create` does: the identity's salt, then a token issued with it.
        let store = SqliteStore::open(&config.store_path()).await.unwrap();
        let candidate: [u8; SALT_LEN] = rand::random();
        let salt = store.identity_salt("alice", &candidate).await.unwrap();
        let issued = token::issue("alice", &salt, unix_now(), None, Default::default());
        store.insert_token(&issued.record).await.unwrap();

        // Strict durability: a committed record is on disk, so reading the file back right
        // after a seal or flush sees it.
        let audit =
            sluice_audit::AuditLog::open(&config.audit_path(), sluice_audit::Durability::Strict)
                .unwrap();
        let policy = PolicyState::load(&config.policy).unwrap();
        let gateway = Gateway::new(config, Arc::new(store), audit, policy, rand::random()).unwrap();
        Fixture {
            gateway,
            token: issued.secret.expose().to_owned(),
            _dir: dir,
        }
    }

    /// Identifies with the token and opens a session on `app`, as a client login does.
    async fn open(&self) -> Session {
        let auth = self
            .gateway
            .credentials("alice", "127.0.0.1:1")
            .await
            .unwrap()
            .verify_password(self.token.as_bytes())
            .expect("the issued token verifies");
        Session::open(
            &self.gateway,
            auth,
            SessionRequest {
                client_addr: "127.0.0.1:40000".to_owned(),
                target: "app",
                protocol: "postgres",
                tls: false,
                application_name: None,
                settings: BTreeMap::new(),
            },
        )
        .await
        .map_err(|r| r.reason)
        .unwrap()
    }

    /// Every record of `session` in the trail, read back from the file after writing out
    /// whatever is still only appended (a statement's result rides with the next commit).
    async fn trail(&self, session: &Session) -> Vec<AuditRecord> {
        let audit = self.gateway.audit();
        audit.flush().await.unwrap();
        let filter = SearchFilter {
            session: Some(session.id().to_owned()),
            ..SearchFilter::default()
        };
        sluice_audit::search(audit.path(), &filter).unwrap()
    }
}

/// Admits `text` under the allow-all policy and returns its permit.
fn admit(session: &Session, batch: &mut AuditBatch, text: &str) -> sluice_core::StatementPermit {
    match session
        .admit(
            batch,
            Ask::Sql {
                text,
                lexing: Lexing::Standard,
            },
        )
        .unwrap()
    {
        Admission::Allowed(permit) => permit,
        other => panic!("allow-all admits {text}, got {other:?}"),
    }
}

/// The StatementResult events of statement `number`.
fn results(trail: &[AuditRecord], number: u64) -> Vec<&AuditEvent> {
    trail
        .iter()
        .map(|r| &r.event)
        .filter(
            |e| matches!(e, AuditEvent::StatementResult { statement, .. } if *statement == number),
        )
        .collect()
}

#[tokio::test]
async fn a_permit_dropped_unfinished_is_audited_as_interrupted() {
    let fx = Fixture::start().await;
    let session = fx.open().await;
    let mut batch = AuditBatch::default();
    let permit = admit(&session, &mut batch, "SELECT 1");
    let number = permit.number();
    let sealed = session.seal(&mut batch).await.unwrap();
    assert_eq!(sealed.records(), 1);
    // A relay that loses the permit (a cancelled future, an early return) does only this.
    drop(permit);

    let trail = fx.trail(&session).await;
    let found = results(&trail, number);
    assert_eq!(
        found.len(),
        1,
        "one result record for the statement: {found:?}"
    );
    let AuditEvent::StatementResult {
        outcome,
        command_tag,
        rows,
        ..
    } = found[0]
    else {
        unreachable!()
    };
    assert!(
        matches!(outcome, sluice_audit::Outcome::Interrupted { .. }),
        "outcome: {outcome:?}"
    );
    assert_eq!(command_tag, &None);
    assert_eq!(rows, &None);
}

#[tokio::test]
async fn a_finished_permit_is_audited_once_with_its_outcome() {
    let fx = Fixture::start().await;
    let session = fx.open().await;
    let mut batch = AuditBatch::default();
    let permit = admit(&session, &mut batch, "SELECT 1");
    let number = permit.number();
    let sealed = session.seal(&mut batch).await.unwrap();
    assert_eq!(sealed.records(), 1);
    session.finish(permit, Outcome::ok("SELECT 1", Some(1)));

    let trail = fx.trail(&session).await;
    let found = results(&trail, number);
    // Consuming the permit must disarm its drop: a second, interrupted record would say the
    // statement may not have completed when it did.
    assert_eq!(found.len(), 1, "exactly one result record: {found:?}");
    let AuditEvent::StatementResult {
        outcome,
        command_tag,
        rows,
        ..
    } = found[0]
    else {
        unreachable!()
    };
    assert_eq!(outcome, &sluice_audit::Outcome::Ok);
    assert_eq!(command_tag.as_deref(), Some("SELECT 1"));
    assert_eq!(rows, &Some(1));
}

#[tokio::test]
async fn an_empty_undeclared_seal_forwards_nothing() {
    let fx = Fixture::start().await;
    let session = fx.open().await;
    let mut target: Vec<u8> = Vec::new();
    {
        let mut upstream = session.upstream_writer(&mut target);
        let sealed = session.seal(&mut AuditBatch::default()).await.unwrap();
        assert_eq!(sealed.records(), 0);
        let mut forwarding = upstream.forwarding(sealed);
        // Empty parts carry nothing, so they need no accounting (a batch may end empty).
        forwarding.write(b"").await.unwrap();
        // Bytes with no record and no declaration could be a request nobody audited.
        let refused = forwarding.write(b"Q\0\0\0\rSELECT 1\0").await;
        assert!(refused.is_err(), "unaccounted bytes must be refused");
        forwarding.write(b"").await.unwrap();
        forwarding.finish().await.unwrap();
    }
    assert!(target.is_empty(), "nothing reached the target: {target:?}");
}

#[tokio::test]
async fn a_declared_or_recorded_seal_forwards_in_order() {
    let fx = Fixture::start().await;
    let session = fx.open().await;
    let mut target: Vec<u8> = Vec::new();
    {
        let mut upstream = session.upstream_writer(&mut target);

        // Request-free bytes (a Sync, say): the declaration alone accounts for them.
        let mut batch = AuditBatch::default();
        batch.carries_no_request();
        let sealed = session.seal(&mut batch).await.unwrap();
        assert_eq!(sealed.records(), 0);
        let mut forwarding = upstream.forwarding(sealed);
        forwarding.write(b"S\0\0\0\x04").await.unwrap();
        forwarding.finish().await.unwrap();

        // The seal used the declaration up: the same batch sealed again accounts for nothing.
        let again = session.seal(&mut batch).await.unwrap();
        let mut forwarding = upstream.forwarding(again);
        assert!(forwarding.write(b"S\0\0\0\x04").await.is_err());
        forwarding.finish().await.unwrap();

        // A request whose record the seal made durable; its parts go out in order.
        let mut batch = AuditBatch::default();
        let permit = admit(&session, &mut batch, "SELECT 1");
        let sealed = session.seal(&mut batch).await.unwrap();
        assert_eq!(sealed.records(), 1);
        let mut forwarding = upstream.forwarding(sealed);
        forwarding.write(b"Q\0\0\0\r").await.unwrap();
        forwarding.write(b"").await.unwrap();
        forwarding.write(b"SELECT 1\0").await.unwrap();
        forwarding.finish().await.unwrap();
        session.finish(permit, Outcome::ok("SELECT 1", Some(1)));
    }
    assert_eq!(target, b"S\0\0\0\x04Q\0\0\0\rSELECT 1\0".to_vec());
}

#[tokio::test]
async fn a_seal_of_another_session_is_refused() {
    let fx = Fixture::start().await;
    let a = fx.open().await;
    let b = fx.open().await;
    let mut target: Vec<u8> = Vec::new();
    {
        let mut b_upstream = b.upstream_writer(&mut target);

        // A's declaration speaks for A's bytes only.
        let mut batch = AuditBatch::default();
        batch.carries_no_request();
        let sealed = a.seal(&mut batch).await.unwrap();
        let mut forwarding = b_upstream.forwarding(sealed);
        assert!(forwarding.write(b"S\0\0\0\x04").await.is_err());
        forwarding.finish().await.unwrap();

        // So does A's audit record: it names A's session, not B's.
        let mut batch = AuditBatch::default();
        let permit = admit(&a, &mut batch, "SELECT 1");
        let sealed = a.seal(&mut batch).await.unwrap();
        assert_eq!(sealed.records(), 1);
        let mut forwarding = b_upstream.forwarding(sealed);
        assert!(forwarding.write(b"Q\0\0\0\rSELECT 1\0").await.is_err());
        forwarding.finish().await.unwrap();
        a.finish(permit, Outcome::not_executed("never forwarded"));
    }
    assert!(target.is_empty(), "nothing reached B's target: {target:?}");
}

#[tokio::test]
async fn a_request_of_another_kind_goes_through_the_same_admission() {
    let fx = Fixture::start().await;
    let session = fx.open().await;
    let mut batch = AuditBatch::default();
    let command = sluice_decision::ShellCommand {
        text: "uptime".to_owned(),
        programs: vec!["uptime".to_owned()],
        argv: vec!["uptime".to_owned()],
        commands: vec![sluice_decision::SimpleCommand {
            program: "uptime".to_owned(),
            name: "uptime".to_owned(),
            argv: vec!["uptime".to_owned()],
            wrappers: vec![],
            shell_depth: 0,
        }],
        unresolved: vec![],
        interactive: false,
        parsed: true,
    };
    let admitted = session
        .admit(
            &mut batch,
            Ask::Request {
                request: sluice_decision::Request::Command { command: &command },
                summary: "exec uptime",
            },
        )
        .unwrap();
    let Admission::Allowed(permit) = admitted else {
        panic!("allow-all admits a command: {admitted:?}")
    };
    let number = permit.number();
    // Its record is in the batch like a statement's, so its bytes may go once sealed.
    assert_eq!(session.seal(&mut batch).await.unwrap().records(), 1);
    session.finish(permit, Outcome::ok("exit 0", None));

    let trail = fx.trail(&session).await;
    let asked = trail.iter().find_map(|r| match &r.event {
        AuditEvent::Statement {
            statement, text, ..
        } if *statement == number => Some(text.clone()),
        _ => None,
    });
    assert_eq!(asked.as_deref(), Some("exec uptime"));
    assert_eq!(results(&trail, number).len(), 1);
}

#[tokio::test]
async fn kinds_with_entries_of_their_own_are_refused_as_requests() {
    let fx = Fixture::start().await;
    let session = fx.open().await;
    let mut batch = AuditBatch::default();
    let admitted = session
        .admit(
            &mut batch,
            Ask::Request {
                request: sluice_decision::Request::Connect,
                summary: "connect again",
            },
        )
        .unwrap();
    let Admission::Denied(denial) = admitted else {
        panic!("a connect is not a request of its own: {admitted:?}")
    };
    assert_eq!(denial.rule, "sluice.request_kind");
    // Refused, and audited like any refusal.
    assert_eq!(session.seal(&mut batch).await.unwrap().records(), 2);
}
