//! One request through the enforcement sequence and back: read whole (bounded), described as
//! facts (an HTTP request, or a Kubernetes request as the API server classifies it), decided
//! (held for reviewers while the client waits), its record made durable, forwarded under the
//! seal with the target's credential, and the answer relayed: masked whole (JSON), a line at
//! a time (watches, logs, event streams), or streamed untouched when nothing needs masking;
//! an upgrade (exec, attach, port-forward) carried both ways. The exchange is recorded and
//! its outcome audited.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::upgrade::OnUpgrade;
use hyper::{Request as HttpReq, Response, StatusCode};
use tokio::sync::oneshot;

use sluice_core::session::DenialKind;
use sluice_core::{Admission, Ask, AuditBatch, Outcome, Session, StatementPermit};
use sluice_decision::{KubeRequest, KubeVerb, Request};
use sluice_record::{Body as RecordedBody, HttpExchange, BODY_EXCERPT_BYTES};

use crate::body::{self, ResBody};
use crate::mask::Masking;
use crate::reply::{self, Audience};
use crate::upgrade;
use crate::upstream::{self, Conn, Framing, Head, Upstream};

/// A request the connection hands to its session.
pub(crate) struct Exchange {
    pub request: HttpReq<Incoming>,
    pub on_upgrade: Option<OnUpgrade>,
    /// Path and query for the target (after routing).
    pub rest: String,
    pub respond: oneshot::Sender<Response<ResBody>>,
}

/// The listener's limits an exchange applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_request_body: usize,
    pub max_masked_body: usize,
}

/// Bytes an exchange moved, for the session's end record.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Moved {
    pub from_client: u64,
    pub to_client: u64,
}

/// Headers never forwarded: they describe this hop, or carry the caller's credential, which
/// the target must not see (the gateway injects its own).
const HOP_HEADERS: [&str; 12] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
];

/// Response headers that describe the target's hop, not the response.
const RESPONSE_HOP_HEADERS: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "trailer",
    "upgrade",
];

struct Facts {
    kube: Option<KubeRequest>,
    http: Option<sluice_decision::HttpRequest>,
    /// What the target is asked for (normalised for HTTP services).
    path: String,
    summary: String,
}

