//! The `sluice` binary's library: the command line, the wiring of a running gateway, and the
//! demo. It is a library so that integration tests and benchmarks start gateways and scratch
//! databases exactly the way the binary does.
//!
//! # Layout
//! - [`cli`]: the command-line grammar (clap).
//! - [`runtime`]: opens the state (store, audit, key) and runs the listeners; graceful shutdown.
//! - [`admin`]: `/healthz` and `/metrics` over HTTP, `/policy` (what is enforced) and
//!   `POST /policy/reload`; [`approvals_api`]: its reviews, access and grants endpoints;
//!   [`admin_tls`]: the same over HTTPS when `[admin]` has a certificate; [`console`]: the web
//!   console on the same listener.
//! - [`token_cmd`], [`identity_cmd`], [`audit_cmd`], [`policy_cmd`]: the `token`, `identity`,
//!   `audit` and `policy` subcommands.
//! - [`review_cmd`], [`access_cmd`]: `review` (reviewers decide pending requests) and `access`
//!   (requesters ask for time-bound access; grants), both clients of a gateway's admin API.
//! - [`login`]: `login`, `login status`, `login env`, `logout`: signing in through the
//!   gateway's identity provider and the credential file the admin commands read.
//! - [`admin_client`]: the admin API's client (also behind `policy status`) over sluice-outbound's
//!   HTTP client, its wire types, and the tables and ages both commands print.
//! - [`kubeconfig_cmd`]: `kubeconfig TARGET`, a kubeconfig through the HTTPS listener, and the
//!   exec credential plugin it names.
//! - [`mcp_cmd`]: `mcp --server URL`, a stdio bridge to a gateway's MCP endpoint for MCP clients
//!   that only start local servers.
//! - [`sessions_cmd`]: `sessions list|show|replay|search`, from the audit trail and recordings.
//! - [`report_cmd`]: `report`, the self-reflection signals a gateway computes, as tables or JSON.
//! - [`demo`]: `sluice demo`, a scratch database behind a gateway, ready to paste into psql.
//! - [`scratch_pg`]: throwaway PostgreSQL servers (demo, tests, benchmarks).
//! - [`scratch_sshd`]: throwaway OpenSSH servers, the SSH target of the demo, tests, benchmarks.
//! - [`logging`]: tracing subscriber setup.

pub mod access_cmd;
pub mod admin;
pub mod admin_auth;
pub mod admin_client;
pub mod admin_tls;
pub mod agent_cmd;
pub mod approvals_api;
pub mod audit_cmd;
pub mod cli;
pub mod console;
pub mod demo;
pub mod identity_api;
pub mod identity_cmd;
pub mod kubeconfig_cmd;
pub mod logging;
pub mod login;
pub mod mcp_cmd;
mod pending_logins;
pub mod policy_cmd;
pub mod report_cmd;
pub mod review_cmd;
pub mod runtime;
pub mod scratch_http;
pub mod scratch_mariadb;
pub mod scratch_pg;
pub mod scratch_sshd;
pub mod sessions_cmd;
pub mod token_cmd;
