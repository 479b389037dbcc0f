//! `kind = "syslog"`: RFC 5424 messages, octet-counted over TCP or one datagram each over UDP.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use super::config::{facility_code, SyslogSinkConfig, SyslogTransport};
use super::Batch;
use crate::tail::TailRecord;

/// The largest UDP payload over IPv4; a longer syslog message cannot be sent whole.
const MAX_DATAGRAM: usize = 65_507;
/// RFC 5424 severity "informational": every record is a fact, none an alarm.
const SEVERITY_INFO: u8 = 6;

pub(super) struct SyslogDestination {
    pub(super) address: String,
    pub(super) transport: SyslogTransport,
    /// facility * 8 + severity.
    pri: u8,
    hostname: String,
    procid: String,
    pub(super) timeout: Duration,
    tcp: Option<TcpStream>,
    udp: Option<UdpSocket>,
}

impl SyslogDestination {
    pub(super) fn new(config: &SyslogSinkConfig) -> Result<SyslogDestination, String> {
        let hostname = match &config.hostname {
            Some(h) => h.clone(),
            None => local_hostname(),
        };
        Ok(SyslogDestination {
            address: config.address.clone(),
            transport: config.transport,
            pri: facility_code(&config.facility)? * 8 + SEVERITY_INFO,
            hostname: header_field(&hostname, 255).to_owned(),
            procid: std::process::id().to_string(),
            timeout: config.timeout,
            tcp: None,
            udp: None,
        })
    }

    pub(super) async fn deliver(&mut self, batch: &Batch) -> Result<(), String> {
        match self.transport {
            SyslogTransport::Tcp => self.deliver_tcp(batch).await,
            SyslogTransport::Udp => self.deliver_udp(batch).await,
        }
    }

    fn message(&self, record: &TailRecord) -> Vec<u8> {
        rfc5424(self.pri, &self.hostname, &self.procid, record)
    }

    /// The connection is taken out and put back only once a whole batch went out: a write cut
    /// short (an error, or the timeout dropping this future) leaves half a frame behind, after
    /// which the connection must not carry another.
    async fn deliver_tcp(&mut self, batch: &Batch) -> Result<(), String> {
        let mut stream = match self.tcp.take() {
            Some(s) if peer_open(&s) => s,
            _ => TcpStream::connect(self.address.as_str())
                .await
                .map_err(|e| format!("connect: {e}"))?,
        };
        let mut out = Vec::new();
        for record in batch.iter() {
            octet_frame(&mut out, &self.message(record));
        }
        stream.write_all(&out).await.map_err(send_failed)?;
        self.tcp = Some(stream);
        Ok(())
    }

    /// UDP has no acknowledgement: a datagram that was sent counts as delivered.
    async fn deliver_udp(&mut self, batch: &Batch) -> Result<(), String> {
        let socket = match self.udp.take() {
            Some(s) => s,
            None => udp_socket(&self.address).await?,
        };
        for record in batch.iter() {
            let mut message = self.message(record);
            if message.len() > MAX_DATAGRAM {
                tracing::warn!(seq = record.seq, bytes = message.len(), "audit record longer than a UDP datagram; sent truncated (transport = \"tcp\" sends it whole)");
                message.truncate(MAX_DATAGRAM);
            }
            socket.send(&message).await.map_err(send_failed)?;
        }
        self.udp = Some(socket);
        Ok(())
    }
}

fn send_failed(e: io::Error) -> String {
    format!("send: {e}")
}

/// A syslog receiver never sends, so a readable connection that yields 0 bytes was closed by
/// the peer; writing to it would "succeed" into the kernel buffer and lose the batch.
fn peer_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    match stream.try_read(&mut probe) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    }
}

async fn udp_socket(address: &str) -> Result<UdpSocket, String> {
    let target = tokio::net::lookup_host(address)
        .await
        .map_err(|e| format!("resolving: {e}"))?
        .next()
        .ok_or("the address resolves to nothing")?;
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    socket
        .connect(target)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    Ok(socket)
}

