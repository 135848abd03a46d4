//! A validator of Prometheus text 0.0.4 and OpenMetrics 1.0.0 expositions, stricter than
//! `promtool check metrics` (which misses duplicate series): used by `tests/props.rs` and, by
//! path, by the fuzz target in `fuzz/`.

use ecs_exporter::encode::Format;
use std::collections::HashSet;

/// One sample line, label values unescaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's metric name.
    pub name: String,
    /// Label names and unescaped values, in order.
    pub labels: Vec<(String, String)>,
    /// The value as written.
    pub raw: String,
}

pub fn is_metric_name(n: &str) -> bool {
    let mut b = n.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

pub fn is_label_name(n: &str) -> bool {
    let mut b = n.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// A sample value: a decimal float, `NaN`, `+Inf` or `-Inf`.
pub fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "NaN" => return Ok(f64::NAN),
        "+Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let ok = v.bytes().any(|b| b.is_ascii_digit()) && v.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    if !ok {
        return Err(format!("bad value {v:?}"));
    }
    v.parse::<f64>().map_err(|e| format!("bad value {v:?}: {e}"))
}

/// `name{label="value",...} value`, with no timestamp.
pub fn parse_sample(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ']).ok_or_else(|| "sample without a value".to_owned())?;
    let name = &line[..end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[end..];
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        if let Some(r) = rest.strip_prefix('}') {
            rest = r;
        } else {
            loop {
                let eq = rest.find('=').ok_or("label without '='")?;
                let lname = &rest[..eq];
                if !is_label_name(lname) {
                    return Err(format!("bad label name {lname:?}"));
                }
                rest = rest[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
                let mut value = String::new();
                let mut chars = rest.char_indices();
                let close = loop {
                    match chars.next() {
                        None => return Err("unterminated label value".into()),
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => return Err(format!("bad escape \\{other:?} in label value")),
                        },
                        Some((_, '\n')) => return Err("raw newline in label value".into()),
                        Some((_, c)) => value.push(c),
                    }
                };
                rest = &rest[close + 1..];
                if labels.iter().any(|(n, _)| n == lname) {
                    return Err(format!("label {lname} twice"));
                }
                labels.push((lname.to_owned(), value));
                if let Some(r) = rest.strip_prefix(',') {
                    rest = r;
                } else if let Some(r) = rest.strip_prefix('}') {
                    rest = r;
                    break;
                } else {
                    return Err("expected ',' or '}' after a label".into());
                }
            }
        }
    }
    let raw = rest.strip_prefix(' ').ok_or("expected one space before the value")?;
    parse_value(raw)?;
    Ok(Sample { name: name.to_owned(), labels, raw: raw.to_owned() })
}

/// HELP text escapes: `\\` and `\n`, and in OpenMetrics also `\"`.
pub fn check_help(text: &str, om: bool) -> Result<(), String> {
    let mut it = text.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('\\' | 'n') => {}
                Some('"') if om => {}
                other => return Err(format!("bad escape \\{other:?} in HELP")),
            }
        }
    }
    Ok(())
}

/// The metadata and samples seen so far of the family being written.
#[derive(Default)]
struct Block {
    family: String,
    help: bool,
    kind: Option<String>,
    unit: bool,
    samples: usize,
}

/// Check an exposition line by line; returns its samples. `dups`: also reject duplicate series.
pub fn validate(out: &str, format: Format, dups: bool) -> Result<Vec<Sample>, String> {
    let om = format == Format::OpenMetrics;
    let body =
        if om { out.strip_suffix("# EOF\n").ok_or("OpenMetrics output does not end with \"# EOF\\n\"")? } else { out };
    if !body.is_empty() && !body.ends_with('\n') {
        return Err("output does not end with a newline".into());
    }
    let mut done: HashSet<String> = HashSet::new();
    let mut cur: Option<Block> = None;
    let mut samples = Vec::new();
    let mut series: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    for (no, line) in body.split_terminator('\n').enumerate() {
        let at = |e: String| format!("line {}: {e}\n  {line:?}", no + 1);
        if let Some(meta) = line.strip_prefix("# ") {
            let (key, rest) = meta.split_once(' ').ok_or_else(|| at("comment that is not HELP/TYPE/UNIT".into()))?;
            let (name, arg) = rest.split_once(' ').ok_or_else(|| at("metadata without an argument".into()))?;
            if !is_metric_name(name) {
                return Err(at(format!("bad family name {name:?}")));
            }
            if cur.as_ref().is_none_or(|b| b.family != name) {
                if let Some(b) = cur.take() {
                    done.insert(b.family);
                }
                if done.contains(name) {
                    return Err(at(format!("family {name} is not contiguous")));
                }
                cur = Some(Block { family: name.to_owned(), ..Block::default() });
            }
            let b = cur.as_mut().expect("block");
            if b.samples > 0 {
                return Err(at(format!("{key} after samples of {name}")));
            }
            match key {
                "HELP" => {
                    if std::mem::replace(&mut b.help, true) {
                        return Err(at("second HELP".into()));
                    }
                    check_help(arg, om).map_err(at)?;
                }
                "TYPE" => {
                    if b.kind.is_some() {
                        return Err(at("second TYPE".into()));
                    }
                    let allowed: &[&str] =
                        if om { &["counter", "gauge", "info", "stateset", "unknown"] } else { &["counter", "gauge"] };
                    if !allowed.contains(&arg) {
                        return Err(at(format!("type {arg:?}")));
                    }
                    if om && name.ends_with("_total") {
                        return Err(at("OpenMetrics TYPE names end without _total".into()));
                    }
                    if !om && arg == "counter" && !name.ends_with("_total") {
                        return Err(at("counter without _total".into()));
                    }
                    b.kind = Some(arg.to_owned());
                }
                "UNIT" if om => {
                    if std::mem::replace(&mut b.unit, true) {
                        return Err(at("second UNIT".into()));
                    }
                    if arg.is_empty() || !name.ends_with(&format!("_{arg}")) {
                        return Err(at(format!("family {name} does not end in its unit {arg}")));
                    }
                }
                _ => return Err(at(format!("unknown metadata {key}"))),
            }
        } else if line.starts_with('#') {
            return Err(at("stray comment".into()));
        } else {
            let sample = parse_sample(line).map_err(at)?;
            let b = cur.as_mut().ok_or_else(|| at("sample before any HELP/TYPE".into()))?;
            let kind = b.kind.clone().ok_or_else(|| at("sample before TYPE".into()))?;
            if !b.help {
                return Err(at("sample before HELP".into()));
            }
            let expected = match (om, kind.as_str()) {
                (true, "counter") => format!("{}_total", b.family),
                (true, "info") => format!("{}_info", b.family),
                _ => b.family.clone(),
            };
            if sample.name != expected {
                return Err(at(format!("sample outside its family's block (block {} of type {kind})", b.family)));
            }
            b.samples += 1;
            let v = parse_value(&sample.raw).map_err(at)?;
            if kind == "counter" && (v.is_nan() || v < 0.0) {
                return Err(at("counter value is negative or NaN".into()));
            }
            let n = &sample.name;
            let base_unit = ["_bytes", "_bytes_total", "_seconds", "_seconds_total"];
            if base_unit.iter().any(|u| n.ends_with(u)) && !v.is_finite() {
                return Err(at("value of a bytes/seconds family is not finite".into()));
            }
            let mut key = sample.labels.clone();
            key.sort();
            if dups && !series.insert((sample.name.clone(), key)) {
                return Err(at("duplicate series".into()));
            }
            samples.push(sample);
        }
    }
    Ok(samples)
}
