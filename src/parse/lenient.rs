//! Lenient leaf types for the TMDS model.
//!
//! Real metadata responses put `null`, `{}`, strings such as `"None"`, floats and integers beyond
//! `i64` where a number is expected. These types accept any JSON value for a leaf and turn what
//! they cannot use into "absent" instead of failing the whole document, so one odd field never
//! hides the rest of a container, let alone another container.

use super::json::{Error, FromJson, Object, Reader};
use std::sync::Arc;

pub use super::json::Num;

impl FromJson for Num {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        match r.peek()? {
            b'-' | b'0'..=b'9' => r.number(),
            _ => r.skip().map(|_| Num::Absent),
        }
    }
}

/// A string leaf: absent, `null` or a non-string value reads as `None`; numbers are kept as text.
/// Reference counted, so that a label value made of it (`container_name`, `image`, ...) and a
/// host source's copy into the model share it instead of copying it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Str(pub Option<Arc<str>>);

impl Str {
    /// A present string.
    pub fn new(s: &str) -> Str {
        Str(Some(Arc::from(s)))
    }
    /// The string, if present.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
    /// The string or `""`.
    pub fn or_empty(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
    /// The string or `""`, shared (a label value).
    pub fn shared(&self) -> Arc<str> {
        static EMPTY: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        self.0.clone().unwrap_or_else(|| EMPTY.get_or_init(|| Arc::from("")).clone())
    }
}

impl FromJson for Str {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Str(match r.peek()? {
            b'"' => Some(Arc::from(&*r.string()?)),
            b'-' | b'0'..=b'9' => match r.number()? {
                Num::U(v) => Some(Arc::from(v.to_string())),
                Num::I(v) => Some(Arc::from(v.to_string())),
                Num::F(v) => Some(Arc::from(v.to_string())),
                Num::Absent => None,
            },
            b't' | b'f' | b'n' => r.literal()?.map(|b| Arc::from(if b { "true" } else { "false" })),
            _ => {
                r.skip()?;
                None
            }
        }))
    }
}

/// A string leaf mapped by `pick` without being kept (no allocation); any other JSON value
/// reads as `T::default()`. For keywords such as block I/O ops.
pub fn word<T: Default>(r: &mut Reader<'_>, pick: fn(&str) -> T) -> Result<T, Error> {
    match r.peek()? {
        b'"' => Ok(pick(&r.string()?)),
        _ => r.skip().map(|_| T::default()),
    }
}

/// A list that reads as empty-and-absent when the JSON holds anything but an array
/// (`null`, the string `"None"` seen in Windows captures, an object).
#[derive(Debug, Clone, PartialEq)]
pub struct List<T>(pub Option<Vec<T>>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(None)
    }
}

impl<T> List<T> {
    /// The elements, or an empty slice when the list was absent.
    pub fn items(&self) -> &[T] {
        self.0.as_deref().unwrap_or(&[])
    }
    /// True when the JSON held an array (possibly empty).
    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }
}

impl<T: FromJson> FromJson for List<T> {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        elements(r, |r| T::read(r).map(Some)).map(List)
    }
}

/// An array's elements, each read by `element` (`None`: left out); `None` for anything but an
/// array (stepped over).
fn elements<T>(
    r: &mut Reader<'_>,
    mut element: impl FnMut(&mut Reader<'_>) -> Result<Option<T>, Error>,
) -> Result<Option<Vec<T>>, Error> {
    if r.peek()? != b'[' {
        return r.skip().map(|_| None);
    }
    // Room for the usual few (block I/O's six entries, a CPU's cores) at once: growing from
    // nothing reallocated twice.
    let mut out = Vec::with_capacity(8);
    r.array(|r| {
        out.extend(element(r)?);
        Ok(())
    })?;
    Ok(Some(out))
}

/// A list of objects: elements that are not objects (`null`, numbers, arrays) are skipped, so
/// one odd element never fails the object that holds the list. Absent like [`List`].
#[derive(Debug, Clone, PartialEq)]
pub struct Objects<T>(pub Option<Vec<T>>);

impl<T> Default for Objects<T> {
    fn default() -> Self {
        Objects(None)
    }
}

impl<T> Objects<T> {
    /// The objects, or an empty slice when the list was absent.
    pub fn items(&self) -> &[T] {
        self.0.as_deref().unwrap_or(&[])
    }
    /// True when the JSON held an array (possibly empty, or of non-objects only).
    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }
}

impl<T: Object> FromJson for Objects<T> {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        elements(r, |r| match r.peek()? {
            b'{' => T::read_object(r).map(Some),
            _ => r.skip().map(|_| None),
        })
        .map(Objects)
    }
}

/// A nested object that reads as `None` when the JSON holds anything but an object
/// (`null`, a string, a number, an array); an object is parsed as `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Obj<T>(pub Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

impl<T> Obj<T> {
    /// The object, if present.
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<T: Object> FromJson for Obj<T> {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        if r.peek()? == b'{' {
            T::read_object(r).map(|v| Obj(Some(v)))
        } else {
            r.skip().map(|_| Obj(None))
        }
    }
}

