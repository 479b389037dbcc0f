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
    let len = io.read_u32().await? as usize;
    if len > MAX_FRAME {
        return Err(AgentError::Link(format!(
            "hello of {len} bytes is over the {MAX_FRAME}-byte limit"
        )));
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map_err(|e| AgentError::Link(format!("malformed hello: {e}")))
}
