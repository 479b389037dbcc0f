//! Step two of the sequence, admission: a session exists only once the policy let it open and
//! its start record is durable.

use super::Session;
use crate::gateway::{unix_now, Authenticated, Gateway, Rejection, RejectionKind, SessionRequest};

impl Session {
    /// Step two, admit: resolve the target, ask the policy, and audit the session's start. The
    /// session exists only once its start record is durable.
    pub async fn open(
        gateway: &Gateway,
        auth: Authenticated,
        request: SessionRequest<'_>,
    ) -> Result<Session, Rejection> {
        let outcome = Session::admission(gateway, &auth, &request).await;
        match outcome {
            Ok(session) => {
                gateway.metrics().sessions_started.inc();
                gateway.metrics().sessions_active.inc();
                if let Some(token_id) = auth.token_id().map(str::to_owned) {
                    let store = gateway.store().clone();
                    // Last-use bookkeeping only: never delay or fail a session for it.
                    tokio::spawn(async move {
                        let _ = store.mark_token_used(&token_id, unix_now()).await;
                    });
                }
                Ok(session)
            }
            Err(rejection) => {
                gateway
                    .reject(
                        &request.client_addr,
                        Some(auth.identity()),
                        Some(request.target),
                        request.protocol,
                        &rejection.reason,
                    )
                    .await;
                Err(rejection)
            }
        }
    }

    async fn admission(
        gateway: &Gateway,
        auth: &Authenticated,
        request: &SessionRequest<'_>,
    ) -> Result<Session, Rejection> {
        let identity = auth.principal();
        let (target, database) = gateway.resolve_target(request.target)?;
        if let Some(token) = auth.token() {
            if !token.reaches(&target.name) {
                return Err(Rejection {
                    reason: format!(
                        "this credential ({}) is limited to other targets than \"{}\"",
                        token.id, target.name
                    ),
                    kind: RejectionKind::Denied,
                });
            }
        }
        // A target is reached only in its own protocol: a MySQL client naming a PostgreSQL
        // target would otherwise have its requests read in the wrong dialect.
        if target.kind.protocol() != request.protocol {
            return Err(Rejection {
                reason: format!(
                    "target \"{}\" is a {} target: connect to it through sluice's {} listener",
                    target.name,
                    target.kind.as_str(),
                    target.kind.protocol()
                ),
                kind: RejectionKind::UnknownTarget,
            });
        }
        let dialect = target.kind.dialect();
        let names = dialect
            .initial_names(&request.settings, &database)
            .map_err(|reason| Rejection {
                reason,
                kind: RejectionKind::Denied,
            })?;
        let session = Session::new(
            gateway.clone(),
            auth.token().cloned(),
            identity.as_ref().clone(),
            target.clone(),
            database,
            request,
            dialect,
            names,
        );
        let decision = session.decide_connect();
        let refusal = match (decision.deny_reason(), decision.approval()) {
            (Some(reason), _) => Some(reason.to_owned()),
            // Holding a whole session would leave the client's connect timing out; a grant
            // is how a window of access is approved.
            (None, Some(_)) => Some(
                "connections cannot be held for approval; ask for access with \
                 `sluice access request`"
                    .to_owned(),
            ),
            (None, None) => None,
        };
        if let Some(reason) = refusal {
            return Err(Rejection {
                reason: format!("access denied by policy rule {}: {reason}", decision.rule),
                kind: RejectionKind::Denied,
            });
        }
        if let (Some(on_cap), Some(recording)) = (decision.recording_on_cap, session.recording()) {
            recording.set_on_cap(on_cap);
        }
        session
            .audit_start(request, &decision.rule)
            .await
            .map_err(|e| Rejection {
                reason: e.to_string(),
                kind: RejectionKind::Internal,
            })?;
        Ok(session)
    }
}