pub(crate) async fn run(
    session: Session,
    upstream: std::sync::Arc<Upstream>,
    exchange: Exchange,
    audience: Audience,
    limits: Limits,
) -> Moved {
    let started = Instant::now();
    let Exchange {
        request,
        on_upgrade,
        rest,
        mut respond,
    } = exchange;
    let (parts, incoming) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let body = match http_body_util::Limited::new(incoming, limits.max_request_body)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            if e.is::<http_body_util::LengthLimitError>() {
                // Refused before it is described, and audited as such.
                let reason = format!(
                    "the request body is over the gateway's limit of {} bytes",
                    limits.max_request_body
                );
                let mut batch = AuditBatch::default();
                let text = format!("{method} {}", excerpt(&rest, 1024));
                let audited = session
                    .refuse_unreadable(
                        &mut batch,
                        &text,
                        "sluice.body_too_large",
                        reason.clone(),
                        DenialKind::Invalid,
                    )
                    .is_ok()
                    && session.seal(&mut batch).await.is_ok();
                let (status, message) = if audited {
                    (StatusCode::PAYLOAD_TOO_LARGE, format!("sluice: {reason}"))
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "sluice: the request could not be audited".to_owned(),
                    )
                };
                let _ = respond.send(reply::error(audience, status, &message));
            }
            return Moved::default();
        }
    };
    let mut moved = Moved {
        from_client: body.len() as u64,
        to_client: 0,
    };
    let facts = match describe(&session, audience, &method, &rest, &parts.headers, &body) {
        Ok(facts) => facts,
        Err((rule, why)) => {
            let text = format!("{method} {}", excerpt(&rest, 1024));
            let mut batch = AuditBatch::default();
            let reason = format!("the request cannot be read unambiguously: {why}");
            // kubectl prints a 403's Status message; a 400's it replaces with its own words.
            let refused = match audience {
                Audience::Kube => StatusCode::FORBIDDEN,
                Audience::Http => StatusCode::BAD_REQUEST,
            };
            let status = match session.refuse_unreadable(
                &mut batch,
                &text,
                rule,
                reason.clone(),
                DenialKind::Unparseable,
            ) {
                Ok(_) => match session.seal(&mut batch).await {
                    Ok(_) => refused,
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                },
                Err(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            let _ = respond.send(reply::error(
                audience,
                status,
                &format!("sluice: denied by rule {rule}: {reason}"),
            ));
            return moved;
        }
    };
    let request = match (&facts.kube, &facts.http) {
        (Some(kube), _) => Request::Kube { kube },
        (None, Some(http)) => Request::Http { http },
        (None, None) => return moved,
    };

    let mut batch = AuditBatch::default();
    let admission = match session.admit(
        &mut batch,
        Ask::Request {
            request,
            summary: &facts.summary,
        },
    ) {
        Ok(admission) => admission,
        Err(e) => {
            let _ = respond.send(unavailable(audience, &e.to_string()));
            return moved;
        }
    };
    let admission = match admission {
        Admission::Held(held) => {
            // The held request's record is durable before its review opens; nothing is
            // forwarded under this seal.
            if let Err(e) = session.seal(&mut batch).await {
                let _ = respond.send(unavailable(audience, &e.to_string()));
                return moved;
            }
            let pending = match session.open_statement_review(held).await {
                Ok(pending) => pending,
                Err(e) => {
                    let _ = respond.send(unavailable(audience, &e.to_string()));
                    return moved;
                }
            };
            tracing::info!(review = %pending.id(), "http request held for review");
            // The client waits with its request open; if it gives up, the review ends.
            match session
                .await_review(&mut batch, pending, respond.closed())
                .await
            {
                Ok(admission) => admission,
                Err(e) => {
                    let _ = respond.send(unavailable(audience, &e.to_string()));
                    return moved;
                }
            }
        }
        other => other,
    };
    let sealed = match session.seal(&mut batch).await {
        Ok(sealed) => sealed,
        Err(e) => {
            let _ = respond.send(unavailable(audience, &e.to_string()));
            return moved;
        }
    };
    let permit = match admission {
        Admission::Allowed(permit) => permit,
        Admission::Denied(denial) => {
            let status = match denial.kind {
                DenialKind::Policy => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            let message = format!(
                "sluice: denied by policy rule {}: {}",
                denial.rule, denial.reason
            );
            let _ = respond.send(reply::error(audience, status, &message));
            return moved;
        }
        Admission::Held(_) | Admission::NeedsCatalog(_) => {
            let _ = respond.send(unavailable(audience, "the request could not be decided"));
            return moved;
        }
    };

    let secret_request = facts.kube.as_ref().is_some_and(|k| k.resource == "secrets");
    let upgrade_asked = on_upgrade.is_some() && parts.headers.contains_key("upgrade");
    let plan = permit.mask().cloned();
    let masking = Masking {
        plan: plan.as_ref(),
        secrets: audience == Audience::Kube && !permit.reveals_secrets(),
        secret_request,
    };
    let headers = forward_headers(
        &parts.headers,
        upstream.credential_header(),
        masking.is_needed(),
        upgrade_asked,
    );
    let body_len = (!body.is_empty() || matches!(method.as_str(), "POST" | "PUT" | "PATCH"))
        .then_some(body.len());
    let head = upstream.head(&method, &facts.path, &headers, body_len);
    let (mut conn, response_head) =
        match send(&session, &upstream, &method, sealed, &head, &body).await {
            Ok(sent) => sent,
            Err(why) => {
                let _ = respond.send(reply::error(audience, StatusCode::BAD_GATEWAY, &why));
                session.finish(permit, Outcome::error("502", why));
                return moved;
            }
        };
    let n = permit.number();
    let mut record = HttpExchange {
        method: method.clone(),
        host: session.target().host.clone(),
        path: excerpt(&rest, 8 * 1024).to_owned(),
        status: Some(response_head.status),
        request_headers: kept_headers(&parts.headers),
        response_headers: Vec::new(),
        request_body: recorded_body(&body, &masking),
        response_body: RecordedBody::default(),
        duration_us: 0,
    };

    if response_head.status == 101 {
        let Some(on_upgrade) = on_upgrade.filter(|_| upgrade_asked) else {
            let why = "the target switched protocols for a request that asked for no upgrade";
            let _ = respond.send(reply::error(audience, StatusCode::BAD_GATEWAY, why));
            session.finish(permit, Outcome::error("502", why));
            return moved;
        };
        let mut answer = Response::new(body::empty());
        *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        copy_headers(&response_head, answer.headers_mut(), false);
        for name in ["connection", "upgrade"] {
            if let Some(v) = response_head.header(name) {
                if let Ok(v) = hyper::header::HeaderValue::from_str(v) {
                    answer.headers_mut().insert(name, v);
                }
            }
        }
        record.response_headers = kept_response_headers(&response_head);
        if respond.send(answer).is_err() {
            session.finish(permit, Outcome::interrupted("the client left"));
            return moved;
        }
        let client = match on_upgrade.await {
            Ok(client) => client,
            Err(e) => {
                session.finish(permit, Outcome::interrupted(format!("upgrade failed: {e}")));
                return moved;
            }
        };
        let metrics = session.gateway().metrics();
        metrics.http_upgrades.inc();
        if facts
            .kube
            .as_ref()
            .is_some_and(|k| k.subresource.as_deref() == Some("portforward"))
        {
            metrics.kube_port_forwards.inc();
        }
        let recording = channel_recording(&facts, &response_head, n);
        if let Some(recorder) = session.recording() {
            let _ = recorder.terminal_marker(Some(n), &facts.summary);
        }
        let carried = upgrade::carry(&session, client, conn, recording).await;
        moved.from_client += carried.from_client;
        moved.to_client += carried.to_client;
        record.request_body.bytes = carried.from_client;
        record.response_body.bytes = carried.to_client;
        record.duration_us = started.elapsed().as_micros() as u64;
        record_exchange(&session, n, &record);
        session.finish(
            permit,
            Outcome::ok(format!("101 Switching Protocols; {}", carried.reason), None),
        );
        return moved;
    }

    let status = response_head.status;
    let relayed = relay_response(
        &mut conn,
        &method,
        &response_head,
        respond,
        permit,
        &masking,
        &facts,
        audience,
        limits,
    )
    .await;
    moved.to_client += relayed.bytes;
    record.response_headers = kept_response_headers(&response_head);
    record.response_body = relayed.recorded;
    record.duration_us = started.elapsed().as_micros() as u64;
    if relayed.reusable {
        upstream.checkin(conn);
    }
    record_exchange(&session, n, &record);
    let outcome = match relayed.failure {
        None => Outcome::ok(format!("{status} {}", reason_phrase(status)), None),
        Some(why) => Outcome::interrupted(why),
    };
    session.finish(relayed.permit, outcome);
    moved
}

/// Forwards the request under `sealed` and reads the answer's head. A kept connection the
/// target closed while it was idle is replaced once, for a request that changes nothing
/// (`GET`, `HEAD`, `OPTIONS`): its record is already durable, so the retry is the same audited
/// request. Anything else is never sent twice: its failure is the client's to see.
async fn send(
    session: &Session,
    upstream: &Upstream,
    method: &str,
    sealed: sluice_core::Sealed,
    head: &[u8],
    body: &[u8],
) -> Result<(Conn, Head), String> {
    let retryable = matches!(method, "GET" | "HEAD" | "OPTIONS");
    let mut sealed = Some(sealed);
    loop {
        let (mut conn, reused) = upstream
            .checkout(session)
            .await
            .map_err(|e| format!("sluice: {e}"))?;
        let seal = match sealed.take() {
            Some(seal) => seal,
            None => {
                let mut again = AuditBatch::default();
                again.carries_no_request();
                session
                    .seal(&mut again)
                    .await
                    .map_err(|e| format!("sluice: {e}"))?
            }
        };
        let again = reused && retryable;
        if let Err(e) = conn.send(seal, head, body).await {
            if again {
                tracing::debug!(error = %e, "a kept connection to the target was closed; retrying");
                continue;
            }
            return Err(format!("sluice: writing to the target: {e}"));
        }
        match conn.read_head().await {
            Ok(head) => return Ok((conn, head)),
            Err(e) if again && conn.buf.is_empty() => {
                tracing::debug!(error = %e, "no answer on a kept connection; retrying");
                continue;
            }
            Err(e) => return Err(format!("sluice: {e}")),
        }
    }
}

/// How a response's body went.
struct Relayed {
    permit: StatementPermit,
    bytes: u64,
    recorded: RecordedBody,
    reusable: bool,
    failure: Option<String>,
}

/// How the body is passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    Whole,
    Lines {
        json: bool,
    },
    /// Masking is needed and the body cannot be read for it.
    Refuse,
}

#[allow(clippy::too_many_arguments)]
async fn relay_response(
    conn: &mut Conn,
    method: &str,
    head: &Head,
    respond: oneshot::Sender<Response<ResBody>>,
    mut permit: StatementPermit,
    masking: &Masking<'_>,
    facts: &Facts,
    audience: Audience,
    limits: Limits,
) -> Relayed {
    let mut framing = upstream::framing(method, head);
    let keeps = head.keeps_alive() && !matches!(framing, Framing::Close);
    let media = head
        .header("content-type")
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let encoded = head
        .header("content-encoding")
        .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    let json = media == "application/json" || media.ends_with("+json");
    let streaming = media == "text/event-stream"
        || facts
            .kube
            .as_ref()
            .is_some_and(|k| k.verb == KubeVerb::Watch || facts.path.contains("follow=true"));
    let empty = matches!(framing, Framing::Empty | Framing::Length(0));
    let mode = if !masking.is_needed() || empty {
        Mode::Pass
    } else if encoded {
        Mode::Refuse
    } else if json && !streaming {
        Mode::Whole
    } else if json {
        Mode::Lines { json: true }
    } else if media.starts_with("text/") {
        Mode::Lines { json: false }
    } else {
        Mode::Refuse
    };
    let mut answer = Response::new(body::empty());
    *answer.status_mut() = StatusCode::from_u16(head.status).unwrap_or(StatusCode::BAD_GATEWAY);
    copy_headers(head, answer.headers_mut(), mode != Mode::Pass);
    let mut excerpt = Vec::new();
    let mut changed = false;

    match mode {
        Mode::Refuse => {
            let why = format!(
                "sluice: the response ({}{}) cannot be masked, so it is withheld",
                if media.is_empty() {
                    "no content type"
                } else {
                    &media
                },
                if encoded { ", compressed" } else { "" }
            );
            let _ = respond.send(reply::error(audience, StatusCode::BAD_GATEWAY, &why));
            return Relayed {
                permit,
                bytes: 0,
                recorded: RecordedBody::default(),
                reusable: false,
                failure: Some(why),
            };
        }
        Mode::Whole => {
            let mut whole = Vec::new();
            loop {
                match conn.next_chunk(&mut framing).await {
                    Ok(Some(chunk)) => {
                        if whole.len() + chunk.len() > limits.max_masked_body {
                            let why = format!(
                                "sluice: the response is over {} bytes and needs masking, so it \
                                 is withheld",
                                limits.max_masked_body
                            );
                            let _ =
                                respond.send(reply::error(audience, StatusCode::BAD_GATEWAY, &why));
                            return Relayed {
                                permit,
                                bytes: 0,
                                recorded: RecordedBody::default(),
                                reusable: false,
                                failure: Some(why),
                            };
                        }
                        whole.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let why = format!("sluice: {e}");
                        let _ = respond.send(reply::error(audience, StatusCode::BAD_GATEWAY, &why));
                        return Relayed {
                            permit,
                            bytes: 0,
                            recorded: RecordedBody::default(),
                            reusable: false,
                            failure: Some(why),
                        };
                    }
                }
            }
            let masked = match masking.json_bytes(&whole, permit.tally()) {
                Some((bytes, did)) => {
                    changed = did;
                    bytes
                }
                None => {
                    let why = "sluice: the response says it is JSON but is not, so it cannot be \
                               masked and is withheld";
                    let _ = respond.send(reply::error(audience, StatusCode::BAD_GATEWAY, why));
                    return Relayed {
                        permit,
                        bytes: 0,
                        recorded: RecordedBody::default(),
                        reusable: false,
                        failure: Some(why.into()),
                    };
                }
            };
            let bytes = masked.len() as u64;
            excerpt.extend_from_slice(&masked[..masked.len().min(BODY_EXCERPT_BYTES)]);
            *answer.body_mut() = body::full(masked);
            let _ = respond.send(answer);
            return Relayed {
                permit,
                bytes,
                recorded: recorded(&excerpt, bytes, changed),
                reusable: keeps,
                failure: None,
            };
        }
        Mode::Pass | Mode::Lines { .. } => {}
    }

    let (tx, streamed) = body::channel();
    *answer.body_mut() = streamed;
    if respond.send(answer).is_err() {
        return Relayed {
            permit,
            bytes: 0,
            recorded: RecordedBody::default(),
            reusable: false,
            failure: Some("the client left".into()),
        };
    }
    let mut lines = LineBuffer::default();
    let mut bytes = 0u64;
    let mut failure = None;
    loop {
        let chunk = match conn.next_chunk(&mut framing).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                if let Mode::Lines { json } = mode {
                    if let Some(last) = lines.finish(masking, json, permit.tally(), &mut changed) {
                        bytes += last.len() as u64;
                        keep_excerpt(&mut excerpt, &last);
                        let _ = tx.send(Ok(last)).await;
                    }
                }
                break;
            }
            Err(e) => {
                let why = e.to_string();
                let _ = tx.send(Err(std::io::Error::other(why.clone()))).await;
                failure = Some(why);
                break;
            }
        };
        let out = match mode {
            Mode::Lines { json } => {
                match lines.push(&chunk, masking, json, permit.tally(), &mut changed) {
                    Ok(Some(out)) => out,
                    Ok(None) => continue,
                    Err(why) => {
                        let _ = tx.send(Err(std::io::Error::other(why.clone()))).await;
                        failure = Some(why);
                        break;
                    }
                }
            }
            _ => chunk,
        };
        bytes += out.len() as u64;
        keep_excerpt(&mut excerpt, &out);
        if tx.send(Ok(out)).await.is_err() {
            failure = Some("the client left".into());
            break;
        }
    }
    Relayed {
        permit,
        bytes,
        recorded: recorded(&excerpt, bytes, changed),
        reusable: keeps && failure.is_none() && matches!(framing, Framing::Done),
        failure,
    }
}

