//! The one exchange on a new link before HTTP/2: the agent says whether it enrolls (with its
//! token) or connects, and the gateway answers with the agent's name or why not. Frames are a
//! 4-byte big-endian length and JSON, bounded.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::AgentError;

const MAX_FRAME: usize = 16 * 1024;

// No `Debug`: an enrollment hello carries the token's secret, which nothing may print.
#[derive(Serialize, Deserialize)]
#[serde(tag = "hello", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Hello {
    /// Redeem a token for the certificate presented in this handshake.
    Enroll {
        id: String,
        /// The token's secret itself: the store keeps only its hash, so a copy of the store
        /// cannot enroll anyone.
        secret: String,
        version: String,
    },
    /// An enrolled agent, known by the certificate it presented.
    Connect { version: String },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Answer {
    Welcome { agent: String },
    Refused { reason: String },
}

pub(crate) async fn write<T: Serialize>(
    io: &mut (impl AsyncWrite + Unpin),
    message: &T,
) -> Result<(), AgentError> {
    let body = serde_json::to_vec(message).map_err(|e| AgentError::Link(e.to_string()))?;
    let len = u32::try_from(body.len()).map_err(|_| AgentError::Link("frame too long".into()))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    io.write_all(&frame).await?;
    io.flush().await?;
    Ok(())
}

pub(crate) async fn read<T: for<'de> Deserialize<'de>>(
    io: &mut (impl AsyncRead + Unpin),
) -> Result<T, AgentError> {
    let len = io
        .read_u32()
        .await
        .map_err(|e| AgentError::Link(format!("no hello: {e}")))? as usize;
    if len > MAX_FRAME {
        return Err(AgentError::Link(format!(
            "hello of {len} bytes is over the {MAX_FRAME}-byte limit"
        )));
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body)
        .await
        .map_err(|e| AgentError::Link(format!("the hello ended early: {e}")))?;
    // serde_json's message can quote the input, and an enrollment hello carries a secret:
    // only the kind of fault and where it is are kept, since they end in the audit trail.
    serde_json::from_slice(&body).map_err(|e| {
        AgentError::Link(format!(
            "malformed hello ({:?} error at byte {} of line {})",
            e.classify(),
            e.column(),
            e.line()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    async fn read_hello(bytes: Vec<u8>) -> Result<Hello, AgentError> {
        read(&mut bytes.as_slice()).await
    }

    #[tokio::test]
    async fn a_good_hello_reads_back() {
        let mut buf = Vec::new();
        let hello = Hello::Connect {
            version: "1".into(),
        };
        write(&mut buf, &hello).await.unwrap();
        assert!(matches!(read_hello(buf).await, Ok(Hello::Connect { .. })));
    }

    #[tokio::test]
    async fn bad_frames_are_refused_without_quoting_them() {
        let secret = "5ec7e7-never-print-me";
        let oversized = {
            let mut f = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
            f.resize(4 + MAX_FRAME + 1, b' ');
            f
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "no hello"),
            (vec![0, 0], "no hello"),
            (oversized, "over the 16384-byte limit"),
            (vec![0, 0, 0, 10, b'{'], "ended early"),
            (frame(b"{\"hello\":\"connect\""), "malformed hello (Eof"),
            (frame(b"GET / HTTP/1.1\r\n"), "malformed hello (Syntax"),
            (frame(b"{}"), "malformed hello (Data"),
            (frame(b"{\"hello\":\"steal\"}"), "malformed hello (Data"),
            (
                frame(format!(r#"{{"hello":"connect","version":"1","x":"{secret}"}}"#).as_bytes()),
                "malformed hello (Data",
            ),
            (
                frame(
                    format!(
                        r#"{{"hello":"enroll","id":1,"secret":{{"{secret}":0}},"version":"1"}}"#
                    )
                    .as_bytes(),
                ),
                "malformed hello (Data",
            ),
        ];
        for (bytes, want) in cases {
            let shown = bytes.escape_ascii().to_string();
            let Err(e) = read_hello(bytes).await else {
                panic!("{shown} was read as a hello");
            };
            let said = e.to_string();
            assert!(said.contains(want), "{shown}: {said}");
            assert!(!said.contains(secret), "{shown}: {said}");
        }
    }
}
