//! An SFTP session as the relay sees it: both directions of a channel, each cut into
//! arbitrary chunks, through `Framer` → `ClientRequest::parse` / `ServerResponse::parse` →
//! `Tracker`, in the order the chunks arrive.
//!
//! Input layout: a sequence of segments, each a header byte then data. Header bit 7 is the
//! direction (0: client to server, 1: server to client); bits 0..6 are the data's length
//! (fewer bytes if the input ends first). A direction whose framer fails is dead, as the
//! relay would close the channel.
//!
//! After a forwarded INIT the tracker's own REALPATH(".") probe is issued (its answer, if
//! the input contains one, teaches the directory). Requests the tracker would have decided are forwarded or refused by a toy policy (by the
//! id's parity) so that both `forwarded` and `denied` run. Checked: every fact's path is
//! absolute and normalised (and normalising it again changes nothing), the tracker stays
//! within its limits, the gateway's own STATUS packets read back as written, and the
//! client's stream also goes through the legacy scp control-line reader. Errors are
//! expected; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_sftp::{
    normalize, status_denied, Check, ClientRequest, Framer, Limits, RequestKind, ResponseKind,
    ScpStream, ServerResponse, Tracker, PROBE_ID,
};

const LIMITS: Limits = Limits {
    max_handles: 8,
    max_pending: 16,
};

fn normalised(p: &str) {
    assert!(p.starts_with('/'), "{p:?}");
    assert!(p == "/" || !p.ends_with('/'), "{p:?}");
    for part in p.split('/').skip(1) {
        assert!(!matches!(part, "" | "." | "..") || p == "/", "{p:?}");
    }
    assert_eq!(normalize("/", p), p);
}

fn client_packet(tracker: &mut Tracker, packet: &sluice_sftp::Packet) {
    let Ok(req) = ClientRequest::parse(packet) else {
        std::hint::black_box(packet.request_id());
        return;
    };
    let allow = match tracker.check(&req) {
        Check::Forward => true,
        Check::Decide(facts) => {
            assert!(!facts.is_empty());
            for f in &facts {
                normalised(&f.path);
                if let Some(t) = &f.target_path {
                    normalised(t);
                }
            }
            req.id % 2 == 0
        }
        Check::Refuse(r) => {
            let answer = r.answer(req.id);
            let mut framer = Framer::new();
            framer.push(&answer);
            let p = framer.next_packet().unwrap().unwrap();
            assert_eq!(ServerResponse::parse(&p).unwrap().id, req.id);
            false
        }
    };
    if allow {
        let _ = tracker.forwarded(&req);
        // The relay's own REALPATH("."), sent after INIT when the directory is unknown.
        if matches!(req.kind, RequestKind::Init { .. }) && tracker.cwd().is_none() {
            if let Ok(probe) = tracker.probe() {
                let mut framer = Framer::new();
                framer.push(&probe);
                let p = framer.next_packet().unwrap().unwrap();
                assert_eq!(ClientRequest::parse(&p).unwrap().id, PROBE_ID);
            }
        }
    } else if let Some(op) = tracker.denied(&req, "rule") {
        normalised(&op.path);
        assert_eq!(op.outcome, "denied");
        let answer = status_denied(req.id, "rule");
        let mut framer = Framer::new();
        framer.push(&answer);
        let p = framer.next_packet().unwrap().unwrap();
        let r = ServerResponse::parse(&p).unwrap();
        assert_eq!(r.id, req.id);
        assert!(matches!(r.kind, ResponseKind::Status { code: 3, .. }));
    }
}

fn server_packet(tracker: &mut Tracker, packet: &sluice_sftp::Packet) {
    let Ok(resp) = ServerResponse::parse(packet) else {
        return;
    };
    let own = tracker.is_probe_answer(&resp);
    if let Ok(Some(op)) = tracker.server_response(&resp) {
        assert!(!own, "the probe's answer makes no audit line");
        normalised(&op.path);
        assert!(op.outcome == "ok" || op.outcome == "error");
    }
    if let Some(cwd) = tracker.cwd() {
        normalised(cwd);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut tracker = Tracker::new(LIMITS);
    let (mut up, mut down) = (Framer::new(), Framer::new());
    let (mut up_alive, mut down_alive) = (true, true);
    let mut scp = ScpStream::new();
    let mut rest = data;
    while let Some((&header, tail)) = rest.split_first() {
        let len = usize::from(header & 0x7f).min(tail.len());
        let (chunk, after) = tail.split_at(len);
        rest = after;
        if header & 0x80 == 0 {
            let _ = scp.push(chunk);
            if !up_alive {
                continue;
            }
            up.push(chunk);
            loop {
                match up.next_packet() {
                    Ok(Some(p)) => client_packet(&mut tracker, &p),
                    Ok(None) => break,
                    Err(_) => {
                        up_alive = false;
                        break;
                    }
                }
            }
        } else {
            if !down_alive {
                continue;
            }
            down.push(chunk);
            loop {
                match down.next_packet() {
                    Ok(Some(p)) => server_packet(&mut tracker, &p),
                    Ok(None) => break,
                    Err(_) => {
                        down_alive = false;
                        break;
                    }
                }
            }
        }
        let (handles, pending) = tracker.in_flight();
        assert!(handles <= LIMITS.max_handles && pending <= LIMITS.max_pending);
    }
    for op in tracker.finish() {
        normalised(&op.path);
    }
    assert_eq!(tracker.in_flight(), (0, 0));
});