/// Splits a streamed body into lines to mask each whole.
#[derive(Default)]
struct LineBuffer {
    pending: Vec<u8>,
}

/// A text line longer than this is masked as it is (a detector's match cannot span it).
const MAX_TEXT_LINE: usize = 64 * 1024;
/// A JSON event longer than this cannot be read to be masked: the stream is broken off.
const MAX_JSON_LINE: usize = 32 * 1024 * 1024;

impl LineBuffer {
    fn push(
        &mut self,
        chunk: &[u8],
        masking: &Masking<'_>,
        json: bool,
        tally: &mut sluice_core::MaskTally,
        changed: &mut bool,
    ) -> Result<Option<Bytes>, String> {
        self.pending.extend_from_slice(chunk);
        let Some(last_newline) = self.pending.iter().rposition(|&b| b == b'\n') else {
            if json && self.pending.len() > MAX_JSON_LINE {
                return Err("sluice: an event is too long to be masked; the stream ends".into());
            }
            if !json && self.pending.len() > MAX_TEXT_LINE {
                let all = std::mem::take(&mut self.pending);
                return Ok(Some(mask_lines(&all, masking, json, tally, changed)));
            }
            return Ok(None);
        };
        let rest = self.pending.split_off(last_newline + 1);
        let ready = std::mem::replace(&mut self.pending, rest);
        Ok(Some(mask_lines(&ready, masking, json, tally, changed)))
    }

