use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `deserialize_with` target for every duration in the configuration (the gateway's and the
/// webhooks' and sinks' it embeds): written the way people say them ("5s", "250ms", "1h 30m").
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}