/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`: the record's own time, the event
/// type as MSGID, no structured data, and the JSON line as MSG (without a BOM, which many
/// receivers would keep as part of the JSON).
fn rfc5424(pri: u8, hostname: &str, procid: &str, record: &TailRecord) -> Vec<u8> {
    let mut out = format!(
        "<{pri}>1 {} {} sluice {} {} - ",
        header_field(&record.time, 64),
        header_field(hostname, 255),
        header_field(procid, 128),
        header_field(&record.event_type, 32),
    )
    .into_bytes();
    out.extend_from_slice(&record.line);
    out
}

/// RFC 6587 octet counting: `MSG-LEN SP SYSLOG-MSG`, so a message may hold any byte.
fn octet_frame(out: &mut Vec<u8>, message: &[u8]) {
    out.extend_from_slice(format!("{} ", message.len()).as_bytes());
    out.extend_from_slice(message);
}

/// RFC 5424 header fields are 1 to `max` printable ASCII characters without spaces, or `-`
/// for "no value".
pub(super) fn header_field(value: &str, max: usize) -> &str {
    let ok =
        !value.is_empty() && value.len() <= max && value.bytes().all(|b| (33..=126).contains(&b));
    if ok {
        value
    } else {
        "-"
    }
}

/// The kernel's host name, without a libc call.
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "-".into())
}
#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;
    use crate::sinks::Cursor;
    use crate::test_support::{audit_file, line, prepare_sinks, record};

    #[test]
    fn syslog_message_and_octet_framing() {
        let r = record(7, "statement");
        let message = rfc5424(16 * 8 + 6, "gw-1", "4242", &r);
        let expected = format!(
            "<134>1 2025-01-02T03:04:05.000007Z gw-1 sluice 4242 statement - {}",
            line(7, "statement")
        );
        assert_eq!(String::from_utf8(message.clone()).unwrap(), expected);

        let mut framed = Vec::new();
        octet_frame(&mut framed, &message);
        octet_frame(&mut framed, b"x y");
        assert_eq!(
            framed,
            format!("{} {expected}3 x y", expected.len()).into_bytes()
        );
        // Fields a header cannot carry become "-".
        let odd = rfc5424(110, "host name", "1", &record(1, ""));
        assert!(odd.starts_with(b"<110>1 2025-01-02T03:04:05.000001Z - sluice 1 - - {"));
    }

    /// One syslog sink named `name` to `address`, with `settings` added, started over a trail
    /// holding the records 1 to `last`; the trail's directory (it holds the cursor) and the task.
    fn syslog_sink(
        name: &str,
        address: std::net::SocketAddr,
        settings: &str,
        last: u64,
    ) -> (tempfile::TempDir, crate::sinks::AuditSinkTasks) {
        let (dir, _) = audit_file(1..=last);
        let table = format!(
            "[[audit_sinks]]\nname = \"{name}\"\nkind = \"syslog\"\naddress = \"{address}\"\nhostname = \"gw\"\n{settings}"
        );
        let tasks = prepare_sinks(dir.path(), &table).unwrap().spawn();
        (dir, tasks)
    }

    /// The whole loop against a TCP syslog receiver: every record arrives, framed, and the
    /// cursor ends at the last one.
    #[tokio::test]
    async fn syslog_tcp_sink_delivers_and_moves_the_cursor() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (dir, tasks) = syslog_sink("sl", listener.local_addr().unwrap(), "", 3);
        assert_eq!(tasks.len(), 1);
        let procid = std::process::id().to_string();

        let mut expected = Vec::new();
        for seq in 1..=3 {
            let r = record(seq, "statement");
            octet_frame(&mut expected, &rfc5424(16 * 8 + 6, "gw", &procid, &r));
        }
        let (mut stream, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .unwrap()
            .unwrap();
        let mut received = vec![0u8; expected.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut received))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&received),
            String::from_utf8_lossy(&expected)
        );
        let cursor = Cursor::new(dir.path(), "sl");
        for _ in 0..250 {
            if cursor.load().unwrap() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(cursor.load().unwrap(), 3);
        drop(tasks);
    }

    /// UDP: one datagram per record, the message unframed.
    #[tokio::test]
    async fn syslog_udp_sink_sends_one_datagram_per_record() {
        let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let settings = "transport = \"udp\"\nfacility = \"audit\"\n";
        let _sink = syslog_sink("u", receiver.local_addr().unwrap(), settings, 2);
        let procid = std::process::id().to_string();
        for seq in 1..=2 {
            let mut datagram = vec![0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), receiver.recv(&mut datagram))
                .await
                .unwrap()
                .unwrap();
            let expected = rfc5424(13 * 8 + 6, "gw", &procid, &record(seq, "statement"));
            assert_eq!(
                String::from_utf8_lossy(&datagram[..n]),
                String::from_utf8_lossy(&expected)
            );
        }
    }
}