    fn finish(
        &mut self,
        masking: &Masking<'_>,
        json: bool,
        tally: &mut sluice_core::MaskTally,
        changed: &mut bool,
    ) -> Option<Bytes> {
        if self.pending.is_empty() {
            return None;
        }
        let all = std::mem::take(&mut self.pending);
        Some(mask_lines(&all, masking, json, tally, changed))
    }
}

/// Masks each line of `text` (lines end with `\n`, the last may not).
fn mask_lines(
    text: &[u8],
    masking: &Masking<'_>,
    json: bool,
    tally: &mut sluice_core::MaskTally,
    changed: &mut bool,
) -> Bytes {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        let (content, end) = match line.strip_suffix(b"\n") {
            Some(c) => (c, &b"\n"[..]),
            None => (line, &b""[..]),
        };
        let (content, cr) = match content.strip_suffix(b"\r") {
            Some(c) => (c, &b"\r"[..]),
            None => (content, &b""[..]),
        };
        match masking.line(content, json, tally) {
            Some(masked) => {
                *changed = true;
                out.extend_from_slice(&masked);
            }
            None => out.extend_from_slice(content),
        }
        out.extend_from_slice(cr);
        out.extend_from_slice(end);
    }
    Bytes::from(out)
}

/// The facts of a request, or the rule and reason it is refused by.
fn describe(
    session: &Session,
    audience: Audience,
    method: &str,
    rest: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Facts, (&'static str, String)> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let summary = format!("{method} {}", excerpt(rest, 2048));
    match audience {
        Audience::Kube => {
            if headers
                .keys()
                .any(|name| name.as_str().starts_with("impersonate-"))
            {
                return Err((
                    "sluice.kube_impersonation",
                    "Impersonate-* headers would make the cluster act as someone else with the \
                     gateway's credential"
                        .into(),
                ));
            }
            let mut kube = sluice_kube::classify(method, path, query)
                .map_err(|e| ("sluice.kube_unreadable", e.to_string()))?;
            if matches!(kube.verb, KubeVerb::Delete | KubeVerb::Deletecollection) {
                kube.dry_run = sluice_kube::delete_dry_run(query, body);
            }
            Ok(Facts {
                kube: Some(kube),
                http: None,
                path: rest.to_owned(),
                summary,
            })
        }
        Audience::Http => {
            let pairs = headers
                .iter()
                .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)));
            let described = sluice_http_facts(method, &session.target().host, rest, pairs)
                .map_err(|e| ("sluice.http_unreadable", e.to_string()))?;
            let _ = query;
            Ok(Facts {
                kube: None,
                path: described.target.clone(),
                http: Some(described.facts),
                summary,
            })
        }
    }
}

