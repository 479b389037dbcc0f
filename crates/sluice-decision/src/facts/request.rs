//! What a request does. Every request has a `kind`; kinds other than `connect`, `access` and
//! `sql` come from protocols still to be built (SSH, Kubernetes, HTTP), and are defined now so
//! that policies can be written and tested for them ahead.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::{
    AdminRequest, ChannelOpen, FileAccess, HttpRequest, KubeRequest, ShellCommand, SqlDialect,
    SqlStatement, TokenRequest,
};

/// The kinds of request, `request.kind` in the input document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Connect,
    Access,
    Sql,
    Command,
    Channel,
    File,
    Http,
    Kube,
    Token,
    Admin,
}

impl RequestKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestKind::Connect => "connect",
            RequestKind::Access => "access",
            RequestKind::Sql => "sql",
            RequestKind::Command => "command",
            RequestKind::Channel => "channel",
            RequestKind::File => "file",
            RequestKind::Http => "http",
            RequestKind::Kube => "kube",
            RequestKind::Token => "token",
            RequestKind::Admin => "admin",
        }
    }
}

/// What the request does.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    /// Opening a session on the target.
    Connect,
    /// One SQL statement. A string of several statements is decided one statement at a time.
    Statement {
        statement: &'a SqlStatement,
        dialect: SqlDialect,
        /// Position of the statement in the string the client sent, from 0.
        index: usize,
        /// How many statements that string holds.
        count: usize,
        /// Bound parameter values (text; binary ones as `\x` hex), only when deciding an
        /// execution whose decision may depend on them.
        parameters: Option<&'a [Option<String>]>,
    },
    /// Asking for a time-bound grant on the target (`sluice access request`). Allowed: granted
    /// at once; held: granted when reviewers approve; denied: refused.
    Access {
        scope: &'a str,
        duration_seconds: u64,
        reason: &'a str,
    },
    /// A command run on the target (SSH exec, or a line typed in a shell).
    Command {
        command: &'a ShellCommand,
    },
    /// Opening an SSH channel.
    Channel {
        channel: &'a ChannelOpen,
    },
    /// A file operation (SFTP, SCP).
    File {
        file: &'a FileAccess,
    },
    Http {
        http: &'a HttpRequest,
    },
    Kube {
        kube: &'a KubeRequest,
    },
    /// Asking the gateway for a credential.
    Token {
        token: &'a TokenRequest,
    },
    /// A call to the gateway's admin API.
    Admin {
        admin: &'a AdminRequest,
    },
}

impl Request<'_> {
    pub const fn kind(&self) -> RequestKind {
        match self {
            Request::Connect => RequestKind::Connect,
            Request::Statement { .. } => RequestKind::Sql,
            Request::Access { .. } => RequestKind::Access,
            Request::Command { .. } => RequestKind::Command,
            Request::Channel { .. } => RequestKind::Channel,
            Request::File { .. } => RequestKind::File,
            Request::Http { .. } => RequestKind::Http,
            Request::Kube { .. } => RequestKind::Kube,
            Request::Token { .. } => RequestKind::Token,
            Request::Admin { .. } => RequestKind::Admin,
        }
    }

    /// `request.action`: the kind, except for SQL, which keeps schema version 1's
    /// `statement`.
    pub const fn action(&self) -> &'static str {
        match self {
            Request::Statement { .. } => "statement",
            other => other.kind().as_str(),
        }
    }
}

// By hand because a request carries two tags, `action` (schema version 1) and `kind`.
impl Serialize for Request<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("action", self.action())?;
        map.serialize_entry("kind", &self.kind())?;
        match *self {
            Request::Connect => {}
            Request::Statement {
                statement,
                dialect,
                index,
                count,
                parameters,
            } => {
                map.serialize_entry("dialect", &dialect)?;
                map.serialize_entry("statement", statement)?;
                map.serialize_entry("index", &index)?;
                map.serialize_entry("count", &count)?;
                map.serialize_entry("parameters", &parameters)?;
            }
            Request::Access {
                scope,
                duration_seconds,
                reason,
            } => {
                map.serialize_entry("scope", scope)?;
                map.serialize_entry("duration_seconds", &duration_seconds)?;
                map.serialize_entry("reason", reason)?;
            }
            Request::Command { command } => map.serialize_entry("command", command)?,
            Request::Channel { channel } => map.serialize_entry("channel", channel)?,
            Request::File { file } => map.serialize_entry("file", file)?,
            Request::Http { http } => map.serialize_entry("http", http)?,
            Request::Kube { kube } => map.serialize_entry("kube", kube)?,
            Request::Token { token } => map.serialize_entry("token", token)?,
            Request::Admin { admin } => map.serialize_entry("admin", admin)?,
        }
        map.end()
    }
}
