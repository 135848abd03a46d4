//! Lenient leaf types for the TMDS model.
//!
//! Real metadata responses put `null`, `{}`, strings such as `"None"`, floats and integers beyond
//! `i64` where a number is expected. These types accept any JSON value for a leaf and turn what
//! they cannot use into "absent" instead of failing the whole document, so one odd field never
//! hides the rest of a container, let alone another container.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

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

/// Drain any value so the stream stays in step, and report "absent".
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Visitor methods that read the listed kinds of JSON value as `$absent`: scalars by type,
/// `null` (`unit`, `none`), and arrays or objects (`seq`, `map`, drained to stay in step).
macro_rules! absent {
    ($absent:expr; $($kind:ident),* $(,)?) => { $( absent!(@ $kind $absent); )* };
    (@ bool $a:expr) => { fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { Ok($a) } };
    (@ str $a:expr) => { fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { Ok($a) } };
    (@ u64 $a:expr) => { fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { Ok($a) } };
    (@ i64 $a:expr) => { fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> { Ok($a) } };
    (@ f64 $a:expr) => { fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> { Ok($a) } };
    (@ null $a:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { Ok($a) }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> { Ok($a) }
    };
    (@ seq $a:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> { skip_seq(seq).map(|_| $a) }
    };
    (@ map $a:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> { skip_map(map).map(|_| $a) }
    };
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num::U(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(if v >= 0 { Num::U(v as u64) } else { Num::I(v) })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num::F(v))
            }
            absent!(Num::Absent; bool, str, null, seq, map);
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Num, D2::Error> {
                Num::deserialize(d)
            }
        }
        d.deserialize_any(V)
    }
}

/// A string leaf: absent, `null` or a non-string value reads as `None`; numbers are kept as text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Str(pub Option<String>);

impl Str {
    /// The string, if present.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
    /// The string or `""`.
    pub fn or_empty(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
}

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str, E> {
                Ok(Str(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str, E> {
                Ok(Str(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Str, E> {
                Ok(Str(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Str, E> {
                Ok(Str(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Str, E> {
                Ok(Str(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Str, E> {
                Ok(Str(Some(v.to_string())))
            }
            absent!(Str(None); null, seq, map);
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Str, D2::Error> {
                Str::deserialize(d)
            }
        }
        d.deserialize_any(V)
    }
}

/// A string leaf mapped by `pick` without being kept (no allocation); any other JSON value
/// reads as `T::default()`. For keywords such as block I/O ops.
pub fn word<'de, D: Deserializer<'de>, T: Default>(d: D, pick: fn(&str) -> T) -> Result<T, D::Error> {
    struct V<T>(fn(&str) -> T);
    impl<'de, T: Default> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            Ok((self.0)(v))
        }
        absent!(T::default(); bool, u64, i64, f64, null, seq, map);
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<T, D2::Error> {
            d.deserialize_any(self)
        }
    }
    d.deserialize_any(V(pick))
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

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(List(Some(out)))
            }
            absent!(List(None); map, str, u64, i64, f64, bool, null);
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<List<T>, D2::Error> {
                List::deserialize(d)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
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

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Objects<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = List::<Obj<T>>::deserialize(d)?;
        Ok(Objects(list.0.map(|v| v.into_iter().filter_map(|o| o.0).collect())))
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

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|v| Obj(Some(v)))
            }
            absent!(Obj(None); seq, str, u64, i64, f64, bool, null);
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Obj<T>, D2::Error> {
                Obj::deserialize(d)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
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

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entry<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Entry<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Entry::Value)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Entry<T>, D2::Error> {
                Entry::deserialize(d)
            }
            absent!(Entry::Null; null);
            absent!(Entry::NotObject; seq, str, u64, i64, f64, bool);
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Define a struct of lenient fields and its `Deserialize`: each field is read from the JSON key
/// given, unknown keys are skipped, a missing key leaves the field's default, and a key that
/// appears twice keeps the last value (as Go's encoding/json does) instead of failing. With
/// lenient field types this makes the struct itself impossible to fail on well-formed JSON, so
/// one odd container never hides another without any second parsing pass. Fields listed under
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

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[allow(non_camel_case_types)]
                enum Field { $( $field, )* Other }
                struct FieldVisitor;
                impl<'de> serde::de::Visitor<'de> for FieldVisitor {
                    type Value = Field;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a field name")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Field, E> {
                        Ok(match v { $( $json => Field::$field, )* _ => Field::Other })
                    }
                }
                impl<'de> serde::Deserialize<'de> for Field {
                    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                        d.deserialize_identifier(FieldVisitor)
                    }
                }
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("a ", stringify!($name), " object"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(k) = map.next_key::<Field>()? {
                            match k {
                                $( Field::$field => out.$field = map.next_value()?, )*
                                Field::Other => { map.next_value::<serde::de::IgnoredAny>()?; }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
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
        let v: Vec<Num> = serde_json::from_str(r#"[18446744073709551615, -1, 1.5, "12", null, {}, [1]]"#).unwrap();
        assert_eq!(v[0].as_u64(), Some(u64::MAX));
        assert_eq!(v[1].as_u64(), None);
        assert_eq!(v[1].as_i64(), Some(-1));
        assert_eq!(v[2].as_f64(), Some(1.5));
        assert!(v[3..].iter().all(|n| !n.is_present()));
    }

    #[test]
    fn objects_skip_elements_that_are_not_objects() {
        let v: Objects<super::super::tmds::Network> =
            serde_json::from_str(r#"[null, 1, [], {"NetworkMode": "awsvpc"}]"#).unwrap();
        assert_eq!(v.items().len(), 1);
        assert_eq!(v.items()[0].network_mode.get(), Some("awsvpc"));
    }

    #[test]
    fn list_reads_none_string_as_absent() {
        let v: Vec<List<Num>> = serde_json::from_str(r#"["None", null, [], [1,2]]"#).unwrap();
        assert!(!v[0].is_present() && !v[1].is_present());
        assert!(v[2].is_present() && v[2].items().is_empty());
        assert_eq!(v[3].items().len(), 2);
    }
}
