//! Reading a WebSocket byte stream as it passes, to record a Kubernetes exec or attach: the
//! relay forwards the bytes untouched and this only watches them (RFC 6455 framing, client
//! frames unmasked for reading). Kubernetes' channel protocols (`v4.channel.k8s.io`,
//! `v5.channel.k8s.io`) put the stream in each binary message's first byte: 0 stdin, 1 stdout,
//! 2 stderr, 3 the exit status, 4 a terminal resize, and in v5 255 the close of a stream.

/// Longest message kept for the recording; the rest of a longer one is not recorded.
const MAX_MESSAGE: usize = 1024 * 1024;

/// One direction's frames, reassembled into messages.
#[derive(Default)]
pub(crate) struct FrameReader {
    pending: Vec<u8>,
    message: Vec<u8>,
    /// The stream could not be read as WebSocket frames; nothing more is recorded.
    pub broken: bool,
}

impl FrameReader {
    /// Feeds bytes as they pass; `on_message` gets each complete data message.
    pub fn feed(&mut self, data: &[u8], mut on_message: impl FnMut(&[u8])) {
        if self.broken {
            return;
        }
        self.pending.extend_from_slice(data);
        let mut at = 0;
        while let Some((header, len, mask)) = frame_header(&self.pending[at..]) {
            let Ok(len) = usize::try_from(len) else {
                self.broken = true;
                return;
            };
            if self.pending.len() - at < header + len {
                break;
            }
            let b0 = self.pending[at];
            let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0f);
            let payload = &self.pending[at + header..at + header + len];
            if opcode < 8 {
                let room = MAX_MESSAGE.saturating_sub(self.message.len());
                let start = self.message.len();
                self.message
                    .extend_from_slice(&payload[..payload.len().min(room)]);
                if let Some(key) = mask {
                    for (i, b) in self.message[start..].iter_mut().enumerate() {
                        *b ^= key[i % 4];
                    }
                }
                if fin {
                    on_message(&self.message);
                    self.message.clear();
                }
            }
            at += header + len;
        }
        self.pending.drain(..at);
        // A frame header claiming more than the recording could ever hold.
        if self.pending.len() > 2 * MAX_MESSAGE + 14 {
            self.broken = true;
            self.pending.clear();
        }
    }
}

/// A frame's header length, payload length and masking key, once the header is complete.
fn frame_header(buf: &[u8]) -> Option<(usize, u64, Option<[u8; 4]>)> {
    let b1 = *buf.get(1)?;
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(bytes), 10)
        }
        n => (u64::from(n), 2),
    };
    let mask = if masked {
        let key: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(key)
    } else {
        None
    };
    Some((at, len, mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let m = if mask.is_some() { 0x80 } else { 0 };
        if payload.len() < 126 {
            out.push(m | payload.len() as u8);
        } else {
            out.push(m | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        match mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    #[test]
    fn messages_come_out_whole_across_splits_fragments_and_masks() {
        let mut bytes = frame(true, 2, b"\x01hello", None);
        bytes.extend(frame(false, 2, b"\x00ab", Some([1, 2, 3, 4])));
        bytes.extend(frame(true, 9, b"ping", None));
        bytes.extend(frame(true, 0, b"cd", Some([9, 8, 7, 6])));
        bytes.extend(frame(true, 2, &[b'x'; 300], None));
        let mut reader = FrameReader::default();
        let mut seen = Vec::new();
        for piece in bytes.chunks(3) {
            reader.feed(piece, |m| seen.push(m.to_vec()));
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], b"\x01hello");
        assert_eq!(seen[1], b"\x00abcd");
        assert_eq!(seen[2].len(), 300);
        assert!(!reader.broken);
    }
}
