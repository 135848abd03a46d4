//! Fuzz the whole pipeline: parse → collect → encode (text 0.0.4 and OpenMetrics).
//!
//! The input is a `/task` body and a `/task/stats` body separated by the first 0x00 byte (no
//! 0x00: the whole input is the `/task` body and the stats are `{}`). Neither parser may panic;
//! whatever parses is collected (with and without the internal containers) and both outputs must
//! pass the cheap validator below, a copy of the one in `tests/props.rs` cut down: line syntax,
//! names, label escaping, values, HELP/TYPE once and before the samples, contiguous families, no
//! duplicate series (unless two exported containers share a name: a known bug), `# EOF` once
//! and last in OpenMetrics with TYPE names without `_total`, counters ≥ 0, bytes and seconds
//! finite, text and OpenMetrics holding the same samples, and every exported container's name
//! coming back unescaped in `ecs_container_info`.

#![no_main]

use ecs_exporter::collect::{collect, Filter};
use ecs_exporter::encode::{encode, Format};
use ecs_exporter::snapshot::Snapshot;
use ecs_exporter::tmds::model::{Task, TaskStats};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

fuzz_target!(|data: &[u8]| {
    let (task, stats) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let (task, stats) = match (Task::parse(task), TaskStats::parse(stats)) {
        (Err(_), Err(_)) => return,
        (t, s) => (t.unwrap_or_default(), s.unwrap_or_default()),
    };
    for include_internal in [false, true] {
        let filter = Filter { include_internal, ..Filter::default() };
        let mut snap = Snapshot::default();
        let _ = collect(&task, &stats, &filter, &mut snap);
        snap.sort();
        let names: Vec<String> = task
            .containers
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .filter(|c| filter.keeps(c.name.or_empty(), c.kind.get()))
            .map(|c| c.name.or_empty().to_owned())
            .collect();
        let distinct = names.iter().collect::<HashSet<_>>().len() == names.len();
        let text = render(&snap, Format::Text);
        let om = render(&snap, Format::OpenMetrics);
        let ts = validate(&text, false, distinct).unwrap_or_else(|e| panic!("text 0.0.4: {e}\n{text}"));
        let os = validate(&om, true, distinct).unwrap_or_else(|e| panic!("OpenMetrics: {e}\n{om}"));
        assert!(ts == os, "text and OpenMetrics hold different samples");
        let mut got: Vec<String> = ts
            .iter()
            .filter(|s| s.name == "ecs_container_info")
            .filter_map(|s| s.labels.iter().find(|(k, _)| k == "container_name").map(|(_, v)| v.clone()))
            .collect();
        let mut want = names;
        got.sort();
        want.sort();
        assert_eq!(got, want, "container names do not round-trip");
    }
});

fn render(snap: &Snapshot, format: Format) -> String {
    let mut out = Vec::new();
    encode(snap, format, &mut out);
    String::from_utf8(out).expect("output is UTF-8")
}

#[derive(PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    raw: String,
}

fn is_name(n: &str, colon: bool) -> bool {
    let ok = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || (colon && c == b':');
    !n.is_empty() && !n.as_bytes()[0].is_ascii_digit() && n.bytes().all(ok)
}

fn value(v: &str) -> Result<f64, String> {
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
    v.parse().map_err(|e| format!("bad value {v:?}: {e}"))
}

fn sample(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ']).ok_or("sample without a value")?;
    let name = &line[..end];
    if !is_name(name, true) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[end..];
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        while !labels.is_empty() || !rest.starts_with('}') {
            let eq = rest.find('=').ok_or("label without '='")?;
            let lname = &rest[..eq];
            if !is_name(lname, false) || labels.iter().any(|(n, _)| n == lname) {
                return Err(format!("bad or repeated label name {lname:?}"));
            }
            rest = rest[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
            let mut v = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next() {
                    None => return Err("unterminated label value".into()),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                        Some('\\') => v.push('\\'),
                        Some('"') => v.push('"'),
                        Some('n') => v.push('\n'),
                        other => return Err(format!("bad escape {other:?}")),
                    },
                    Some((_, c)) => v.push(c),
                }
            };
            rest = &rest[close + 1..];
            labels.push((lname.to_owned(), v));
            match rest.as_bytes().first() {
                Some(b',') => rest = &rest[1..],
                Some(b'}') => break,
                _ => return Err("expected ',' or '}'".into()),
            }
        }
        rest = &rest[1..];
    }
    let raw = rest.strip_prefix(' ').ok_or("expected one space before the value")?;
    value(raw)?;
    Ok(Sample { name: name.to_owned(), labels, raw: raw.to_owned() })
}

