//! Signals: the five self-reflection signals (docs/signals.md), each with its state and
//! reasons from the last report and its headline figures over the rounds this gateway has
//! computed, drawn here as SVG so that no chart library or script is needed.

use std::fmt::Write as _;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use sluice_signals::{figure_names, Point, Report, Signal};

use super::auth::Viewer;
use super::page;

/// The chart's drawing box; the style sheet scales it to the page's width.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 140.0;
const PAD: f64 = 6.0;

/// `GET /console/signals`.
pub(crate) async fn show(viewer: Viewer) -> Response {
    if let Some(refused) = viewer
        .refused("signals.read", &Method::GET, "/signals")
        .await
    {
        return refused;
    }
    // The last periodic report, or one computed now when none has been (interval "0s").
    let report = match viewer.gateway.signals() {
        Some(report) => report,
        None => match viewer.gateway.refresh_signals().await {
            Ok(report) => report,
            Err(e) => {
                return page::error(
                    Some(&viewer),
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Signals unavailable",
                    &e.to_string(),
                )
            }
        },
    };
    let history = viewer.gateway.signal_history();
    let interval = viewer.gateway.config().signals.interval;
    let body = html! {
        h1 { "Signals" }
        p class="muted" {
            "Computed " (page::when(&report.generated_at)) " over the last "
            (span(report.window_seconds))
            ". Charts show each round since this gateway started"
            @if !interval.is_zero() { " (every " (span(interval.as_secs())) ")" }
            "; shaded where the signal was firing."
        }
        ol class="cards signals" {
            @for (i, signal) in Signal::ALL.into_iter().enumerate() {
                (signal_card(&report, signal, i, &history))
            }
        }
    };
    page::render(&viewer, "/console/signals", "Signals", body).await
}

fn title(signal: Signal) -> &'static str {
    match signal {
        Signal::PolicyDrift => "Policy drift",
        Signal::ApprovalLatency => "Approval latency",
        Signal::MaskingEffectiveness => "Masking effectiveness",
        Signal::AuditCompleteness => "Audit completeness",
        Signal::AccessChurn => "Access churn",
    }
}

fn signal_card(report: &Report, signal: Signal, index: usize, history: &[Point]) -> Markup {
    let health = report.health(signal);
    let names = figure_names(signal);
    let latest = history.last().and_then(|p| p.signals.get(index));
    html! {
        li class="card" id=(signal.key()) {
            h2 {
                (title(signal)) " "
                span class={ "state " (if health.firing() { "denied" } else { "approved" }) } {
                    (if health.firing() { "firing" } else { "ok" })
                }
            }
            @if !health.reasons.is_empty() {
                ul class="reasons" { @for r in &health.reasons { li { (r) } } }
            }
            @if history.len() < 2 {
                p class="muted" { "The chart starts after this gateway's second round." }
            } @else {
                (chart(signal, index, history))
            }
            @if let Some(latest) = latest {
                dl class="facts" {
                    @for (name, value) in names.iter().zip(&latest.figures) {
                        dt { (name) } dd { (figure(*value)) }
                    }
                }
            }
        }
    }
}

/// A length of time in its largest whole unit, as people write it ("7 days", "1 minute").
fn span(secs: u64) -> String {
    let (n, unit) = [(86_400, "day"), (3_600, "hour"), (60, "minute")]
        .into_iter()
        .find(|(unit, _)| secs >= *unit && secs.is_multiple_of(*unit))
        .map(|(unit, name)| (secs / unit, name))
        .unwrap_or((secs, "second"));
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn figure(value: Option<f64>) -> String {
    match value {
        None => "none".to_owned(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

/// One line per figure over time, and a band behind the rounds where the signal fired. Each
/// figure has its own scale (a count of gateways and seconds to decide share no axis); the
/// legend gives each line's range, and the text below gives the latest values.
fn chart(signal: Signal, index: usize, history: &[Point]) -> Markup {
    let (first, last) = match (history.first(), history.last()) {
        (Some(f), Some(l)) => (f.at_ms, l.at_ms),
        _ => return html! {},
    };
    let span = (last - first).max(1) as f64;
    let x = |at: i64| PAD + (at - first) as f64 / span * (WIDTH - 2.0 * PAD);
    let names = figure_names(signal);
    let mut bands = Vec::new();
    for pair in history.windows(2) {
        if pair[0].signals.get(index).is_some_and(|s| s.firing) {
            bands.push((x(pair[0].at_ms), x(pair[1].at_ms) - x(pair[0].at_ms)));
        }
    }
    let mut lines = Vec::new();
    let mut legend = Vec::new();
    for (f, name) in names.iter().enumerate() {
        let values: Vec<(i64, Option<f64>)> = history
            .iter()
            .map(|p| {
                let v = p
                    .signals
                    .get(index)
                    .and_then(|s| s.figures.get(f).copied().flatten());
                (p.at_ms, v)
            })
            .collect();
        let max = values
            .iter()
            .filter_map(|(_, v)| *v)
            .fold(0.0_f64, f64::max);
        let top = if max > 0.0 { max } else { 1.0 };
        let y = |v: f64| HEIGHT - PAD - v / top * (HEIGHT - 2.0 * PAD);
        // A round without a value breaks the line rather than drawing it as zero.
        let mut segment = String::new();
        for (at, v) in &values {
            match v {
                Some(v) => {
                    let _ = write!(segment, "{:.1},{:.1} ", x(*at), y(*v));
                }
                None if !segment.is_empty() => lines.push((f, std::mem::take(&mut segment))),
                None => {}
            }
        }
        if !segment.is_empty() {
            lines.push((f, segment));
        }
        legend.push(format!("{name}: 0 to {}", figure(Some(max))));
    }
    let label = format!(
        "{} over {} rounds; {}",
        title(signal),
        history.len(),
        legend.join("; ")
    );
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(label)
                preserveAspectRatio="none" {
                @for (bx, bw) in &bands {
                    rect class="firing" x=(format!("{bx:.1}")) y="0" width=(format!("{bw:.1}")) height=(HEIGHT) {}
                }
                line class="axis" x1=(PAD) y1=(HEIGHT - PAD) x2=(WIDTH - PAD) y2=(HEIGHT - PAD) {}
                @for (f, points) in &lines {
                    polyline class={ "series s" (f) } points=(points.trim_end()) {}
                }
            }
            figcaption {
                @for (f, text) in legend.iter().enumerate() {
                    span class={ "key s" (f) } { (text) }
                }
                span class="muted" { (page::when_ms(first)) " – " (page::when_ms(last)) }
            }
        }
    }
}
