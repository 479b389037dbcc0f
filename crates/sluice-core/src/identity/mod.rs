//! Identity beyond the configuration file: credential lifetimes and failed-login limits
//! (`[auth]`). Checking and issuing credentials lives with the gateway
//! (`gateway::credential`), which owns the store and the policy; identity providers' tokens
//! are verified by the sluice-identity crate.

mod config;
mod limiter;

pub use config::AuthConfig;
pub use limiter::{client_ip, AuthLimiter, Throttled};
