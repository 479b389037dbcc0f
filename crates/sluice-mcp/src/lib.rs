//! The Model Context Protocol endpoint (docs/agents.md): agents reach databases, hosts and
//! services through MCP tools, and every tool call goes through the same enforcement as any
//! other client's, because it *is* another client: the call is made over the gateway's own
//! listener for the target's protocol (PostgreSQL, MySQL, SSH, HTTPS) with the caller's
//! per-task credential, so the statement is parsed, decided, held, masked, recorded and audited
//! by that protocol's relay. Nothing here decides anything.
//!
//! # Layout
//! - `server`: the endpoint on the HTTPS listener (`/mcp`): streamable HTTP, limits, origin
//!   and bearer checks, the methods; `call`: one tool call in flight, answered as JSON or as
//!   server-sent events with its progress.
//! - `jsonrpc`: messages read strictly, answers and error codes.
//! - `era`: the handshake era (`initialize`, `Mcp-Session-Id`) and the stateless 2026-07-28
//!   era (`server/discover`, per-request `_meta`); `sessions`: the former's sessions.
//! - `caller`: the bearer, and the per-task credential each target's calls log in with.
//! - `tools`: the tools a caller sees and one call's answer; `exec`: the clients of the
//!   gateway's own listeners, one per protocol.

mod call;
mod caller;
mod era;
mod error;
mod exec;
mod jsonrpc;
mod server;
mod sessions;
mod tools;

pub use error::McpError;
pub use server::McpServer;
