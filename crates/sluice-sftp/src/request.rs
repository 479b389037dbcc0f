//! Client requests (client to server packets), read off a whole [`Packet`].

use bytes::Bytes;

use crate::codec::*;
use crate::SftpError;

/// `pflags` of SSH_FXP_OPEN.
pub const SSH_FXF_READ: u32 = 0x01;
pub const SSH_FXF_WRITE: u32 = 0x02;
pub const SSH_FXF_APPEND: u32 = 0x04;
pub const SSH_FXF_CREAT: u32 = 0x08;
pub const SSH_FXF_TRUNC: u32 = 0x10;
pub const SSH_FXF_EXCL: u32 = 0x20;

/// One client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    /// The request id the response will carry; 0 for INIT, which has none (it carries the
    /// version instead, and is answered by VERSION).
    pub id: u32,
    pub kind: RequestKind,
}

/// What a request asks for. Paths are as the client sent them: possibly relative, not
/// normalised (see [`crate::Tracker::check`] for the facts a policy sees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    Init {
        version: u32,
    },
    Open {
        path: String,
        pflags: u32,
        attrs: Attrs,
    },
    Close {
        handle: Bytes,
    },
    Read {
        handle: Bytes,
        offset: u64,
        len: u32,
    },
    /// The data itself is skipped, not copied: only its length is kept.
    Write {
        handle: Bytes,
        offset: u64,
        len: u32,
    },
    Lstat {
        path: String,
    },
    Fstat {
        handle: Bytes,
    },
    Setstat {
        path: String,
        attrs: Attrs,
    },
    Fsetstat {
        handle: Bytes,
        attrs: Attrs,
    },
    Opendir {
        path: String,
    },
    Readdir {
        handle: Bytes,
    },
    Remove {
        path: String,
    },
    Mkdir {
        path: String,
        attrs: Attrs,
    },
    Rmdir {
        path: String,
    },
    Realpath {
        path: String,
    },
    Stat {
        path: String,
    },
    Rename {
        old: String,
        new: String,
    },
    Readlink {
        path: String,
    },
    /// Creates a symbolic link at `link` pointing to `target`.
    ///
    /// The draft orders the strings `linkpath, targetpath`, but OpenSSH has always sent and
    /// read them the other way round, `targetpath, linkpath` (its PROTOCOL file, "Reversal
    /// of arguments to SSH_FXP_SYMLINK"), and every deployed client follows OpenSSH. The
    /// first string on the wire is therefore read as the target, the second as the link.
    Symlink {
        target: String,
        link: String,
    },
    Extended {
        name: String,
        request: Extension,
    },
    /// A type this crate does not know: to be refused, since nothing can be said about what
    /// it would do.
    Unknown(u8),
}

/// SSH_FXP_EXTENDED requests by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    /// `posix-rename@openssh.com`: a rename that replaces an existing `new`.
    PosixRename { old: String, new: String },
    /// `statvfs@openssh.com`.
    Statvfs { path: String },
    /// `fstatvfs@openssh.com`.
    Fstatvfs { handle: Bytes },
    /// `hardlink@openssh.com`: makes `new` another name of `old`.
    Hardlink { old: String, new: String },
    /// `fsync@openssh.com`.
    Fsync { handle: Bytes },
    /// `lsetstat@openssh.com`: setstat that does not follow a final symlink.
    Lsetstat { path: String, attrs: Attrs },
    /// `limits@openssh.com`: the server's packet and read/write sizes.
    Limits,
    /// `expand-path@openssh.com`: realpath that also expands a leading `~` or `~user`.
    ExpandPath { path: String },
    /// `copy-data`: server-side copy between two open handles.
    CopyData {
        read_handle: Bytes,
        read_offset: u64,
        len: u64,
        write_handle: Bytes,
        write_offset: u64,
    },
    /// `home-directory`: a user's home directory.
    HomeDirectory { username: String },
    /// `users-groups-by-id@openssh.com`: names of uids and gids.
    UsersGroupsById,
    /// Any other name: to be refused like an unknown packet type.
    Other,
}

