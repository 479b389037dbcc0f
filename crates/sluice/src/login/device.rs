//! The device flow (RFC 8628) through the gateway: it starts the provider's device login, the
//! person opens the verification page anywhere, and this side polls until the gateway answers
//! with a credential.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use tokio::time::Instant;

use super::api::{self, DevicePending, DevicePollRequest, DeviceStart, DeviceStartRequest};
use super::credentials::Credential;
use crate::admin_client::Gateway;

/// RFC 8628's default when the answer names no interval.
const DEFAULT_INTERVAL: u64 = 5;
/// What RFC 8628 3.5 adds on `slow_down`.
const SLOW_DOWN_STEP: u64 = 5;
/// A gateway answering a tiny or huge interval should neither hammer it nor stall the login.
const MIN_INTERVAL: u64 = 1;
const MAX_INTERVAL: u64 = 60;

pub async fn login(
    gateway: &Gateway,
    provider: Option<&str>,
    timeout: Duration,
) -> Result<Credential> {
    let start: DeviceStart = gateway
        .post_public(api::DEVICE_START, &DeviceStartRequest { provider })
        .await?
        .success(api::DEVICE_START)?;
    eprintln!(
        "Open {} and enter {}",
        start.verification_uri, start.user_code
    );
    if let Some(complete) = &start.verification_uri_complete {
        eprintln!("(or open {complete})");
    }
    // The code's own lifetime bounds the wait, and --timeout bounds it further.
    let limit = start
        .expires_in
        .map_or(timeout, |s| timeout.min(Duration::from_secs(s)));
    let deadline = Instant::now() + limit;
    let mut interval = start.interval.unwrap_or(DEFAULT_INTERVAL);
    loop {
        interval = interval.clamp(MIN_INTERVAL, MAX_INTERVAL);
        let next = Instant::now() + Duration::from_secs(interval);
        if next > deadline {
            bail!(
                "the sign-in was not completed within {}: run `sluice login` again",
                crate::admin_client::exact(limit.as_secs())
            );
        }
        tokio::time::sleep_until(next).await;
        let reply = gateway
            .post_public(
                api::DEVICE_POLL,
                &DevicePollRequest {
                    login_id: &start.login_id,
                },
            )
            .await?;
        match reply.status.as_u16() {
            200 => return reply.json(api::DEVICE_POLL),
            202 => {
                let pending: DevicePending = reply.json(api::DEVICE_POLL)?;
                interval = next_interval(interval, &pending);
            }
            _ => return Err(anyhow!("the sign-in failed: {}", reply.error())),
        }
    }
}

/// The gateway's interval when it names one; else RFC 8628's step on `slow_down`.
fn next_interval(current: u64, pending: &DevicePending) -> u64 {
    match (pending.interval, pending.status.as_str()) {
        (Some(i), _) => i,
        (None, "slow_down") => current + SLOW_DOWN_STEP,
        (None, _) => current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(status: &str, interval: Option<u64>) -> DevicePending {
        DevicePending {
            status: status.into(),
            interval,
        }
    }

    #[test]
    fn slow_down_backs_off_and_a_named_interval_wins() {
        assert_eq!(next_interval(5, &pending("authorization_pending", None)), 5);
        assert_eq!(next_interval(5, &pending("slow_down", None)), 10);
        assert_eq!(next_interval(5, &pending("slow_down", Some(12))), 12);
    }
}
