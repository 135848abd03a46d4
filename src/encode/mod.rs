//! Snapshot → exposition formats: Prometheus text 0.0.4 ([`text`]) and OpenMetrics 1.0.0
//! ([`openmetrics`]), plus content negotiation; and StatsD/DogStatsD lines for the push
//! ([`statsd`]). The two exposition formats write HELP and TYPE once per family, from the metric
//! table, and share the value and label writers here.

pub mod gzip;
pub mod openmetrics;
pub mod statsd;
pub mod text;

use crate::metrics::{Family, ALL};
use crate::snapshot::{Kept, Label, Labels, Series, Snapshot, Value};
use std::sync::OnceLock;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics text 1.0.0.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a body in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// Pick the format an `Accept` header prefers: OpenMetrics when it is accepted with a
    /// quality at least that of plain text, else text 0.0.4.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let (mut om, mut text) = (0.0f32, 0.0f32);
        // Compared without case, not lowered into copies: Prometheus sends five media ranges
        // with three parameters each on every scrape.
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        for part in accept.split(',') {
            let mut params = part.split(';');
            let media = params.next().unwrap_or("").trim();
            let mut q = 1.0f32;
            let mut version_ok = true;
            for p in params {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let k = k.trim();
                if is(k, "q") {
                    q = v.trim().parse().unwrap_or(0.0);
                } else if is(k, "version") {
                    // We speak OpenMetrics 1.0.0 only (0.0.1 is the same text format).
                    version_ok = matches!(v.trim(), "1.0.0" | "0.0.1");
                }
            }
            if is(media, "application/openmetrics-text") {
                if version_ok {
                    om = om.max(q);
                }
            } else if is(media, "text/plain") || media == "*/*" || is(media, "text/*") {
                text = text.max(q);
            }
        }
        if om > 0.0 && om >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// The last `Accept` header seen and the format it picked. Prometheus sends the same header,
/// five media ranges with their parameters, on every scrape; reading it again cost more than
/// all the rest of a cached scrape's own work (8.8 k instructions of 41 k), comparing it costs
/// a `memcmp`.
#[derive(Debug, Default)]
pub struct Negotiation(std::sync::Mutex<(Vec<u8>, Option<Format>)>);

impl Negotiation {
    /// [`Format::negotiate`] of `accept` (a header value that is not UTF-8 counts as absent).
    pub fn format(&self, accept: Option<&[u8]>) -> Format {
        let Some(accept) = accept else { return Format::Text };
        let mut last = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = last.1.filter(|_| last.0 == accept) {
            return f;
        }
        let f = Format::negotiate(std::str::from_utf8(accept).ok());
        // Kept only when of a sane size, so that no client makes it hold a large buffer.
        if accept.len() <= 1024 {
            last.0.clear();
            last.0.extend_from_slice(accept);
            last.1 = Some(f);
        }
        f
    }
}

/// Write a snapshot (already grouped by family with [`Snapshot::sort`]) in `format`.
pub fn encode(snapshot: &Snapshot, format: Format, out: &mut Vec<u8>) {
    encode_parts(&[snapshot], format, out);
}

/// Write the families of one sorted snapshot in `format`, without OpenMetrics' closing `# EOF`:
/// a part of an exposition.
pub fn encode_part(snapshot: &Snapshot, format: Format, out: &mut Vec<u8>) {
    encode_with(snapshot, format, out, &mut write_value);
}

/// [`encode_part`] with the values written by `value`.
fn encode_with(snapshot: &Snapshot, format: Format, out: &mut Vec<u8>, value: &mut dyn FnMut(&mut Vec<u8>, Value)) {
    for (family, run) in families(&snapshot.series) {
        out.extend_from_slice(header(family, format));
        let name = family.def().name;
        for s in run {
            write_sample(out, name, s, value);
        }
    }
}

