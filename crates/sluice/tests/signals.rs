#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The five self-reflection signals (docs/signals.md) from real traffic: psql sessions decided
//! by the example policy and masked by its mask rules, holds and access requests reviewed
//! through the admin API, a recording altered on disk, three gateways on one store of which
//! one enforces another policy, and the policy directory in a git repository. Every figure
//! is read back from `GET /signals?refresh=true`, `/metrics`, the webhook receiver and the
//! real `sluice report`.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use sluice_audit::AuditEvent;
use support::api::{http, raw_get, webhook_receiver};
use support::cluster::Cluster;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// The report's keys, in its order.
const SIGNALS: [&str; 5] = [
    "policy_drift",
    "approval_latency",
    "masking_effectiveness",
    "audit_completeness",
    "access_churn",
];

/// People the example policy knows by group (examples/policies/groups.rego), besides the
/// harness's alice (`dba`: a reviewer, with no grant to run statements) and ci.
const PEOPLE: [(&str, &str); 5] = [
    ("rita", r#"["developers"]"#),
    ("dana", r#"["dba"]"#),
    ("otto", r#"["analysts"]"#),
    ("pia", r#"["analysts", "pii_readers"]"#),
    ("adam", r#"["admins"]"#),
];

/// Computed only on request, every session sampled, no periodic verify.
const SIGNALS_ON_REQUEST: &str =
    "[signals]\ninterval = \"0s\"\nsample_fraction = 1.0\nverify_interval = \"0s\"\n";

/// A value no detector matches, in a column named like personal data.
const BACKUP_PHONE: &str = "ask for the night desk";
/// A value the email detector matches.
const EMAIL: &str = "pia.contact@example.org";

/// A gateway enforcing a copy of the example policies, with a production target `prod` (the
/// same database as `app`), the people above, and tokens for all of them.
struct Signals {
    h: Harness,
    admin: String,
    policies: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Signals {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.h
    }
}

impl Signals {
    /// `prepare` may change the policy copy (put it in a repository) before the gateway loads it.
    async fn start(extra: &str, prepare: impl FnOnce(&Path)) -> Signals {
        let dir = tempfile::Builder::new()
            .prefix("sluice-signals-")
            .tempdir()
            .unwrap();
        let policies = copy_example_policies(dir.path());
        prepare(&policies);
        let mut people = String::new();
        for (who, groups) in PEOPLE {
            people.push_str(&format!(
                "\n[[identities]]\nname = \"{who}\"\nkind = \"human\"\ngroups = {groups}\n"
            ));
        }
        let extra = extra.to_owned();
        let policy_dir = policies.display().to_string();
        let mut h = Harness::start_with_config(move |text| {
            let password_file = text
                .lines()
                .find(|l| l.starts_with("password_file = "))
                .unwrap()
                .to_owned();
            let prod = format!(
                "\n[[targets]]\nname = \"prod\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\n\
                 port = {}\ndatabase = \"app\"\nuser = \"sluice_scram\"\n{password_file}\n\
                 tls = \"disable\"\ntags = {{ environment = \"production\" }}\n",
                pg().port
            );
            text + &prod
                + &people
                + &format!("\n[policy]\ndir = \"{policy_dir}\"\nwatch = false\n\n{extra}\n")
        })
        .await;
        h.add_tokens(&PEOPLE.map(|(who, _)| who)).await;
        let admin = h.admin_url();
        Signals {
            h,
            admin,
            policies,
            _dir: dir,
        }
    }

    /// One admin API call as `who`: status and JSON body.
    async fn api(&self, who: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        http(&self.admin, method, path, Some(self.token(who)), body).await
    }

    /// A report computed now.
    async fn report(&self) -> Value {
        report(&self.admin, self.token("dana")).await
    }

    /// Fresh reports until `check` accepts one (at most `wait`).
    async fn report_when(&self, wait: Duration, check: impl Fn(&Value) -> bool) -> Value {
        report_when(&self.admin, self.token("dana"), wait, check).await
    }

    /// Waits for the pending review `requester` asked for and returns it.
    async fn pending_review(&self, requester: &str) -> Value {
        poll_until(Duration::from_secs(10), || async {
            let (status, body) = self.api("dana", "GET", "/reviews", None).await;
            assert_eq!(status, 200, "{body}");
            body["reviews"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["requester"] == requester)
                .cloned()
        })
        .await
        .unwrap_or_else(|| panic!("no review of {requester} was opened"))
    }

    /// `who` asks for `scope` on `target` for `duration` and dana approves: the grant's id.
    async fn granted(&self, who: &str, target: &str, scope: &str, duration: &str) -> String {
        let request =
            json!({"target": target, "duration": duration, "scope": scope, "reason": "signals"});
        let (code, body) = self.api(who, "POST", "/access", Some(request)).await;
        assert_eq!(code, 202, "{body}");
        let id = body["review"]["id"].as_str().unwrap();
        let (code, body) = self
            .api("dana", "POST", &format!("/reviews/{id}/approve"), None)
            .await;
        assert_eq!(code, 200, "{body}");
        body["grant"].as_str().unwrap().to_owned()
    }

    /// `sluice report ARGS` as dana, the real binary against the admin API.
    async fn cli_report(&self, args: &[&str]) -> Output {
        cli_report(&self.admin, self.token("dana"), args).await
    }
}

/// `sluice report ARGS` with `token`: the real binary against the admin API at `admin`.
async fn cli_report(admin: &str, token: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .arg("report")
        .args(args)
        .args(["--server", admin])
        .env("SLUICE_TOKEN", token)
        .output()
        .await
        .unwrap()
}

/// `GET /signals?refresh=true` with `token`.
async fn report(admin: &str, token: &str) -> Value {
    let (status, body) = http(admin, "GET", "/signals?refresh=true", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Fresh reports until `check` accepts one (at most `wait`); fails showing the last.
async fn report_when(
    admin: &str,
    token: &str,
    wait: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let last = std::sync::Mutex::new(Value::Null);
    let found = poll_until(wait, || async {
        let r = report(admin, token).await;
        let ok = check(&r);
        *last.lock().unwrap() = r.clone();
        ok.then_some(r)
    })
    .await;
    found.unwrap_or_else(|| {
        panic!(
            "no report within {wait:?} met the condition; the last:\n{:#}",
            last.lock().unwrap()
        )
    })
}

fn both(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn status(r: &Value, signal: &str) -> String {
    r[signal]["health"]["status"].as_str().unwrap().to_owned()
}

/// One gateway's traffic through the example policy, in phases that each leave the figures
/// the next one asserts on known: policy drift without a repository (dead rules, default
/// denies), masking effectiveness, approval latency, access churn; then /metrics, the
/// webhook and `sluice report` over the same gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gateways_traffic_gives_every_signal_its_figures() {
    let (hook, hooked) = webhook_receiver().await;
    let s = Signals::start(
        &format!(
            "{SIGNALS_ON_REQUEST}\n[signals.thresholds]\npending_age = \"1s\"\n\n\
             [[webhooks]]\nurl = \"{hook}\"\nevents = [\"signal.firing\", \"signal.resolved\"]\n"
        ),
        |_| {},
    )
    .await;
    // A column added after the mask rules were written: named like personal data, holding
    // values no detector matches. Next to it an email, which the detectors do catch.
    pg().psql(
        DATABASE,
        &format!(
            "SET ROLE sluice_scram; DROP TABLE IF EXISTS signals_contacts;\n\
             CREATE TABLE signals_contacts (id int PRIMARY KEY, backup_phone text, email text);\n\
             INSERT INTO signals_contacts VALUES (1, '{BACKUP_PHONE}', '{EMAIL}');"
        ),
    )
    .unwrap();
    // A credential made and never shown.
    sluice::token_cmd::create(&s.config, "no-tokens", None)
        .await
        .unwrap();

    // ---- Policy drift without a repository; masking effectiveness ----
    // alice is only a reviewer: no rule lets her read, so the default deny decides.
    let out = s.psql(
        "alice",
        "app",
        &[
            "-c",
            "SELECT name FROM items WHERE id = 1",
            "-c",
            "select  name from items where id = 2",
        ],
    );
    assert_eq!(
        stderr(&out).matches("default_deny").count(),
        2,
        "{}",
        both(&out)
    );
    // otto's results are masked: the email is tokenized, the backup phone gets through.
    let out = s.psql(
        "otto",
        "app",
        &[
            "-At",
            "-c",
            "SELECT id, backup_phone, email FROM signals_contacts",
        ],
    );
    assert!(out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains(BACKUP_PHONE), "{}", both(&out));
    assert!(!stdout(&out).contains(EMAIL), "{}", both(&out));
    // pia reads personal data in clear, by policy.
    let out = s.psql(
        "pia",
        "app",
        &["-At", "-c", "SELECT email FROM signals_contacts"],
    );
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(stdout(&out).trim(), EMAIL);

    // Three sessions ended, each read back by the sampler.
    let r = s
        .report_when(Duration::from_secs(10), |r| {
            r["masking_effectiveness"]["sessions_sampled"]
                .as_u64()
                .unwrap()
                >= 3
        })
        .await;
    let drift = &r["policy_drift"];
    assert_eq!(drift["health"]["status"], "ok", "{drift:#}");
    assert_eq!(drift["repository"], Value::Null);
    assert_eq!(drift["drifted_gateways"], 0);
    assert_eq!(drift["gateways"].as_array().unwrap().len(), 1, "{drift:#}");
    assert_eq!(drift["gateways"][0]["state"], "agrees");
    let version = s.api("dana", "GET", "/policy", None).await.1["version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(drift["gateways"][0]["version"], version.as_str());
    let dead = strings(&drift["dead_rules"]);
    for never in ["break_glass", "migrations_ddl_only", "unbounded_write"] {
        assert!(dead.contains(&never.to_owned()), "{never} not in {dead:?}");
    }
    for hit in [
        "analysts_read_only",
        "connect_configured_identity",
        "default_deny",
    ] {
        assert!(!dead.contains(&hit.to_owned()), "{hit} in {dead:?}");
    }
    assert_eq!(drift["default_denied_total"], 2);
    let denied = drift["default_denied"].as_array().unwrap();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["target"], "app");
    assert_eq!(denied[0]["identity"], "alice");
    assert_eq!(denied[0]["shape"], "SELECT NAME FROM");
    assert_eq!(denied[0]["count"], 2);

    let m = &r["masking_effectiveness"];
    assert_eq!(m["health"]["status"], "firing", "{m:#}");
    assert_eq!(m["sample_fraction"], 1.0);
    assert_eq!(
        m["pii_columns"],
        json!([{"column": "backup_phone", "target": "app", "rule": "analysts_read_only", "values": 1}]),
        "{m:#}"
    );
    let reasons = strings(&m["health"]["reasons"]);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("app.backup_phone"), "{reasons:?}");
    // pia's email: listed, not fired on.
    assert_eq!(
        m["unmasked"],
        json!([{
            "detector": "email",
            "column": "email",
            "target": "app",
            "rule": "analysts_read_only",
            "masking_applied": false,
            "values": 1,
        }]),
        "{m:#}"
    );
    assert_eq!(m["unmasked_by_policy_values"], 1);
    assert_eq!(m["escaped_values"], 0);
    let text = r.to_string();
    assert!(
        !text.contains(BACKUP_PHONE) && !text.contains(EMAIL),
        "{text}"
    );
    // Nothing else fires yet.
    for signal in ["policy_drift", "approval_latency", "access_churn"] {
        assert_eq!(status(&r, signal), "ok", "{signal}: {:#}", r[signal]);
    }

    // ---- Approval latency ----
    let client = s.psql_bg("rita", "prod", "UPDATE items SET name = name WHERE id = 1");
    let review = s.pending_review("rita").await;
    assert_eq!(review["kind"], "statement");
    let first = review["id"].as_str().unwrap().to_owned();
    let (code, body) = s
        .api("dana", "POST", &format!("/reviews/{first}/approve"), None)
        .await;
    assert_eq!(code, 200, "{body}");
    let out = client.await.unwrap();
    assert!(out.status.success(), "{}", both(&out));
    let r = s.report().await;
    let a = &r["approval_latency"];
    assert_eq!(a["health"]["status"], "ok", "{a:#}");
    assert_eq!(a["overall"]["count"], 1, "{a:#}");
    let seconds = a["overall"]["p90_seconds"].as_f64().unwrap();
    assert!((0.0..10.0).contains(&seconds), "{a:#}");
    assert_eq!(a["overall"]["max_seconds"], a["overall"]["p90_seconds"]);
    assert_eq!(a["by_group"].as_array().unwrap().len(), 1, "{a:#}");
    assert_eq!(a["by_group"][0]["name"], "dba");
    assert_eq!(a["by_group"][0]["count"], 1);
    assert_eq!(a["by_target"].as_array().unwrap().len(), 1, "{a:#}");
    assert_eq!(a["by_target"][0]["name"], "prod");
    assert_eq!(a["by_target"][0]["count"], 1);
    assert_eq!(a["pending"], 0);
    // A second hold nobody answers: overdue past pending_age (1 s).
    let held = s.psql_bg("rita", "prod", "UPDATE items SET name = name WHERE id = 2");
    let second = s.pending_review("rita").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .report_when(Duration::from_secs(10), |r| {
            !r["approval_latency"]["overdue"]
                .as_array()
                .unwrap()
                .is_empty()
        })
        .await;
    let a = &r["approval_latency"];
    assert_eq!(a["health"]["status"], "firing", "{a:#}");
    assert_eq!(a["pending"], 1);
    assert_eq!(a["overall"]["count"], 1);
    let overdue = a["overdue"].as_array().unwrap();
    assert_eq!(overdue.len(), 1, "{a:#}");
    assert_eq!(overdue[0]["review"], second.as_str());
    assert_eq!(overdue[0]["requester"], "rita");
    assert_eq!(overdue[0]["target"], "prod");
    assert!(overdue[0]["age_seconds"].as_u64().unwrap() >= 1);
    let (code, body) = s
        .api("dana", "POST", &format!("/reviews/{second}/deny"), None)
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(!held.await.unwrap().status.success());

    // ---- Access churn ----
    // otto asks for a short window on production and never uses it; rita's window lets her
    // write on production without a hold, and she does.
    let unused = s.granted("otto", "prod", "read", "2s").await;
    let used = s.granted("rita", "prod", "write", "1h").await;
    let out = s.psql(
        "rita",
        "prod",
        &["-At", "-c", "UPDATE items SET name = name WHERE id = 3"],
    );
    assert!(out.status.success(), "{}", both(&out));
    let r = s
        .report_when(Duration::from_secs(10), |r| {
            r["access_churn"]["grants_expired"] == 1
        })
        .await;
    let c = &r["access_churn"];
    assert_eq!(c["health"]["status"], "ok", "{c:#}");
    assert_eq!(c["grants_issued"], 2, "{c:#}");
    assert_eq!(c["grants_used"], 1, "{c:#}");
    assert_eq!(c["grants_unused"], 1, "{c:#}");
    assert_eq!(c["grants_active"], 1, "{c:#}");
    assert_eq!(c["grants_revoked"], 0, "{c:#}");
    assert_eq!(c["unused_ratio"], 1.0);
    let listed = c["unused_grants"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{c:#}");
    assert_eq!(listed[0]["grant"], unused.as_str());
    assert_eq!(listed[0]["identity"], "otto");
    assert_eq!(listed[0]["target"], "prod");
    assert_eq!(listed[0]["ended"], "expired");
    assert!(!c.to_string().contains(&used), "{c:#}");
    let rows = c["by_identity_target"].as_array().unwrap();
    let rita = rows.iter().find(|r| r["identity"] == "rita").unwrap();
    assert_eq!((&rita["used"], &rita["active"]), (&json!(1), &json!(1)));
    let never: Vec<&str> = c["tokens_never_used"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["identity"].as_str().unwrap())
        .collect();
    assert!(never.contains(&"no-tokens"), "{never:?}");
    for shown in ["alice", "rita", "dana", "otto", "pia"] {
        assert!(!never.contains(&shown), "{shown} in {never:?}");
    }
    // The overdue review was denied: approval latency is ok again.
    assert_eq!(status(&r, "approval_latency"), "ok");

    // ---- /metrics ----
    let (_, metrics) = raw_get(&s.admin, "/metrics").await;
    for signal in SIGNALS {
        let firing = u8::from(status(&r, signal) == "firing");
        let line = format!("sluice_signal_firing{{signal=\"{signal}\"}} {firing}");
        assert!(metrics.contains(&line), "no {line} in\n{metrics}");
    }
    for line in [
        "sluice_signal_policy_default_denies 2",
        "sluice_signal_policy_drifted_gateways 0",
        "sluice_signal_masking_pii_columns 1",
        "sluice_signal_masking_unmasked_values{detector=\"email\",target=\"app\",column=\"email\",rule=\"analysts_read_only\",masking_applied=\"false\"} 1",
        "sluice_signal_grants{state=\"unused\"} 1",
        "sluice_signal_grants{state=\"used\"} 1",
        "sluice_signal_reviews_overdue 0",
    ] {
        assert!(metrics.contains(line), "no {line} in\n{metrics}");
    }
    assert!(
        !metrics.contains(BACKUP_PHONE) && !metrics.contains(EMAIL),
        "{metrics}"
    );

    // ---- Webhooks: masking fired at the first report; approval latency fired, then resolved ----
    let events = poll_until(Duration::from_secs(10), || async {
        let got = hooked.lock().unwrap().clone();
        (got.len() >= 3).then_some(got)
    })
    .await
    .unwrap_or_else(|| panic!("{:?}", hooked.lock().unwrap()));
    let mut seen = Vec::new();
    for (headers, body) in &events {
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(headers["x-sluice-event"], v["event"].as_str().unwrap());
        seen.push(format!(
            "{} {}",
            v["event"].as_str().unwrap(),
            v["data"]["signal"].as_str().unwrap()
        ));
    }
    assert_eq!(
        seen,
        [
            "signal.firing masking_effectiveness",
            "signal.firing approval_latency",
            "signal.resolved approval_latency",
        ]
    );

    // ---- sluice report ----
    let out = s.cli_report(&[]).await;
    assert!(out.status.success(), "{}", both(&out));
    let text = stdout(&out);
    for signal in SIGNALS {
        let row = text
            .lines()
            .find(|l| l.starts_with(signal))
            .unwrap_or_else(|| panic!("no {signal} row in\n{text}"));
        let expected = if signal == "masking_effectiveness" {
            "firing"
        } else {
            "ok"
        };
        assert_eq!(row.split_whitespace().nth(1), Some(expected), "{text}");
    }
    assert!(text.contains("backup_phone"), "{text}");
    assert!(
        !text.contains(BACKUP_PHONE) && !text.contains(EMAIL),
        "{text}"
    );
    let out = s.cli_report(&["--json"]).await;
    assert!(out.status.success(), "{}", both(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    for signal in SIGNALS {
        assert!(json[signal]["health"]["status"].is_string(), "{json:#}");
    }
    let out = s.cli_report(&["--check"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", both(&out));
    s.h.stop().await;
}

/// Audit completeness over one gateway's own recordings: clean at first, then a recording
/// altered after its session ended is found by the next report and by the periodic verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_recording_is_found_by_the_report_and_the_periodic_verify() {
    let h = Harness::start_with(
        "\n[signals]\ninterval = \"0s\"\nsample_fraction = 1.0\nverify_interval = \"1s\"\n",
    )
    .await;
    let admin = h.admin_url();
    let token = h.token("alice").to_owned();
    let out = h.psql("alice", "app", &["-At", "-c", "SELECT 1"]);
    assert!(out.status.success(), "{}", both(&out));
    let r = report_when(&admin, &token, Duration::from_secs(10), |r| {
        let c = &r["audit_completeness"];
        r["masking_effectiveness"]["sessions_sampled"] == 1 && c["last_verify"]["ok"] == true
    })
    .await;
    let c = &r["audit_completeness"];
    assert_eq!(c["health"]["status"], "ok", "{c:#}");
    assert_eq!(c["recordings"], json!([]));
    assert_eq!(c["sessions_without_end"], json!([]));
    assert_eq!(c["statements_without_result"], 0);
    assert_eq!(c["unsealed_recordings"], 0);
    assert_eq!(c["open_sessions"], 0);
    assert!(c["records"].as_u64().unwrap() > 0);
    // Nothing fires: `--check` is content.
    for signal in SIGNALS {
        assert_eq!(status(&r, signal), "ok", "{signal}: {:#}", r[signal]);
    }
    let out = cli_report(&admin, &token, &["--check"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));

    let out = h.psql("alice", "app", &["-At", "-c", "SELECT 2"]);
    assert!(out.status.success(), "{}", both(&out));
    let session = h
        .audit()
        .await
        .into_iter()
        .rev()
        .find_map(|r| match r.event {
            AuditEvent::SessionEnded {
                session,
                recording: Some(_),
                ..
            } => Some(session),
            _ => None,
        })
        .unwrap();
    let path = h.config.recording_dir().join(format!("{session}.jsonl"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b'\n');
    std::fs::write(&path, bytes).unwrap();

    let r = report_when(&admin, &token, Duration::from_secs(10), |r| {
        r["masking_effectiveness"]["sessions_sampled"] == 2
    })
    .await;
    let c = &r["audit_completeness"];
    assert_eq!(
        c["recordings"],
        json!([{"session": session, "problem": "altered"}]),
        "{c:#}"
    );
    assert_eq!(c["health"]["status"], "firing", "{c:#}");
    let reasons = strings(&c["health"]["reasons"]);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("1 recording(s) missing or altered")),
        "{reasons:?}"
    );
    let r = report_when(&admin, &token, Duration::from_secs(10), |r| {
        r["audit_completeness"]["last_verify"]["ok"] == false
    })
    .await;
    let verify = &r["audit_completeness"]["last_verify"];
    assert!(verify["at"].is_string() && verify["summary"].is_string());
    let (_, metrics) = raw_get(&admin, "/metrics").await;
    assert!(
        metrics.contains("sluice_signal_audit_verify_ok 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_signal_firing{signal=\"audit_completeness\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_signal_audit_incomplete{kind=\"recording_missing_or_altered\"} 1"),
        "{metrics}"
    );

    // A clean stop and a start on the same data: the new gateway reads the whole trail, so
    // its first report already knows both sessions, ended, and the altered recording.
    let records = c["records"].as_u64().unwrap();
    let Harness {
        gateway,
        config,
        config_path,
        dir,
        ..
    } = h;
    gateway.shutdown("restart").await.unwrap();
    let text = std::fs::read_to_string(&config_path).unwrap();
    let again = sluice::runtime::start(config, &text).await.unwrap();
    let admin = format!("http://{}", again.admin_addr.unwrap());
    let r = report(&admin, &token).await;
    let c = &r["audit_completeness"];
    assert!(c["records"].as_u64().unwrap() > records, "{c:#}");
    assert_eq!(r["masking_effectiveness"]["sessions_sampled"], 2, "{r:#}");
    assert_eq!(
        c["recordings"],
        json!([{"session": session, "problem": "altered"}]),
        "{c:#}"
    );
    assert_eq!(c["sessions_without_end"], json!([]), "{c:#}");
    assert_eq!(c["sessions_cut_by_crash"], 0, "{c:#}");
    assert_eq!(c["open_sessions"], 0, "{c:#}");
    assert_eq!(c["statements_without_result"], 0, "{c:#}");
    again.shutdown("test over").await.unwrap();
    drop(dir);
}

/// Allows everything.
const ALLOW_ALL: &str = r#"package sluice

import rego.v1

decision := {"allow": true, "rule": "allow_all", "reasons": []}
"#;

/// Three gateways on one store, one of them enforcing a policy the other two do not: each
/// heartbeat carries the version, so any gateway's report names the odd one out (three, so
/// that "the others" are a majority: with two, which one differs is a tie). Once it reloads
/// the others' policy, its next heartbeat ends the drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_enforcing_another_policy_differs_from_the_others_on_the_store() {
    let edited = format!("{ALLOW_ALL}\n# edited on gw-c only\n");
    let cluster = Cluster::start_with(
        &[("gw-a", ALLOW_ALL), ("gw-b", ALLOW_ALL), ("gw-c", &edited)],
        SIGNALS_ON_REQUEST,
    );
    let token = cluster.token("dana");
    let a = cluster.gw("gw-a");
    let admin = format!("http://127.0.0.1:{}", a.admin_port);
    let r = report_when(&admin, &token, Duration::from_secs(15), |r| {
        r["policy_drift"]["gateways"].as_array().unwrap().len() == 3
    })
    .await;
    let drift = &r["policy_drift"];
    let state = |name: &str| {
        drift["gateways"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["gateway"] == name)
            .unwrap_or_else(|| panic!("no {name} in {drift:#}"))["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        [state("gw-a"), state("gw-b"), state("gw-c")],
        ["agrees", "agrees", "differs"],
        "{drift:#}"
    );
    assert_eq!(drift["drifted_gateways"], 1, "{drift:#}");
    assert_eq!(drift["versions_in_force"].as_array().unwrap().len(), 2);
    assert_eq!(drift["health"]["status"], "firing", "{drift:#}");
    let reasons = strings(&drift["health"]["reasons"]);
    assert!(reasons[0].contains("gw-c (differs)"), "{reasons:?}");
    // The odd one out sees the same from its side.
    let c = cluster.gw("gw-c");
    let r = report(&format!("http://127.0.0.1:{}", c.admin_port), &token).await;
    assert_eq!(r["policy_drift"]["drifted_gateways"], 1, "{r:#}");

    // gw-c reloads the others' policy: its next heartbeat (every 10 s) says so.
    std::fs::write(
        cluster.dir.path().join("policy-gw-c/policy.rego"),
        ALLOW_ALL,
    )
    .unwrap();
    let (code, body) = c.http("POST", "/policy/reload", Some(&token));
    assert_eq!(code, 200, "{body}");
    let r = report_when(&admin, &token, Duration::from_secs(15), |r| {
        r["policy_drift"]["drifted_gateways"] == 0
    })
    .await;
    let drift = &r["policy_drift"];
    assert_eq!(drift["health"]["status"], "ok", "{drift:#}");
    assert_eq!(drift["versions_in_force"].as_array().unwrap().len(), 1);
    let gateways = drift["gateways"].as_array().unwrap();
    assert_eq!(gateways.len(), 3, "{drift:#}");
    assert!(gateways.iter().all(|g| g["state"] == "agrees"), "{drift:#}");
}

/// `git` with a fixed author, in `dir`.
fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("/usr/bin/git")
        .args([
            "-c",
            "user.name=Signals Test",
            "-c",
            "user.email=signals@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", both(&out));
}

/// The policy directory committed in a git repository: the gateway enforces HEAD; an edit
/// reloaded without a commit makes it `uncommitted`, a drifted gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_drift_against_the_repository_head() {
    let s = Signals::start(SIGNALS_ON_REQUEST, |policies| {
        git(policies, &["init", "-q"]);
        git(policies, &["add", "."]);
        git(policies, &["commit", "-q", "-m", "the example policies"]);
    })
    .await;
    let r = s.report().await;
    let drift = &r["policy_drift"];
    let repo = &drift["repository"];
    assert_eq!(repo["branch"], "main", "{drift:#}");
    assert_eq!(repo["commit"].as_str().unwrap().len(), 40, "{drift:#}");
    assert_eq!(repo["head_digest"], repo["worktree_digest"], "{drift:#}");
    assert_eq!(drift["gateways"][0]["state"], "head", "{drift:#}");
    assert_eq!(drift["drifted_gateways"], 0);
    assert_eq!(drift["health"]["status"], "ok", "{drift:#}");

    let file = s.policies.join("groups.rego");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("\n# an edit nobody committed\n");
    std::fs::write(&file, text).unwrap();
    let (code, body) = s.api("adam", "POST", "/policy/reload", None).await;
    assert_eq!(code, 200, "{body}");
    let r = s.report().await;
    let drift = &r["policy_drift"];
    assert_ne!(
        drift["repository"]["head_digest"], drift["repository"]["worktree_digest"],
        "{drift:#}"
    );
    assert_eq!(drift["gateways"][0]["state"], "uncommitted", "{drift:#}");
    assert_eq!(drift["drifted_gateways"], 1, "{drift:#}");
    assert_eq!(drift["health"]["status"], "firing", "{drift:#}");
    s.h.stop().await;
}
