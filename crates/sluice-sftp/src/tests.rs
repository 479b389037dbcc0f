//! Unit tests over hand-built packets.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_decision::facts::{FileAccess, FileOperation as Op, FileVia};

use crate::codec::*;
use crate::request::*;
use crate::*;

/// Builds one framed packet field by field.
struct B(BytesMut);

impl B {
    fn new(t: u8) -> Self {
        let mut b = BytesMut::new();
        b.put_u8(t);
        B(b)
    }
    fn req(t: u8, id: u32) -> Self {
        B::new(t).u32(id)
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.put_u32(v);
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.put_u64(v);
        self
    }
    fn s(mut self, v: &[u8]) -> Self {
        put_string(&mut self.0, v);
        self
    }
    fn no_attrs(self) -> Self {
        self.u32(0)
    }
    fn done(self) -> Vec<u8> {
        let mut out = (self.0.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&self.0);
        out
    }
}

fn packet(raw: &[u8]) -> Packet {
    let mut f = Framer::new();
    f.push(raw);
    let p = f.next_packet().unwrap().unwrap();
    assert_eq!(f.buffered(), 0);
    p
}

fn req(raw: &[u8]) -> ClientRequest {
    ClientRequest::parse(&packet(raw)).unwrap()
}

fn resp(raw: &[u8]) -> ServerResponse {
    ServerResponse::parse(&packet(raw)).unwrap()
}

fn h(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[test]
fn framer_every_chunking() {
    let mut stream = Vec::new();
    let packets = [
        B::new(SSH_FXP_INIT).u32(3).done(),
        B::req(SSH_FXP_OPEN, 1).s(b"a").u32(1).no_attrs().done(),
        B::req(SSH_FXP_WRITE, 2).s(b"h").u64(0).s(&[7; 300]).done(),
        B::req(SSH_FXP_CLOSE, 3).s(b"h").done(),
    ];
    for p in &packets {
        stream.extend_from_slice(p);
    }
    for chunk in 1..=stream.len() {
        let mut f = Framer::new();
        let mut got = Vec::new();
        for c in stream.chunks(chunk) {
            f.push(c);
            while let Some(p) = f.next_packet().unwrap() {
                got.push(p.raw().to_vec());
            }
        }
        assert_eq!(got, packets, "chunk {chunk}");
        assert_eq!(f.buffered(), 0);
    }
    // Every split point of two chunks.
    for cut in 0..=stream.len() {
        let mut f = Framer::new();
        f.push(&stream[..cut]);
        let mut n = 0;
        while f.next_packet().unwrap().is_some() {
            n += 1;
        }
        f.push(&stream[cut..]);
        while f.next_packet().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, packets.len());
    }
}

#[test]
fn framer_limit() {
    let mut f = Framer::new();
    f.push(&((MAX_PACKET_LEN + 1) as u32).to_be_bytes());
    assert_eq!(
        f.next_packet(),
        Err(SftpError::TooLong {
            len: MAX_PACKET_LEN + 1,
            max: MAX_PACKET_LEN
        })
    );
    let mut f = Framer::with_max(8);
    f.push(&[0, 0, 0, 8]);
    assert_eq!(f.next_packet(), Ok(None));
    f.push(&[0; 8]);
    assert!(f.next_packet().unwrap().is_some());
    let mut f = Framer::new();
    f.push(&[0, 0, 0, 0]);
    let p = f.next_packet().unwrap().unwrap();
    assert_eq!(p.packet_type(), None);
    assert!(ClientRequest::parse(&p).is_err());
    assert!(ServerResponse::parse(&p).is_err());
}