/// About the size of `snapshot` encoded (a little over, as a value is counted 24 bytes): the
/// room to reserve, so that a large exposition (host mode: megabytes) is not copied as it grows.
pub fn size_hint(snapshot: &Snapshot) -> usize {
    let labels = |s: &Series| s.labels.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>();
    let series: usize = snapshot.series.iter().map(|s| s.family.def().name.len() + labels(s) + 28).sum();
    series + families(&snapshot.series).count() * 256
}

/// The comment lines that open `family` in `format` (HELP and TYPE, and UNIT in OpenMetrics),
/// written once per family and format, the first time it is encoded.
fn header(family: Family, format: Format) -> &'static [u8] {
    static HEADERS: [[OnceLock<Box<[u8]>>; 2]; ALL.len()] = [const { [const { OnceLock::new() }; 2] }; ALL.len()];
    HEADERS[family as usize][usize::from(format == Format::OpenMetrics)].get_or_init(|| {
        let mut h = Vec::with_capacity(160);
        match format {
            Format::Text => text::header(family.def(), &mut h),
            Format::OpenMetrics => openmetrics::header(family.def(), &mut h),
        }
        h.into_boxed_slice()
    })
}

/// Write several sorted snapshots one after the other as one exposition; no family may appear
/// in two of them (the task's series and the exporter's own, say).
pub fn encode_parts(parts: &[&Snapshot], format: Format, out: &mut Vec<u8>) {
    for p in parts {
        encode_part(p, format, out);
    }
    if format == Format::OpenMetrics {
        out.extend_from_slice(b"# EOF\n");
    }
}

/// The exporter's own series ([`Kept`], refilled in place on every scrape) encoded by filling
/// the new values into the text of the last encode: its comment lines, names and labels are
/// written once, not on every scrape. When the kept series change shape, or the format changes,
/// the part is encoded whole and becomes the template.
#[derive(Debug, Default)]
pub struct Template {
    /// The format and [`Kept::shape`] the text was made for.
    made: Option<(Format, u64)>,
    /// The encoded part without its values.
    text: Vec<u8>,
    /// Where in `text` each series' value goes, in order.
    slots: Vec<usize>,
}

impl Template {
    /// Append `kept`'s series in `format` to `out`: the same bytes as [`encode_part`].
    pub fn encode(&mut self, kept: &Kept, format: Format, out: &mut Vec<u8>) {
        let snapshot = kept.snapshot();
        if self.made != Some((format, kept.shape())) {
            self.text.clear();
            self.slots.clear();
            let (text, slots) = (&mut self.text, &mut self.slots);
            encode_with(snapshot, format, text, &mut |t: &mut Vec<u8>, _| slots.push(t.len()));
            self.made = Some((format, kept.shape()));
        }
        let mut from = 0;
        for (s, &at) in snapshot.series.iter().zip(&self.slots) {
            out.extend_from_slice(&self.text[from..at]);
            write_value(out, s.value);
            from = at;
        }
        out.extend_from_slice(&self.text[from..]);
    }
}

/// Runs of series of the same family, in order.
pub(crate) fn families(series: &[Series]) -> impl Iterator<Item = (Family, &[Series])> {
    let mut rest = series;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let n = rest.iter().take_while(|s| s.family == first.family).count();
        let (run, tail) = rest.split_at(n);
        rest = tail;
        Some((first.family, run))
    })
}

/// Write `name{labels} value\n`, the value by `value`. A shared label list's block
/// (`{container_name="web"}`, the same in both formats) is written and escaped once, kept with
/// the list, and copied into every series that shares it (30 to 40 a container): one copy
/// instead of a write per label name, quote and value.
fn write_sample(out: &mut Vec<u8>, name: &str, s: &Series, value: &mut dyn FnMut(&mut Vec<u8>, Value)) {
    out.extend_from_slice(name.as_bytes());
    match &s.labels {
        Labels::Shared(shared) => out.extend_from_slice(shared.encoded(write_labels)),
        Labels::Own(list) => write_labels(list, out),
        Labels::SharedAnd(shared, (k, v)) => {
            // `{a="x"` of the shared block, then `,k="v"}`.
            match shared.encoded(write_labels).split_last() {
                Some((_, open)) => {
                    out.extend_from_slice(open);
                    out.push(b',');
                }
                None => out.push(b'{'),
            }
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_label(out, v);
            out.extend_from_slice(b"\"}");
        }
    }
    out.push(b' ');
    value(out, s.value);
    out.push(b'\n');
}

