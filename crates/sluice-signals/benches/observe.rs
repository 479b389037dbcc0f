//! How fast the observer reads a trail: `cargo bench -p sluice-signals --bench observe`.
//! The gateway reads its own trail every `[signals] interval`; this is the CPU that costs per
//! record, parse included, on the records a busy PostgreSQL gateway writes most (a statement
//! and its result).

use std::time::Instant;

use sluice_audit::AuditRecord;
use sluice_signals::Observer;

fn main() {
    let sessions = 200u64;
    let per_session = 500u64;
    let mut lines = Vec::new();
    for s in 0..sessions {
        lines.push(format!(
            r#"{{"seq":1,"time":"2026-12-04T09:00:00.000001Z","prev":"00","gateway":"gw","type":"session_started","session":"s{s}","identity":"ci-bot","identity_kind":"service","client_addr":"127.0.0.1:5","target":"shop","database":"shop","protocol":"postgres","tls":true,"rule":"ci_connect"}}"#
        ));
        for n in 1..=per_session {
            lines.push(format!(
                r#"{{"seq":2,"time":"2026-12-04T09:00:01.000001Z","prev":"9f2c3b","gateway":"gw","type":"statement","session":"s{s}","identity":"ci-bot","client_addr":"127.0.0.1:5","target":"shop","database":"shop","statement":{n},"text":"SELECT abalance FROM pgbench_accounts WHERE aid = $1","decision":{{"verdict":"allow","rule":"ci_read_only","policy":"sha256:025e133ffd185c38"}}}}"#
            ));
            lines.push(format!(
                r#"{{"seq":3,"time":"2026-12-04T09:00:01.000101Z","prev":"1a2b3c","gateway":"gw","type":"statement_result","session":"s{s}","identity":"ci-bot","target":"shop","statement":{n},"outcome":{{"status":"ok"}},"command_tag":"SELECT 1","rows":1,"duration_us":80,"masked":{{"columns":{{}}}}}}"#
            ));
        }
        lines.push(format!(
            r#"{{"seq":4,"time":"2026-12-04T09:00:02.000001Z","prev":"00","gateway":"gw","type":"session_ended","session":"s{s}","identity":"ci-bot","target":"shop","bytes_from_client":1,"bytes_to_client":1,"statements":{per_session},"reason":"client","duration_ms":5}}"#
        ));
    }
    for round in 0..3 {
        for (path, in_place) in [
            ("parsed whole (observe)", false),
            ("read in place (observe_line)", true),
        ] {
            let mut observer = Observer::new(0.1);
            let start = Instant::now();
            for line in &lines {
                if in_place {
                    observer.observe_line(line.as_bytes());
                } else if let Ok(record) = AuditRecord::from_line(line.as_bytes()) {
                    observer.observe(&record);
                }
            }
            let took = start.elapsed();
            println!(
                "round {round}: {path}: {} records in {:.1} ms: {:.2} µs per record",
                lines.len(),
                took.as_secs_f64() * 1e3,
                took.as_secs_f64() * 1e6 / lines.len() as f64
            );
        }
    }
}
