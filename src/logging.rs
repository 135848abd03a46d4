//! Logging: `tracing` events to standard error as logfmt (`ts=… level=… msg="…" key=value`) or
//! JSON lines (`{"timestamp":…,"level":…,"message":…,fields…,"target":…}`, written here rather
//! than by tracing-subscriber's `json` feature, which costs more binary), filtered by
//! `--log.level`.

use crate::config::{LogFormat, LogLevel};
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Install the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(level: LogLevel, format: LogFormat) {
    let max = match level {
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Info => Level::INFO,
        LogLevel::Warn => Level::WARN,
        LogLevel::Error => Level::ERROR,
    };
    let builder = tracing_subscriber::fmt().with_max_level(max).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.event_format(Json).try_init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).try_init(),
    };
}

/// The logfmt event format.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let ts = crate::timefmt::format_rfc3339_millis(now);
        let mut v = Fields { msg: String::new(), rest: String::new() };
        event.record(&mut v);
        write!(w, "ts={ts} level={} msg=", meta.level().as_str().to_ascii_lowercase())?;
        write_value(&mut w, &v.msg)?;
        writeln!(w, "{}", v.rest)
    }
}

/// The JSON lines event format: `{"timestamp", "level", "message", fields..., "target"}`.
struct Json;

impl<S, N> FormatEvent<S, N> for Json
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut v = JsonFields { out: String::new() };
        event.record(&mut v);
        w.write_str("{\"timestamp\":")?;
        json_str(&mut w, &crate::timefmt::format_rfc3339_millis(now))?;
        write!(w, ",\"level\":\"{}\"", meta.level().as_str())?;
        w.write_str(&v.out)?;
        w.write_str(",\"target\":")?;
        json_str(&mut w, meta.target())?;
        w.write_str("}\n")
    }
}

/// Fields as `,"name":value` in the order recorded (`message` first by tracing's convention).
struct JsonFields {
    out: String,
}

impl JsonFields {
    fn key(&mut self, field: &Field) {
        self.out.push(',');
        let _ = json_str(&mut self.out, field.name());
        self.out.push(':');
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        let _ = json_str(&mut self.out, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// A JSON string literal.
fn json_str(w: &mut impl fmt::Write, v: &str) -> fmt::Result {
    w.write_char('"')?;
    for c in v.chars() {
        match c {
            '"' => w.write_str("\\\"")?,
            '\\' => w.write_str("\\\\")?,
            '\n' => w.write_str("\\n")?,
            '\r' => w.write_str("\\r")?,
            '\t' => w.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(w, "\\u{:04x}", c as u32)?,
            c => w.write_char(c)?,
        }
    }
    w.write_char('"')
}

struct Fields {
    msg: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg.push_str(value);
        } else {
            let _ = write!(self.rest, " {}=", field.name());
            let mut s = String::new();
            let _ = write_value(&mut s, value);
            self.rest.push_str(&s);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// A logfmt value: bare when it is a plain token, else quoted with `\` `"` and line breaks escaped.
fn write_value(w: &mut impl fmt::Write, v: &str) -> fmt::Result {
    let plain = !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=' && b != b'\\');
    if plain {
        return w.write_str(v);
    }
    w.write_char('"')?;
    for c in v.chars() {
        match c {
            '"' => w.write_str("\\\"")?,
            '\\' => w.write_str("\\\\")?,
            '\n' => w.write_str("\\n")?,
            '\r' => w.write_str("\\r")?,
            '\t' => w.write_str("\\t")?,
            c => w.write_char(c)?,
        }
    }
    w.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\nd\u{1}").unwrap();
        assert_eq!(s, r#""a\"b\\c\nd\u0001""#);
        let v: String = serde_json::from_str(&s).unwrap();
        assert_eq!(v, "a\"b\\c\nd\u{1}");
    }
}
