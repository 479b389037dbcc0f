//! The one way a protocol asks the session to admit a request, whatever its kind. SQL text is
//! analysed in the session's dialect first; a request of another kind arrives as its facts.
//! Both end in the same step: one decision, its audit record appended to the batch, its
//! recording line, and an [`Admission`] (allowed with a permit, held for reviewers, denied).

use sluice_decision::{Decision, Request};
use sluice_sql::Lexing;

use super::{Admission, Asked, Session};
use crate::proof::AuditBatch;
use crate::CoreError;

/// The rule named when a protocol asks for a request kind that has an entry of its own.
pub const RULE_REQUEST_KIND: &str = "sluice.request_kind";

/// What a protocol asks to have admitted.
#[derive(Debug, Clone, Copy)]
pub enum Ask<'a> {
    /// A SQL string (PostgreSQL's simple query), read as the server will read it under
    /// `lexing`; every statement in it is decided.
    Sql { text: &'a str, lexing: Lexing },
    /// One request of another kind: a command line, a channel, a file operation, an HTTP or
    /// a Kubernetes request. `summary` says in one line what it does, for the audit record,
    /// the recording and reviewers; the policy sees the facts.
    Request {
        request: Request<'a>,
        summary: &'a str,
    },
}

impl Session {
    /// Decides one request and appends its audit record to `batch`. Nothing may be forwarded
    /// for it until the batch is sealed; an allowed request's permit is finished with its
    /// outcome.
    pub fn admit(&self, batch: &mut AuditBatch, ask: Ask<'_>) -> Result<Admission, CoreError> {
        match ask {
            Ask::Sql { text, lexing } => self.admit_query(batch, text, lexing),
            Ask::Request { request, summary } => self.admit_request(batch, request, summary),
        }
    }

    fn admit_request(
        &self,
        batch: &mut AuditBatch,
        request: Request<'_>,
        summary: &str,
    ) -> Result<Admission, CoreError> {
        let (subject, tick) = self.now();
        let policy = self.gateway().policy().current();
        let decision = match request {
            // These have entries of their own (SQL text is analysed, a connect is the
            // session's admission, access is asked through the approvals API); asked here
            // they are a protocol's mistake, refused rather than decided on partial facts.
            Request::Connect | Request::Access { .. } | Request::Statement { .. } => {
                Decision::deny(
                    RULE_REQUEST_KIND,
                    policy.info.version.as_str(),
                    format!(
                        "a {} request cannot be admitted as a request of its own",
                        request.kind().as_str()
                    ),
                )
            }
            _ => policy.decide_request(&subject, &tick, request),
        };
        let asked = Asked {
            text: summary,
            request: Some(&request),
            parameters: None,
        };
        self.record(batch, asked, &decision, None, None)
    }
}
