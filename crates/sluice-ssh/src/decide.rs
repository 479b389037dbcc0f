//! One request through the enforcement sequence: decided, its record made durable, held for
//! reviewers when the policy says so (the client is told, and waits), and then allowed with a
//! seal to forward under, or refused with words for the client.

use std::future::Future;

use sluice_core::{Admission, Ask, AuditBatch, Sealed, Session, StatementPermit};
use sluice_decision::Request;

use crate::error::SshError;

/// What became of a request.
pub(crate) enum Verdict {
    /// Forward it under `sealed`; finish `permit` with its outcome.
    Allowed {
        permit: StatementPermit,
        sealed: Sealed,
    },
    /// Refused; the text names the rule and the reason, for the client.
    Refused(String),
}

/// Decides `request`. While a held request waits, `notice` is called once with the words for
/// the client, and the wait ends early when `abandoned` completes (the client left).
pub(crate) async fn decide<N, F>(
    session: &Session,
    request: Request<'_>,
    summary: &str,
    notice: N,
    abandoned: impl Future<Output = ()>,
) -> Result<Verdict, SshError>
where
    N: FnOnce(String) -> F,
    F: Future<Output = ()>,
{
    let mut batch = AuditBatch::default();
    let admission = session.admit(&mut batch, Ask::Request { request, summary })?;
    let admission = match admission {
        Admission::Held(held) => {
            // The held request's record is durable before its review opens; nothing is
            // forwarded under this seal.
            let _ = session.seal(&mut batch).await?;
            let pending = session.open_statement_review(held).await?;
            tracing::info!(review = %pending.id(), "ssh request held for review");
            notice(pending.notice()).await;
            session.await_review(&mut batch, pending, abandoned).await?
        }
        other => other,
    };
    let sealed = session.seal(&mut batch).await?;
    Ok(match admission {
        Admission::Allowed(permit) => Verdict::Allowed { permit, sealed },
        Admission::Denied(denial) => Verdict::Refused(format!(
            "sluice: denied by policy rule {}: {}",
            denial.rule, denial.reason
        )),
        Admission::Held(_) | Admission::NeedsCatalog(_) => {
            Verdict::Refused("sluice: the request could not be decided".to_owned())
        }
    })
}

/// Decides a request that cannot wait for reviewers (a channel open, a forward): a hold is
/// refused with the review's words.
pub(crate) async fn decide_now(
    session: &Session,
    request: Request<'_>,
    summary: &str,
) -> Result<Verdict, SshError> {
    decide(session, request, summary, |_| async {}, async {}).await
}
