//! The JSON reader under the typed model: one pass over a body already checked to be UTF-8
//! ([`super::text`]), building only the fields the model names ([`FromJson`], [`Object`]) and
//! stepping over the rest without building anything ([`Reader::skip`], which still checks it
//! is JSON).
//!
//! It accepts exactly what `serde_json` accepts for a document it ignores (RFC 8259: no
//! trailing commas, no comments, no leading zeros, any depth), so a body either is JSON or
//! fails as a whole, with a message in `serde_json`'s words and its line and column. Two
//! choices are the model's: a number out of `f64`'s range is an error of its own kind
//! ([`Error::is_out_of_range`]) that the caller may confine to one container, and a `\u` escape
//! of a lone UTF-16 surrogate reads as U+FFFD, as a byte that is not UTF-8 does.
//!
//! `serde_json` built the model before (`serde::Deserialize` for every leaf and struct): on the
//! floor's 9 KB `/task/stats` it spent 119 k instructions checking the syntax alone and 185 k
//! building the model; this reader checks it in 88 k and builds the model in about 126 k.

use std::borrow::Cow;

/// Why a body is not JSON (or holds a number out of range), and where. Boxed: errors are rare,
/// and a one-word error lets every `Result` of the reader come back in registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(Box<Fault>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    what: &'static str,
    line: usize,
    column: usize,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at line {} column {}", self.0.what, self.0.line, self.0.column)
    }
}

impl std::error::Error for Error {}

/// The message of a number beyond `f64`'s range.
const OUT_OF_RANGE: &str = "number out of range";

impl Error {
    /// A number beyond `f64`'s range: the document is JSON, one value of it is unusable.
    pub fn is_out_of_range(&self) -> bool {
        self.0.what == OUT_OF_RANGE
    }
}

/// A JSON number kept exactly as it came: unsigned, signed or floating point.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Num {
    /// The field was absent, `null`, or not a number.
    #[default]
    Absent,
    /// A non-negative integer (covers `u64::MAX`, the "unlimited" memory limit).
    U(u64),
    /// A negative integer.
    I(i64),
    /// A number with a fraction or exponent.
    F(f64),
}

impl Num {
    /// The value as `u64` when it is a non-negative integer (an integral float counts).
    pub fn as_u64(self) -> Option<u64> {
        match self {
            Num::U(v) => Some(v),
            Num::I(_) | Num::Absent => None,
            Num::F(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8446744073709552e19 => Some(f as u64),
            Num::F(_) => None,
        }
    }

    /// The value as `i64` when it is an integer that fits.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Num::U(v) => i64::try_from(v).ok(),
            Num::I(v) => Some(v),
            Num::F(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18 => Some(f as i64),
            _ => None,
        }
    }

    /// The value as `f64` when present and finite.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Num::U(v) => Some(v as f64),
            Num::I(v) => Some(v as f64),
            Num::F(f) if f.is_finite() => Some(f),
            _ => None,
        }
    }

    /// True when the field carried a number.
    pub fn is_present(self) -> bool {
        !matches!(self, Num::Absent)
    }
}

/// A pull reader over one JSON text. Values are read by kind after [`Reader::peek`]; objects
/// and arrays by [`Reader::object`] and [`Reader::array`], which hand each member to a closure.
#[derive(Debug)]
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

