//! The snapshot: plain data between collection and encoding. A list of series, each a family,
//! its labels and a value in base units. Integers stay integers and nanosecond quantities stay
//! exact until an encoder writes them.

use crate::metrics::Family;
use std::sync::Arc;

/// A sample value, kept in the most exact form available.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A floating point value.
    F64(f64),
    /// Nanoseconds, written as seconds with an exact decimal fraction.
    Nanos(i128),
}

impl Value {
    /// The value as `f64`, for tests and arithmetic.
    pub fn as_f64(self) -> f64 {
        match self {
            Value::U64(v) => v as f64,
            Value::I64(v) => v as f64,
            Value::F64(v) => v,
            Value::Nanos(n) => n as f64 / 1e9,
        }
    }
}

/// A label value, cheap to clone (container names repeat on every container series).
pub type LabelValue = Arc<str>;

/// One series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its family.
    pub family: Family,
    /// Label names and values, in the order written.
    pub labels: Vec<(&'static str, LabelValue)>,
    /// Its value.
    pub value: Value,
}

/// Everything one scrape exposes.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// The series, in any order; [`Snapshot::sort`] groups them by family.
    pub series: Vec<Series>,
}

impl Snapshot {
    /// Add a series.
    pub fn push(&mut self, family: Family, labels: Vec<(&'static str, LabelValue)>, value: Value) {
        self.series.push(Series { family, labels, value });
    }

    /// Group series by family in table order, keeping insertion order within a family.
    pub fn sort(&mut self) {
        self.series.sort_by_key(|s| s.family);
    }

    /// The value of the first series of `family` whose labels include all of `labels`.
    pub fn get(&self, family: Family, labels: &[(&str, &str)]) -> Option<Value> {
        self.find(family, labels).map(|s| s.value)
    }

    /// The first series of `family` whose labels include all of `labels`.
    pub fn find(&self, family: Family, labels: &[(&str, &str)]) -> Option<&Series> {
        self.series.iter().find(|s| {
            s.family == family && labels.iter().all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && &**lv == *v))
        })
    }

    /// How many series of `family` there are.
    pub fn count(&self, family: Family) -> usize {
        self.series.iter().filter(|s| s.family == family).count()
    }
}
