#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! What sluice decides is what PostgreSQL runs, and a session through sluice answers as a
//! direct one would: the same scripts of raw protocol messages, sent directly and through the
//! gateway, get the same answers; a refusal fails the transaction as an error would; the
//! settings that change how the server reads text (standard_conforming_strings,
//! client_encoding) cannot be used to run what the policy never saw, whichever way they are
//! set; the client sees the backend's real process id; a cancel never reaches the next
//! statement; the target's refusals keep their SQLSTATE; startup options are decided, audited
//! and passed on; FunctionCall is decided as a call of the function it names.

mod support;

use std::time::Duration;

use sluice_audit::AuditEvent;
use support::*;

/// Everything is allowed but DELETE and DROP TABLE (rule `no_delete`), so a statement that
/// hides a DELETE behind a literal shows whether the gateway saw it.
const NO_DELETE: &str = r#"package sluice

import rego.v1

default decision := {"allow": true, "rule": "allow_rest", "reasons": ["allowed"]}

decision := {"allow": false, "rule": "no_delete", "reasons": ["DELETE and DROP are denied"]} if {
	input.request.action == "statement"
	input.request.statement.command in {"DELETE", "DROP TABLE"}
}
"#;

/// A gateway enforcing [`NO_DELETE`], with `extra` configuration.
async fn no_delete_gateway(extra: &str) -> (Harness, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("sluice-test-fidelity-")
        .tempdir()
        .unwrap();
    std::fs::write(dir.path().join("decision.rego"), NO_DELETE).unwrap();
    let policy = format!("\n[policy]\ndir = \"{}\"\n{extra}", dir.path().display());
    (Harness::start_with(&policy).await, dir)
}

/// A table of its own for each test that writes, with three rows.
fn fresh_table(name: &str) {
    pg().psql(
        DATABASE,
        &format!(
            "SET ROLE sluice_scram; DROP TABLE IF EXISTS {name};
             CREATE TABLE {name} (id int); INSERT INTO {name} VALUES (1), (2), (3);"
        ),
    )
    .unwrap();
}