#[test]
fn every_request_type() {
    use RequestKind as K;
    let a = Attrs::default();
    let cases: Vec<(Vec<u8>, RequestKind)> = vec![
        (
            B::req(SSH_FXP_OPEN, 1)
                .s(b"f")
                .u32(SSH_FXF_READ)
                .no_attrs()
                .done(),
            K::Open {
                path: "f".into(),
                pflags: SSH_FXF_READ,
                attrs: a.clone(),
            },
        ),
        (
            B::req(SSH_FXP_CLOSE, 1).s(b"h").done(),
            K::Close { handle: h("h") },
        ),
        (
            B::req(SSH_FXP_READ, 1).s(b"h").u64(9).u32(100).done(),
            K::Read {
                handle: h("h"),
                offset: 9,
                len: 100,
            },
        ),
        (
            B::req(SSH_FXP_WRITE, 1).s(b"h").u64(5).s(b"hello").done(),
            K::Write {
                handle: h("h"),
                offset: 5,
                len: 5,
            },
        ),
        (
            B::req(SSH_FXP_LSTAT, 1).s(b"p").done(),
            K::Lstat { path: "p".into() },
        ),
        (
            B::req(SSH_FXP_FSTAT, 1).s(b"h").done(),
            K::Fstat { handle: h("h") },
        ),
        (
            B::req(SSH_FXP_SETSTAT, 1)
                .s(b"p")
                .u32(0x4)
                .u32(0o600)
                .done(),
            K::Setstat {
                path: "p".into(),
                attrs: Attrs {
                    permissions: Some(0o600),
                    ..Attrs::default()
                },
            },
        ),
        (
            B::req(SSH_FXP_FSETSTAT, 1)
                .s(b"h")
                .u32(0x8000_000f)
                .u64(10)
                .u32(1)
                .u32(2)
                .u32(0o644)
                .u32(3)
                .u32(4)
                .u32(1)
                .s(b"x@y")
                .s(b"z")
                .done(),
            K::Fsetstat {
                handle: h("h"),
                attrs: Attrs {
                    size: Some(10),
                    uid_gid: Some((1, 2)),
                    permissions: Some(0o644),
                    atime_mtime: Some((3, 4)),
                },
            },
        ),
        (
            B::req(SSH_FXP_OPENDIR, 1).s(b"d").done(),
            K::Opendir { path: "d".into() },
        ),
        (
            B::req(SSH_FXP_READDIR, 1).s(b"h").done(),
            K::Readdir { handle: h("h") },
        ),
        (
            B::req(SSH_FXP_REMOVE, 1).s(b"p").done(),
            K::Remove { path: "p".into() },
        ),
        (
            B::req(SSH_FXP_MKDIR, 1).s(b"d").no_attrs().done(),
            K::Mkdir {
                path: "d".into(),
                attrs: a.clone(),
            },
        ),
        (
            B::req(SSH_FXP_RMDIR, 1).s(b"d").done(),
            K::Rmdir { path: "d".into() },
        ),
        (
            B::req(SSH_FXP_REALPATH, 1).s(b".").done(),
            K::Realpath { path: ".".into() },
        ),
        (
            B::req(SSH_FXP_STAT, 1).s(b"p").done(),
            K::Stat { path: "p".into() },
        ),
        (
            B::req(SSH_FXP_RENAME, 1).s(b"a").s(b"b").done(),
            K::Rename {
                old: "a".into(),
                new: "b".into(),
            },
        ),
        (
            B::req(SSH_FXP_READLINK, 1).s(b"l").done(),
            K::Readlink { path: "l".into() },
        ),
        (
            B::req(SSH_FXP_SYMLINK, 1).s(b"target").s(b"link").done(),
            K::Symlink {
                target: "target".into(),
                link: "link".into(),
            },
        ),
        (B::req(77, 1).s(b"whatever").done(), K::Unknown(77)),
    ];
    for (raw, want) in cases {
        let r = req(&raw);
        assert_eq!(r.id, 1);
        assert_eq!(r.kind, want);
        assert_eq!(packet(&raw).request_id(), Some(1));
        // Every proper prefix of the body is malformed (or, for an unknown type, still
        // unknown), never a panic.
        for cut in 1..raw.len() - 4 {
            let mut short = raw[..4 + cut].to_vec();
            short[..4].copy_from_slice(&(cut as u32).to_be_bytes());
            let _ = ClientRequest::parse(&packet(&short));
        }
    }
    let init = req(&B::new(SSH_FXP_INIT).u32(3).done());
    assert_eq!(init.kind, K::Init { version: 3 });
    assert_eq!(
        packet(&B::new(SSH_FXP_INIT).u32(3).done()).request_id(),
        None
    );
}

#[test]
fn truncated_requests_are_errors() {
    for raw in [
        B::req(SSH_FXP_OPEN, 1).s(b"f").done(),
        B::req(SSH_FXP_WRITE, 1).s(b"h").u64(0).u32(10).done(),
        B::req(SSH_FXP_READ, 1).s(b"h").u64(0).done(),
        B::req(SSH_FXP_RENAME, 1).s(b"a").done(),
        B::new(SSH_FXP_OPEN).done(),
        B::req(SSH_FXP_STAT, 1).u32(100).done(),
        B::req(SSH_FXP_STAT, 1).s(b"/etc/shadow\0/../ok").done(),
        B::req(SSH_FXP_SETSTAT, 1)
            .s(b"p")
            .u32(0x8000_0000)
            .u32(1)
            .done(),
    ] {
        assert!(ClientRequest::parse(&packet(&raw)).is_err(), "{raw:?}");
    }
}

