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

/// The most PBKDF2 iterations a server may ask for. PostgreSQL's default is 4096, and a
/// million takes about a second of one core. The count is the server's to choose, and 2^31
/// would hold the session (and a core) for tens of minutes, so a server asking for more is
/// refused rather than obeyed: a target, or anything posing as one, cannot burn the CPU of the
/// gateway or of an agent logging in for it.
const MAX_SCRAM_ITERATIONS: u64 = 1_000_000;

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
                if let Some(i) = scram_iterations(data).filter(|i| *i > MAX_SCRAM_ITERATIONS) {
                    return Err(LoginError::Auth(format!(
                        "the target asks for {i} SCRAM iterations, over the limit of \
                         {MAX_SCRAM_ITERATIONS}"
                    )));
                }
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

/// The `i=` attribute of a SCRAM server-first message, when it is a number.
fn scram_iterations(server_first: &[u8]) -> Option<u64> {
    let value = server_first
        .split(|b| *b == b',')
        .find_map(|attr| attr.strip_prefix(b"i="))?;
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A login whose SCRAM exchange has started, and its client nonce (from the client-first
    /// message of the SASLInitialResponse).
    fn scram_started() -> (PasswordLogin<'static>, String) {
        let mut login = PasswordLogin::new(b"u", b"p");
        let mut out = BytesMut::new();
        login
            .answer(
                AuthRequest::Sasl {
                    mechanisms: vec![b"SCRAM-SHA-256"],
                },
                &mut out,
            )
            .unwrap();
        let text = String::from_utf8_lossy(&out);
        let start = text.find("r=").unwrap() + 2;
        let nonce = text[start..].to_owned();
        (login, nonce)
    }

    #[test]
    fn a_server_asking_for_too_many_iterations_is_refused_at_once() {
        let (mut login, nonce) = scram_started();
        let mut out = BytesMut::new();
        let started = std::time::Instant::now();
        let first = format!("r={nonce}server,s=c2FsdA==,i=2147483647");
        let refused = login.answer(AuthRequest::SaslContinue(first.as_bytes()), &mut out);
        assert!(
            matches!(&refused, Err(LoginError::Auth(m)) if m.contains("2147483647")),
            "{refused:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(out.is_empty());

        // PostgreSQL's default goes on to the client-final message.
        let (mut login, nonce) = scram_started();
        let first = format!("r={nonce}server,s=c2FsdA==,i=4096");
        login
            .answer(AuthRequest::SaslContinue(first.as_bytes()), &mut out)
            .unwrap();
        assert!(String::from_utf8_lossy(&out).contains("c=biws"));
    }

    #[test]
    fn the_iteration_count_is_read_from_its_attribute() {
        assert_eq!(scram_iterations(b"r=abc,s=c2FsdA==,i=4096"), Some(4096));
        assert_eq!(scram_iterations(b"r=abc,s=c2FsdA==,i=x"), None);
        assert_eq!(scram_iterations(b"r=abc,s=c2FsdA=="), None);
    }
}
