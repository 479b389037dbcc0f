use hyper::header::HeaderValue;
use hyper::Uri;

use crate::OutboundError;

/// Where requests go, split once so that sending cannot fail on the URL.
///
/// The path and query may be a credential (a Slack webhook's path is), so `Debug` and
/// [`Endpoint::describe`] show the host and port only.
#[derive(Clone)]
pub struct Endpoint {
    /// For connecting, for TLS and for logs; without IPv6 brackets.
    host: String,
    port: u16,
    /// The `Host` header: host and port as written.
    authority: HeaderValue,
    /// Path and query only, as HTTP/1 request targets are.
    target: Uri,
    https: bool,
}

impl Endpoint {
    /// Error messages never repeat the URL, which may be a secret.
    pub fn parse(url: &str) -> Result<Endpoint, OutboundError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| OutboundError::Url("url is not a valid URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(OutboundError::Url(
                    "url must start with http:// or https://",
                ))
            }
        };
        let authority = uri
            .authority()
            .ok_or(OutboundError::Url("url has no host"))?;
        if authority.as_str().contains('@') {
            return Err(OutboundError::Url(
                "url must not contain credentials; use secret_file to sign",
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(OutboundError::Url("url has no host"));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let target = Uri::builder()
            .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
            .build()
            .map_err(|_| OutboundError::Url("url has an invalid path"))?;
        Ok(Endpoint {
            authority: HeaderValue::from_str(authority.as_str())
                .map_err(|_| OutboundError::Url("url has an invalid host"))?,
            host,
            port,
            target,
            https,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    /// `host:port`, for logs and messages: never the path, which may be a credential.
    pub fn describe(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub(crate) fn authority(&self) -> &HeaderValue {
        &self.authority
    }

    pub(crate) fn target(&self) -> &Uri {
        &self.target
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("https", &self.https)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_ipv6_urls_are_split() {
        let e = Endpoint::parse("http://[::1]:8080").expect("ipv6");
        assert_eq!((e.host(), e.port()), ("::1", 8080));
        assert_eq!(e.authority, "[::1]:8080");
        assert_eq!(e.target, "/");
        let e = Endpoint::parse("https://example.com/a?b=c").expect("https");
        assert_eq!((e.host(), e.port()), ("example.com", 443));
        assert_eq!(e.target, "/a?b=c");
        assert!(e.is_https());
    }

    #[test]
    fn bad_urls_are_refused_without_being_repeated() {
        for (url, wanted) in [
            ("ftp://example.com/TOKEN", "http:// or https://"),
            ("TOKEN", "http:// or https://"),
            ("https://user:TOKEN@example.com/", "credentials"),
        ] {
            let err = Endpoint::parse(url).expect_err(url).to_string();
            assert!(err.contains(wanted), "{err} lacks {wanted}");
            assert!(!err.contains("TOKEN"), "{err} repeats the URL");
        }
        let e = Endpoint::parse("https://hooks.example/services/TOKEN").expect("parses");
        assert!(!format!("{e:?}").contains("TOKEN"));
        assert_eq!(e.describe(), "hooks.example:443");
    }
}