fn help(text: &str, om: bool) -> Result<(), String> {
    let mut it = text.chars();
    while let Some(c) = it.next() {
        if c == '\\' && !matches!((it.next(), om), (Some('\\' | 'n'), _) | (Some('"'), true)) {
            return Err("bad escape in HELP".into());
        }
    }
    Ok(())
}

fn validate(out: &str, om: bool, dups: bool) -> Result<Vec<Sample>, String> {
    let body = if om { out.strip_suffix("# EOF\n").ok_or("no final \"# EOF\\n\"")? } else { out };
    if !body.is_empty() && !body.ends_with('\n') {
        return Err("no final newline".into());
    }
    // (family, HELP seen, TYPE, UNIT seen, samples seen) of the current block.
    let mut cur: Option<(String, bool, Option<String>, bool, bool)> = None;
    let mut done = HashSet::new();
    let mut series = HashSet::new();
    let mut samples = Vec::new();
    for line in body.split_terminator('\n') {
        let at = |e: String| format!("{e}: {line:?}");
        if let Some(meta) = line.strip_prefix("# ") {
            let (key, rest) = meta.split_once(' ').ok_or_else(|| at("stray comment".into()))?;
            let (name, arg) = rest.split_once(' ').ok_or_else(|| at("metadata without argument".into()))?;
            if !is_name(name, true) {
                return Err(at("bad family name".into()));
            }
            if cur.as_ref().is_none_or(|b| b.0 != name) {
                if let Some(b) = cur.take() {
                    done.insert(b.0);
                }
                if done.contains(name) {
                    return Err(at("family not contiguous".into()));
                }
                cur = Some((name.to_owned(), false, None, false, false));
            }
            let b = cur.as_mut().unwrap();
            if b.4 {
                return Err(at("metadata after samples".into()));
            }
            match key {
                "HELP" if !b.1 => {
                    b.1 = true;
                    help(arg, om).map_err(at)?;
                }
                "TYPE" if b.2.is_none() => {
                    let kinds: &[&str] = if om { &["counter", "gauge", "info"] } else { &["counter", "gauge"] };
                    if !kinds.contains(&arg) || (om && name.ends_with("_total")) {
                        return Err(at("bad TYPE".into()));
                    }
                    b.2 = Some(arg.to_owned());
                }
                "UNIT" if om && !b.3 => {
                    b.3 = true;
                    if arg.is_empty() || !name.ends_with(&format!("_{arg}")) {
                        return Err(at("family does not end in its unit".into()));
                    }
                }
                _ => return Err(at("unknown or repeated metadata".into())),
            }
        } else if line.starts_with('#') {
            return Err(at("stray comment".into()));
        } else {
            let s = sample(line).map_err(at)?;
            let b = cur.as_mut().ok_or_else(|| at("sample before metadata".into()))?;
            let kind = b.2.clone().ok_or_else(|| at("sample before TYPE".into()))?;
            let family = match (om, kind.as_str()) {
                (true, "counter") => format!("{}_total", b.0),
                (true, "info") => format!("{}_info", b.0),
                _ => b.0.clone(),
            };
            if !b.1 || s.name != family {
                return Err(at("sample outside its family's block, or before HELP".into()));
            }
            b.4 = true;
            let v = value(&s.raw).map_err(at)?;
            if kind == "counter" && (v.is_nan() || v < 0.0) {
                return Err(at("negative or NaN counter".into()));
            }
            if ["_bytes", "_bytes_total", "_seconds", "_seconds_total"].iter().any(|u| s.name.ends_with(u))
                && !v.is_finite()
            {
                return Err(at("bytes/seconds value not finite".into()));
            }
            let mut key = s.labels.clone();
            key.sort();
            if !series.insert((s.name.clone(), key)) && dups {
                return Err(at("duplicate series".into()));
            }
            samples.push(s);
        }
    }
    Ok(samples)
}
