//! One scrape: get the tasks' series (read from the source, parsed and collected once per
//! upstream read, shared with concurrent scrapes and reused for the cache period), and add the
//! exporter's own series. Failures never fail the scrape: they give `ecs_exporter_up 0` and one
//! warning naming the URL and the cause.

use crate::collect::{self, Filter, Scope};
use crate::encode::gzip::{Gzip, Prefix};
use crate::encode::statsd::PushStats;
use crate::encode::{self, Format};
use crate::metrics::Family;
use crate::snapshot::{Fill, LabelValue, Snapshot, Value};
use crate::source::{Read, Source, SourceError};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard};

/// One upstream read, collected: the tasks' series, or why there are none.
#[derive(Debug)]
pub struct Upstream {
    /// When the read finished.
    pub at: Instant,
    /// The series (sorted by family) and the number of entries that could not be used; or the
    /// failure.
    pub result: Result<(Snapshot, usize), SourceError>,
    /// The series encoded in each format, and compressed: each made once, by the first scrape
    /// that asks, and served as it is by the others for the life of the read.
    encoded: [OnceLock<Bytes>; 2],
    compressed: [OnceLock<Prefix>; 2],
    /// The buffer of the read before, to encode into (a body of 15 KB here, megabytes in host
    /// mode: allocated anew on every read, it was a large allocation that made glibc merge its
    /// free lists first).
    spare_body: std::sync::Mutex<Vec<u8>>,
}

/// What one read's buffers leave for the next read to reuse.
#[derive(Debug, Default)]
pub struct Spare {
    /// The series vector, emptied.
    pub series: Vec<crate::snapshot::Series>,
    /// An encoded body's buffer, emptied.
    pub body: Vec<u8>,
}

impl Upstream {
    /// A read and its result.
    pub fn new(at: Instant, result: Result<(Snapshot, usize), SourceError>) -> Self {
        Upstream::with_spare(at, result, Vec::new())
    }

    /// [`Upstream::new`], encoding into `body` (emptied) when it is first asked for.
    pub fn with_spare(at: Instant, result: Result<(Snapshot, usize), SourceError>, body: Vec<u8>) -> Self {
        let spare_body = std::sync::Mutex::new(body);
        Upstream { at, result, encoded: Default::default(), compressed: Default::default(), spare_body }
    }

    /// Its buffers, emptied, for the next read (the series dropped, their room kept).
    pub fn into_spare(self) -> Spare {
        let mut series = match self.result {
            Ok((snap, _)) => snap.series,
            Err(_) => Vec::new(),
        };
        series.clear();
        let mut body = self.spare_body.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        if body.capacity() == 0 {
            // The text encoding's buffer, when no scrape holds it any more.
            if let Some(b) = self.encoded.into_iter().find_map(OnceLock::into_inner) {
                body = b.try_into_mut().map(Vec::from).unwrap_or_default();
            }
        }
        body.clear();
        Spare { series, body }
    }

    /// The tasks' series in `format` (without OpenMetrics' `# EOF`); empty when the read failed.
    pub fn body(&self, format: Format) -> Bytes {
        let Ok((snap, _)) = &self.result else { return Bytes::new() };
        self.encoded[usize::from(format == Format::OpenMetrics)]
            .get_or_init(|| {
                let mut plain =
                    std::mem::take(&mut *self.spare_body.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
                plain.clear();
                plain.reserve(encode::size_hint(snap));
                encode::encode_part(snap, format, &mut plain);
                Bytes::from(plain)
            })
            .clone()
    }

    /// [`Upstream::body`] compressed, to start a gzip body with ([`Gzip::finish`]).
    pub fn gzip_prefix(&self, format: Format, gzip: &mut Gzip) -> &Prefix {
        self.compressed[usize::from(format == Format::OpenMetrics)].get_or_init(|| gzip.prefix(&self.body(format)))
    }
}

/// One scrape's upstream part: the read it used, whose tasks' series are encoded once per read
/// ([`Upstream::body`]); the exporter's own series are added by [`Exporter::own_series`].
#[derive(Debug)]
pub struct Scrape {
    /// The read this scrape used (`None` when it waited past its deadline for one).
    pub upstream: Option<Arc<Upstream>>,
    /// When the scrape started.
    pub started: Instant,
}

/// What the status page shows of the upstream reads.
#[derive(Debug)]
pub enum LastRead {
    /// A read is in flight.
    InFlight,
    /// No read yet.
    None,
    /// The last read.
    Done(Arc<Upstream>),
}

/// The exporter core: the source, the filter and the shared upstream state.
#[derive(Debug)]
pub struct Exporter {
    source: Source,
    filter: Filter,
    timeout: Duration,
    cache_ttl: Duration,
    last: Mutex<Option<Arc<Upstream>>>,
    /// The StatsD push's counters, shown with the exporter's own series when it runs.
    pub push_stats: Option<Arc<PushStats>>,
    /// Whether the exporter's own series (but `ecs_exporter_up`) are shown
    /// (`--web.disable-exporter-metrics` turns them off).
    pub exporter_metrics: bool,
}

impl Exporter {
    /// An exporter reading `source` with the given bounds.
    pub fn new(source: Source, filter: Filter, timeout: Duration, cache_ttl: Duration) -> Self {
        Exporter {
            source,
            filter,
            timeout,
            cache_ttl,
            last: Mutex::new(None),
            push_stats: None,
            exporter_metrics: true,
        }
    }

    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The last upstream read, for the status page.
    pub fn last_read(&self) -> LastRead {
        match self.last.try_lock() {
            Err(_) => LastRead::InFlight,
            Ok(l) => l.clone().map_or(LastRead::None, LastRead::Done),
        }
    }