/// Write `{k="v",...}`, escaped; nothing for no labels.
fn write_labels(labels: &[Label], out: &mut Vec<u8>) {
    if labels.is_empty() {
        return;
    }
    out.push(b'{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_label(out, v);
        out.push(b'"');
    }
    out.push(b'}');
}

/// Escape a label value: backslash, double quote and line feed.
pub(crate) fn escape_label(out: &mut Vec<u8>, v: &str) {
    let bytes = v.as_bytes();
    // memchr's vectorised search for long values (a task ARN on every series in host mode,
    // where a byte-by-byte check was 16% of a scrape); short ones (names, states) are checked
    // in a plain loop, cheaper than setting up the vector search.
    let clean = if bytes.len() < 32 {
        !bytes.iter().any(|&b| matches!(b, b'\\' | b'"' | b'\n'))
    } else {
        memchr::memchr3(b'\\', b'"', b'\n', bytes).is_none()
    };
    if clean {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// Write a value: integers as integers, nanoseconds as exact decimal seconds, floats in the
/// shortest form that reads back the same, and `NaN`, `+Inf`, `-Inf`.
pub(crate) fn write_value(out: &mut Vec<u8>, v: Value) {
    let mut ints = itoa::Buffer::new();
    match v {
        Value::U64(n) => out.extend_from_slice(ints.format(n).as_bytes()),
        Value::I64(n) => out.extend_from_slice(ints.format(n).as_bytes()),
        Value::F64(f) if f.is_nan() => out.extend_from_slice(b"NaN"),
        Value::F64(f) if f.is_infinite() => out.extend_from_slice(if f > 0.0 { b"+Inf" } else { b"-Inf" }),
        // Integral values (most limits and rates) print as integers, like Go does.
        Value::F64(f) if f.fract() == 0.0 && f.abs() < 1e15 => out.extend_from_slice(ints.format(f as i64).as_bytes()),
        Value::F64(f) => out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes()),
        Value::Nanos(ns) => {
            if ns < 0 {
                out.push(b'-');
            }
            let abs = ns.unsigned_abs();
            // In u64 when it fits (584 years of nanoseconds): 128-bit division and formatting
            // are calls several times slower.
            let frac = match u64::try_from(abs) {
                Ok(a) => {
                    out.extend_from_slice(ints.format(a / 1_000_000_000).as_bytes());
                    (a % 1_000_000_000) as u32
                }
                Err(_) => {
                    out.extend_from_slice(ints.format(abs / 1_000_000_000).as_bytes());
                    (abs % 1_000_000_000) as u32
                }
            };
            if frac != 0 {
                // Nine digits with the trailing zeros dropped: exact.
                let mut digits = [b'0'; 9];
                let mut f = frac;
                for d in digits.iter_mut().rev() {
                    *d = b'0' + (f % 10) as u8;
                    f /= 10;
                }
                let len = 9 - digits.iter().rev().take_while(|d| **d == b'0').count();
                out.push(b'.');
                out.extend_from_slice(&digits[..len]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(v: Value) -> String {
        let mut o = Vec::new();
        write_value(&mut o, v);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn values_are_exact() {
        assert_eq!(val(Value::U64(u64::MAX)), "18446744073709551615");
        assert_eq!(val(Value::Nanos(322_633_383)), "0.322633383");
        assert_eq!(val(Value::Nanos(1_740_632_779_200_809_191)), "1740632779.200809191");
        assert_eq!(val(Value::Nanos(-10)), "-0.00000001");
        assert_eq!(val(Value::Nanos(5_000_000_000)), "5");
        // Beyond u64 nanoseconds: the 128-bit path.
        assert_eq!(val(Value::Nanos(i128::from(u64::MAX) * 10 + 5)), "184467440737.095516155");
        assert_eq!(val(Value::Nanos(-(i128::from(u64::MAX) + 1))), "-18446744073.709551616");
        assert_eq!(val(Value::F64(0.25)), "0.25");
        assert_eq!(val(Value::F64(f64::INFINITY)), "+Inf");
        assert_eq!(val(Value::I64(-1)), "-1");
    }

    #[test]
    fn negotiation_follows_accept() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(Some("text/plain;version=0.0.4")), Format::Text);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text; q=0")), Format::Text);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text;version=2.0.0")), Format::Text);
        // Media types and parameter names are case-insensitive (RFC 9110); so is the order.
        let shouted = "TEXT/PLAIN; Q=0.4, Application/OpenMetrics-Text; Version=1.0.0; Q=0.6";
        assert_eq!(Format::negotiate(Some(shouted)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("Application/OpenMetrics-Text;Q=0.2,Text/*;q=0.3")), Format::Text);
        // Prometheus 3's header, escaping parameter and all.
        let prom3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(Format::negotiate(Some(prom3)), Format::OpenMetrics);
    }

    #[test]
    fn the_kept_negotiation_answers_as_a_fresh_one() {
        let prom3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        let n = Negotiation::default();
        let long = format!("text/plain;q=0.1,{}", "x".repeat(2000));
        for a in
            [Some(prom3), Some(prom3), Some("text/plain"), Some(prom3), None, Some(&long), Some(prom3), Some("*/*")]
        {
            assert_eq!(n.format(a.map(str::as_bytes)), Format::negotiate(a), "{a:?}");
        }
        assert_eq!(n.format(Some(b"application/openmetrics-text\xff")), Format::Text, "not UTF-8: absent");
    }

    #[test]
    fn a_template_writes_what_the_encoder_writes() {
        use crate::metrics::Family as F;
        use crate::snapshot::LabelValue;
        use std::sync::Arc;
        // The same series put into `kept` and pushed into a snapshot encoded whole.
        fn fill(kept: &mut Kept, up: u64, cpu: i128, outcome: &str, extra: bool) -> Snapshot {
            let (path, outcome): (LabelValue, LabelValue) = (Arc::from("/task"), Arc::from(outcome));
            let mut f = kept.fill();
            f.put(F::ExporterUp, &[], Value::U64(up));
            f.put(F::ExporterUpstreamRequests, &[("path", &path), ("outcome", &outcome)], Value::U64(up * 7));
            if extra {
                f.put(F::ExporterContainerErrors, &[], Value::U64(3));
            }
            f.put(F::ProcessCpu, &[], Value::Nanos(cpu));
            let mut whole = Snapshot::default();
            whole.push(F::ExporterUp, vec![], Value::U64(up));
            whole.push(F::ExporterUpstreamRequests, vec![("path", path), ("outcome", outcome)], Value::U64(up * 7));
            if extra {
                whole.push(F::ExporterContainerErrors, vec![], Value::U64(3));
            }
            whole.push(F::ProcessCpu, vec![], Value::Nanos(cpu));
            whole
        }
        let (mut kept, mut t) = (Kept::default(), Template::default());
        // New values, then each change of shape (labels, a series more, a series less), and
        // of format: every time the bytes of a whole encode.
        let cases = [
            (1, 5_000_000, "ok", false, Format::Text),
            (0, 1_250_000_000, "ok", false, Format::Text),
            (1, 7, "timeout", false, Format::Text),
            (1, 7, "timeout", true, Format::Text),
            (1, 8, "timeout", false, Format::Text),
            (1, 9, "timeout", false, Format::OpenMetrics),
            (0, 10, "timeout", false, Format::OpenMetrics),
        ];
        for (up, cpu, outcome, extra, format) in cases {
            let whole = fill(&mut kept, up, cpu, outcome, extra);
            let (mut want, mut got) = (Vec::new(), Vec::new());
            encode_part(&whole, format, &mut want);
            t.encode(&kept, format, &mut got);
            assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
        }
    }

    #[test]
    fn the_size_hint_covers_the_encoded_size() {
        let body = std::fs::read("tests/fixtures/ecs_exporter/fargate_task_stats.json").unwrap();
        let stats = crate::parse::tmds::TaskStats::parse(&body).unwrap();
        let task = crate::parse::tmds::Task::parse(
            &std::fs::read("tests/fixtures/ecs_exporter/fargate_task_metadata.json").unwrap(),
        )
        .unwrap();
        let mut snap = Snapshot::default();
        crate::collect::collect(&task, &stats, &crate::collect::Filter::default(), &mut snap);
        snap.sort();
        for format in [Format::Text, Format::OpenMetrics] {
            let mut out = Vec::new();
            encode_part(&snap, format, &mut out);
            let hint = size_hint(&snap);
            // Enough room, and not wildly more.
            assert!(out.len() <= hint && hint < out.len() * 2, "{} vs {hint}", out.len());
        }
    }

    #[test]
    fn a_shared_label_list_encodes_as_its_own_would_in_both_formats() {
        use crate::metrics::Family as F;
        use crate::snapshot::Labels;
        use std::sync::Arc;
        let list = || vec![("task_arn", Arc::from("arn:aws:ecs:t/1")), ("container_name", Arc::from("we\"b\\\n"))];
        let shared = Labels::shared(list());
        let (mut own, mut both) = (Snapshot::default(), Snapshot::default());
        for f in [F::ContainerRestarts, F::ContainerMemoryUsage] {
            own.push(f, list(), Value::U64(3));
            both.push(f, shared.clone(), Value::U64(3));
        }
        // Text first, then OpenMetrics from the block the first encode kept.
        for format in [Format::Text, Format::OpenMetrics, Format::Text] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            encode_part(&own, format, &mut a);
            encode_part(&both, format, &mut b);
            let b = String::from_utf8(b).unwrap();
            assert_eq!(String::from_utf8(a).unwrap(), b);
            assert_eq!(b.matches(r#"{task_arn="arn:aws:ecs:t/1",container_name="we\"b\\\n"} 3"#).count(), 2, "{b}");
        }
    }

    #[test]
    fn a_shared_list_and_one_more_label_encode_as_one_list_would() {
        use crate::metrics::Family as F;
        use crate::snapshot::Labels;
        use std::sync::Arc;
        let base = || vec![("task_arn", Arc::from("arn:aws:ecs:t/1")), ("container_name", Arc::from("we\"b"))];
        for list in [base(), Vec::new()] {
            let shared = Labels::shared(list.clone());
            let mut with_status = list.clone();
            with_status.push(("status", Arc::from("RUN\"NING")));
            let (mut own, mut and) = (Snapshot::default(), Snapshot::default());
            own.push(F::ContainerStatus, with_status, Value::U64(1));
            and.push(F::ContainerStatus, shared.and(("status", Arc::from("RUN\"NING"))), Value::U64(1));
            // The shared block made first by a series of its own, or by the one with more.
            and.push(F::ContainerRestarts, shared.clone(), Value::U64(2));
            own.push(F::ContainerRestarts, list.clone(), Value::U64(2));
            assert_eq!(own.series[0].labels, and.series[0].labels);
            for format in [Format::Text, Format::OpenMetrics] {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                encode_part(&own, format, &mut a);
                encode_part(&and, format, &mut b);
                assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
            }
        }
    }

    #[test]
    fn labels_are_escaped() {
        let mut o = Vec::new();
        escape_label(&mut o, "a\"b\\c\nd é");
        assert_eq!(String::from_utf8(o).unwrap(), "a\\\"b\\\\c\\nd é");
        // Long values take the vector search: with and without characters to escape.
        let arn = "arn:aws:ecs:us-east-1:123456789012:task/demo/6f1c2a7e9b3d4c5fa0e1d2c3b4a59687";
        for (v, want) in [(arn.to_owned(), arn.to_owned()), (format!("{arn}\""), format!("{arn}\\\""))] {
            let mut o = Vec::new();
            escape_label(&mut o, &v);
            assert_eq!(String::from_utf8(o).unwrap(), want);
        }
    }
}
