//! OpenMetrics 1.0.0 text: family names without the `_total` / `_info` suffix in `# TYPE`,
//! `# UNIT` for base units, info metrics typed `info`; the samples and the closing `# EOF` are
//! written by [`super::encode_parts`].

use super::escape_label;
use crate::metrics::{FamilyDef, Kind};

/// The `# TYPE`, `# UNIT` (for base units) and `# HELP` lines of a family.
pub(super) fn header(def: &FamilyDef, out: &mut Vec<u8>) {
    let (base, kind) = match def.kind {
        Kind::Counter => (def.name.strip_suffix("_total").unwrap_or(def.name), "counter"),
        Kind::Info => (def.name.strip_suffix("_info").unwrap_or(def.name), "info"),
        Kind::Gauge | Kind::StateSet => (def.name, "gauge"),
    };
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(base.as_bytes());
    out.push(b' ');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
    if !def.unit.is_empty() {
        out.extend_from_slice(b"# UNIT ");
        out.extend_from_slice(base.as_bytes());
        out.push(b' ');
        out.extend_from_slice(def.unit.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(base.as_bytes());
    out.push(b' ');
    // OpenMetrics escapes HELP like a label value.
    escape_label(out, def.help);
    out.push(b'\n');
}