fn sluice_http_facts<'a>(
    method: &str,
    host: &str,
    target: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<crate::Described, crate::HttpError> {
    crate::describe(method, host, target, headers, &crate::POLICY_HEADERS)
}

/// The caller's headers as the target gets them. `readable`: the answer must be one the
/// gateway can mask: uncompressed, and JSON rather than protobuf (kubectl's typed commands
/// accept protobuf first; the API server answers JSON just as well).
fn forward_headers(
    headers: &HeaderMap,
    credential: Option<&str>,
    readable: bool,
    upgrade: bool,
) -> Vec<(String, Vec<u8>)> {
    let identity_encoding = readable;
    // Headers the caller's `Connection` names are this hop's too (RFC 9110 section 7.6.1).
    let named: Vec<String> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| t != "upgrade")
        .collect();
    let mut out: Vec<(String, Vec<u8>)> = headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            let dropped = HOP_HEADERS.contains(&name)
                || Some(name) == credential
                || named.iter().any(|n| n == name)
                || (identity_encoding && name == "accept-encoding");
            !dropped
        })
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    if identity_encoding {
        out.push(("accept-encoding".into(), b"identity".to_vec()));
        for (name, value) in out.iter_mut() {
            if name == "accept" {
                *value = readable_accept(value);
            }
        }
    }
    if upgrade {
        if let Some(value) = headers.get("upgrade") {
            out.push(("connection".into(), b"Upgrade".to_vec()));
            out.push(("upgrade".into(), value.as_bytes().to_vec()));
        }
    }
    out
}

