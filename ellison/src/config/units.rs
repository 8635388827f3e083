//! Durations and sizes as the configuration writes them (`250ms`, `512mb`), and the two value
//! types that carry them from a flag or the file to the resolution: a flag's value is checked
//! when the command line is parsed (clap names the flag), a file's when the configuration is
//! resolved (the error names the key).

use std::time::Duration;

use serde::Deserialize;

/// A duration setting as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GivenDuration {
    /// From a flag or its variable, parsed by clap.
    Parsed(Duration),
    /// From the file, as written.
    Written(String),
}

impl GivenDuration {
    /// clap's parser for a duration flag.
    pub(crate) fn from_flag(text: &str) -> Result<GivenDuration, String> {
        parse_duration(text).map(GivenDuration::Parsed)
    }

    /// The duration, or why the text written is not one.
    pub(crate) fn parse(&self) -> Result<Duration, String> {
        match self {
            GivenDuration::Parsed(duration) => Ok(*duration),
            GivenDuration::Written(text) => parse_duration(text),
        }
    }
}

/// The file writes a duration as a string; anything else is a type error at its position.
impl<'de> Deserialize<'de> for GivenDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(GivenDuration::Written)
    }
}

/// A size setting as given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GivenSize {
    /// From a flag or its variable, parsed by clap.
    Parsed(u64),
    /// From the file: a number of bytes or a size string (`"512mb"`), as written.
    Written(toml::Value),
}

impl GivenSize {
    /// clap's parser for a size flag.
    pub(crate) fn from_flag(text: &str) -> Result<GivenSize, String> {
        parse_size(text).map(GivenSize::Parsed)
    }

    /// The size in bytes (or count), or why the value written is not one.
    pub(crate) fn parse(&self) -> Result<u64, String> {
        match self {
            GivenSize::Parsed(n) => Ok(*n),
            GivenSize::Written(toml::Value::Integer(n)) => {
                u64::try_from(*n).map_err(|_| "must be positive".to_owned())
            }
            GivenSize::Written(toml::Value::String(text)) => parse_size(text),
            GivenSize::Written(_) => {
                Err("must be a number of bytes or a size such as \"512mb\"".to_owned())
            }
        }
    }
}

/// The file may write any value; what is not a size is refused at resolution, naming the key.
impl<'de> Deserialize<'de> for GivenSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        toml::Value::deserialize(deserializer).map(GivenSize::Written)
    }
}

/// A duration as the configuration writes it (`0`, `250ms`, `5s`).
pub(super) fn shown(duration: Duration) -> String {
    if duration.is_zero() {
        "0".to_owned()
    } else {
        format!("{duration:?}")
    }
}

/// Parses `250ms`, `5s`, `2m`, `1h`, or `0`. A number without a unit is refused: `5` meant
/// 5 ms once, which made a 5-second hold a 5-millisecond one.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a duration (write a number and a unit: 250ms, 5s, 2m, 1h)")
    })?;
    let millis = match unit.trim() {
        "" if number == 0 => 0,
        "" => {
            return Err(format!(
                "{text:?} has no unit (write {number}ms, {number}s, {number}m or {number}h)"
            ))
        }
        "ms" => number,
        "s" => number.saturating_mul(1000),
        "m" => number.saturating_mul(60_000),
        "h" => number.saturating_mul(3_600_000),
        _ => return Err(format!("{text:?} has an unknown unit (use ms, s, m or h)")),
    };
    Ok(Duration::from_millis(millis))
}

/// Parses a size as Redis' configuration does: a number of bytes, or with a unit `k`, `m`,
/// `g` (powers of 1000) or `kb`, `mb`, `gb` (powers of 1024), in any case.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (examples: 1048576, 512mb, 1gb)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit (use k, kb, m, mb, g or gb)"
            ))
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("100")
            .unwrap_err()
            .contains("has no unit (write 100ms, 100s, 100m or 100h)"));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn sizes_take_redis_units() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("1k"), Ok(1000));
        assert_eq!(parse_size("1KB"), Ok(1024));
        assert_eq!(parse_size("512mb"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_size("2g"), Ok(2_000_000_000));
        assert!(parse_size("1tb").is_err());
        assert!(parse_size("99999999999999gb").is_err());
        assert!(parse_size("-1").is_err());
    }
}