#[test]
fn every_extension() {
    use Extension as E;
    let ext = |name: &[u8]| B::req(SSH_FXP_EXTENDED, 4).s(name);
    let cases: Vec<(Vec<u8>, Extension)> = vec![
        (
            ext(b"posix-rename@openssh.com").s(b"a").s(b"b").done(),
            E::PosixRename {
                old: "a".into(),
                new: "b".into(),
            },
        ),
        (
            ext(b"statvfs@openssh.com").s(b"/").done(),
            E::Statvfs { path: "/".into() },
        ),
        (
            ext(b"fstatvfs@openssh.com").s(b"h").done(),
            E::Fstatvfs { handle: h("h") },
        ),
        (
            ext(b"hardlink@openssh.com").s(b"a").s(b"b").done(),
            E::Hardlink {
                old: "a".into(),
                new: "b".into(),
            },
        ),
        (
            ext(b"fsync@openssh.com").s(b"h").done(),
            E::Fsync { handle: h("h") },
        ),
        (
            ext(b"lsetstat@openssh.com").s(b"l").no_attrs().done(),
            E::Lsetstat {
                path: "l".into(),
                attrs: Attrs::default(),
            },
        ),
        (ext(b"limits@openssh.com").done(), E::Limits),
        (
            ext(b"expand-path@openssh.com").s(b"~/x").done(),
            E::ExpandPath { path: "~/x".into() },
        ),
        (
            ext(b"copy-data")
                .s(b"r")
                .u64(1)
                .u64(2)
                .s(b"w")
                .u64(3)
                .done(),
            E::CopyData {
                read_handle: h("r"),
                read_offset: 1,
                len: 2,
                write_handle: h("w"),
                write_offset: 3,
            },
        ),
        (
            ext(b"home-directory").s(b"bob").done(),
            E::HomeDirectory {
                username: "bob".into(),
            },
        ),
        (
            ext(b"users-groups-by-id@openssh.com")
                .s(&[0, 0, 0, 0])
                .s(b"")
                .done(),
            E::UsersGroupsById,
        ),
        (ext(b"evil@example.com").s(b"x").done(), E::Other),
    ];
    for (raw, want) in cases {
        match req(&raw).kind {
            RequestKind::Extended { request, .. } => assert_eq!(request, want),
            other => panic!("{other:?}"),
        }
    }
    assert!(ClientRequest::parse(&packet(&ext(b"hardlink@openssh.com").s(b"a").done())).is_err());
}

#[test]
fn every_response_type() {
    use ResponseKind as K;
    let v = resp(
        &B::new(SSH_FXP_VERSION)
            .u32(3)
            .s(b"posix-rename@openssh.com")
            .s(b"1")
            .done(),
    );
    assert_eq!(
        v.kind,
        K::Version {
            version: 3,
            extensions: vec![("posix-rename@openssh.com".into(), "1".into())]
        }
    );
    let cases: Vec<(Vec<u8>, ResponseKind)> = vec![
        (
            B::req(SSH_FXP_STATUS, 7)
                .u32(2)
                .s(b"No such file")
                .s(b"")
                .done(),
            K::Status {
                code: 2,
                message: "No such file".into(),
            },
        ),
        (
            B::req(SSH_FXP_STATUS, 7).u32(0).done(),
            K::Status {
                code: 0,
                message: String::new(),
            },
        ),
        (
            B::req(SSH_FXP_HANDLE, 7).s(b"\0\0\0\x01").done(),
            K::Handle(Bytes::from_static(b"\0\0\0\x01")),
        ),
        (
            B::req(SSH_FXP_DATA, 7).s(&[1; 1000]).done(),
            K::Data { len: 1000 },
        ),
        (
            B::req(SSH_FXP_NAME, 7)
                .u32(1)
                .s(b"/home/a")
                .s(b"drwx------ /home/a")
                .no_attrs()
                .done(),
            K::Name {
                count: 1,
                first: Some("/home/a".into()),
            },
        ),
        (
            B::req(SSH_FXP_NAME, 7).u32(0).done(),
            K::Name {
                count: 0,
                first: None,
            },
        ),
        (
            B::req(SSH_FXP_ATTRS, 7).u32(1).u64(42).done(),
            K::Attrs(Attrs {
                size: Some(42),
                ..Attrs::default()
            }),
        ),
        (
            B::req(SSH_FXP_EXTENDED_REPLY, 7).u64(1).done(),
            K::ExtendedReply,
        ),
        (B::req(150, 7).done(), K::Unknown(150)),
    ];
    for (raw, want) in cases {
        let r = resp(&raw);
        assert_eq!((r.id, r.kind), (7, want));
    }
    for bad in [
        B::req(SSH_FXP_DATA, 7).u32(10).done(),
        B::req(SSH_FXP_HANDLE, 7).done(),
        B::req(SSH_FXP_NAME, 7).u32(1).s(b"x").done(),
        B::req(SSH_FXP_STATUS, 7).done(),
        B::new(SSH_FXP_VERSION).u32(3).s(b"name-only").done(),
    ] {
        assert!(ServerResponse::parse(&packet(&bad)).is_err(), "{bad:?}");
    }
}

