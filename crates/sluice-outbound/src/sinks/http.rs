//! `kind = "http"`: batches POSTed as NDJSON through the shared HTTP client.

use std::path::Path;

use super::config::HttpSinkConfig;
use super::{ndjson, Batch};
use crate::http::{Bearer, Client, Endpoint, Method, Request};
use crate::AGENT;

pub(super) struct HttpDestination {
    /// Carries the sink's timeout: connecting, TLS, sending, and the answer's status.
    client: Client,
    /// Read from `token_file` at start; never logged.
    authorization: Option<Bearer>,
}

impl HttpDestination {
    /// For logs: host and port, never the URL's path.
    pub(super) fn describe(&self) -> String {
        self.client.endpoint().describe()
    }

    pub(super) fn new(config: &HttpSinkConfig) -> Result<HttpDestination, String> {
        let endpoint = Endpoint::parse(config.url.trim()).map_err(|e| e.to_string())?;
        Ok(HttpDestination {
            client: Client::new(endpoint, config.timeout).map_err(|e| e.to_string())?,
            authorization: config.token_file.as_deref().map(bearer).transpose()?,
        })
    }

    /// 2xx is delivered; anything else, or no answer, is retried: giving up would lose records.
    /// The seq headers let a receiver log or dedupe a batch without parsing it.
    pub(super) async fn deliver(&self, batch: &Batch) -> Result<(), String> {
        let (first, last) = match (batch.first(), batch.last()) {
            (Some(f), Some(l)) => (f.seq, l.seq),
            _ => (0, 0),
        };
        let mut request = Request::new(Method::POST)
            .header("content-type", "application/x-ndjson")
            .header("user-agent", AGENT)
            .header("x-sluice-first-seq", first)
            .header("x-sluice-last-seq", last)
            .body(ndjson(batch));
        if let Some(token) = &self.authorization {
            request = request.bearer(token);
        }
        let answer = self.client.send(request).await.map_err(|e| e.to_string())?;
        match answer.status().is_success() {
            true => Ok(()),
            false => Err(format!("answered {}", answer.status())),
        }
    }
}

/// Errors name the file, never its contents.
fn bearer(path: &Path) -> Result<Bearer, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading token_file {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("token_file {} is empty", path.display()));
    }
    Bearer::new(token).map_err(|_| {
        format!(
            "token_file {} holds characters a header cannot carry",
            path.display()
        )
    })
}
