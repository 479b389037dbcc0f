//! Requests made over SSH: a command, a channel, a file operation. Only the facts are defined
//! here; reading them off the wire (and parsing a command line) belongs to the SSH protocol.

use serde::Serialize;

/// A command: the command of an exec request, or one line typed in an interactive shell.
/// `sluice-shell` builds it from the text with a bash parser.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ShellCommand {
    /// The command line as the client sent it.
    pub text: String,
    /// Every program the line runs, by the name it was invoked with, in order of appearance:
    /// after pipes, `;`, `&&`, `||`, inside `$(...)` and backticks, inside `sh -c` strings,
    /// and the wrappers (`sudo`, `env`, ...) that start them. A rule on a program must see it
    /// wherever it hides in the line, not only at the start.
    pub programs: Vec<String>,
    /// The first simple command split into words as the shell would (quotes removed), as
    /// written: before any wrapper is peeled off.
    pub argv: Vec<String>,
    /// Every simple command the line would run, in order, wrappers peeled off; `sudo sh -c
    /// 'rm -rf /'` lists `sh` and `rm`. What rules on arguments read.
    pub commands: Vec<SimpleCommand>,
    /// Why what the line runs cannot be fully known without running it, as sorted,
    /// deduplicated tokens (docs/policy.md lists them); empty when the analysis is complete.
    pub unresolved: Vec<String>,
    /// Typed in an interactive shell rather than sent as an exec request.
    pub interactive: bool,
    /// False when the line could not be parsed; `programs`, `argv` and `commands` then say
    /// nothing reliable, and a policy should deny.
    pub parsed: bool,
}

/// One simple command of a line: a program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SimpleCommand {
    /// The program as invoked once wrappers are peeled off, quotes removed: `/bin/rm`.
    pub program: String,
    /// The program without its directory: `rm`. Rules match on it, so that `/usr/bin/rm`
    /// and `\rm` cannot pass for another program.
    pub name: String,
    /// The words of the command, quotes removed; `argv[0]` is `program`.
    pub argv: Vec<String>,
    /// The names of the programs that run this one, outermost first: wrappers peeled off
    /// (`sudo`, `env`, `xargs`, `find -exec`, ...) and the shells whose `-c` string holds it.
    /// Inherited by everything inside an `sh -c` string.
    pub wrappers: Vec<String>,
    /// How many `sh -c` strings (or `su -c`, `eval`, `watch`) it is nested in; 0 at the top.
    pub shell_depth: u32,
}

/// The kinds of SSH channel a client can ask to open (RFC 4254 and OpenSSH's agent channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ChannelType {
    /// A shell, an exec request or a subsystem such as SFTP.
    #[serde(rename = "session")]
    Session,
    /// An interactive shell asked in a session channel (with or without a terminal).
    #[serde(rename = "shell")]
    Shell,
    /// A subsystem asked in a session channel; its name in `name` (`sftp`).
    #[serde(rename = "subsystem")]
    Subsystem,
    /// An environment variable the client asks to set for what runs; its name in `name`
    /// (the value is not given to the policy: it may hold a secret).
    #[serde(rename = "env")]
    Env,
    /// Asking the target to listen for remote port forwarding (`ssh -R`): `host` and `port`
    /// are where it would listen.
    #[serde(rename = "tcpip-forward")]
    TcpipForward,
    /// Local port forwarding (`ssh -L`): the client connects through the target to `host:port`.
    #[serde(rename = "direct-tcpip")]
    DirectTcpip,
    /// Remote port forwarding (`ssh -R`): connections to the target's `host:port` reach the
    /// client.
    #[serde(rename = "forwarded-tcpip")]
    ForwardedTcpip,
    #[serde(rename = "x11")]
    X11,
    /// Agent forwarding: the target may use the client's keys.
    #[serde(rename = "auth-agent")]
    AuthAgent,
}

impl ChannelType {
    pub const fn as_str(self) -> &'static str {
        match self {
            ChannelType::Session => "session",
            ChannelType::Shell => "shell",
            ChannelType::Subsystem => "subsystem",
            ChannelType::Env => "env",
            ChannelType::TcpipForward => "tcpip-forward",
            ChannelType::DirectTcpip => "direct-tcpip",
            ChannelType::ForwardedTcpip => "forwarded-tcpip",
            ChannelType::X11 => "x11",
            ChannelType::AuthAgent => "auth-agent",
        }
    }
}

/// Opening an SSH channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ChannelOpen {
    #[serde(rename = "type")]
    pub channel_type: ChannelType,
    /// Where a forwarded connection goes (`direct-tcpip`) or listens (`forwarded-tcpip`);
    /// `None` for channel types that have no address.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The address the connection comes from, as the channel request states it, without
    /// the port; `None` when the channel type carries none.
    pub originator: Option<String>,
    /// The subsystem's or the environment variable's name; `None` for other types.
    pub name: Option<String>,
}

/// What a file operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOperation {
    /// Opening an existing file for reading.
    Read,
    /// Opening an existing file for writing (or appending).
    Write,
    /// Creating a file (or truncating one to write it anew).
    Create,
    Remove,
    Rename,
    Mkdir,
    Rmdir,
    /// Listing a directory.
    List,
    /// Reading a file's attributes.
    Stat,
    /// Changing a file's attributes: mode, owner, times, size.
    Setstat,
    Symlink,
    Readlink,
}

impl FileOperation {
    pub const fn as_str(self) -> &'static str {
        match self {
            FileOperation::Read => "read",
            FileOperation::Write => "write",
            FileOperation::Create => "create",
            FileOperation::Remove => "remove",
            FileOperation::Rename => "rename",
            FileOperation::Mkdir => "mkdir",
            FileOperation::Rmdir => "rmdir",
            FileOperation::List => "list",
            FileOperation::Stat => "stat",
            FileOperation::Setstat => "setstat",
            FileOperation::Symlink => "symlink",
            FileOperation::Readlink => "readlink",
        }
    }
}

/// How the file is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileVia {
    Sftp,
    Scp,
}

impl FileVia {
    pub const fn as_str(self) -> &'static str {
        match self {
            FileVia::Sftp => "sftp",
            FileVia::Scp => "scp",
        }
    }
}

/// One file operation over SFTP or SCP.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FileAccess {
    pub operation: FileOperation,
    /// The path operated on, absolute and normalised (no `.` or `..` left), so that a rule
    /// on a directory cannot be walked around.
    pub path: String,
    /// The new name of a `rename`, or what a `symlink` points to; `None` otherwise.
    pub target_path: Option<String>,
    pub via: FileVia,
}