/// An `Accept` list without the media types the gateway cannot mask (protobuf, CBOR);
/// `application/json` when nothing is left.
fn readable_accept(value: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(value);
    let kept: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.contains("protobuf") && !t.contains("cbor"))
        .collect();
    if kept.is_empty() {
        b"application/json".to_vec()
    } else {
        kept.join(", ").into_bytes()
    }
}

/// The target's response headers for the client; `rewritten`: the body changes, so its
/// length is hyper's to set.
fn copy_headers(head: &Head, into: &mut HeaderMap, rewritten: bool) {
    for (name, value) in &head.headers {
        if RESPONSE_HOP_HEADERS.contains(&name.as_str()) || (rewritten && name == "content-length")
        {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_bytes(value),
        ) {
            into.append(name, value);
        }
    }
}

/// The request headers a recording keeps: what describes the request, never a credential.
fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    crate::POLICY_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), excerpt(value, 512).to_owned()))
        })
        .collect()
}

fn kept_response_headers(head: &Head) -> Vec<(String, String)> {
    ["content-type", "content-length", "location"]
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), head.header(name)?.to_owned())))
        .collect()
}

/// The request body as the recording keeps it: Kubernetes Secrets and masked fields masked
/// like a response would be, so a `kubectl apply` of a Secret leaves no value behind.
fn recorded_body(body: &[u8], masking: &Masking<'_>) -> RecordedBody {
    if body.is_empty() {
        return RecordedBody::default();
    }
    let mut tally = sluice_core::MaskTally::default();
    let (text, masked) = match masking.json_bytes(body, &mut tally) {
        Some((bytes, did)) if masking.is_needed() => (bytes, did),
        Some(_) | None if !masking.is_needed() => (body.to_vec(), false),
        // Needs masking and is not JSON: kept out of the recording.
        _ => {
            return RecordedBody {
                bytes: body.len() as u64,
                excerpt: String::new(),
                truncated: true,
                masked: true,
            }
        }
    };
    let cut = &text[..text.len().min(BODY_EXCERPT_BYTES)];
    recorded(cut, body.len() as u64, masked)
}