impl ClientRequest {
    /// Reads a client packet. A known type whose fields do not fit is an error; an unknown
    /// type is not (it reads as [`RequestKind::Unknown`], for the relay to refuse).
    pub fn parse(packet: &Packet) -> Result<Self, SftpError> {
        let mut r = Reader::new(packet.body());
        let t = r.u8("empty packet")?;
        if t == SSH_FXP_INIT {
            // Extension pairs may follow in later versions; version 3 clients send none and
            // their content changes nothing here.
            let version = r.u32("INIT version")?;
            return Ok(Self {
                id: 0,
                kind: RequestKind::Init { version },
            });
        }
        let id = r.u32("request id")?;
        let kind = match t {
            SSH_FXP_OPEN => RequestKind::Open {
                path: r.path("OPEN path")?,
                pflags: r.u32("OPEN pflags")?,
                attrs: Attrs::read(&mut r)?,
            },
            SSH_FXP_CLOSE => RequestKind::Close {
                handle: r.handle("CLOSE handle")?,
            },
            SSH_FXP_READ => RequestKind::Read {
                handle: r.handle("READ handle")?,
                offset: r.u64("READ offset")?,
                len: r.u32("READ length")?,
            },
            SSH_FXP_WRITE => {
                let handle = r.handle("WRITE handle")?;
                let offset = r.u64("WRITE offset")?;
                let len = r.u32("WRITE data")?;
                r.skip(len as usize, "WRITE data")?;
                RequestKind::Write {
                    handle,
                    offset,
                    len,
                }
            }
            SSH_FXP_LSTAT => RequestKind::Lstat {
                path: r.path("LSTAT path")?,
            },
            SSH_FXP_FSTAT => RequestKind::Fstat {
                handle: r.handle("FSTAT handle")?,
            },
            SSH_FXP_SETSTAT => RequestKind::Setstat {
                path: r.path("SETSTAT path")?,
                attrs: Attrs::read(&mut r)?,
            },
            SSH_FXP_FSETSTAT => RequestKind::Fsetstat {
                handle: r.handle("FSETSTAT handle")?,
                attrs: Attrs::read(&mut r)?,
            },
            SSH_FXP_OPENDIR => RequestKind::Opendir {
                path: r.path("OPENDIR path")?,
            },
            SSH_FXP_READDIR => RequestKind::Readdir {
                handle: r.handle("READDIR handle")?,
            },
            SSH_FXP_REMOVE => RequestKind::Remove {
                path: r.path("REMOVE path")?,
            },
            SSH_FXP_MKDIR => RequestKind::Mkdir {
                path: r.path("MKDIR path")?,
                attrs: Attrs::read(&mut r)?,
            },
            SSH_FXP_RMDIR => RequestKind::Rmdir {
                path: r.path("RMDIR path")?,
            },
            SSH_FXP_REALPATH => RequestKind::Realpath {
                // Later drafts add a control byte and compose paths; version 3 has neither.
                path: r.path("REALPATH path")?,
            },
            SSH_FXP_STAT => RequestKind::Stat {
                path: r.path("STAT path")?,
            },
            SSH_FXP_RENAME => RequestKind::Rename {
                old: r.path("RENAME old path")?,
                new: r.path("RENAME new path")?,
            },
            SSH_FXP_READLINK => RequestKind::Readlink {
                path: r.path("READLINK path")?,
            },
            SSH_FXP_SYMLINK => RequestKind::Symlink {
                target: r.path("SYMLINK target")?,
                link: r.path("SYMLINK link path")?,
            },
            SSH_FXP_EXTENDED => {
                let name = r.text("EXTENDED name")?;
                let request = extension(&name, &mut r)?;
                RequestKind::Extended { name, request }
            }
            other => RequestKind::Unknown(other),
        };
        Ok(Self { id, kind })
    }
}

fn extension(name: &str, r: &mut Reader) -> Result<Extension, SftpError> {
    Ok(match name {
        "posix-rename@openssh.com" => Extension::PosixRename {
            old: r.path("posix-rename old path")?,
            new: r.path("posix-rename new path")?,
        },
        "statvfs@openssh.com" => Extension::Statvfs {
            path: r.path("statvfs path")?,
        },
        "fstatvfs@openssh.com" => Extension::Fstatvfs {
            handle: r.handle("fstatvfs handle")?,
        },
        "hardlink@openssh.com" => Extension::Hardlink {
            old: r.path("hardlink old path")?,
            new: r.path("hardlink new path")?,
        },
        "fsync@openssh.com" => Extension::Fsync {
            handle: r.handle("fsync handle")?,
        },
        "lsetstat@openssh.com" => Extension::Lsetstat {
            path: r.path("lsetstat path")?,
            attrs: Attrs::read(r)?,
        },
        "limits@openssh.com" => Extension::Limits,
        "expand-path@openssh.com" => Extension::ExpandPath {
            path: r.path("expand-path path")?,
        },
        "copy-data" => Extension::CopyData {
            read_handle: r.handle("copy-data read handle")?,
            read_offset: r.u64("copy-data read offset")?,
            len: r.u64("copy-data length")?,
            write_handle: r.handle("copy-data write handle")?,
            write_offset: r.u64("copy-data write offset")?,
        },
        "home-directory" => Extension::HomeDirectory {
            username: r.text("home-directory user name")?,
        },
        "users-groups-by-id@openssh.com" => {
            // Two lists of ids in strings; read only to check they are there.
            r.bytes("users-groups-by-id uids")?;
            r.bytes("users-groups-by-id gids")?;
            Extension::UsersGroupsById
        }
        _ => Extension::Other,
    })
}
