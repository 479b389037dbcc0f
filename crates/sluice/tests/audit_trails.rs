#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `sluice audit verify | export | search --trail`: several gateways' chains checked per gateway
//! and read merged in time order, from files written here (no gateway, no configuration).

use std::path::Path;
use std::process::{Command, Output};

use sluice_audit::{hash_line, AuditEvent, AuditRecord, GENESIS_PREV};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// A valid chain of `gateway_stopped` records by `gateway`, one per second given.
fn write_chain(path: &Path, gateway: &str, seconds: &[u32]) -> Vec<String> {
    let mut prev = GENESIS_PREV.to_owned();
    let mut lines = Vec::new();
    for (i, s) in seconds.iter().enumerate() {
        let record = AuditRecord {
            seq: i as u64 + 1,
            time: format!("2026-01-01T00:00:{s:02}.000000Z"),
            prev: prev.clone(),
            gateway: Some(gateway.to_owned()),
            event: AuditEvent::GatewayStopped {
                reason: format!("{gateway} {i}"),
            },
        };
        let line = serde_json::to_string(&record).unwrap();
        prev = hex::encode(hash_line(line.as_bytes()));
        lines.push(line);
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    lines
}

fn audit(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("audit")
        .args(args)
        // No configuration: --trail does without one.
        .arg("--config")
        .arg(dir.join("absent.toml"))
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn trails_of_several_gateways_verify_per_gateway_and_export_merged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // gw-a as a data directory, gw-b as a file.
    let a = write_chain(&root.join("gw-a").join("audit.jsonl"), "gw-a", &[1, 3, 5]);
    let b = write_chain(&root.join("b.jsonl"), "gw-b", &[2, 3]);

    let out = audit(root, &["verify", "--trail", "gw-a", "--trail", "b.jsonl"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("gateway gw-a (gw-a/audit.jsonl): ok, 3 records"),
        "{stdout}"
    );
    assert!(
        stdout.contains("gateway gw-b (b.jsonl): ok, 2 records"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok: 2 trails intact, 5 records"),
        "{stdout}"
    );

    // Merged by time; at 00:03 gw-a before gw-b. Byte for byte.
    let out = audit(root, &["export", "--trail", "gw-a", "--trail", "b.jsonl"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want: String = [&a[0], &b[0], &a[1], &b[1], &a[2]]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(text(&out.stdout), want);
    let out = audit(
        root,
        &[
            "export",
            "--trail",
            "gw-a",
            "--trail",
            "b.jsonl",
            "--since",
            "2026-01-01T00:00:03Z",
            "--until",
            "2026-01-01T00:00:05Z",
        ],
    );
    assert_eq!(text(&out.stdout), format!("{}\n{}\n", a[1], b[1]));

    let out = audit(root, &["search", "--trail", "gw-a", "--trail", "b.jsonl"]);
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    assert!(
        stdout.lines().nth(1).unwrap().contains("[gw-b]"),
        "{stdout}"
    );

    // A copy of gw-a's trail is a second file claiming gw-a; an edit breaks gw-b's chain.
    std::fs::copy(
        root.join("gw-a").join("audit.jsonl"),
        root.join("copy.jsonl"),
    )
    .unwrap();
    let edited = b[0].replacen("gw-b 0", "gw-b 9", 1);
    std::fs::write(root.join("b.jsonl"), format!("{edited}\n{}\n", b[1])).unwrap();
    let args = [
        "verify",
        "--trail",
        "gw-a",
        "--trail",
        "b.jsonl",
        "--trail",
        "copy.jsonl",
    ];
    let out = audit(root, &args);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("gateway gw-b (b.jsonl): NOT INTACT"),
        "{stdout}"
    );
    assert!(stdout.contains("  altered: record at seq 1"), "{stdout}");
    assert_eq!(
        stdout.matches("  duplicate_gateway: ").count(),
        2,
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("3 of 3 audit trails not intact: 3 problems"),
        "{}",
        text(&out.stderr)
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = audit(root, &json_args);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["intact"], false);
    assert_eq!(report["trails"][0]["gateway"], "gw-a");
    assert_eq!(report["trails"][1]["intact"], false);
    assert_eq!(report["trails"][1]["report"]["records"], 2);
}