#[test]
fn status_packets() {
    let raw = status_denied(9, "denied by rule no-etc");
    let r = resp(&raw);
    assert_eq!(
        r,
        ServerResponse {
            id: 9,
            kind: ResponseKind::Status {
                code: SSH_FX_PERMISSION_DENIED,
                message: "denied by rule no-etc".into()
            }
        }
    );
    let r = resp(&status_failure(1, ""));
    assert_eq!(
        r.kind,
        ResponseKind::Status {
            code: SSH_FX_FAILURE,
            message: String::new()
        }
    );
}

fn fa(operation: Op, path: &str, target: Option<&str>) -> FileAccess {
    FileAccess {
        operation,
        path: path.into(),
        target_path: target.map(Into::into),
        via: FileVia::Sftp,
    }
}

/// A tracker that has seen the startup REALPATH(".") answered with `/home/alice`.
fn started() -> Tracker {
    let mut t = Tracker::default();
    let rp = req(&B::req(SSH_FXP_REALPATH, 100).s(b".").done());
    assert_eq!(t.check(&rp), Check::Forward);
    t.forwarded(&rp).unwrap();
    let name = resp(
        &B::req(SSH_FXP_NAME, 100)
            .u32(1)
            .s(b"/home/alice/")
            .s(b"")
            .no_attrs()
            .done(),
    );
    assert_eq!(t.server_response(&name).unwrap(), None);
    assert_eq!(t.cwd(), Some("/home/alice"));
    t
}

#[test]
fn relative_paths_wait_for_the_directory() {
    let t = Tracker::default();
    let stat = req(&B::req(SSH_FXP_STAT, 1).s(b"x").done());
    assert_eq!(t.check(&stat), Check::Refuse(Refusal::DirectoryUnknown));
    let rp = req(&B::req(SSH_FXP_REALPATH, 1).s(b"..").done());
    assert_eq!(t.check(&rp), Check::Refuse(Refusal::DirectoryUnknown));
    let abs = req(&B::req(SSH_FXP_STAT, 1).s(b"/a/../etc/passwd").done());
    assert_eq!(
        t.check(&abs),
        Check::Decide(vec![fa(Op::Stat, "/etc/passwd", None)])
    );
    let t = Tracker::with_home(Limits::default(), "/home/bob/");
    assert_eq!(
        t.check(&stat),
        Check::Decide(vec![fa(Op::Stat, "/home/bob/x", None)])
    );
}

