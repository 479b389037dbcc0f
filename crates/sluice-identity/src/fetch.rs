//! The provider's HTTP endpoints, through the gateway's one HTTP client.

use std::time::Duration;

use serde::de::DeserializeOwned;
use sluice_outbound::http::{Client, Endpoint, Method, Request};

/// Per exchange: a provider slower than this is treated as down (cached keys still serve).
const TIMEOUT: Duration = Duration::from_secs(10);

/// Discovery documents and JWKS are a few KiB; a larger answer is not one of them.
const MAX_BODY: usize = 1 << 20;

/// A JSON document by GET. The error is a reason for logs; it never repeats the URL's query.
pub(crate) async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    let (status, body) = send(
        url,
        Request::new(Method::GET).header("accept", "application/json"),
    )
    .await?;
    if !(200..300).contains(&status) {
        return Err(format!("HTTP status {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("unreadable answer: {e}"))
}

/// A form POST (OAuth's token and device endpoints); the status and body are the caller's to
/// read, since OAuth errors come as 400 with a JSON body.
pub(crate) async fn post_form(
    url: &str,
    form: String,
    authorization: Option<&str>,
) -> Result<(u16, Vec<u8>), String> {
    let mut request = Request::new(Method::POST)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(form);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    send(url, request).await
}

async fn send(url: &str, request: Request) -> Result<(u16, Vec<u8>), String> {
    let endpoint = Endpoint::parse(url).map_err(|e| e.to_string())?;
    let client = Client::new(endpoint, TIMEOUT).map_err(|e| e.to_string())?;
    let response = client.send(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.body().await.map_err(|e| e.to_string())?;
    if body.len() > MAX_BODY {
        return Err(format!("answer larger than {MAX_BODY} bytes"));
    }
    Ok((status, body.to_vec()))
}
