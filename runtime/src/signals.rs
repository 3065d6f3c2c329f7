//! Signal names as `kill` takes them: "TERM", "SIGTERM", "15".

use nix::sys::signal::Signal;

use crate::error::{Error, Result};

/// A signal to send; None for signal 0, which sends nothing and asks whether the target is
/// alive (`kill ID 0`, as clients use it with runc).
pub fn parse(text: &str) -> Result<Option<Signal>> {
    let bad = || Error::Invalid(format!("unknown signal {text:?}"));
    if let Ok(n) = text.parse::<i32>() {
        if n == 0 {
            return Ok(None);
        }
        return Signal::try_from(n).map(Some).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map(Some).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("KILL").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse("sigterm").unwrap(), Some(Signal::SIGTERM));
        assert_eq!(parse("9").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse("0").unwrap(), None);
        assert!(parse("NOPE").is_err());
        assert!(parse("99").is_err());
    }
}