    /// The upstream deadline for a scrape whose scraper announced `scrape_timeout`: the
    /// configured timeout, cut to leave the scraper time to receive our answer.
    pub fn deadline(&self, scrape_timeout: Option<Duration>) -> Duration {
        match scrape_timeout {
            Some(st) => {
                let margin = (st / 10).min(Duration::from_millis(500));
                self.timeout.min(st.saturating_sub(margin)).max(Duration::from_millis(1))
            }
            None => self.timeout,
        }
    }

    /// One scrape's upstream read (shared, or cached, or `None` past the deadline).
    pub async fn scrape(&self, scrape_timeout: Option<Duration>) -> Scrape {
        let started = Instant::now();
        let upstream = self.upstream_within(self.deadline(scrape_timeout)).await;
        Scrape { upstream, started }
    }

    /// The exporter's own series of `scrape` (`ecs_exporter_*`, `process_*`), put into `out`
    /// in family order, so that a fill of the same series as the last only sets values.
    pub fn own_series(&self, scrape: &Scrape, mut out: Fill<'_>) {
        let container_errors = match scrape.upstream.as_deref() {
            Some(Upstream { result: Ok((_, errors)), .. }) => Some(*errors as u64),
            _ => None,
        };
        out.put(Family::ExporterUp, &[], Value::U64(u64::from(container_errors.is_some())));
        if !self.exporter_metrics {
            return;
        }
        out.put(Family::ExporterScrapeDuration, &[], Value::F64(scrape.started.elapsed().as_secs_f64()));
        for counters in self.source.counters() {
            for (path, outcome, n) in counters.each() {
                out.put(Family::ExporterUpstreamRequests, &[("path", path), ("outcome", outcome)], Value::U64(n));
            }
        }
        if let Some(n) = container_errors {
            out.put(Family::ExporterContainerErrors, &[], Value::U64(n));
        }
        if let Some(n) = self.source.tag_errors() {
            out.put(Family::ExporterTaskTagErrors, &[], Value::U64(n));
        }
        static BUILD: std::sync::OnceLock<[LabelValue; 2]> = std::sync::OnceLock::new();
        let [version, revision] =
            BUILD.get_or_init(|| [Arc::from(env!("CARGO_PKG_VERSION")), Arc::from(crate::config::REVISION)]);
        out.put(Family::ExporterBuildInfo, &[("version", version), ("revision", revision)], Value::U64(1));
        if let Some(p) = &self.push_stats {
            p.collect(&mut out);
        }
        crate::process::collect(&mut out);
    }

    /// The current upstream data for a consumer other than a scrape (the StatsD push): the same
    /// single-flight read and cache as the scrapes, under the configured timeout.
    pub async fn shared_read(&self) -> Arc<Upstream> {
        self.upstream_within(self.timeout).await.unwrap_or_else(|| {
            Arc::new(Upstream::new(Instant::now(), Err(crate::source::SourceError::waited(self.source.describe()))))
        })
    }