fn rows_in(table: &str) -> String {
    pg().psql(DATABASE, &format!("SELECT count(*) FROM {table}"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A raw client logged in directly to the target as the role the gateway uses.
async fn direct() -> (RawClient, Vec<Msg>) {
    direct_with(&[]).await
}

async fn direct_with(params: &[(&str, &str)]) -> (RawClient, Vec<Msg>) {
    let mut c = RawClient::connect(pg().port).await;
    let mut all = vec![("user", "sluice_scram"), ("database", DATABASE)];
    all.extend_from_slice(params);
    c.startup((3, 0), &all).await;
    let greeting = c.login(TARGET_PASSWORD).await.unwrap();
    (c, greeting)
}

/// A raw client logged in through the gateway as alice, with more startup parameters.
async fn through_with(h: &Harness, params: &[(&str, &str)]) -> (RawClient, Vec<Msg>) {
    let mut c = RawClient::connect(h.port()).await;
    let mut all = vec![("user", "alice"), ("database", "app")];
    all.extend_from_slice(params);
    c.startup((3, 0), &all).await;
    let greeting = c.login(h.token("alice")).await.unwrap();
    (c, greeting)
}

/// Sends `messages` in one write and reads up to the `readies`-th ReadyForQuery.
async fn exchange(c: &mut RawClient, messages: &[Vec<u8>], readies: usize) -> Vec<Msg> {
    c.send(&messages.concat()).await;
    let mut seen = Vec::new();
    for _ in 0..readies {
        seen.extend(c.until_ready().await);
    }
    seen
}

/// What a client can tell apart in an answer: message types; for errors and notices the
/// SQLSTATE, position, message (without the prefix that says the gateway answered), detail and
/// hint; for
/// everything else the bytes. Parameter status and key data are left out.
fn shape(messages: &[Msg]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| !matches!(m.tag, b'S' | b'K'))
        .map(|m| match m.tag {
            b'E' | b'N' => format!(
                "{} {} at {:?}: {} (detail {:?}, hint {:?})",
                char::from(m.tag),
                m.sqlstate().unwrap_or_default(),
                m.field(b'P'),
                m.message()
                    .unwrap_or_default()
                    .trim_start_matches("sluice: "),
                m.field(b'D'),
                m.field(b'H'),
            ),
            _ => format!("{m:?}"),
        })
        .collect()
}

fn execute_rows(portal: &str, max_rows: i32) -> Vec<u8> {
    let mut b = portal.as_bytes().to_vec();
    b.push(0);
    b.extend_from_slice(&max_rows.to_be_bytes());
    frontend_msg(b'E', &b)
}

/// Scripts of raw messages, each step sent in one write and answered up to its count of
/// ReadyForQuery messages.
type Script = Vec<(Vec<Vec<u8>>, usize)>;

fn scripts() -> Vec<(&'static str, Script)> {
    let q = |sql: &str| (vec![query_msg(sql)], 1);
    vec![
        (
            "a portal executed in an aborted transaction (pgjdbc's fetch size, asyncpg)",
            vec![
                q("BEGIN"),
                (
                    vec![
                        parse_msg("s1", "SELECT g FROM generate_series(1, 5) g"),
                        bind_msg("p1", "s1", &[]),
                        execute_rows("p1", 2),
                        sync_msg(),
                    ],
                    1,
                ),
                q("SELECT 1/0"),
                (vec![execute_rows("p1", 2), sync_msg()], 1),
                q("COMMIT"),
            ],
        ),
        (
            "a pipeline whose second statement the parser rejects rolls back the first",
            vec![
                q("CREATE TEMP TABLE pipe (i int)"),
                (
                    vec![
                        parse_msg("", "INSERT INTO pipe VALUES (1)"),
                        bind_msg("", "", &[]),
                        execute_msg(""),
                        parse_msg("", "SELEC 1"),
                        bind_msg("", "", &[]),
                        execute_msg(""),
                        sync_msg(),
                    ],
                    1,
                ),
                q("SELECT count(*) FROM pipe"),
            ],
        ),
        (
            "a syntax error in a transaction block fails it; COMMIT rolls back",
            vec![
                q("CREATE TEMP TABLE block (i int)"),
                q("BEGIN"),
                q("INSERT INTO block VALUES (1)"),
                q("SELEC 1"),
                q("INSERT INTO block VALUES (2)"),
                q("COMMIT"),
                q("SELECT count(*) FROM block"),
            ],
        ),
        (
            "parse errors keep their SQLSTATE, message and position",
            [
                "SELECT * FROM WHERE x",
                "SELECT 1 +",
                "SELECT 1; SELECT FROM WHERE",
                "SELECT 'abc",
                "SELECT 'é', 'ü' FROM FROM",
                "SELECT 1\nFROM t WHERE AND x",
                "SELECT $$abc",
                "SELECT /* x",
                "SELECT \"abc",
                "CREATE TABLE (",
                "select * from t where a = = 1",
                // Raised by the grammar's actions, with a position and a hint of their own.
                "SELECT 1 LIMIT 1,2",
                "DROP OPERATOR === (int4)",
                "CREATE POLICY p ON t AS UGLY",
                // A message PostgreSQL 18's parser words otherwise than the 15 server.
                "ALTER TABLE t ADD FOREIGN KEY (a) REFERENCES u NOT VALID DEFERRABLE",
            ]
            .into_iter()
            .map(q)
            .collect(),
        ),
        (
            "bytes invalid in the client encoding are refused as the server refuses them",
            vec![
                (vec![frontend_msg(b'Q', b"SELECT '\xc3\x28'\0")], 1),
                (vec![frontend_msg(b'Q', b"SELECT E'\x95\\\\'\0")], 1),
                q("SELECT 'still here'"),
            ],
        ),
        (
            "escapes the server rejects under standard_conforming_strings off",
            vec![
                q("SET standard_conforming_strings = off"),
                q("SELECT U&'d\\0061t\\+000061'"),
                q("SELECT 'a\\bc', E'x\\'y'"),
                q("RESET standard_conforming_strings"),
            ],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_get_the_same_answers_directly_and_through_sluice() {
    let h = Harness::start().await;
    for (name, script) in scripts() {
        let (mut d, _) = direct().await;
        let (mut s, _) = h.raw_login("alice", "app").await;
        for (i, (messages, readies)) in script.iter().enumerate() {
            let directly = shape(&exchange(&mut d, messages, *readies).await);
            let through = shape(&exchange(&mut s, messages, *readies).await);
            assert_eq!(through, directly, "{name}, step {i}");
        }
        d.send(&terminate_msg()).await;
        s.send(&terminate_msg()).await;
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_statement_fails_the_transaction_as_an_error_would() {
    let (h, _dir) = no_delete_gateway("").await;
    fresh_table("refused_block");

    // Simple protocol: later statements get 25P02 and COMMIT rolls back.
    let (mut c, _) = h.raw_login("alice", "app").await;
    let answers = exchange(
        &mut c,
        &[
            query_msg("BEGIN"),
            query_msg("INSERT INTO refused_block VALUES (4)"),
            query_msg("DELETE FROM refused_block WHERE id = 1"),
            query_msg("INSERT INTO refused_block VALUES (5)"),
            query_msg("COMMIT"),
        ],
        5,
    )
    .await;
    let shapes = shape(&answers);
    let at = |needle: &str| shapes.iter().position(|s| s.contains(needle));
    assert!(at("E 42501") < at("E 25P02"), "{shapes:?}");
    assert!(at("E 25P02") < at("ROLLBACK"), "{shapes:?}");
    assert_eq!(shapes.last().unwrap(), "'Z' \"I\"", "{shapes:?}");
    assert_eq!(rows_in("refused_block"), "3");

    // Extended protocol: a pipeline whose second statement is refused rolls back the first.
    let answers = exchange(
        &mut c,
        &[
            parse_msg("", "INSERT INTO refused_block VALUES (6)"),
            bind_msg("", "", &[]),
            execute_msg(""),
            parse_msg("", "DELETE FROM refused_block WHERE id = 2"),
            bind_msg("", "", &[]),
            execute_msg(""),
            sync_msg(),
        ],
        1,
    )
    .await;
    let shapes = shape(&answers);
    assert!(shapes.iter().any(|s| s.contains("42501")), "{shapes:?}");
    assert_eq!(shapes.last().unwrap(), "'Z' \"I\"", "{shapes:?}");
    assert_eq!(rows_in("refused_block"), "3");

    // An explicit block stays failed after a refused Execute, until ROLLBACK.
    let answers = exchange(
        &mut c,
        &[
            query_msg("BEGIN"),
            parse_msg("", "DELETE FROM refused_block"),
            bind_msg("", "", &[]),
            execute_msg(""),
            sync_msg(),
            query_msg("SELECT 1"),
            query_msg("ROLLBACK"),
            query_msg("SELECT count(*) FROM refused_block"),
        ],
        5,
    )
    .await;
    let shapes = shape(&answers);
    assert!(shapes.iter().any(|s| s.contains("E 25P02")), "{shapes:?}");
    assert!(shapes.iter().any(|s| s.ends_with("\\x013\"")), "{shapes:?}");
    c.send(&terminate_msg()).await;
    h.stop().await;
}

/// One way a client can change a setting: startup parameters, statements sent first, and
/// whether those statements share a write with what follows (so they are still running when
/// the gateway reads it).
struct Way {
    name: &'static str,
    params: Vec<(&'static str, &'static str)>,
    setup: Vec<&'static str>,
    pipelined: bool,
}

fn way(
    name: &'static str,
    params: Vec<(&'static str, &'static str)>,
    setup: Vec<&'static str>,
    pipelined: bool,
) -> Way {
    Way {
        name,
        params,
        setup,
        pipelined,
    }
}

/// Logs in through the gateway the way `way` says, changes the setting, sends `attack` (a
/// Query's text bytes) and returns the answers' shapes and the session.
async fn attempt(h: &Harness, way: &Way, attack: &[u8]) -> (Vec<String>, RawClient) {
    let (mut c, _) = through_with(h, &way.params).await;
    let mut messages: Vec<Vec<u8>> = way.setup.iter().map(|s| query_msg(s)).collect();
    if !way.pipelined {
        exchange(&mut c, &messages, messages.len()).await;
        messages.clear();
    }
    let mut body = attack.to_vec();
    body.push(0);
    messages.push(frontend_msg(b'Q', &body));
    let answers = exchange(&mut c, &messages, messages.len()).await;
    (shape(&answers), c)
}

/// `SELECT 'a\'' ; DELETE ...`: one SELECT when backslashes do not escape, a SELECT, a DELETE
/// and a DROP when they do.
const BACKSLASH_ATTACK: &str = "SELECT 'a\\'' ; DELETE FROM scs_target; DROP TABLE scs_target; --'";

/// Every way to turn standard_conforming_strings off that a client has, each followed by the
/// attack: none deletes a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_conforming_strings_off_cannot_hide_a_statement() {
    pg().psql(
        "postgres",
        "DROP ROLE IF EXISTS fid_scs_off;
         CREATE ROLE fid_scs_off LOGIN PASSWORD 'target-secret-7f3a' IN ROLE sluice_scram;
         ALTER ROLE fid_scs_off SET standard_conforming_strings = off;",
    )
    .unwrap();
    let extra = format!(
        "\n[[targets]]\nname = \"scs-off\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\n\
         port = {}\ndatabase = \"app\"\nuser = \"fid_scs_off\"\n\
         password_env = \"SLUICE_TEST_FIDELITY_PASSWORD\"\ntls = \"disable\"\n",
        pg().port
    );
    std::env::set_var("SLUICE_TEST_FIDELITY_PASSWORD", TARGET_PASSWORD);
    let (h, _dir) = no_delete_gateway(&extra).await;
    let set = "SET standard_conforming_strings = off";
    let ways = [
        way("SET, then the attack", vec![], vec![set], false),
        way("SET and the attack in one write", vec![], vec![set], true),
        way(
            "set_config()",
            vec![],
            vec!["SELECT set_config('standard_conforming_strings', 'off', false)"],
            false,
        ),
        way(
            "SET LOCAL in a transaction",
            vec![],
            vec!["BEGIN", "SET LOCAL standard_conforming_strings = off"],
            false,
        ),
        way(
            "PGOPTIONS",
            vec![("options", "-c standard_conforming_strings=off")],
            vec![],
            false,
        ),
        way(
            "a startup parameter",
            vec![("standard_conforming_strings", "off")],
            vec![],
            false,
        ),
    ];
    for way in &ways {
        fresh_table("scs_target");
        let (shapes, mut c) = attempt(&h, way, BACKSLASH_ATTACK.as_bytes()).await;
        assert!(
            shapes
                .iter()
                .any(|s| s.contains("42501") || s.contains("22P06")),
            "{}: {shapes:?}",
            way.name
        );
        assert_eq!(
            rows_in("scs_target"),
            "3",
            "{}: a row was deleted",
            way.name
        );
        c.send(&terminate_msg()).await;
    }

    // ALTER ROLE ... SET: the session starts with it off, and the gateway reads as the server.
    fresh_table("scs_target");
    let mut c = RawClient::connect(h.port()).await;
    c.startup((3, 0), &[("user", "alice"), ("database", "scs-off")])
        .await;
    c.login(h.token("alice")).await.unwrap();
    let shapes = shape(&exchange(&mut c, &[query_msg(BACKSLASH_ATTACK)], 1).await);
    assert!(shapes.iter().any(|s| s.contains("no_delete")), "{shapes:?}");
    // The same bytes that hide a DELETE when backslashes do not escape are one literal here.
    let benign = "SELECT 'x\\'; DELETE FROM scs_target; --'";
    let shapes = shape(&exchange(&mut c, &[query_msg(benign)], 1).await);
    assert!(shapes.iter().any(|s| s.starts_with("'D'")), "{shapes:?}");
    assert_eq!(rows_in("scs_target"), "3");
    c.send(&terminate_msg()).await;
    h.stop().await;
}

/// `SELECT E'\x95\\' ; DELETE ...` under SJIS: 0x95 0x5c is one character, so the literal
/// ends at the second quote and the DELETE runs. Also a variant valid as UTF-8 (0xc3 0x81
/// then a backslash: under SJIS 0x81 starts a character that takes the backslash).
const SJIS_ATTACK: &[u8] = b"SELECT E'\x95\\\\' ; DELETE FROM sjis_target; --'";
const SJIS_UTF8_ATTACK: &[u8] = b"SELECT E'\xc3\x81\\' ; DELETE FROM sjis_target; --'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_only_encodings_cannot_hide_a_statement() {
    pg().psql(
        "postgres",
        "DROP ROLE IF EXISTS fid_sjis;
         CREATE ROLE fid_sjis LOGIN PASSWORD 'target-secret-7f3a' IN ROLE sluice_scram;
         ALTER ROLE fid_sjis SET client_encoding = 'SJIS';",
    )
    .unwrap();
    std::env::set_var("SLUICE_TEST_FIDELITY_PASSWORD", TARGET_PASSWORD);
    let (h, _dir) = no_delete_gateway(&format!(
        "\n[[targets]]\nname = \"sjis-role\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\n\
         port = {}\ndatabase = \"app\"\nuser = \"fid_sjis\"\n\
         password_env = \"SLUICE_TEST_FIDELITY_PASSWORD\"\ntls = \"disable\"\n",
        pg().port
    ))
    .await;
    let set = "SET client_encoding = 'SJIS'";
    let set_config = "SELECT set_config('client_encoding', 'SJIS', false)";
    let ways = [
        way("SET client_encoding", vec![], vec![set], false),
        way("SET NAMES", vec![], vec!["SET NAMES 'SJIS'"], false),
        way("set_config()", vec![], vec![set_config], false),
        way("SET and the attack in one write", vec![], vec![set], true),
        way(
            "set_config() and the attack in one write",
            vec![],
            vec![set_config],
            true,
        ),
        way(
            "a startup parameter",
            vec![("client_encoding", "SJIS")],
            vec![],
            false,
        ),
        way(
            "PGOPTIONS",
            vec![("options", "-c client_encoding=SJIS")],
            vec![],
            false,
        ),
    ];
    for way in &ways {
        for attack in [SJIS_ATTACK, SJIS_UTF8_ATTACK] {
            fresh_table("sjis_target");
            let (shapes, mut c) = attempt(&h, way, attack).await;
            assert!(
                shapes
                    .iter()
                    .any(|s| s.contains("0A000") || s.contains("42501")),
                "{}: {shapes:?}",
                way.name
            );
            assert_eq!(
                rows_in("sjis_target"),
                "3",
                "{}: a row was deleted",
                way.name
            );
            // Plain ASCII reads the same under every encoding and still runs.
            let shapes = shape(&exchange(&mut c, &[query_msg("SELECT 'ascii'")], 1).await);
            assert!(
                shapes.iter().any(|s| s.starts_with("'D'")),
                "{}: {shapes:?}",
                way.name
            );
            c.send(&terminate_msg()).await;
        }
    }

    // ALTER ROLE ... SET: the session starts in SJIS, as the target announces at login.
    fresh_table("sjis_target");
    let mut c = RawClient::connect(h.port()).await;
    c.startup((3, 0), &[("user", "alice"), ("database", "sjis-role")])
        .await;
    c.login(h.token("alice")).await.unwrap();
    let mut attack = SJIS_ATTACK.to_vec();
    attack.push(0);
    let shapes = shape(&exchange(&mut c, &[frontend_msg(b'Q', &attack)], 1).await);
    assert!(shapes.iter().any(|s| s.contains("0A000")), "{shapes:?}");
    assert_eq!(rows_in("sjis_target"), "3");
    c.send(&terminate_msg()).await;

    // An encoding the analysis follows: the audit holds the text the server read.
    let (mut c, _) = through_with(&h, &[("client_encoding", "LATIN1")]).await;
    let latin1 = frontend_msg(b'Q', b"SELECT 'caf\xe9' AS latin1_text\0");
    let shapes = shape(&exchange(&mut c, &[latin1], 1).await);
    assert!(shapes.iter().any(|s| s.contains("caf\\xe9")), "{shapes:?}");
    c.send(&terminate_msg()).await;
    let texts = h.audited_statements().await;
    assert!(
        texts.iter().any(|t| t == "SELECT 'café' AS latin1_text"),
        "{texts:?}"
    );
    assert!(!texts.iter().any(|t| t.contains('\u{fffd}')), "{texts:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_sees_the_backends_real_process_id() {
    let h = Harness::start().await;
    let (mut c, greeting) = h.raw_login("alice", "app").await;
    let key = greeting.iter().find(|m| m.tag == b'K').unwrap();
    let pid = i32::from_be_bytes(key.body[..4].try_into().unwrap());
    let answers = exchange(
        &mut c,
        &[
            query_msg("SELECT pg_backend_pid()"),
            query_msg("LISTEN fidelity; NOTIFY fidelity, 'hi'"),
        ],
        2,
    )
    .await;
    let row = answers.iter().find(|m| m.tag == b'D').unwrap();
    assert!(
        row.body.ends_with(pid.to_string().as_bytes()),
        "{row:?} vs {pid}"
    );
    let note = answers.iter().find(|m| m.tag == b'A').unwrap();
    assert_eq!(i32::from_be_bytes(note.body[..4].try_into().unwrap()), pid);

    // A pool's health logic ends a session by its process id.
    let (mut other, _) = h.raw_login("alice", "app").await;
    let shapes = shape(
        &exchange(
            &mut other,
            &[query_msg(&format!("SELECT pg_terminate_backend({pid})"))],
            1,
        )
        .await,
    );
    assert!(
        shapes
            .iter()
            .any(|s| s.starts_with("'D'") && s.ends_with("t\"")),
        "{shapes:?}"
    );
    let ended = c.expect_closed(Duration::from_secs(5)).await;
    assert!(
        ended
            .iter()
            .any(|m| m.sqlstate().as_deref() == Some("57P01")),
        "{ended:?}"
    );
    h.stop().await;
}

/// Sends a CancelRequest and returns once the gateway closed the connection, as libpq waits.
async fn cancel(port: u16, pid: i32, secret: &[u8]) {
    let mut payload = pid.to_be_bytes().to_vec();
    payload.extend_from_slice(secret);
    let mut c = RawClient::connect(port).await;
    c.send(&startup_packet(
        sluice_pgwire::startup::CANCEL_REQUEST_CODE,
        &payload,
    ))
    .await;
    c.expect_closed(Duration::from_secs(10)).await;
}

/// A client cancels a statement that may already be finishing (as a driver whose timeout
/// fired does), waits for the cancel connection to close and for the statement's end, then
/// runs the next: how many of those next statements were cancelled.
async fn cancels_landing_on_the_next_statement(port: u16, mut c: RawClient, key: &Msg) -> usize {
    let pid = i32::from_be_bytes(key.body[..4].try_into().unwrap());
    let secret = key.body[4..].to_vec();
    let mut hit = 0;
    for _ in 0..40 {
        c.send(&query_msg("SELECT 1")).await;
        cancel(port, pid, &secret).await;
        c.until_ready().await;
        let next = exchange(&mut c, &[query_msg("SELECT pg_sleep(0.01)")], 1).await;
        hit += usize::from(next.iter().any(|m| m.tag == b'E'));
    }
    hit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_never_lands_on_the_next_statement() {
    let h = Harness::start().await;
    let (c, greeting) = direct().await;
    let key = greeting.iter().find(|m| m.tag == b'K').unwrap().clone();
    let directly = cancels_landing_on_the_next_statement(pg().port, c, &key).await;
    let (c, greeting) = h.raw_login("alice", "app").await;
    let key = greeting.iter().find(|m| m.tag == b'K').unwrap().clone();
    let through = cancels_landing_on_the_next_statement(h.port(), c, &key).await;
    assert_eq!((through, directly), (0, 0));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_targets_refusals_keep_their_sqlstate() {
    pg().psql(
        "postgres",
        "DROP ROLE IF EXISTS fid_limited;
         CREATE ROLE fid_limited LOGIN PASSWORD 'target-secret-7f3a' CONNECTION LIMIT 0;",
    )
    .unwrap();
    std::env::set_var("SLUICE_TEST_FIDELITY_PASSWORD", TARGET_PASSWORD);
    let target = |name: &str, user: &str, database: &str| {
        format!(
            "\n[[targets]]\nname = \"{name}\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\n\
             port = {}\ndatabase = \"{database}\"\nuser = \"{user}\"\n\
             password_env = \"SLUICE_TEST_FIDELITY_PASSWORD\"\ntls = \"disable\"\n",
            pg().port
        )
    };
    let h = Harness::start_with(
        &(target("too-many", "fid_limited", "app")
            + &target("no-db", "sluice_scram", "no_such_db")),
    )
    .await;
    for (target, code) in [
        ("too-many", "53300"),
        ("no-db", "3D000"),
        ("app-wrong-password", "28P01"),
    ] {
        let mut c = RawClient::connect(h.port()).await;
        c.startup((3, 0), &[("user", "alice"), ("database", target)])
            .await;
        let refused = c.login(h.token("alice")).await.unwrap_err();
        assert_eq!(
            refused.sqlstate().as_deref(),
            Some(code),
            "{target}: {refused:?}"
        );
        let message = refused.message().unwrap();
        assert!(message.starts_with("sluice: "), "{message}");
        assert!(
            !message.contains("fid_limited") && !message.contains("sluice_scram"),
            "{message}"
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_options_are_decided_audited_and_passed_on() {
    let h = Harness::start().await;
    let out = std::process::Command::new("psql")
        .arg("-X")
        .arg(h.url("alice", "app"))
        .args([
            "-At",
            "-c",
            "SHOW intervalstyle",
            "-c",
            "SHOW client_min_messages",
        ])
        .env(
            "PGOPTIONS",
            "-c intervalstyle=postgres_verbose --client-min-messages=warning",
        )
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        "postgres_verbose\nwarning\n",
        "{}",
        stderr(&out)
    );
    let started = h
        .audit()
        .await
        .into_iter()
        .find_map(|r| match r.event {
            AuditEvent::SessionStarted { settings, .. } => Some(settings),
            _ => None,
        })
        .unwrap();
    assert_eq!(started.get("intervalstyle").unwrap(), "postgres_verbose");
    assert_eq!(started.get("client_min_messages").unwrap(), "warning");

    // Replication stays refused, and so does an option that is not a setting.
    for params in [vec![("replication", "database")], vec![("options", "-F")]] {
        let mut c = RawClient::connect(h.port()).await;
        let mut all = vec![("user", "alice"), ("database", "app")];
        all.extend(params);
        c.startup((3, 0), &all).await;
        assert!(c.login(h.token("alice")).await.is_err());
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_call_is_decided_as_a_call_of_the_function_it_names() {
    let (h, _dir) = no_delete_gateway("").await;
    let (mut c, _) = h.raw_login("alice", "app").await;
    // FunctionCall: abs(int4) is OID 1397; one text argument "-5", text result.
    let mut body = 1397i32.to_be_bytes().to_vec();
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&2i32.to_be_bytes());
    body.extend_from_slice(b"-5");
    body.extend_from_slice(&0i16.to_be_bytes());
    let answer = exchange(&mut c, &[frontend_msg(b'F', &body)], 1).await;
    let tags: Vec<char> = answer.iter().map(|m| char::from(m.tag)).collect();
    assert_eq!(tags, vec!['V', 'Z'], "{answer:?}");
    assert!(answer[0].body.ends_with(b"5"));

    // An OID that names no function is refused as the server would refuse it.
    let mut missing = 4_000_000_000u32.to_be_bytes().to_vec();
    missing.extend_from_slice(&body[4..]);
    let answer = exchange(&mut c, &[frontend_msg(b'F', &missing)], 1).await;
    assert_eq!(answer[0].sqlstate().as_deref(), Some("42883"), "{answer:?}");
    c.send(&terminate_msg()).await;

    let texts = h.audited_statements().await;
    assert!(
        texts
            .iter()
            .any(|t| t == "SELECT \"pg_catalog\".\"abs\"($1)"),
        "{texts:?}"
    );
    h.stop().await;
}
