//! The gateway's counters, rendered in the Prometheus text format on the admin listener.
//!
//! Plain atomics instead of a metrics registry: every statement bumps a few counters, and a
//! relaxed `fetch_add` on a field is the cheapest thing that can be exported.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use sluice_audit::Masked;

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

#[derive(Default)]
pub struct Gauge(std::sync::atomic::AtomicI64);

impl Gauge {
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
    pub fn set(&self, n: i64) {
        self.0.store(n, Relaxed);
    }
    /// Raises the gauge to `n` if it is lower (a high-water mark).
    pub fn raise_to(&self, n: i64) {
        self.0.fetch_max(n, Relaxed);
    }
}

/// Upper bounds, in microseconds, of the audit latency histogram buckets.
const LATENCY_BUCKETS_US: [u64; 12] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 5_000, 10_000, 100_000, 1_000_000,
];

/// Upper bounds, in microseconds, of the approval latency buckets: people take seconds to hours.
const APPROVAL_BUCKETS_US: [u64; 10] = [
    1_000_000,
    5_000_000,
    15_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
    900_000_000,
    1_800_000_000,
    3_600_000_000,
];

/// A fixed-bucket latency histogram.
pub struct Histogram {
    bounds: &'static [u64],
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::with_bounds(&LATENCY_BUCKETS_US)
    }
}

