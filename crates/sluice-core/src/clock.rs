//! The time facts policies see, in the configured zone.

use std::sync::Mutex;

use chrono::{Datelike, Timelike, Utc};
use chrono_tz::Tz;
use sluice_decision::TimeFacts;
use std::sync::Arc;

/// Time as policy sees it. Computing the facts means a zone lookup and formatting, so they are
/// kept for the second they describe and shared by every decision in it.
pub struct PolicyClock {
    zone: Tz,
    current: Mutex<Option<Tick>>,
}

#[derive(Clone)]
pub struct Tick {
    unix_second: i64,
    pub facts: Arc<TimeFacts>,
    /// Hours since the epoch in local time: decisions cached within one bucket saw the same
    /// weekday and hour.
    pub bucket: u32,
}

impl PolicyClock {
    /// `zone` was validated with the configuration; an unknown name falls back to UTC.
    pub fn new(zone: &str) -> PolicyClock {
        PolicyClock {
            zone: zone.parse().unwrap_or(Tz::UTC),
            current: Mutex::new(None),
        }
    }

    pub fn now(&self) -> Tick {
        let now = Utc::now();
        let second = now.timestamp();
        let mut current = crate::sync::lock(&self.current);
        if let Some(t) = current.as_ref().filter(|t| t.unix_second == second) {
            return t.clone();
        }
        let local = now.with_timezone(&self.zone);
        let offset = local.naive_local().and_utc().timestamp() - second;
        let tick = Tick {
            unix_second: second,
            facts: Arc::new(TimeFacts {
                now: local.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                timezone: self.zone.name().to_owned(),
                weekday: weekday(local.weekday()).to_owned(),
                hour: local.hour() as u8,
            }),
            bucket: ((second + offset).max(0) / 3600) as u32,
        };
        *current = Some(tick.clone());
        tick
    }
}

fn weekday(d: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match d {
        Mon => "monday",
        Tue => "tuesday",
        Wed => "wednesday",
        Thu => "thursday",
        Fri => "friday",
        Sat => "saturday",
        Sun => "sunday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_in_the_configured_zone() {
        let utc = PolicyClock::new("UTC").now();
        let tokyo = PolicyClock::new("Asia/Tokyo").now();
        assert_eq!(tokyo.facts.timezone, "Asia/Tokyo");
        assert_eq!((utc.facts.hour + 9) % 24, tokyo.facts.hour);
        assert!(tokyo.facts.now.ends_with("+09:00"));
        assert_eq!(tokyo.bucket, utc.bucket + 9);
    }
}
