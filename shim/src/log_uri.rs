//! Log URIs: a process's stdout (and stderr) given by containerd as `file:///PATH` or
//! `binary:///PATH?ARG=VALUE&...` instead of a fifo (`ctr run --log-uri`, and any client of
//! containerd's `cio.LogURI`), read as runc's shim reads them:
//!
//! - `file`: both streams appended to PATH (its directory made); the container writes to a
//!   pipe, and a thread of the shim copies to the file, so the container never holds an fd of
//!   a host file (it could truncate it, or fstat it).
//! - `binary`: PATH run as a logger, with the container's stdout and stderr to read on fds 3
//!   and 4, and fd 5 to close once it is ready (the shim waits for that); its arguments are
//!   the query's keys and values, its environment CONTAINER_ID and CONTAINER_NAMESPACE alone.
//! - `fifo://PATH`, or no scheme: containerd's fifo, as ever.

use std::path::PathBuf;

#[derive(Debug, PartialEq)]
pub enum LogUri {
    File(PathBuf),
    Binary { path: PathBuf, args: Vec<String> },
}

/// What `stdout` names: a log URI, or None for a fifo (its path, the scheme cut off).
pub fn parse(stdout: &str) -> Result<(Option<LogUri>, String), String> {
    let Some((scheme, rest)) = stdout.split_once("://") else {
        return Ok((None, stdout.to_string()));
    };
    // (the authority, empty in containerd's URIs, is not a path: file://host/x is refused)
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = decode(path).ok_or_else(|| format!("stdout {stdout:?}: a bad %-escape"))?;
    if !path.starts_with('/') {
        return Err(format!(
            "stdout {stdout:?}: the path of a {scheme} URI must be absolute (SCHEME:///PATH)"
        ));
    }
    match scheme {
        "fifo" => Ok((None, path)),
        "file" => Ok((Some(LogUri::File(path.into())), String::new())),
        "binary" => {
            let mut args = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let bad = || format!("stdout {stdout:?}: a bad %-escape in {pair:?}");
                args.push(decode(&k.replace('+', " ")).ok_or_else(bad)?);
                args.push(decode(&v.replace('+', " ")).ok_or_else(bad)?);
            }
            Ok((
                Some(LogUri::Binary {
                    path: path.into(),
                    args,
                }),
                String::new(),
            ))
        }
        other => Err(format!(
            "stdout {stdout:?}: unknown io scheme {other:?} (this shim takes fifo, file and binary)"
        )),
    }
}

/// Percent-decoding; None for a broken escape or bytes that are not UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_as_containerd_writes_them() {
        assert_eq!(parse("/run/x/fifo"), Ok((None, "/run/x/fifo".into())));
        assert_eq!(
            parse("fifo:///run/x/fifo"),
            Ok((None, "/run/x/fifo".into()))
        );
        assert_eq!(
            parse("file:///var/log/a%20b.log"),
            Ok((Some(LogUri::File("/var/log/a b.log".into())), String::new()))
        );
        let binary = LogUri::Binary {
            path: "/usr/bin/logger".into(),
            args: vec!["--tag".into(), "a b".into(), "-v".into(), String::new()],
        };
        assert_eq!(
            parse("binary:///usr/bin/logger?--tag=a+b&-v"),
            Ok((Some(binary), String::new()))
        );
        assert!(parse("http:///y").is_err_and(|e| e.contains("unknown io scheme")));
        assert!(parse("file://relative/x").is_err_and(|e| e.contains("absolute")));
        assert!(parse("file:///x%zz").is_err());
    }
}