    /// The current upstream data. A caller that finds no read in flight reads itself, bounded by
    /// the deadline of each of the read's requests; a caller that waits for another's read waits
    /// no longer than `deadline` and a little slack (so that the request's own deadline, which
    /// counts the outcome, fires first), and gets `None`, logged, when that read takes longer.
    async fn upstream_within(&self, deadline: Duration) -> Option<Arc<Upstream>> {
        if let Ok(last) = self.last.try_lock() {
            // A fresh cached read: no timer to arm, nothing to await.
            if let Some(u) = last.as_ref().filter(|u| self.reusable(u, Instant::now())) {
                return Some(u.clone());
            }
            // No read in flight: this caller reads. Every request of a read has the deadline
            // (the source's requests are bounded by it), so no timer of its own here: one
            // timer less to arm per read, and one write less to the runtime's wake-up channel.
            return Some(self.read_into(last, deadline).await);
        }
        let r = tokio::time::timeout(deadline + Duration::from_millis(50), self.upstream(deadline)).await.ok();
        if r.is_none() {
            tracing::warn!(url = %self.source.describe(), cause = "waited for a shared upstream read past the deadline", "upstream read failed");
        }
        r
    }

    /// The current upstream data: the cached read when fresh, else a new read. Concurrent
    /// callers share one read: the first takes the lock and reads, the others wait for it and
    /// take its result, since it finished after they arrived.
    async fn upstream(&self, deadline: Duration) -> Arc<Upstream> {
        let arrived = Instant::now();
        let last = self.last.lock().await;
        if let Some(u) = last.as_ref().filter(|u| self.reusable(u, arrived)) {
            return u.clone();
        }
        self.read_into(last, deadline).await
    }

    /// Read, holding the lock of the last read, and keep the result as the last read. The last
    /// read's buffers are reused when no scrape holds it any more.
    async fn read_into(&self, mut last: MutexGuard<'_, Option<Arc<Upstream>>>, deadline: Duration) -> Arc<Upstream> {
        let spare = last.take().and_then(|u| Arc::try_unwrap(u).ok()).map(Upstream::into_spare).unwrap_or_default();
        let fresh = Arc::new(self.read(deadline, spare).await);
        *last = Some(fresh.clone());
        fresh
    }

    /// Whether a caller that arrived at `arrived` may take read `u`: it finished after the caller
    /// arrived (a read the caller waited for), or it is younger than the cache period.
    fn reusable(&self, u: &Upstream, arrived: Instant) -> bool {
        u.at >= arrived || u.at.elapsed() < self.cache_ttl
    }

    /// Read the source and collect every task's series (into `spare`'s buffers); log one
    /// warning on failure.
    async fn read(&self, deadline: Duration, spare: Spare) -> Upstream {
        let result = match self.source.read(Instant::now() + deadline).await {
            Ok(read) => Ok(self.collect(read, spare.series)),
            Err(e) => {
                let hint = e.hint.unwrap_or("");
                match &e.also {
                    Some(also) => {
                        tracing::warn!(url = %e.url, cause = %e.cause, also = %also, hint, "upstream read failed")
                    }
                    None if hint.is_empty() => tracing::warn!(url = %e.url, cause = %e.cause, "upstream read failed"),
                    None => tracing::warn!(url = %e.url, cause = %e.cause, hint, "upstream read failed"),
                }
                Err(e)
            }
        };
        Upstream::with_spare(Instant::now(), result, spare.body)
    }

