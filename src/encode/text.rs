//! Prometheus text exposition format 0.0.4: `# HELP`, `# TYPE` (info and state sets as
//! `gauge`); the samples are written by [`super::encode_part`].

use crate::metrics::{FamilyDef, Kind};

/// The `# HELP` and `# TYPE` lines of a family.
pub(super) fn header(def: &FamilyDef, out: &mut Vec<u8>) {
    let kind = match def.kind {
        Kind::Counter => "counter",
        Kind::Gauge | Kind::Info | Kind::StateSet => "gauge",
    };
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(def.name.as_bytes());
    out.push(b' ');
    escape_help(out, def.help);
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(def.name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
}

/// HELP text escapes only backslash and line feed in 0.0.4.
fn escape_help(out: &mut Vec<u8>, h: &str) {
    for &b in h.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}
