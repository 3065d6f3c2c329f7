//! Sizes as users write them (`512m`, `1g`, bytes): `vrun update`'s flags and the disk's.

/// "512", "512k", "64M", "1g" (powers of 1024, as runc's units.RAMInBytes); "-1" for no limit.
pub fn parse_size(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let body = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, mult) = match body.char_indices().last() {
        Some((i, 'k')) => (&body[..i], 1i64 << 10),
        Some((i, 'm')) => (&body[..i], 1 << 20),
        Some((i, 'g')) => (&body[..i], 1 << 30),
        Some((i, 't')) => (&body[..i], 1 << 40),
        _ => (body, 1),
    };
    let n: i64 = digits
        .trim()
        .parse()
        .map_err(|_| "not a size (use e.g. 512m, 1g, or bytes)".to_string())?;
    n.checked_mul(mult)
        .filter(|v| *v >= 0)
        .ok_or_else(|| "too large".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("2kb"), Ok(2048));
        assert_eq!(parse_size("-1"), Ok(-1));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-5").is_err());
    }
}
