//! Container ids: what runc accepts (letters, digits, `_+-.`), never "." or "..", never empty.

use crate::error::{Error, Result};

pub fn validate(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::Invalid("container id is empty".into()));
    }
    if id == "." || id == ".." {
        return Err(Error::Invalid(format!("invalid container id {id:?}")));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.')))
    {
        return Err(Error::Invalid(format!("invalid container id {id:?}: character {c:?} is not allowed (use letters, digits, _ + - .)")));
    }
    if id.len() > 1024 {
        return Err(Error::Invalid(
            "container id is longer than 1024 characters".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn ids() {
        assert!(validate("abc-1_2.3+x").is_ok());
        for bad in ["", ".", "..", "a/b", "/", "a b", "a\0b"] {
            assert!(validate(bad).is_err(), "{bad:?} accepted");
        }
    }
}
