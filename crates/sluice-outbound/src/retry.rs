//! The backoff between attempts, shared by webhooks and sinks so that both treat a struggling
//! receiver the same way.

use std::time::Duration;

use rand::Rng;

#[cfg(not(test))]
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Tests exercise retries; real backoff would make them slow.
#[cfg(test)]
const BACKOFF_BASE: Duration = Duration::from_millis(10);
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Doubling from the base, capped; the jitter (the upper half of the interval) keeps many
/// sluice instances that lost the same receiver from retrying in lockstep.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    let ceiling = BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_CAP);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::thread_rng().gen_range(ceiling_ms / 2..=ceiling_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        for attempt in 1..=40 {
            let ceiling = BACKOFF_BASE
                .saturating_mul(1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX))
                .min(BACKOFF_CAP);
            let d = backoff(attempt);
            assert!(d <= ceiling && d >= ceiling / 2, "{attempt}: {d:?}");
        }
        assert!(backoff(u32::MAX) <= BACKOFF_CAP);
    }
}