#[test]
fn facts_of_each_request() {
    let t = started();
    let c = |raw: Vec<u8>| t.check(&req(&raw));
    let d = |op, p: &str, tg: Option<&str>| Check::Decide(vec![fa(op, p, tg)]);
    let open = |flags| B::req(SSH_FXP_OPEN, 1).s(b"f").u32(flags).no_attrs().done();
    assert_eq!(c(open(SSH_FXF_READ)), d(Op::Read, "/home/alice/f", None));
    assert_eq!(c(open(0)), d(Op::Read, "/home/alice/f", None));
    assert_eq!(c(open(SSH_FXF_WRITE)), d(Op::Write, "/home/alice/f", None));
    assert_eq!(
        c(open(SSH_FXF_APPEND | SSH_FXF_WRITE)),
        d(Op::Write, "/home/alice/f", None)
    );
    assert_eq!(
        c(open(SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC)),
        d(Op::Create, "/home/alice/f", None)
    );
    assert_eq!(
        c(open(SSH_FXF_READ | SSH_FXF_WRITE)),
        Check::Decide(vec![
            fa(Op::Write, "/home/alice/f", None),
            fa(Op::Read, "/home/alice/f", None)
        ])
    );
    assert_eq!(
        c(B::req(SSH_FXP_OPENDIR, 1).s(b"..").done()),
        d(Op::List, "/home", None)
    );
    assert_eq!(
        c(B::req(SSH_FXP_REMOVE, 1).s(b"a/./b").done()),
        d(Op::Remove, "/home/alice/a/b", None)
    );
    assert_eq!(
        c(B::req(SSH_FXP_MKDIR, 1).s(b"d/").no_attrs().done()),
        d(Op::Mkdir, "/home/alice/d", None)
    );
    assert_eq!(
        c(B::req(SSH_FXP_RMDIR, 1).s(b"//tmp//d").done()),
        d(Op::Rmdir, "/tmp/d", None)
    );
    assert_eq!(
        c(B::req(SSH_FXP_LSTAT, 1).s(b"x").done()),
        d(Op::Stat, "/home/alice/x", None)
    );
    assert_eq!(
        c(B::req(SSH_FXP_SETSTAT, 1).s(b"x").no_attrs().done()),
        d(Op::Setstat, "/home/alice/x", None)
    );
    assert_eq!(
        c(B::req(SSH_FXP_REALPATH, 1).s(b"../..").done()),
        d(Op::Stat, "/", None)
    );
    assert_eq!(
        c(B::req(SSH_FXP_READLINK, 1).s(b"l").done()),
        d(Op::Readlink, "/home/alice/l", None)
    );
    assert_eq!(
        c(B::req(SSH_FXP_RENAME, 1).s(b"a").s(b"/tmp/b").done()),
        d(Op::Rename, "/home/alice/a", Some("/tmp/b"))
    );
    // OpenSSH order: target first, then the link; a relative target is relative to the
    // link's directory.
    assert_eq!(
        c(B::req(SSH_FXP_SYMLINK, 1)
            .s(b"../../etc/passwd")
            .s(b"sub/l")
            .done()),
        d(Op::Symlink, "/home/alice/sub/l", Some("/home/etc/passwd"))
    );
    assert_eq!(
        c(B::req(SSH_FXP_SYMLINK, 1).s(b"/etc/passwd").s(b"l").done()),
        d(Op::Symlink, "/home/alice/l", Some("/etc/passwd"))
    );
    let ext = |name: &[u8]| B::req(SSH_FXP_EXTENDED, 1).s(name);
    assert_eq!(
        c(ext(b"posix-rename@openssh.com").s(b"a").s(b"b").done()),
        d(Op::Rename, "/home/alice/a", Some("/home/alice/b"))
    );
    assert_eq!(
        c(ext(b"hardlink@openssh.com")
            .s(b"/etc/shadow")
            .s(b"s")
            .done()),
        d(Op::Symlink, "/home/alice/s", Some("/etc/shadow"))
    );
    assert_eq!(
        c(ext(b"statvfs@openssh.com").s(b"/").done()),
        d(Op::Stat, "/", None)
    );
    assert_eq!(
        c(ext(b"lsetstat@openssh.com").s(b"l").no_attrs().done()),
        d(Op::Setstat, "/home/alice/l", None)
    );
    assert_eq!(
        c(ext(b"expand-path@openssh.com").s(b"~/x/..").done()),
        d(Op::Stat, "/home/alice", None)
    );
    assert_eq!(
        c(ext(b"expand-path@openssh.com").s(b"~").done()),
        d(Op::Stat, "/home/alice", None)
    );
    assert_eq!(
        c(ext(b"expand-path@openssh.com").s(b"y").done()),
        d(Op::Stat, "/home/alice/y", None)
    );
    assert_eq!(
        c(ext(b"expand-path@openssh.com").s(b"~root/x").done()),
        Check::Refuse(Refusal::OtherUsersHome)
    );
    assert_eq!(c(ext(b"limits@openssh.com").done()), Check::Forward);
    assert_eq!(c(ext(b"home-directory").s(b"x").done()), Check::Forward);
    assert_eq!(c(B::new(SSH_FXP_INIT).u32(3).done()), Check::Forward);
    assert_eq!(
        c(ext(b"evil").done()),
        Check::Refuse(Refusal::UnknownExtension("evil".into()))
    );
    assert_eq!(
        c(B::req(99, 1).done()),
        Check::Refuse(Refusal::UnknownType(99))
    );
    // Handles never opened.
    for raw in [
        B::req(SSH_FXP_READ, 1).s(b"h").u64(0).u32(1).done(),
        B::req(SSH_FXP_WRITE, 1).s(b"h").u64(0).s(b"x").done(),
        B::req(SSH_FXP_READDIR, 1).s(b"h").done(),
        B::req(SSH_FXP_FSTAT, 1).s(b"h").done(),
        B::req(SSH_FXP_FSETSTAT, 1).s(b"h").no_attrs().done(),
        ext(b"fsync@openssh.com").s(b"h").done(),
        ext(b"fstatvfs@openssh.com").s(b"h").done(),
        ext(b"copy-data")
            .s(b"h")
            .u64(0)
            .u64(0)
            .s(b"h")
            .u64(0)
            .done(),
    ] {
        assert_eq!(c(raw), Check::Refuse(Refusal::UnknownHandle));
    }
    assert_eq!(c(B::req(SSH_FXP_CLOSE, 1).s(b"h").done()), Check::Forward);
}

