//! RFC 3339 timestamps as written by Go (`2025-02-27T05:06:19.200809191Z`) to exact
//! nanoseconds since the epoch. Handles up to 9 fractional digits, `Z` or a numeric offset, and
//! times before 1970. Go's zero time (year 1) means "never" and reads as `None`.

/// Parse an RFC 3339 timestamp into nanoseconds since the Unix epoch.
pub fn parse_rfc3339_nanos(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year <= 1 || !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ns: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale = 100_000_000i64;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                frac_ns += i64::from(b[i] - b'0') * scale;
                scale /= 10;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_s: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if *c == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    Some(i128::from(secs) * 1_000_000_000 + i128::from(frac_ns))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_timestamps() {
        // 2025-02-27T05:06:19Z: 20146 days after 1970-01-01 → 20146*86400 + 5*3600 + 6*60 + 19 = 1740632779.
        assert_eq!(parse_rfc3339_nanos("2025-02-27T05:06:19.200809191Z"), Some(1_740_632_779_200_809_191));
        assert_eq!(parse_rfc3339_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_nanos("1969-12-31T23:59:59.99999999Z"), Some(-10));
        assert_eq!(parse_rfc3339_nanos("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339_nanos("2021-10-29T10:25:20.5933849Z"), Some(1_635_503_120_593_384_900));
        assert_eq!(parse_rfc3339_nanos("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_nanos("garbage"), None);
        assert_eq!(parse_rfc3339_nanos("2025-02-27T05:06:19."), None);
    }
}

/// Format a time since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_rfc3339_millis(since_epoch: std::time::Duration) -> String {
    let (date, secs) = civil(since_epoch.as_secs());
    format!("{date}T{:02}:{:02}:{:02}.{:03}Z", secs / 3600, secs / 60 % 60, secs % 60, since_epoch.subsec_millis())
}

/// Format a time since the epoch as Go does: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn format_rfc3339_nanos(since_epoch: std::time::Duration) -> String {
    let (date, secs) = civil(since_epoch.as_secs());
    format!("{date}T{:02}:{:02}:{:02}.{:09}Z", secs / 3600, secs / 60 % 60, secs % 60, since_epoch.subsec_nanos())
}

/// `YYYY-MM-DD` and the seconds into that day (H. Hinnant's civil_from_days).
fn civil(secs: u64) -> (String, u64) {
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (format!("{y:04}-{m:02}-{d:02}"), secs % 86_400)
}

#[cfg(test)]
mod format_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn round_trips() {
        let d = Duration::new(1_740_632_779, 200_809_191);
        let s = format_rfc3339_nanos(d);
        assert_eq!(s, "2025-02-27T05:06:19.200809191Z");
        assert_eq!(parse_rfc3339_nanos(&s), Some(1_740_632_779_200_809_191));
        assert_eq!(format_rfc3339_millis(Duration::ZERO), "1970-01-01T00:00:00.000Z");
    }
}