    /// The series of one read, sorted (into `series`, emptied); one warning when entries could
    /// not be used.
    fn collect(&self, read: Read, series: Vec<crate::snapshot::Series>) -> (Snapshot, usize) {
        let (snap, errors) = collect_read_into(&read, &self.filter, self.source.host_mode(), series);
        if let Some((id, why)) = errors.first() {
            tracing::warn!(url = %self.source.describe(), entries = errors.len(), first = %format!("{id}: {why}"), "entries could not be used; the others are exported");
        }
        (snap, errors.len())
    }
}

/// The series of one read: the host's, then each task's (labelled with its ARN when `host`),
/// sorted by family; and the entries that could not be used, as `(id, reason)`. Pure.
pub fn collect_read(read: &Read, filter: &Filter, host: bool) -> (Snapshot, Vec<(String, String)>) {
    collect_read_into(read, filter, host, Vec::new())
}

/// [`collect_read`] into `series` (emptied; its room reused).
pub fn collect_read_into(
    read: &Read,
    filter: &Filter,
    host: bool,
    mut series: Vec<crate::snapshot::Series>,
) -> (Snapshot, Vec<(String, String)>) {
    // About 50 series a container (more with state sets and interfaces): room for most at once,
    // counting only the containers that can have series, and at most 64 Ki series up front (a
    // body of a million entries that are not containers reserves nothing).
    let containers: usize = read.tasks.iter().map(|t| t.task.containers.iter().filter(|c| c.is_ok()).count()).sum();
    series.clear();
    series.reserve((16 + 56 * containers).min(1 << 16));
    let mut snap = Snapshot { series };
    if let Some(i) = &read.instance {
        let l = |v: &str| -> LabelValue { Arc::from(v) };
        snap.push(
            Family::InstanceInfo,
            vec![
                ("cluster", l(&i.cluster)),
                ("container_instance_arn", l(&i.container_instance_arn)),
                ("agent_version", l(&i.agent_version)),
            ],
            Value::U64(1),
        );
    }
    let mut errors = read.errors.clone();
    for t in &read.tasks {
        let scope = if host {
            let arn = t.task.task_arn.get().filter(|a| !a.is_empty() && !t.task.standalone);
            Scope::host(arn.map(Arc::from))
        } else {
            Scope::default()
        };
        let report = collect::collect_in(&t.task, &t.stats, filter, &scope, &mut snap);
        errors.extend(report.container_errors);
    }
    snap.sort();
    (snap, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Kept;
    use crate::source::http::HttpClient;
    use crate::source::sidecar::Sidecar;

    #[test]
    fn a_read_leaves_its_buffers_to_the_next_unless_a_body_is_still_out() {
        use crate::metrics::Family;
        let snap = || {
            let mut s = Snapshot::default();
            s.push(Family::ExporterUp, vec![], Value::U64(1));
            s
        };
        let u = Upstream::new(Instant::now(), Ok((snap(), 0)));
        let body = u.body(Format::Text);
        assert!(body.ends_with(b"\necs_exporter_up 1\n"));
        // A response still sends the body: its buffer stays with it.
        let spare = Upstream::new(Instant::now(), Ok((snap(), 0)));
        let out = spare.body(Format::Text);
        let s = spare.into_spare();
        assert!(s.body.capacity() == 0 && s.series.capacity() >= 1 && s.series.is_empty());
        drop(out);
        // Sent: the next read encodes into it, and into the same series vector.
        let (cap, ptr) = (body.len(), body.as_ptr());
        drop(body);
        let s = u.into_spare();
        assert!(s.body.capacity() >= cap && s.body.is_empty() && s.body.as_ptr() == ptr);
        let next = Upstream::with_spare(Instant::now(), Ok((snap(), 0)), s.body);
        assert_eq!(next.body(Format::Text).as_ptr(), ptr);
    }

    #[tokio::test]
    async fn the_own_series_are_put_in_family_order_so_a_scrape_only_sets_values() {
        let client = HttpClient::tcp("http://127.0.0.1:9".into(), Duration::from_millis(10), 1 << 20, 1);
        let mut e = Exporter::new(
            Source::Sidecar(Sidecar::new(client, true)),
            Filter::default(),
            Duration::from_millis(10),
            Duration::ZERO,
        );
        e.push_stats = Some(Arc::default());
        let mut kept = Kept::default();
        let scrape = Scrape { upstream: None, started: Instant::now() };
        e.own_series(&scrape, kept.fill());
        let (shape, n) = (kept.shape(), kept.snapshot().series.len());
        // Every own family but the container errors (no read) is there, in the table's order.
        assert!(n > 20, "{n} series");
        assert!(kept.snapshot().series.windows(2).all(|w| w[0].family <= w[1].family));
        e.own_series(&scrape, kept.fill());
        // Out of order, the fill would sort and count a new shape on every scrape.
        assert_eq!((kept.shape(), kept.snapshot().series.len()), (shape, n));
        e.exporter_metrics = false;
        e.own_series(&scrape, kept.fill());
        assert_eq!(kept.snapshot().series.len(), 1);
        assert_eq!(kept.snapshot().get(Family::ExporterUp, &[]), Some(Value::U64(0)));
    }
}