/// Sends a request through the tracker as a relay that allows it would.
fn send(t: &mut Tracker, raw: Vec<u8>) {
    let r = req(&raw);
    assert!(!matches!(t.check(&r), Check::Refuse(_)), "{r:?}");
    t.forwarded(&r).unwrap();
}

fn answer(t: &mut Tracker, raw: Vec<u8>) -> Option<sluice_record::FileOp> {
    t.server_response(&resp(&raw)).unwrap()
}

fn ok(id: u32) -> Vec<u8> {
    B::req(SSH_FXP_STATUS, id)
        .u32(0)
        .s(b"Success")
        .s(b"")
        .done()
}

#[test]
fn upload_and_download_counted() {
    let mut t = started();
    send(
        &mut t,
        B::req(SSH_FXP_OPEN, 1).s(b"up").u32(0x1a).no_attrs().done(),
    );
    assert_eq!(
        answer(&mut t, B::req(SSH_FXP_HANDLE, 1).s(b"H1").done()),
        None
    );
    send(
        &mut t,
        B::req(SSH_FXP_OPEN, 2)
            .s(b"/etc/motd")
            .u32(1)
            .no_attrs()
            .done(),
    );
    assert_eq!(
        answer(&mut t, B::req(SSH_FXP_HANDLE, 2).s(b"H2").done()),
        None
    );
    // Writes counted on acknowledgement only: the failed one is not.
    send(
        &mut t,
        B::req(SSH_FXP_WRITE, 3).s(b"H1").u64(0).s(&[1; 100]).done(),
    );
    send(
        &mut t,
        B::req(SSH_FXP_WRITE, 4)
            .s(b"H1")
            .u64(100)
            .s(&[1; 50])
            .done(),
    );
    send(
        &mut t,
        B::req(SSH_FXP_READ, 5).s(b"H2").u64(0).u32(4096).done(),
    );
    send(
        &mut t,
        B::req(SSH_FXP_READ, 6).s(b"H2").u64(4096).u32(4096).done(),
    );
    assert_eq!(answer(&mut t, ok(4)), None);
    assert_eq!(
        answer(&mut t, B::req(SSH_FXP_DATA, 5).s(&[0; 70]).done()),
        None
    );
    assert_eq!(
        answer(
            &mut t,
            B::req(SSH_FXP_STATUS, 6).u32(1).s(b"EOF").s(b"").done()
        ),
        None
    );
    assert_eq!(answer(&mut t, ok(3)), None);
    assert_eq!(t.in_flight(), (2, 0));
    send(&mut t, B::req(SSH_FXP_CLOSE, 7).s(b"H1").done());
    send(&mut t, B::req(SSH_FXP_CLOSE, 8).s(b"H2").done());
    let up = answer(&mut t, ok(7)).unwrap();
    assert_eq!(
        (
            up.op.as_str(),
            up.path.as_str(),
            up.bytes,
            up.outcome.as_str()
        ),
        ("create", "/home/alice/up", Some(150), "ok")
    );
    let down = answer(&mut t, ok(8)).unwrap();
    assert_eq!(
        (
            down.op.as_str(),
            down.path.as_str(),
            down.bytes,
            down.outcome.as_str()
        ),
        ("read", "/etc/motd", Some(70), "ok")
    );
    assert_eq!(t.in_flight(), (0, 0));
    assert!(t.finish().is_empty());
}

