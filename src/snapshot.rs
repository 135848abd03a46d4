//! The snapshot: plain data between collection and encoding. A list of series, each a family,
//! its labels ([`Labels`]: a list of its own, or one shared by a container's series) and a value
//! in base units. Integers stay integers and nanosecond quantities stay exact until an encoder
//! writes them. [`Kept`] is a snapshot refilled in place on every scrape ([`Fill`]), for the
//! exporter's own series.

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

/// A label name and value.
pub type Label = (&'static str, LabelValue);

/// A series' labels: its own list, or one shared by several series (every series of a container
/// but its state sets carries the same set, made once per container instead of once per series),
/// or a shared list and one more label (a state set's `status`).
#[derive(Debug, Clone)]
pub enum Labels {
    /// A list of this series alone.
    Own(Vec<Label>),
    /// A list shared with other series.
    Shared(Arc<SharedLabels>),
    /// A shared list, then one label of this series (no list of its own to make, and the shared
    /// list's text is copied when encoded).
    SharedAnd(Arc<SharedLabels>, Label),
}

/// A label list shared by several series, with a slot for its encoded text, which the
/// exposition encoders fill the first time they write it and copy after.
#[derive(Debug)]
pub struct SharedLabels {
    list: Vec<Label>,
    encoded: std::sync::OnceLock<Box<[u8]>>,
}

impl SharedLabels {
    /// The list's encoded text, made by `encode` the first time.
    pub fn encoded(&self, encode: impl FnOnce(&[Label], &mut Vec<u8>)) -> &[u8] {
        self.encoded.get_or_init(|| {
            let mut text = Vec::new();
            encode(&self.list, &mut text);
            text.into_boxed_slice()
        })
    }
}

/// The labels of a series, in order.
pub type LabelIter<'a> = std::iter::Chain<std::slice::Iter<'a, Label>, std::option::IntoIter<&'a Label>>;

impl Labels {
    /// A list to share: clones are reference counts, not copies.
    pub fn shared(list: Vec<Label>) -> Labels {
        Labels::Shared(Arc::new(SharedLabels { list, encoded: std::sync::OnceLock::new() }))
    }

    /// These labels (shared) and `one` more after them; a list of its own when these are not
    /// shared.
    pub fn and(&self, one: Label) -> Labels {
        match self {
            Labels::Shared(base) => Labels::SharedAnd(base.clone(), one),
            other => Labels::Own(other.iter().cloned().chain([one]).collect()),
        }
    }

    /// The labels, in order.
    pub fn iter(&self) -> LabelIter<'_> {
        match self {
            Labels::Own(v) => v.iter().chain(None),
            Labels::Shared(a) => a.list.iter().chain(None),
            Labels::SharedAnd(a, one) => a.list.iter().chain(Some(one)),
        }
    }

    /// How many.
    pub fn len(&self) -> usize {
        match self {
            Labels::Own(v) => v.len(),
            Labels::Shared(a) => a.list.len(),
            Labels::SharedAnd(a, _) => a.list.len() + 1,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Labels) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl From<Vec<Label>> for Labels {
    fn from(v: Vec<Label>) -> Labels {
        Labels::Own(v)
    }
}

/// One series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its family.
    pub family: Family,
    /// Label names and values, in the order written.
    pub labels: Labels,
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
    pub fn push(&mut self, family: Family, labels: impl Into<Labels>, value: Value) {
        self.series.push(Series { family, labels: labels.into(), value });
    }

    /// Group series by family in table order, keeping insertion order within a family.
    ///
    /// A counting sort: each series' place is known from the number of series of the families
    /// before its own, and each swap puts one series in its place, so every series moves about
    /// once, whatever the number of containers (a comparison sort moved each one a dozen times
    /// at three containers, and nine at 500).
    pub fn sort(&mut self) {
        if self.series.is_sorted_by_key(|s| s.family) {
            return;
        }
        let mut next = [0u32; crate::metrics::ALL.len()];
        for s in &self.series {
            next[s.family as usize] += 1;
        }
        let mut at = 0;
        for n in &mut next {
            (*n, at) = (at, at + *n);
        }
        let mut place: Vec<u32> = self
            .series
            .iter()
            .map(|s| {
                let n = &mut next[s.family as usize];
                *n += 1;
                *n - 1
            })
            .collect();
        for i in 0..place.len() {
            while let Some(&p) = place.get(i).filter(|&&p| p as usize != i) {
                self.series.swap(i, p as usize);
                place.swap(i, p as usize);
            }
        }
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

/// A snapshot refilled in place on every scrape (the exporter's own series, whose families and
/// labels rarely change): a series put with the family and labels of the one at its position
/// keeps that one's labels and takes the new value, so a scrape allocates nothing for them;
/// any other series rebuilds the rest and changes [`Kept::shape`].
#[derive(Debug, Default)]
pub struct Kept {
    /// The series of the last fill, grouped by family (private: changed only by a fill, which
    /// keeps `shape` true).
    snap: Snapshot,
    /// Changes whenever a fill changes a family, a label or the number of series.
    shape: u64,
}

impl Kept {
    /// The series of the last fill, grouped by family.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// Changes whenever a fill changes a family, a label or the number of series, so that
    /// text made for one shape ([`crate::encode::Template`]) is not used for another.
    pub fn shape(&self) -> u64 {
        self.shape
    }

    /// Start a fill: put every series in family order ([`Fill::put`]); when the fill is dropped,
    /// the series not put again are removed.
    pub fn fill(&mut self) -> Fill<'_> {
        Fill { kept: self, at: 0, changed: false }
    }
}

/// One fill of a [`Kept`] snapshot, in progress.
#[derive(Debug)]
pub struct Fill<'a> {
    kept: &'a mut Kept,
    at: usize,
    changed: bool,
}

impl Fill<'_> {
    /// Put the next series. In family order it costs a comparison; out of order it is still
    /// correct (the fill sorts), but every scrape rebuilds.
    pub fn put(&mut self, family: Family, labels: &[(&'static str, &LabelValue)], value: Value) {
        let series = &mut self.kept.snap.series;
        match series.get_mut(self.at) {
            // A fill makes only lists of their own.
            Some(Series { family: f, labels: Labels::Own(list), value: slot })
                if *f == family
                    && list.len() == labels.len()
                    && list
                        .iter()
                        .zip(labels)
                        .all(|((k, v), (k2, v2))| same_str(k, k2) && (Arc::ptr_eq(v, v2) || v == *v2)) =>
            {
                *slot = value;
            }
            _ => {
                series.truncate(self.at);
                let labels = Labels::Own(labels.iter().map(|(k, v)| (*k, Arc::clone(v))).collect());
                series.push(Series { family, labels, value });
                self.changed = true;
            }
        }
        self.at += 1;
    }
}

/// Equal strings, the same static name (its address) decided without comparing bytes.
fn same_str(a: &str, b: &str) -> bool {
    (std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()) || a == b
}

impl Drop for Fill<'_> {
    fn drop(&mut self) {
        let series = &mut self.kept.snap.series;
        if series.len() > self.at {
            series.truncate(self.at);
            self.changed = true;
        }
        if self.changed {
            self.kept.snap.sort();
            self.kept.shape = self.kept.shape.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_groups_by_family_and_keeps_the_order_within_one() {
        // Small and large (the bucket path): like containers, each pushing its families in order.
        for containers in [3u64, 600] {
            let mut snap = Snapshot::default();
            for c in 0..containers {
                for f in [Family::ContainerInfo, Family::ContainerRestarts, Family::ContainerMemoryUsage] {
                    snap.push(f, vec![], Value::U64(c));
                }
            }
            let mut want = snap.series.clone();
            want.sort_by_key(|s| s.family);
            snap.sort();
            assert_eq!(snap.series, want);
            assert_eq!(snap.series[1].value, Value::U64(1));
        }
    }

    #[test]
    fn a_fill_keeps_what_is_put_again_and_counts_changes_of_shape() {
        let (a, b): (LabelValue, LabelValue) = (Arc::from("a"), Arc::from("b"));
        let mut k = Kept::default();
        let fill = |k: &mut Kept, v: u64, label: &LabelValue, extra: bool| {
            let mut f = k.fill();
            f.put(Family::ExporterUp, &[], Value::U64(v));
            f.put(Family::ExporterUpstreamRequests, &[("path", label)], Value::U64(v * 2));
            if extra {
                f.put(Family::ProcessCpu, &[], Value::U64(v * 3));
            }
        };
        fill(&mut k, 1, &a, true);
        let ptr = |k: &Kept| k.snap.series[1].labels.iter().next().map(|l| l as *const Label);
        let (shape, labels) = (k.shape, ptr(&k));
        // The same series again: new values, the same label vectors, the same shape.
        fill(&mut k, 2, &Arc::from("a"), true);
        assert_eq!((k.shape, ptr(&k)), (shape, labels));
        assert_eq!(k.snap.series.iter().map(|s| s.value.as_f64()).collect::<Vec<_>>(), [2.0, 4.0, 6.0]);
        // Another label value, then a series fewer: new shapes, and exactly what was put.
        fill(&mut k, 3, &b, true);
        assert_ne!(k.shape, shape);
        assert_eq!(k.snap.get(Family::ExporterUpstreamRequests, &[("path", "b")]), Some(Value::U64(6)));
        let before = k.shape;
        fill(&mut k, 4, &b, false);
        assert_ne!(k.shape, before);
        assert_eq!(k.snap.series.len(), 2);
        assert_eq!(k.snap.count(Family::ProcessCpu), 0);
    }
}