/// Whether a byte ends the plain run of a string: `"`, `\` or a control character.
const STOPS: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The offset of the first `"`, `\` or control character in `b` at or after `i` (or its
/// length): eight bytes at a time, each word tested for the three at once.
#[inline(always)]
fn scan(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero, or (third term) below 0x20, where its high bit is set in the
    // result; borrows make false matches only above a true one, so the lowest is right.
    const fn zero(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x
    }
    while let Some(Ok(word)) = b.get(i..i + 8).map(<[u8; 8]>::try_from) {
        let w = u64::from_le_bytes(word);
        let m = (zero(w ^ (ONES * b'"' as u64)) | zero(w ^ (ONES * b'\\' as u64)) | w.wrapping_sub(ONES * 0x20) & !w)
            & HIGH;
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if STOPS[usize::from(c)] {
            break;
        }
        i += 1;
    }
    i
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Reader { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The offset of the next byte to read.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The text from `start` to the current offset (a value just read or skipped).
    pub fn since(&self, start: usize) -> &'a str {
        self.text.get(start..self.pos).unwrap_or("")
    }

    /// Go back to `offset` (one returned by [`Reader::offset`]), to read a value again.
    pub fn rewind(&mut self, offset: usize) {
        self.pos = offset.min(self.text.len());
    }

    /// An error about the byte at `at` (its line and 1-based column; the end for `at` past it).
    #[cold]
    fn error_at(&self, what: &'static str, at: usize) -> Error {
        let b = self.bytes();
        let at = at.min(b.len());
        let line_start = b[..at].iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
        let line = 1 + b[..line_start].iter().filter(|&&c| c == b'\n').count();
        let column = (at + 1).min(b.len()) - line_start;
        Error(Box::new(Fault { what, line, column }))
    }

    /// An error about the bytes just read, ending at `end`.
    #[cold]
    fn error_before(&self, what: &'static str, end: usize) -> Error {
        self.error_at(what, end.saturating_sub(1))
    }

    /// Skip white space and return the next byte without reading it (`None` at the end).
    #[inline(always)]
    fn ws(&mut self) -> Option<u8> {
        let b = self.bytes();
        while let Some(&c) = b.get(self.pos) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(c);
            }
            self.pos += 1;
        }
        None
    }

    /// The first byte of the next value: `{`, `[`, `"`, a digit or `-`, `t`, `f` or `n`.
    #[inline]
    pub fn peek(&mut self) -> Result<u8, Error> {
        match self.ws() {
            Some(c @ (b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')) => Ok(c),
            Some(_) => Err(self.error_at("expected value", self.pos)),
            None => Err(self.error_at("EOF while parsing a value", self.pos)),
        }
    }

    /// Nothing but white space is left.
    pub fn finish(&mut self) -> Result<(), Error> {
        match self.ws() {
            None => Ok(()),
            Some(_) => Err(self.error_at("trailing characters", self.pos)),
        }
    }

    /// Read `true`, `false` or `null` (the next value starts with `t`, `f` or `n`).
    pub fn literal(&mut self) -> Result<Option<bool>, Error> {
        let (word, v): (&[u8], _) = match self.bytes().get(self.pos) {
            Some(b't') => (b"true", Some(true)),
            Some(b'f') => (b"false", Some(false)),
            _ => (b"null", None),
        };
        for (i, &w) in word.iter().enumerate() {
            match self.bytes().get(self.pos + i) {
                Some(&c) if c == w => {}
                Some(_) => return Err(self.error_at("expected ident", self.pos + i)),
                None => return Err(self.error_at("EOF while parsing a value", self.pos + i)),
            }
        }
        self.pos += word.len();
        Ok(v)
    }

    /// Read a string (the next value starts with `"`): borrowed from the text unless it holds
    /// escapes.
    #[inline(always)]
    pub fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        let b = self.bytes();
        let start = self.pos + 1;
        let i = scan(b, start);
        match b.get(i) {
            Some(b'"') => {
                self.pos = i + 1;
                // `start` and `i` sit next to ASCII quotes: both are character boundaries.
                Ok(Cow::Borrowed(self.text.get(start..i).unwrap_or("")))
            }
            Some(b'\\') => self.escaped(start, i).map(Cow::Owned),
            Some(_) => Err(self.error_at("control character (\\u0000-\\u001F) found while parsing a string", i)),
            None => Err(self.error_at("EOF while parsing a string", i)),
        }
    }

    /// The rest of a string from its first escape at `i` (its text began at `start`).
    #[cold]
    fn escaped(&mut self, start: usize, mut i: usize) -> Result<String, Error> {
        let b = self.bytes();
        let mut out = String::with_capacity(i - start + 16);
        let mut run = start;
        loop {
            match b.get(i) {
                Some(b'"') => {
                    out.push_str(self.text.get(run..i).unwrap_or(""));
                    self.pos = i + 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(self.text.get(run..i).unwrap_or(""));
                    let c = match b.get(i + 1) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let (c, len) = self.unicode(i)?;
                            i += len;
                            run = i;
                            out.push(c);
                            continue;
                        }
                        Some(_) => return Err(self.error_at("invalid escape", i + 1)),
                        None => return Err(self.error_at("EOF while parsing a string", i + 1)),
                    };
                    out.push(c);
                    i += 2;
                    run = i;
                }
                Some(&c) if c < 0x20 => {
                    return Err(self.error_at("control character (\\u0000-\\u001F) found while parsing a string", i))
                }
                Some(_) => i += 1,
                None => return Err(self.error_at("EOF while parsing a string", i)),
            }
        }
    }

    /// The four hex digits of a `\u` escape at `at` (its backslash).
    fn hex4(&self, at: usize) -> Result<u16, Error> {
        let mut v = 0u16;
        for k in 0..4 {
            let d = match self.bytes().get(at + 2 + k) {
                Some(&c @ b'0'..=b'9') => c - b'0',
                Some(&c @ b'a'..=b'f') => c - b'a' + 10,
                Some(&c @ b'A'..=b'F') => c - b'A' + 10,
                Some(_) => return Err(self.error_at("invalid escape", at + 2 + k)),
                None => return Err(self.error_at("EOF while parsing a string", at + 2 + k)),
            };
            v = v << 4 | u16::from(d);
        }
        Ok(v)
    }

    /// The character of a `\u` escape at `at`, and the bytes it took (a surrogate pair takes
    /// two escapes; a lone surrogate reads as U+FFFD).
    fn unicode(&self, at: usize) -> Result<(char, usize), Error> {
        let hi = self.hex4(at)?;
        if !(0xD800..0xDC00).contains(&hi) {
            return Ok((char::from_u32(u32::from(hi)).unwrap_or('\u{fffd}'), 6));
        }
        let b = self.bytes();
        if b.get(at + 6) == Some(&b'\\') && b.get(at + 7) == Some(&b'u') {
            let lo = self.hex4(at + 6)?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((u32::from(hi) - 0xD800) << 10 | (u32::from(lo) - 0xDC00));
                return Ok((char::from_u32(c).unwrap_or('\u{fffd}'), 12));
            }
        }
        Ok(('\u{fffd}', 6))
    }

    /// Step over a string without building it.
    #[inline(always)]
    fn skip_string(&mut self) -> Result<(), Error> {
        let b = self.bytes();
        let mut i = self.pos + 1;
        loop {
            i = scan(b, i);
            match b.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(());
                }
                Some(b'\\') => match b.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                    Some(b'u') => {
                        self.hex4(i)?;
                        i += 6;
                    }
                    Some(_) => return Err(self.error_at("invalid escape", i + 1)),
                    None => return Err(self.error_at("EOF while parsing a string", i + 1)),
                },
                Some(_) => {
                    return Err(self.error_at("control character (\\u0000-\\u001F) found while parsing a string", i))
                }
                None => return Err(self.error_at("EOF while parsing a string", i)),
            }
        }
    }

    /// The end of the number starting at the current offset, checked against JSON's grammar,
    /// and whether it is an integer.
    #[inline(always)]
    fn number_end(&self) -> Result<(usize, bool), Error> {
        let b = self.bytes();
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut i = self.pos + usize::from(b.get(self.pos) == Some(&b'-'));
        i = match b.get(i) {
            Some(b'0') => i + 1,
            Some(b'1'..=b'9') => digits(i + 1),
            Some(_) => return Err(self.error_at("invalid number", i)),
            None => return Err(self.error_at("EOF while parsing a value", i)),
        };
        let mut integer = true;
        if b.get(i) == Some(&b'.') {
            integer = false;
            let end = digits(i + 1);
            if end == i + 1 {
                return Err(
                    self.error_at(if end == b.len() { "EOF while parsing a value" } else { "invalid number" }, end)
                );
            }
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            integer = false;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return Err(
                    self.error_at(if end == b.len() { "EOF while parsing a value" } else { "invalid number" }, end)
                );
            }
            i = end;
        }
        Ok((i, integer))
    }

    /// Read a number (the next value starts with `-` or a digit): an integer that fits `u64`
    /// or `i64` as such, anything else as `f64`; beyond `f64`'s range an error
    /// ([`Error::is_out_of_range`]).
    #[inline(always)]
    pub fn number(&mut self) -> Result<Num, Error> {
        let b = self.bytes();
        let start = self.pos;
        let neg = b.get(start) == Some(&b'-');
        // The common case in one pass: an integer of at most 19 digits (always fits u64).
        let first = start + usize::from(neg);
        let mut i = first;
        let mut v = 0u64;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 || i - first == 19 {
                break;
            }
            v = v * 10 + u64::from(d);
            i += 1;
        }
        let plain = i > first
            && (i == first + 1 || b.get(first) != Some(&b'0'))
            && !matches!(b.get(i), Some(b'0'..=b'9' | b'.' | b'e' | b'E'));
        if plain && (!neg || v <= 1 << 63) {
            self.pos = i;
            return Ok(match neg {
                false => Num::U(v),
                // `-0` is a float, as serde_json reads it.
                true if v == 0 => Num::F(-0.0),
                true => Num::I((v as i64).wrapping_neg()),
            });
        }
        let (end, integer) = self.number_end()?;
        self.pos = end;
        let text = self.text.get(start..end).unwrap_or("");
        if integer {
            // 20 digits may still fit u64, and a negative one i64.
            let digits = text.trim_start_matches('-');
            if let Ok(v) = digits.parse::<u64>() {
                match neg {
                    false => return Ok(Num::U(v)),
                    true if v <= 1 << 63 => return Ok(Num::I((v as i64).wrapping_neg())),
                    true => {}
                }
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Num::F(f)),
            _ => Err(self.error_before(OUT_OF_RANGE, end)),
        }
    }

    /// Read an object (the next value starts with `{`): `member` is called with each key and
    /// must read or skip its value.
    #[inline]
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, Cow<'a, str>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.pos += 1;
        match self.ws() {
            Some(b'}') => {
                self.pos += 1;
                return Ok(());
            }
            Some(b'"') => {}
            Some(_) => return Err(self.error_at("key must be a string", self.pos)),
            None => return Err(self.error_at("EOF while parsing an object", self.pos)),
        }
        loop {
            let key = self.string()?;
            match self.ws() {
                Some(b':') => self.pos += 1,
                Some(_) => return Err(self.error_at("expected `:`", self.pos)),
                None => return Err(self.error_at("EOF while parsing an object", self.pos)),
            }
            member(self, key)?;
            match self.ws() {
                Some(b',') => {
                    self.pos += 1;
                    match self.ws() {
                        Some(b'"') => {}
                        Some(b'}') => return Err(self.error_at("trailing comma", self.pos)),
                        Some(_) => return Err(self.error_at("key must be a string", self.pos)),
                        None => return Err(self.error_at("EOF while parsing a value", self.pos)),
                    }
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) => return Err(self.error_at("expected `,` or `}`", self.pos)),
                None => return Err(self.error_at("EOF while parsing an object", self.pos)),
            }
        }
    }

    /// Read an array (the next value starts with `[`): `element` is called for each element
    /// and must read or skip it.
    #[inline]
    pub fn array(&mut self, mut element: impl FnMut(&mut Self) -> Result<(), Error>) -> Result<(), Error> {
        self.pos += 1;
        match self.ws() {
            Some(b']') => {
                self.pos += 1;
                return Ok(());
            }
            Some(_) => {}
            None => return Err(self.error_at("EOF while parsing a list", self.pos)),
        }
        loop {
            element(self)?;
            match self.ws() {
                Some(b',') => {
                    self.pos += 1;
                    if self.ws() == Some(b']') {
                        return Err(self.error_at("trailing comma", self.pos));
                    }
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) => return Err(self.error_at("expected `,` or `]`", self.pos)),
                None => return Err(self.error_at("EOF while parsing a list", self.pos)),
            }
        }
    }

    /// Step over the next value, of any kind and depth, checking that it is JSON and building
    /// nothing.
    pub fn skip(&mut self) -> Result<(), Error> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'-' | b'0'..=b'9' => {
                self.pos = self.number_end()?.0;
                Ok(())
            }
            b't' | b'f' | b'n' => self.literal().map(drop),
            _ => self.skip_nested(),
        }
    }

    /// [`Reader::skip`] of an object or array: the open ones are kept as bits ([`Open`]), so
    /// depth costs no recursion.
    #[inline(never)]
    fn skip_nested(&mut self) -> Result<(), Error> {
        let mut open = Open::default();
        loop {
            // A value.
            match self.peek()? {
                b'"' => self.skip_string()?,
                b'-' | b'0'..=b'9' => self.pos = self.number_end()?.0,
                b't' | b'f' | b'n' => {
                    self.literal()?;
                }
                bracket => {
                    self.pos += 1;
                    let object = bracket == b'{';
                    open.push(object);
                    match self.ws() {
                        Some(b'}') if object => {
                            self.pos += 1;
                            open.pop();
                        }
                        Some(b']') if !object => {
                            self.pos += 1;
                            open.pop();
                        }
                        Some(b'"') if object => {
                            self.skip_key()?;
                            continue;
                        }
                        Some(_) if !object => continue,
                        Some(_) => return Err(self.error_at("key must be a string", self.pos)),
                        None => {
                            let what = if object { "EOF while parsing an object" } else { "EOF while parsing a list" };
                            return Err(self.error_at(what, self.pos));
                        }
                    }
                }
            }
            // After a value: close what ends here, or go on to the next member.
            loop {
                let Some(object) = open.innermost() else { return Ok(()) };
                match self.ws() {
                    Some(b',') => {
                        self.pos += 1;
                        if object {
                            match self.ws() {
                                Some(b'"') => self.skip_key()?,
                                Some(b'}') => return Err(self.error_at("trailing comma", self.pos)),
                                Some(_) => return Err(self.error_at("key must be a string", self.pos)),
                                None => return Err(self.error_at("EOF while parsing a value", self.pos)),
                            }
                        } else if self.ws() == Some(b']') {
                            return Err(self.error_at("trailing comma", self.pos));
                        }
                        break;
                    }
                    Some(b'}') if object => self.pos += 1,
                    Some(b']') if !object => self.pos += 1,
                    Some(_) => {
                        let what = if object { "expected `,` or `}`" } else { "expected `,` or `]`" };
                        return Err(self.error_at(what, self.pos));
                    }
                    None => {
                        let what = if object { "EOF while parsing an object" } else { "EOF while parsing a list" };
                        return Err(self.error_at(what, self.pos));
                    }
                }
                open.pop();
            }
        }
    }

    /// Step over a key and its colon (the next byte is its `"`).
    #[inline(always)]
    fn skip_key(&mut self) -> Result<(), Error> {
        self.skip_string()?;
        match self.ws() {
            Some(b':') => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.error_at("expected `:`", self.pos)),
            None => Err(self.error_at("EOF while parsing an object", self.pos)),
        }
    }
}