#[test]
fn failures_recorded() {
    let mut t = started();
    send(
        &mut t,
        B::req(SSH_FXP_OPEN, 1).s(b"nope").u32(1).no_attrs().done(),
    );
    let op = answer(
        &mut t,
        B::req(SSH_FXP_STATUS, 1)
            .u32(2)
            .s(b"No such file")
            .s(b"")
            .done(),
    )
    .unwrap();
    assert_eq!(
        (op.op.as_str(), op.outcome.as_str(), op.message.as_str()),
        ("read", "error", "No such file")
    );
    // A failed write spoils the transfer even if CLOSE succeeds.
    send(
        &mut t,
        B::req(SSH_FXP_OPEN, 2).s(b"f").u32(0x1a).no_attrs().done(),
    );
    answer(&mut t, B::req(SSH_FXP_HANDLE, 2).s(b"H").done());
    send(
        &mut t,
        B::req(SSH_FXP_WRITE, 3).s(b"H").u64(0).s(b"abc").done(),
    );
    answer(&mut t, B::req(SSH_FXP_STATUS, 3).u32(4).done());
    send(&mut t, B::req(SSH_FXP_CLOSE, 4).s(b"H").done());
    let op = answer(&mut t, ok(4)).unwrap();
    assert_eq!(
        (op.outcome.as_str(), op.message.as_str(), op.bytes),
        ("error", "failure", Some(0))
    );
    // Simple ops end with their status or their answer.
    send(&mut t, B::req(SSH_FXP_REMOVE, 5).s(b"x").done());
    let op = answer(&mut t, ok(5)).unwrap();
    assert_eq!(
        (op.op.as_str(), op.path.as_str(), op.outcome.as_str()),
        ("remove", "/home/alice/x", "ok")
    );
    send(&mut t, B::req(SSH_FXP_RENAME, 6).s(b"a").s(b"b").done());
    let op = answer(
        &mut t,
        B::req(SSH_FXP_STATUS, 6)
            .u32(3)
            .s(b"Permission denied")
            .s(b"")
            .done(),
    )
    .unwrap();
    assert_eq!(op.target.as_deref(), Some("/home/alice/b"));
    assert_eq!((op.op.as_str(), op.outcome.as_str()), ("rename", "error"));
    send(&mut t, B::req(SSH_FXP_STAT, 7).s(b"x").done());
    let op = answer(&mut t, B::req(SSH_FXP_ATTRS, 7).no_attrs().done()).unwrap();
    assert_eq!((op.op.as_str(), op.outcome.as_str()), ("stat", "ok"));
    // A response to nothing.
    assert_eq!(
        t.server_response(&resp(&ok(99))),
        Err(SftpError::UnknownId(99))
    );
}

#[test]
fn handle_ops_use_the_opened_path() {
    let mut t = started();
    send(&mut t, B::req(SSH_FXP_OPENDIR, 1).s(b"docs").done());
    answer(&mut t, B::req(SSH_FXP_HANDLE, 1).s(b"D").done());
    send(
        &mut t,
        B::req(SSH_FXP_OPEN, 2)
            .s(b"docs/a")
            .u32(1)
            .no_attrs()
            .done(),
    );
    answer(&mut t, B::req(SSH_FXP_HANDLE, 2).s(b"F").done());
    let c = |raw: Vec<u8>| t.check(&req(&raw));
    assert_eq!(c(B::req(SSH_FXP_READDIR, 3).s(b"D").done()), Check::Forward);
    assert_eq!(
        c(B::req(SSH_FXP_FSTAT, 3).s(b"F").done()),
        Check::Decide(vec![fa(Op::Stat, "/home/alice/docs/a", None)])
    );
    assert_eq!(
        c(B::req(SSH_FXP_FSETSTAT, 3).s(b"F").no_attrs().done()),
        Check::Decide(vec![fa(Op::Setstat, "/home/alice/docs/a", None)])
    );
    assert_eq!(
        c(B::req(SSH_FXP_EXTENDED, 3)
            .s(b"fstatvfs@openssh.com")
            .s(b"D")
            .done()),
        Check::Decide(vec![fa(Op::Stat, "/home/alice/docs", None)])
    );
    send(&mut t, B::req(SSH_FXP_READDIR, 3).s(b"D").done());
    answer(&mut t, B::req(SSH_FXP_NAME, 3).u32(0).done());
    send(&mut t, B::req(SSH_FXP_CLOSE, 4).s(b"D").done());
    let op = answer(&mut t, ok(4)).unwrap();
    assert_eq!(
        (op.op.as_str(), op.path.as_str(), op.bytes),
        ("list", "/home/alice/docs", None)
    );
    // Channel closed with F open and a remove unanswered.
    send(&mut t, B::req(SSH_FXP_REMOVE, 5).s(b"z").done());
    let end = t.finish();
    assert_eq!(end.len(), 2);
    assert_eq!(
        (end[0].path.as_str(), end[0].outcome.as_str()),
        ("/home/alice/docs/a", "error")
    );
    assert_eq!(
        (end[1].op.as_str(), end[1].outcome.as_str()),
        ("remove", "error")
    );
    assert_eq!(t.in_flight(), (0, 0));
}

#[test]
fn denied_lines() {
    let t = started();
    let r = req(&B::req(SSH_FXP_RENAME, 3).s(b"a").s(b"/etc/x").done());
    let op = t.denied(&r, "rule no-etc").unwrap();
    assert_eq!(
        (
            op.op.as_str(),
            op.path.as_str(),
            op.target.as_deref(),
            op.outcome.as_str(),
            op.message.as_str()
        ),
        (
            "rename",
            "/home/alice/a",
            Some("/etc/x"),
            "denied",
            "rule no-etc"
        )
    );
    assert_eq!(t.denied(&req(&B::req(99, 3).done()), "x"), None);
    let answer = Refusal::UnknownType(99).answer(3);
    assert_eq!(
        resp(&answer).kind,
        ResponseKind::Status {
            code: SSH_FX_OP_UNSUPPORTED,
            message: "sftp request type 99 is not relayed".into()
        }
    );
}

