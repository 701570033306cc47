//! Human durations on the command line: `500ms`, `5s`, `1.5s`, `2m`, `1h`.

use std::time::Duration;

use anyhow::{Context, bail};

/// Longest duration [`parse_duration`] accepts: 30 days, far beyond any load run.
const LONGEST: Duration = Duration::from_secs(30 * 24 * 3600);

/// Parses a number followed by a unit: `ms`, `s`, `m` or `h` (`500ms`, `5s`, `1.5s`,
/// `2m`, `1h`). The number may have a fraction; the result is rounded to the
/// nearest microsecond. `0` without a unit is accepted as zero; any other number
/// needs a unit.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .with_context(|| format!("duration {text:?} has no unit (use ms, s, m or h)"))?;
    let (number, unit) = s.split_at(split);
    let scale_ms: f64 = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => bail!("duration {text:?} has an unknown unit {unit:?} (use ms, s, m or h)"),
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        bail!("duration {text:?} does not start with a number");
    }
    let value: f64 = number
        .parse()
        .with_context(|| format!("duration {text:?} does not start with a number"))?;
    let micros = (value * scale_ms * 1_000.0).round();
    if micros > LONGEST.as_micros() as f64 {
        bail!("duration {text:?} is too long (at most 30 days)");
    }
    Ok(Duration::from_micros(micros as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() -> anyhow::Result<()> {
        assert_eq!(parse_duration("500ms")?, Duration::from_millis(500));
        assert_eq!(parse_duration("5s")?, Duration::from_secs(5));
        assert_eq!(parse_duration("2m")?, Duration::from_secs(120));
        assert_eq!(parse_duration("1h")?, Duration::from_secs(3600));
        assert_eq!(parse_duration(" 30s ")?, Duration::from_secs(30));
        assert_eq!(parse_duration("0")?, Duration::ZERO);
        assert_eq!(parse_duration("0s")?, Duration::ZERO);
        Ok(())
    }

    #[test]
    fn fractions() -> anyhow::Result<()> {
        assert_eq!(parse_duration("1.5s")?, Duration::from_millis(1500));
        assert_eq!(parse_duration("0.1s")?, Duration::from_millis(100));
        assert_eq!(parse_duration("2.5ms")?, Duration::from_micros(2500));
        Ok(())
    }

    #[test]
    fn rejects() {
        for bad in [
            "", "5", "s", "ms", "5x", "5 s", "-1s", "1.2.3s", ".5s", "5.s", "5sec", "1e3s", "1000h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn messages_name_the_problem() {
        let e = parse_duration("5").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("duration \"5\" has no unit (use ms, s, m or h)")
        );
        let e = parse_duration("5x").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("duration \"5x\" has an unknown unit \"x\" (use ms, s, m or h)")
        );
    }
}