/// The objects and arrays open while a value is stepped over, innermost last: one bit each (1
/// for an object), the innermost 64 in a word and the outer ones spilled into a vector.
#[derive(Default)]
struct Open {
    top: u64,
    deep: Vec<u64>,
    depth: usize,
}

impl Open {
    fn push(&mut self, object: bool) {
        if self.depth > 0 && self.depth % 64 == 0 {
            self.deep.push(self.top);
            self.top = 0;
        }
        self.depth += 1;
        self.top = self.top << 1 | u64::from(object);
    }

    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.top >>= 1;
        if self.depth > 0 && self.depth % 64 == 0 {
            self.top = self.deep.pop().unwrap_or(0);
        }
    }

    /// Whether the innermost open one is an object; `None` when none is open.
    fn innermost(&self) -> Option<bool> {
        (self.depth > 0).then_some(self.top & 1 == 1)
    }
}

/// A value of the model read from any JSON value: what it cannot use reads as absent (and is
/// stepped over), so only a body that is not JSON, or a number out of range, fails.
pub trait FromJson: Sized {
    /// Read the next value.
    fn read(r: &mut Reader<'_>) -> Result<Self, Error>;
}

/// A value of the model read from a JSON object (the next value starts with `{`).
pub trait Object: Sized {
    /// Read the object.
    fn read_object(r: &mut Reader<'_>) -> Result<Self, Error>;
}

/// A whole text as `T`: the value, then nothing but white space.
pub fn from_str<T: FromJson>(text: &str) -> Result<T, Error> {
    let mut r = Reader::new(text);
    let v = T::read(&mut r)?;
    r.finish()?;
    Ok(v)
}

/// Check that `text` is one JSON value, building nothing.
pub fn validate(text: &str) -> Result<(), Error> {
    let mut r = Reader::new(text);
    r.skip()?;
    r.finish()
}

/// A map of string keys to values (the last of repeated keys wins, as Go's encoding/json
/// does).
impl<V: FromJson> Object for std::collections::BTreeMap<String, V> {
    fn read_object(r: &mut Reader<'_>) -> Result<Self, Error> {
        let mut map = std::collections::BTreeMap::new();
        r.object(|r, key| {
            map.insert(key.into_owned(), V::read(r)?);
            Ok(())
        })?;
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> bool {
        validate(s).is_ok()
    }

    #[test]
    fn accepts_json_and_refuses_the_rest_as_serde_json_does() {
        let cases = [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "1.5e-3",
            "-12E+4",
            "\"a\\u00e9\\n\"",
            "[]",
            "{}",
            " [1, {\"a\": [null]}] ",
            "{\"a\":1,\"a\":2}",
            "[[[[[]]]]]",
            "\"\\ud800\"",
            "1e400",
            "",
            "   ",
            "nul",
            "tru",
            "01",
            "1.",
            "-",
            "1e",
            "1e+",
            ".5",
            "+1",
            "[1,]",
            "{\"a\":1,}",
            "{,}",
            "[,1]",
            "{\"a\" 1}",
            "{1:2}",
            "\"\\x\"",
            "\"\\u12\"",
            "\"a",
            "[1 2]",
            "{\"a\":1 \"b\":2}",
            "[1] x",
            "\"\u{1}\"",
            "[",
            "{",
            "{\"a\":",
            "{\"a\"",
            "[1,",
            "NaN",
            "Infinity",
            "[-]",
            "{\"a\":{}}}",
            "\u{feff}1",
            "\"\\uD83D\\uDE00\"",
            "1 2",
            "[\"a\"\"b\"]",
            "[true false]",
            "-01",
            "0x1",
        ];
        for c in cases {
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(c).is_ok();
            assert_eq!(ok(c), theirs, "{c:?}");
        }
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(ok(&deep));
        assert!(!ok(&"[".repeat(100_000)));
        let deep_objects = "{\"a\":".repeat(300) + "1" + &"}".repeat(300);
        assert!(ok(&deep_objects));
    }

    #[test]
    fn numbers_keep_their_kind() {
        let n = |s: &str| Reader::new(s).number().unwrap();
        assert_eq!(n("18446744073709551615"), Num::U(u64::MAX));
        assert_eq!(n("18446744073709551616"), Num::F(18446744073709551616.0));
        assert_eq!(n("-9223372036854775808"), Num::I(i64::MIN));
        assert_eq!(n("-9223372036854775809"), Num::F(-9223372036854775809.0));
        assert_eq!(n("-0"), Num::F(-0.0));
        assert_eq!(n("1e2"), Num::F(100.0));
        assert_eq!(n("0.1"), Num::F(0.1));
        assert_eq!(n("9223372036854771712"), Num::U(9223372036854771712));
        let e = Reader::new("[1e400]").number().unwrap_err();
        assert!(e.is_out_of_range() || e.to_string().contains("invalid number"));
        let mut r = Reader::new("1e400");
        let e = r.number().unwrap_err();
        assert!(e.is_out_of_range());
        assert_eq!(e.to_string(), "number out of range at line 1 column 5");
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        fn s(t: &str) -> Cow<'_, str> {
            Reader::new(t).string().unwrap()
        }
        assert!(matches!(s("\"plain é\""), Cow::Borrowed("plain é")));
        assert_eq!(s(r#""a\"b\\c\/d\b\f\n\r\t""#), "a\"b\\c/d\u{8}\u{c}\n\r\t");
        assert_eq!(s(r#""\u00e9\uD83D\uDE00x""#), "é😀x");
        // Lone surrogates read as U+FFFD.
        assert_eq!(s(r#""\ud800x\udc00""#), "\u{fffd}x\u{fffd}");
        assert_eq!(s(r#""\ud800\u0041""#), "\u{fffd}A");
    }

    #[test]
    fn errors_say_where() {
        let e = validate("{\n  \"a\": [1,\n  ]\n}").unwrap_err();
        assert_eq!(e.to_string(), "trailing comma at line 3 column 3");
        let e = validate("[1, 2").unwrap_err();
        assert!(e.to_string().starts_with("EOF while parsing a list"), "{e}");
        let e = validate("").unwrap_err();
        assert_eq!(e.to_string(), "EOF while parsing a value at line 1 column 0");
    }

    #[test]
    fn objects_hand_each_member_over() {
        let mut r = Reader::new(r#" {"a": 1, "b\u0021": {"x": [1, 2]}, "c": "s"} "#);
        r.peek().unwrap();
        let mut keys = Vec::new();
        r.object(|r, k| {
            keys.push(k.into_owned());
            r.skip()
        })
        .unwrap();
        r.finish().unwrap();
        assert_eq!(keys, ["a", "b!", "c"]);
    }
}