#[test]
fn memory_is_bounded() {
    let mut t = Tracker::new(Limits {
        max_handles: 2,
        max_pending: 3,
    });
    let stat = |id| req(&B::req(SSH_FXP_STAT, id).s(b"/x").done());
    for id in 0..3 {
        t.forwarded(&stat(id)).unwrap();
    }
    assert_eq!(t.forwarded(&stat(3)), Err(SftpError::TooManyPending(3)));
    assert_eq!(t.forwarded(&stat(0)), Err(SftpError::DuplicateId(0)));
    let mut t = Tracker::new(Limits {
        max_handles: 2,
        max_pending: 10,
    });
    for id in 0..3u32 {
        t.forwarded(&req(&B::req(SSH_FXP_OPEN, id)
            .s(b"/f")
            .u32(1)
            .no_attrs()
            .done()))
            .unwrap();
    }
    answer(&mut t, B::req(SSH_FXP_HANDLE, 0).s(b"a").done());
    answer(&mut t, B::req(SSH_FXP_HANDLE, 1).s(b"b").done());
    assert_eq!(
        t.server_response(&resp(&B::req(SSH_FXP_HANDLE, 2).s(b"c").done())),
        Err(SftpError::TooManyHandles(2))
    );
}

#[test]
fn sizes_are_bounded() {
    let long = vec![b'a'; MAX_PATH_LEN + 1];
    assert!(ClientRequest::parse(&packet(&B::req(SSH_FXP_STAT, 1).s(&long).done())).is_err());
    let ok = vec![b'a'; MAX_PATH_LEN];
    assert!(ClientRequest::parse(&packet(&B::req(SSH_FXP_STAT, 1).s(&ok).done())).is_ok());
    let handle = vec![1; MAX_HANDLE_LEN + 1];
    assert!(ClientRequest::parse(&packet(&B::req(SSH_FXP_CLOSE, 1).s(&handle).done())).is_err());
    assert!(ServerResponse::parse(&packet(&B::req(SSH_FXP_HANDLE, 1).s(&handle).done())).is_err());
    // A handle is copied out of its packet rather than pinning the packet's buffer.
    let raw = B::req(SSH_FXP_WRITE, 1).s(b"h").u64(0).s(&[0; 4000]).done();
    let p = packet(&raw);
    let RequestKind::Write { handle, .. } = ClientRequest::parse(&p).unwrap().kind else {
        panic!()
    };
    let range = p.raw().as_ptr_range();
    assert!(!range.contains(&handle.as_ptr()));
}

#[test]
fn only_version_3() {
    let mut t = Tracker::default();
    let v = |n| resp(&B::new(SSH_FXP_VERSION).u32(n).done());
    assert_eq!(t.server_response(&v(3)), Ok(None));
    assert_eq!(
        t.server_response(&v(6)),
        Err(SftpError::UnsupportedVersion(6))
    );
}

#[test]
fn probe_teaches_the_directory() {
    let mut t = Tracker::default();
    let probe = t.probe().unwrap();
    let r = req(&probe);
    assert_eq!(
        (r.id, r.kind),
        (PROBE_ID, RequestKind::Realpath { path: ".".into() })
    );
    assert!(t.probing());
    assert_eq!(t.probe(), Err(SftpError::DuplicateId(PROBE_ID)));
    let version = resp(&B::new(SSH_FXP_VERSION).u32(3).done());
    assert!(!t.is_probe_answer(&version));
    t.server_response(&version).unwrap();
    let answer = resp(
        &B::req(SSH_FXP_NAME, PROBE_ID)
            .u32(1)
            .s(b"/srv/home/bob")
            .s(b"")
            .no_attrs()
            .done(),
    );
    assert!(t.is_probe_answer(&answer));
    assert_eq!(t.server_response(&answer), Ok(None));
    assert!(!t.probing());
    assert_eq!(t.cwd(), Some("/srv/home/bob"));
    // A client's own id equal to the probe's is an ordinary request once it is answered.
    assert!(!t.is_probe_answer(&answer));
    let stat = req(&B::req(SSH_FXP_STAT, 1).s(b"x").done());
    assert_eq!(
        t.check(&stat),
        Check::Decide(vec![fa(Op::Stat, "/srv/home/bob/x", None)])
    );
}
