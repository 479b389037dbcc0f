//! Unit tests against a fake provider on 127.0.0.1 (the integration tests use a real one).

mod config;
mod idp;
pub(crate) mod keys;
mod rotation;
mod signin;
mod verify;
