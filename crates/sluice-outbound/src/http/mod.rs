//! The one HTTP/1 client of sluice: webhooks, the HTTP audit sink and the admin CLI all send
//! through it, so connecting, TLS, deadlines and keeping credentials out of output are written
//! once.
//!
//! Every exchange is one request on a fresh connection: webhook events and CLI calls are rare,
//! a sink's batch is large, and a fresh connection cannot inherit a half-dead one's failure.
//!
//! # Layout
//! - `endpoint`: a URL split once into where to connect and what to ask for.
//! - `tls`: the TLS connector for https endpoints.
//! - `client`: requests, the exchange under one deadline, and the answer.

mod client;
mod endpoint;
mod tls;

pub use client::{Bearer, Client, Request, Response};
pub use endpoint::Endpoint;
pub use hyper::{Method, StatusCode};