impl Histogram {
    fn with_bounds(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    pub fn observe_us(&self, us: u64) {
        if let Some(i) = self.bounds.iter().position(|&b| us <= b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(self.buckets.iter()) {
            cumulative += bucket.load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Default)]
pub struct Metrics {
    pub sessions_started: Counter,
    pub sessions_active: Gauge,
    pub connections_rejected: Counter,
    pub statements: Counter,
    pub statements_denied: Counter,
    /// Statements the target answered with an ErrorResponse.
    pub statement_errors: Counter,
    /// Sessions ended by a gateway-side failure (audit, protocol violation, upstream loss).
    pub session_errors: Counter,
    pub bytes_from_clients: Counter,
    pub bytes_to_clients: Counter,
    /// Time a request waits for its audit records to become durable before it is forwarded.
    pub audit_commit_latency: Histogram,
    /// How late each session worker woke a timer it set (see `Workers::probe_lag`): time the
    /// worker spent on something else, so a stall of every session on it when large.
    pub worker_lag: Histogram,
    /// The largest worker lag since start, in microseconds.
    pub worker_lag_max_us: Gauge,
    pub audit_failures: Counter,
    pub decision_cache_hits: Counter,
    pub decision_cache_misses: Counter,
    /// Time to decide a statement string that was not cached: parse and policy evaluation.
    pub decision_latency: Histogram,
    pub policy_reloads: Counter,
    pub policy_reload_failures: Counter,
    /// Failed authentications (a wrong or unknown token), every protocol and the admin API.
    pub auth_failures: Counter,
    /// Attempts refused unchecked because their address or identity failed too often.
    pub auth_rate_limited: Counter,
    pub credentials_issued: Counter,
    pub credentials_refused: Counter,
    /// Sessions ended because their credential expired or was revoked.
    pub sessions_credential_ended: Counter,
    /// Upgraded streams through the HTTPS listener (Kubernetes exec, attach, port-forward;
    /// WebSocket to an HTTP service), each allowed by policy first.
    pub http_upgrades: Counter,
    /// Of those, Kubernetes port-forwards.
    pub kube_port_forwards: Counter,
    /// Links of network-resident agents connected to this gateway now.
    pub agent_links: Gauge,
    /// Streams opened through agents (one per upstream connection to a `via` target).
    pub agent_streams: Counter,
    /// Streams an agent could not open (no agent connected, the agent could not reach the
    /// target or refused the address, a timeout).
    pub agent_stream_failures: Counter,
    pub masking: MaskingMetrics,
    pub approvals: ApprovalMetrics,
}

/// The approval signals: how long people take, how reviews end, how grants come and go.
pub struct ApprovalMetrics {
    /// From the hold to an approval or denial.
    pub latency: Histogram,
    pub pending: Gauge,
    /// Settled reviews by kind and state; few distinct keys.
    settled: std::sync::Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    pub grants_issued: Counter,
    pub grants_expired: Counter,
    pub grants_revoked: Counter,
}

impl Default for ApprovalMetrics {
    fn default() -> Self {
        ApprovalMetrics {
            latency: Histogram::with_bounds(&APPROVAL_BUCKETS_US),
            pending: Gauge::default(),
            settled: Default::default(),
            grants_issued: Counter::default(),
            grants_expired: Counter::default(),
            grants_revoked: Counter::default(),
        }
    }
}

impl ApprovalMetrics {
    pub fn settled(&self, kind: &'static str, state: &'static str) {
        *crate::sync::lock(&self.settled)
            .entry((kind, state))
            .or_default() += 1;
    }

    fn render(&self, out: &mut String) {
        self.latency.render(
            out,
            "sluice_approval_latency_seconds",
            "Time from holding a request to a reviewer's approval or denial.",
        );
        let _ = writeln!(
            out,
            "# HELP sluice_reviews_pending Reviews waiting for reviewers.\n\
             # TYPE sluice_reviews_pending gauge\nsluice_reviews_pending {}",
            self.pending.get()
        );
        let _ = writeln!(
            out,
            "# HELP sluice_reviews_settled_total Reviews that left pending, by kind and state.\n\
             # TYPE sluice_reviews_settled_total counter"
        );
        for ((kind, state), n) in crate::sync::lock(&self.settled).iter() {
            let _ = writeln!(
                out,
                "sluice_reviews_settled_total{{kind=\"{kind}\",state=\"{state}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP sluice_grants_total Access grants issued, expired and revoked.\n\
             # TYPE sluice_grants_total counter"
        );
        for (event, counter) in [
            ("issued", &self.grants_issued),
            ("expired", &self.grants_expired),
            ("revoked", &self.grants_revoked),
        ] {
            let _ = writeln!(
                out,
                "sluice_grants_total{{event=\"{event}\"}} {}",
                counter.get()
            );
        }
    }
}

/// The masking-effectiveness signal: what masking replaced, summed over statements.
#[derive(Default)]
pub struct MaskingMetrics {
    statements: Counter,
    column_values: Counter,
    nulled_values: Counter,
    /// Few distinct keys (the built-in and configured detectors), updated once per statement.
    by_detector: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl MaskingMetrics {
    pub fn record(&self, masked: &Masked) {
        self.statements.inc();
        self.column_values.add(masked.columns.values().sum());
        self.nulled_values.add(masked.nulled);
        if masked.detectors.is_empty() {
            return;
        }
        let mut by_detector = crate::sync::lock(&self.by_detector);
        for (name, n) in &masked.detectors {
            *by_detector.entry(name.clone()).or_insert(0) += n;
        }
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP sluice_masked_statements_total Statements whose results had masking rules.\n\
             # TYPE sluice_masked_statements_total counter\nsluice_masked_statements_total {}",
            self.statements.get()
        );
        let _ = writeln!(
            out,
            "# HELP sluice_masked_values_total Values replaced whole: by a column rule, or by NULL when unreadable.\n\
             # TYPE sluice_masked_values_total counter\n\
             sluice_masked_values_total{{by=\"column_rule\"}} {}\n\
             sluice_masked_values_total{{by=\"null\"}} {}",
            self.column_values.get(),
            self.nulled_values.get()
        );
        let _ = writeln!(
            out,
            "# HELP sluice_masked_spans_total Spans replaced inside values and messages, by detector.\n\
             # TYPE sluice_masked_spans_total counter"
        );
        for (name, n) in crate::sync::lock(&self.by_detector).iter() {
            let _ = writeln!(out, "sluice_masked_spans_total{{detector=\"{name}\"}} {n}");
        }
    }
}

impl Metrics {
    /// One sample of a session worker's lag (`Workers::probe_lag`).
    pub fn worker_lagged(&self, lag: std::time::Duration) {
        let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.worker_lag.observe_us(us);
        self.worker_lag_max_us
            .raise_to(i64::try_from(us).unwrap_or(i64::MAX));
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let counters: [(&str, &str, &Counter); 22] = [
            (
                "sluice_sessions_started_total",
                "Sessions admitted.",
                &self.sessions_started,
            ),
            (
                "sluice_connections_rejected_total",
                "Connections refused before a session started.",
                &self.connections_rejected,
            ),
            (
                "sluice_statements_total",
                "Statements audited.",
                &self.statements,
            ),
            (
                "sluice_statements_denied_total",
                "Statements denied by the gateway.",
                &self.statements_denied,
            ),
            (
                "sluice_statement_errors_total",
                "Statements the target answered with an error.",
                &self.statement_errors,
            ),
            (
                "sluice_session_errors_total",
                "Sessions ended by a gateway-side error.",
                &self.session_errors,
            ),
            (
                "sluice_bytes_from_clients_total",
                "Bytes received from clients.",
                &self.bytes_from_clients,
            ),
            (
                "sluice_bytes_to_clients_total",
                "Bytes sent to clients.",
                &self.bytes_to_clients,
            ),
            (
                "sluice_audit_failures_total",
                "Audit writes that failed (requests were refused).",
                &self.audit_failures,
            ),
            (
                "sluice_decision_cache_hits_total",
                "Statement decisions served from the decision cache.",
                &self.decision_cache_hits,
            ),
            (
                "sluice_decision_cache_misses_total",
                "Statement decisions that parsed and evaluated the policy.",
                &self.decision_cache_misses,
            ),
            (
                "sluice_policy_reloads_total",
                "Policy bundles loaded after start.",
                &self.policy_reloads,
            ),
            (
                "sluice_policy_reload_failures_total",
                "Changed policy bundles rejected (the previous one stayed in force).",
                &self.policy_reload_failures,
            ),
            (
                "sluice_auth_failures_total",
                "Failed authentications (wrong or unknown tokens), all protocols and the admin API.",
                &self.auth_failures,
            ),
            (
                "sluice_auth_rate_limited_total",
                "Authentication attempts refused unchecked: too many failures from the address or for the identity.",
                &self.auth_rate_limited,
            ),
            (
                "sluice_credentials_issued_total",
                "Credentials issued by sign-in, token exchange and per-task requests.",
                &self.credentials_issued,
            ),
            (
                "sluice_credentials_refused_total",
                "Credential requests refused (identity provider token invalid, or policy).",
                &self.credentials_refused,
            ),
            (
                "sluice_sessions_credential_ended_total",
                "Sessions ended because their credential expired or was revoked.",
                &self.sessions_credential_ended,
            ),
            (
                "sluice_http_upgrades_total",
                "Upgraded streams carried by the HTTPS listener (exec, attach, port-forward, WebSocket).",
                &self.http_upgrades,
            ),
            (
                "sluice_kube_port_forwards_total",
                "Kubernetes port-forward streams carried, each allowed by policy.",
                &self.kube_port_forwards,
            ),
            (
                "sluice_agent_streams_total",
                "Upstream connections opened through network-resident agents.",
                &self.agent_streams,
            ),
            (
                "sluice_agent_stream_failures_total",
                "Upstream connections an agent could not open (none connected, target unreachable, refused, timed out).",
                &self.agent_stream_failures,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.get()
            );
        }
        let _ = writeln!(
            out,
            "# HELP sluice_sessions_active Sessions open now.\n# TYPE sluice_sessions_active gauge\nsluice_sessions_active {}",
            self.sessions_active.get()
        );
        let _ = writeln!(
            out,
            "# HELP sluice_agent_links Network-resident agents connected to this gateway now.\n# TYPE sluice_agent_links gauge\nsluice_agent_links {}",
            self.agent_links.get()
        );
        self.audit_commit_latency.render(
            &mut out,
            "sluice_audit_commit_seconds",
            "Wait for audit records to be written before forwarding.",
        );
        self.worker_lag.render(
            &mut out,
            "sluice_worker_lag_seconds",
            "How late a session worker woke a timer due every 10 ms: time it was busy elsewhere, a stall of its sessions when large.",
        );
        let _ = writeln!(
            out,
            "# HELP sluice_worker_lag_max_seconds The largest session worker lag since start.\n# TYPE sluice_worker_lag_max_seconds gauge\nsluice_worker_lag_max_seconds {}",
            self.worker_lag_max_us.get() as f64 / 1e6
        );
        self.decision_latency.render(
            &mut out,
            "sluice_decision_seconds",
            "Parse and policy evaluation of a statement string not in the decision cache.",
        );
        self.masking.render(&mut out);
        self.approvals.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.statements.add(3);
        m.audit_commit_latency.observe_us(7);
        m.audit_commit_latency.observe_us(2_000_000);
        let text = m.render();
        assert!(text.contains("sluice_statements_total 3\n"));
        assert!(text.contains("sluice_audit_commit_seconds_bucket{le=\"0.00001\"} 1\n"));
        assert!(text.contains("sluice_audit_commit_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("sluice_audit_commit_seconds_count 2\n"));
    }

    #[test]
    fn worker_lag_keeps_its_high_water_mark() {
        let m = Metrics::default();
        for us in [800, 12_000, 3_000] {
            m.worker_lagged(std::time::Duration::from_micros(us));
        }
        let text = m.render();
        assert!(text.contains("sluice_worker_lag_seconds_bucket{le=\"0.01\"} 2\n"));
        assert!(text.contains("sluice_worker_lag_max_seconds 0.012\n"));
    }
}
