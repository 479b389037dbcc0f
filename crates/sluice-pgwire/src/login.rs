//! Answering a server's authentication requests with a password: cleartext, MD5 and
//! SCRAM-SHA-256 (the server's signature verified, so a server that does not know the
//! verifier cannot pass for the target). Shared by the gateway's login to a target and by an
//! agent that logs in for it with a credential only the agent holds.

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

use crate::backend::AuthRequest;
use crate::encode;

/// Why a login cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// The server broke the exchange's order.
    #[error("{0}")]
    Protocol(String),
    /// The exchange failed: the server offers nothing this client can answer, or its proof
    /// is wrong.
    #[error("{0}")]
    Auth(String),
}

/// One login's state: the SCRAM exchange in progress, if any.
pub struct PasswordLogin<'a> {
    user: &'a [u8],
    password: &'a [u8],
    scram: Option<ScramSha256>,
}

impl<'a> PasswordLogin<'a> {
    pub fn new(user: &'a [u8], password: &'a [u8]) -> PasswordLogin<'a> {
        PasswordLogin {
            user,
            password,
            scram: None,
        }
    }

    /// Appends to `out` the answer to `request` (nothing for `Ok` and the SASL final message,
    /// whose server signature is checked here).
    pub fn answer(
        &mut self,
        request: AuthRequest<'_>,
        out: &mut BytesMut,
    ) -> Result<(), LoginError> {
        match request {
            AuthRequest::Ok => {}
            AuthRequest::Cleartext => encode::password_message(out, self.password),
            AuthRequest::Md5 { salt } => {
                let hashed =
                    postgres_protocol::authentication::md5_hash(self.user, self.password, salt);
                encode::password_message(out, hashed.as_bytes());
            }
            AuthRequest::Sasl { mechanisms } => {
                if !mechanisms.iter().any(|m| *m == b"SCRAM-SHA-256") {
                    return Err(LoginError::Auth("target offers no SCRAM-SHA-256".into()));
                }
                let s = ScramSha256::new(self.password, ChannelBinding::unsupported());
                encode::sasl_initial_response(out, "SCRAM-SHA-256", s.message());
                self.scram = Some(s);
            }
            AuthRequest::SaslContinue(data) => {
                let s = self.scram.as_mut().ok_or_else(|| {
                    LoginError::Protocol("SASL continue before SASL start".into())
                })?;
                s.update(data)
                    .map_err(|e| LoginError::Auth(e.to_string()))?;
                encode::sasl_response(out, s.message());
            }
            AuthRequest::SaslFinal(data) => {
                let s = self
                    .scram
                    .as_mut()
                    .ok_or_else(|| LoginError::Protocol("SASL final before SASL start".into()))?;
                s.finish(data)
                    .map_err(|e| LoginError::Auth(e.to_string()))?;
            }
            AuthRequest::Other(code) => {
                return Err(LoginError::Auth(format!(
                    "unsupported authentication method {code}"
                )))
            }
        }
        Ok(())
    }
}
