#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Single-core throughput of what the relay calls per field: content masking over values with
//! nothing to mask (the common case), over values full of PII, and whole-value strategies.
//! Criterion reports bytes per second of input.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_mask::{Counts, Detectors, Masker, Strategy};

const PROSE: &str = "The committee met on Tuesday to review the quarterly figures. Revenue grew \
    modestly across all regions, while operating costs remained broadly in line with the plan \
    agreed in the spring. Several members asked for more detail on the delayed warehouse \
    project, which is now expected to open in the autumn. The chair thanked the finance team \
    for their work and noted that the next review will include a breakdown by product line. \
    Attendance at the regional workshops was higher than last year, and feedback from \
    participants was generally positive, although some found the sessions too long. A short \
    survey will be sent to all staff next month. Questions about travel policy should be sent \
    to the operations group rather than to individual managers. The meeting closed at four \
    o'clock after a brief discussion of the holiday schedule and the new office layout, which \
    most attendees welcomed. Minutes will be circulated by Friday, and the next meeting is \
    planned for the first week of the following month, subject to the chair's availability.";

const PII_JSON: &str = r#"{"name":"Ada Lovelace","email":"ada@example.com","ssn":"123-45-6789","card":"4111 1111 1111 1111","phone":"+1 202 555 0143","iban":"DE89 3704 0044 0532 0130 00","ip":"192.168.10.20","backup_email":"a.lovelace@mail.example.org","note":"call (202) 555-0143 or +44 20 7946 0958","token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU","aws":"AKIAIOSFODNN7EXAMPLE","conn":"host=db password=hunter2 sslmode=require"}"#;

fn content(c: &mut Criterion) {
    let detectors = Detectors::all_builtin().unwrap();
    let masker = Masker::new([7; 32]);
    let strategy = Strategy::Redact;
    let clean: [(&str, &str); 8] = [
        ("short_word", "Lovelace"),
        ("integer", "1234567"),
        ("decimal", "3.14159"),
        ("timestamp", "2024-01-15 10:30:00.123456+00"),
        ("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (
            "sentence",
            "Delivered to the front desk, signed by the receptionist.",
        ),
        (
            "json_record",
            r#"{"id": 1842, "status": "shipped", "items": 3, "total": 129.90, "gift": false}"#,
        ),
        ("prose_1k", PROSE),
    ];
    let mut group = c.benchmark_group("clean");
    for (name, value) in clean {
        group.throughput(Throughput::Bytes(value.len() as u64));
        group.bench_function(name, |b| {
            let mut counts = Counts::new();
            b.iter(|| {
                masker.mask_content(
                    &detectors,
                    black_box(value),
                    |_| Some(&strategy),
                    &mut counts,
                )
            })
        });
    }
    group.finish();

    let pii_prose = format!("{PROSE} Contact ada@example.com or 202-555-0143.");
    let dense: [(&str, &str); 4] = [
        ("email", "ada@example.com"),
        ("card", "4111 1111 1111 1111"),
        ("json_record", PII_JSON),
        ("prose_with_two", &pii_prose),
    ];
    let mut group = c.benchmark_group("pii");
    for (name, value) in dense {
        group.throughput(Throughput::Bytes(value.len() as u64));
        group.bench_function(name, |b| {
            let mut counts = Counts::new();
            b.iter(|| {
                masker.mask_content(
                    &detectors,
                    black_box(value),
                    |_| Some(&strategy),
                    &mut counts,
                )
            })
        });
    }
    group.finish();
}

fn whole_value(c: &mut Criterion) {
    let masker = Masker::new([7; 32]);
    let cases: [(&str, &str, Strategy); 4] = [
        (
            "keep_last_card",
            "4111-1111-1111-1111",
            Strategy::KeepLast(4),
        ),
        ("keep_last_phone", "+1 202 555 0143", Strategy::KeepLast(4)),
        ("token_email", "ada@example.com", Strategy::Token),
        ("token_1k", PROSE, Strategy::Token),
    ];
    let mut group = c.benchmark_group("whole");
    for (name, value, strategy) in cases {
        group.throughput(Throughput::Bytes(value.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| masker.mask_value(black_box(value), &strategy))
        });
    }
    group.finish();
}

criterion_group!(benches, content, whole_value);
criterion_main!(benches);
