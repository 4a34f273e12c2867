//! Sizes in configuration files: a plain number of bytes, or a number with a unit
//! (`512MiB`, `10 GiB`, `1.5TB`).

use serde::Deserialize;

/// A size as written in the config file, parsed by [`ByteSize::bytes`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ByteSize {
    Bytes(i64),
    Text(String),
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bytes(n) => write!(f, "{n}"),
            Self::Text(text) => f.write_str(text),
        }
    }
}

/// Binary units for single letters and `KiB`-style names, as `df -h` and most disk tools
/// mean them; `KB`-style names are decimal, as disk vendors mean them.
fn unit(name: &str) -> Option<u64> {
    let name = name.to_ascii_lowercase();
    Some(match name.as_str() {
        "" | "b" => 1,
        "k" | "ki" | "kib" => 1 << 10,
        "m" | "mi" | "mib" => 1 << 20,
        "g" | "gi" | "gib" => 1 << 30,
        "t" | "ti" | "tib" => 1 << 40,
        "p" | "pi" | "pib" => 1 << 50,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "pb" => 1_000_000_000_000_000,
        _ => return None,
    })
}

const EXPECTED: &str = "a number of bytes, or a number with a unit such as 512MiB or 10GiB";

impl ByteSize {
    /// The number of bytes, or why the value is not a size.
    pub fn bytes(&self) -> Result<u64, &'static str> {
        match self {
            Self::Bytes(n) => u64::try_from(*n).map_err(|_| "must not be negative"),
            Self::Text(text) => parse(text),
        }
    }
}

/// For command-line flags: a rate such as `100MiB/s` (the `/s` may be left out).
pub fn parse_rate_arg(text: &str) -> Result<u64, String> {
    parse(text.trim().trim_end_matches("/s")).map_err(str::to_owned)
}

/// For command-line flags: a request rate such as `200/s`.
pub fn parse_per_sec_arg(text: &str) -> Result<u32, String> {
    text.trim()
        .trim_end_matches("/s")
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{text:?} is not a number of requests per second, such as 200/s"))
}

/// For command-line flags: a size such as `50GiB`.
pub fn parse_arg(text: &str) -> Result<u64, String> {
    parse(text).map_err(str::to_owned)
}

fn parse(text: &str) -> Result<u64, &'static str> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit_name) = text.split_at(split);
    let multiplier = unit(unit_name.trim()).ok_or(EXPECTED)?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(EXPECTED);
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| EXPECTED)?
    };
    let mut bytes = whole * u128::from(multiplier);
    if !fraction.is_empty() {
        // Exact decimal arithmetic: 1.5GiB is 1610612736 bytes, not a float's guess.
        let digits: u128 = fraction.parse().map_err(|_| EXPECTED)?;
        let scale = 10u128
            .checked_pow(u32::try_from(fraction.len()).map_err(|_| EXPECTED)?)
            .ok_or(EXPECTED)?;
        bytes += digits * u128::from(multiplier) / scale;
    }
    u64::try_from(bytes).map_err(|_| "too large")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Result<u64, &'static str> {
        ByteSize::Text(s.to_owned()).bytes()
    }

    #[test]
    fn numbers_and_units() {
        assert_eq!(ByteSize::Bytes(4096).bytes(), Ok(4096));
        assert!(ByteSize::Bytes(-1).bytes().is_err());
        assert_eq!(text("1048576"), Ok(1 << 20));
        assert_eq!(text("512MiB"), Ok(512 << 20));
        assert_eq!(text("10GiB"), Ok(10 << 30));
        assert_eq!(text("10 gib"), Ok(10 << 30));
        assert_eq!(text("4M"), Ok(4 << 20));
        assert_eq!(text("100KB"), Ok(100_000));
        assert_eq!(text("2TB"), Ok(2_000_000_000_000));
        assert_eq!(text("1.5GiB"), Ok(1_610_612_736));
        assert_eq!(text("0.5k"), Ok(512));
        assert_eq!(text("12B"), Ok(12));
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in ["", "GiB", "ten GiB", "10 parsecs", "1.2.3MiB", "-5MiB", "."] {
            assert!(text(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(text("99999999PiB"), Err("too large"));
    }
}
