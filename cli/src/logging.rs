//! Log lines as runc writes them, to --log or stderr: logrus text
//! (`time="..." level=error msg="..."`) or JSON lines (`{"level","msg","time"}`), which
//! containerd reads back for the last error. A few lines of tracing::Subscriber instead of
//! tracing-subscriber, whose formats are not runc's and whose start-up costs more than this.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Clone, Copy)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    max: Level,
    format: Format,
    file: Option<Mutex<File>>,
}

static LOGGER: std::sync::OnceLock<Logger> = std::sync::OnceLock::new();

pub fn init(path: Option<&Path>, format: Format, debug: bool) -> Result<(), String> {
    let file = match path {
        Some(p) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("open the log file {}: {e}", p.display()))?,
        )),
        None => None,
    };
    let logger = Logger {
        max: if debug { Level::DEBUG } else { Level::INFO },
        format,
        file,
    };
    let _ = LOGGER.set(logger);
    let _ = tracing::subscriber::set_global_default(Forward);
    Ok(())
}

/// The error that ends a command, where runc writes it: without --log, one log line on stderr
/// (`time="..." level=error msg="..."`, what tools that scan stderr for "error" and
/// containerd's log reader expect); with --log, the line goes to the log and the bare message
/// to stderr.
pub fn error(msg: &str) {
    match LOGGER.get() {
        Some(l) if l.file.is_some() => {
            l.write(Level::ERROR, msg);
            eprintln!("{msg}");
        }
        Some(l) => l.write(Level::ERROR, msg),
        None => Logger {
            max: Level::INFO,
            format: Format::Text,
            file: None,
        }
        .write(Level::ERROR, msg),
    }
}

impl Logger {
    fn write(&self, level: Level, msg: &str) {
        let time = vrun_runtime::time::now_rfc3339();
        // logrus's names, which is what runc writes and its readers expect.
        let level = match level {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let line = match self.format {
            Format::Json => format!(
                "{}\n",
                serde_json::json!({"level": level, "msg": msg, "time": time})
            ),
            Format::Text => format!(
                "time=\"{time}\" level={level} msg={}\n",
                serde_json::Value::String(msg.to_string())
            ),
        };
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

/// The subscriber tracing calls: forwards events to the logger.
struct Forward;

impl Subscriber for Forward {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        LOGGER.get().is_some_and(|l| *m.level() <= l.max)
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        if let Some(l) = LOGGER.get() {
            let mut m = Message(String::new());
            e.record(&mut m);
            l.write(*e.metadata().level(), &m.0);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