fn recorded(excerpt: &[u8], bytes: u64, masked: bool) -> RecordedBody {
    match std::str::from_utf8(excerpt) {
        Ok(text) => RecordedBody {
            bytes,
            excerpt: text.to_owned(),
            truncated: (excerpt.len() as u64) < bytes,
            masked,
        },
        // Binary, or cut inside a character: keep what is text.
        Err(e) if e.valid_up_to() > 0 && e.error_len().is_none() => RecordedBody {
            bytes,
            excerpt: String::from_utf8_lossy(&excerpt[..e.valid_up_to()]).into_owned(),
            truncated: true,
            masked,
        },
        Err(_) => RecordedBody {
            bytes,
            excerpt: String::new(),
            truncated: bytes > 0,
            masked,
        },
    }
}

fn keep_excerpt(excerpt: &mut Vec<u8>, out: &[u8]) {
    let room = BODY_EXCERPT_BYTES.saturating_sub(excerpt.len());
    excerpt.extend_from_slice(&out[..out.len().min(room)]);
}

fn record_exchange(session: &Session, n: u64, exchange: &HttpExchange) {
    if let Some(recorder) = session.recording() {
        if let Err(cap) = recorder.http(n, exchange) {
            tracing::warn!(session = %session.id(), %cap, "http recording cap reached");
        }
    }
}

/// A WebSocket exec or attach is recorded as a terminal; anything else is carried only.
fn channel_recording(facts: &Facts, head: &Head, n: u64) -> upgrade::Recording {
    let terminal = facts
        .kube
        .as_ref()
        .is_some_and(|k| matches!(k.subresource.as_deref(), Some("exec" | "attach")));
    let channels = head
        .header("sec-websocket-protocol")
        .is_some_and(|p| matches!(p.trim(), "v4.channel.k8s.io" | "v5.channel.k8s.io"));
    if terminal && channels {
        upgrade::Recording::Channels {
            n,
            to_target: Default::default(),
            to_client: Default::default(),
        }
    } else {
        upgrade::Recording::None
    }
}

fn unavailable(audience: Audience, why: &str) -> Response<ResBody> {
    reply::error(
        audience,
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("sluice: the gateway cannot decide requests now: {why}"),
    )
}

fn reason_phrase(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn excerpt(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
