use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `deserialize_with` for the durations of webhooks and sinks, written as in the rest of the
/// configuration ("5s", "250ms").
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}