/// An object read only if asked for: its text is kept (checked to be JSON, one copy) and parsed
/// on the first [`Deferred::get`]. For what only an opt-in flag exports (Docker labels, task
/// tags): by default nothing of it is built.
#[derive(Debug, Default)]
pub struct Deferred<T> {
    text: Option<Arc<str>>,
    value: std::sync::OnceLock<Option<T>>,
}

impl<T> Deferred<T> {
    /// One to build from `text` (a JSON object already checked) when asked for.
    pub fn text(text: &str) -> Self {
        Deferred { text: Some(Arc::from(text)), value: std::sync::OnceLock::new() }
    }
}

impl<T: Object> Deferred<T> {
    /// The object, if the JSON held one.
    pub fn get(&self) -> Option<&T> {
        self.value
            .get_or_init(|| {
                let mut r = Reader::new(self.text.as_deref()?);
                T::read_object(&mut r).ok()
            })
            .as_ref()
    }
}

/// A clone shares the text (a reference count) and copies what was built of it.
impl<T: Clone> Clone for Deferred<T> {
    fn clone(&self) -> Self {
        Deferred { text: self.text.clone(), value: self.value.clone() }
    }
}

impl<T> FromJson for Deferred<T> {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let object = r.peek()? == b'{';
        let start = r.offset();
        r.skip()?;
        Ok(match object {
            true => Deferred::text(r.since(start)),
            false => Deferred { text: None, value: std::sync::OnceLock::new() },
        })
    }
}

/// Read an entry of a list or map of containers, confining a number out of range to it: the
/// entry is then stepped over and its fault kept as `Err` (text), so the others still count.
/// Only a body that is not JSON fails.
pub fn confined<T: Object>(r: &mut Reader<'_>) -> Result<Result<Entry<T>, String>, Error> {
    let start = r.offset();
    match Entry::<T>::read(r) {
        Ok(e) => Ok(Ok(e)),
        Err(e) if e.is_out_of_range() => {
            r.rewind(start);
            r.skip()?;
            Ok(Err(e.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// One element of a list or map of objects, telling `null` and non-objects apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<T> {
    /// `null`.
    Null,
    /// An object, parsed.
    Value(T),
    /// Anything else (a number, a string, an array).
    NotObject,
}

impl<T: Object> FromJson for Entry<T> {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        match r.peek()? {
            b'{' => T::read_object(r).map(Entry::Value),
            b'n' => r.literal().map(|_| Entry::Null),
            _ => r.skip().map(|_| Entry::NotObject),
        }
    }
}

/// Define a struct of lenient fields and how it is read from a JSON object ([`Object`]): each
/// field is read from the JSON key given, unknown keys are stepped over, a missing key leaves
/// the field's default, and a key that appears twice keeps the last value (as Go's
/// encoding/json does) instead of failing. With lenient field types only a body that is not
/// JSON, or a number out of range, fails the struct. Fields listed under
/// `extra { ... }` are not read from JSON: the host sources fill them from other APIs.
macro_rules! lenient_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $( $(#[$fmeta:meta])* $json:literal => $field:ident : $ty:ty, )* }
     $( extra { $( $(#[$xmeta:meta])* $xfield:ident : $xty:ty, )* } )?) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            $( $( $(#[$xmeta])* pub $xfield: $xty, )* )?
        }

        impl $crate::parse::json::Object for $name {
            fn read_object(r: &mut $crate::parse::json::Reader<'_>) -> Result<Self, $crate::parse::json::Error> {
                let mut out = $name::default();
                r.object(|r, key| {
                    match &*key {
                        $( $json => out.$field = $crate::parse::json::FromJson::read(r)?, )*
                        _ => r.skip()?,
                    }
                    Ok(())
                })?;
                Ok(out)
            }
        }
    };
}
pub(crate) use lenient_struct;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_keeps_u64_max_and_rejects_strings() {
        let v: List<Num> =
            super::super::json::from_str(r#"[18446744073709551615, -1, 1.5, "12", null, {}, [1], true]"#).unwrap();
        let v = v.items();
        assert_eq!(v[0].as_u64(), Some(u64::MAX));
        assert_eq!(v[1].as_u64(), None);
        assert_eq!(v[1].as_i64(), Some(-1));
        assert_eq!(v[2].as_f64(), Some(1.5));
        assert!(v[3..].iter().all(|n| !n.is_present()));
    }

    #[test]
    fn objects_skip_elements_that_are_not_objects() {
        let v: Objects<super::super::tmds::Network> =
            super::super::json::from_str(r#"[null, 1, [], {"NetworkMode": "awsvpc"}]"#).unwrap();
        assert_eq!(v.items().len(), 1);
        assert_eq!(v.items()[0].network_mode.get(), Some("awsvpc"));
    }

    #[test]
    fn list_reads_none_string_as_absent() {
        let v: List<List<Num>> = super::super::json::from_str(r#"["None", null, [], [1,2]]"#).unwrap();
        let v = v.items();
        assert!(!v[0].is_present() && !v[1].is_present());
        assert!(v[2].is_present() && v[2].items().is_empty());
        assert_eq!(v[3].items().len(), 2);
    }
}
