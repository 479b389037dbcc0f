use std::path::PathBuf;
use std::time::Duration;

/// One configured webhook (a `[[webhooks]]` table of the gateway's configuration).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// http:// or https:// URL. Exactly one of url / url_file. Slack URLs are secrets, so
    /// url_file lets it live in a 0600 file.
    pub url: Option<String>,
    pub url_file: Option<PathBuf>,
    #[serde(default)]
    pub format: WebhookFormat,
    /// File holding the HMAC-SHA256 key (trimmed of trailing newline). Optional; without it no
    /// signature header.
    pub secret_file: Option<PathBuf>,
    /// Event names to send; empty = all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Per-attempt timeout, humantime string like "5s" (default 5s).
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::duration"
    )]
    pub timeout: Duration,
    /// Attempts per event including the first (default 5).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_max_attempts() -> u32 {
    5
}

#[derive(Debug, Clone, Copy, Default, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    #[default]
    Json,
    Slack,
}
