//! One scrape: get the task's series (read, parsed and collected once per upstream read, shared
//! with concurrent scrapes and reused for the cache period), and add the exporter's own series.
//! Failures never fail the scrape: they give `ecs_exporter_up 0` and one warning naming the URL
//! and the cause.

use crate::collect::{self, Filter};
use crate::metrics::{Family, OUTCOMES};
use crate::snapshot::{Snapshot, Value};
use crate::tmds::client::{Counters, FetchError, MetadataClient, Path};
use crate::tmds::model::{Task, TaskStats};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// One upstream read, collected: the task's series, or why there are none.
#[derive(Debug)]
pub struct Upstream {
    /// When the read finished.
    pub at: Instant,
    /// The task's series (sorted by family) and the number of container entries that could
    /// not be used; or the first failure.
    pub result: Result<(Snapshot, usize), (Path, FetchError)>,
}

/// What one scrape exposes: the task's series of the upstream read it used, then the exporter's
/// own series. Both are sorted and their families are disjoint, so they encode one after the
/// other ([`crate::encode::encode_parts`]).
#[derive(Debug)]
pub struct Scrape {
    /// The read this scrape used (`None` when it waited past its deadline for one).
    pub upstream: Option<Arc<Upstream>>,
    /// `ecs_exporter_*` and `process_*`.
    pub own: Snapshot,
}

impl Scrape {
    /// The snapshots to encode, in order.
    pub fn parts(&self) -> Vec<&Snapshot> {
        let task = self.upstream.as_deref().and_then(|u| u.result.as_ref().ok()).map(|(snap, _)| snap);
        task.into_iter().chain(std::iter::once(&self.own)).collect()
    }
}

/// The exporter core: client, filter, the shared upstream state and the counters.
#[derive(Debug)]
pub struct Exporter {
    client: MetadataClient,
    filter: Filter,
    timeout: Duration,
    cache_ttl: Duration,
    last: Mutex<Option<Arc<Upstream>>>,
    counters: Counters,
}

impl Exporter {
    /// An exporter reading `client` with the given bounds.
    pub fn new(client: MetadataClient, filter: Filter, timeout: Duration, cache_ttl: Duration) -> Self {
        Exporter { client, filter, timeout, cache_ttl, last: Mutex::new(None), counters: Counters::default() }
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

    /// One scrape, ready to encode.
    pub async fn scrape(&self, scrape_timeout: Option<Duration>) -> Scrape {
        let started = Instant::now();
        let deadline = self.deadline(scrape_timeout);
        let mut snap = Snapshot::default();
        // A little slack so the request's own deadline, which counts the outcome, fires first.
        let upstream = tokio::time::timeout(deadline + Duration::from_millis(50), self.upstream(deadline)).await.ok();
        let container_errors = match upstream.as_deref() {
            Some(Upstream { result: Ok((_, errors)), .. }) => Some(*errors as u64),
            Some(Upstream { result: Err(_), .. }) => None,
            None => {
                tracing::warn!(url = %self.client.url(Path::Task), cause = "waited for a shared upstream read past the scrape deadline", "task metadata read failed");
                None
            }
        };
        snap.push(Family::ExporterUp, vec![], Value::U64(u64::from(container_errors.is_some())));
        snap.push(Family::ExporterScrapeDuration, vec![], Value::F64(started.elapsed().as_secs_f64()));
        for path in Path::ALL {
            for (i, outcome) in OUTCOMES.iter().enumerate() {
                snap.push(
                    Family::ExporterUpstreamRequests,
                    vec![("path", Arc::from(path.as_str())), ("outcome", Arc::from(*outcome))],
                    Value::U64(self.counters.get(path, i)),
                );
            }
        }
        if let Some(n) = container_errors {
            snap.push(Family::ExporterContainerErrors, vec![], Value::U64(n));
        }
        snap.push(
            Family::ExporterBuildInfo,
            vec![("version", Arc::from(env!("CARGO_PKG_VERSION"))), ("revision", Arc::from(crate::config::REVISION))],
            Value::U64(1),
        );
        crate::process::collect(&mut snap);
        snap.sort();
        Scrape { upstream, own: snap }
    }

    /// The current upstream data: the cached read when fresh, else a new read. Concurrent
    /// callers share one read: the first takes the lock and reads, the others wait for it and
    /// take its result, since it finished after they arrived.
    async fn upstream(&self, deadline: Duration) -> Arc<Upstream> {
        let arrived = Instant::now();
        let mut last = self.last.lock().await;
        if let Some(u) = last.as_ref() {
            if u.at >= arrived || u.at.elapsed() < self.cache_ttl {
                return u.clone();
            }
        }
        let fresh = Arc::new(self.read(deadline).await);
        *last = Some(fresh.clone());
        fresh
    }

    /// Read and parse `/task` and `/task/stats` concurrently and collect their series; log one
    /// warning on failure.
    async fn read(&self, deadline: Duration) -> Upstream {
        let (task, stats) =
            tokio::join!(self.client.get(Path::Task, deadline), self.client.get(Path::TaskStats, deadline));
        let task = self.finish(Path::Task, task, Task::parse);
        let stats = self.finish(Path::TaskStats, stats, TaskStats::parse);
        let result = match (task, stats) {
            (Ok(task), Ok(stats)) => {
                let mut snap = Snapshot::default();
                let report = collect::collect(&task, &stats, &self.filter, &mut snap);
                snap.sort();
                if let Some((id, why)) = report.container_errors.first() {
                    tracing::warn!(url = %self.client.url(Path::TaskStats), entries = report.container_errors.len(), first = %format!("{id}: {why}"), "container entries could not be used; the other containers are exported");
                }
                Ok((snap, report.container_errors.len()))
            }
            (Err((path, e)), Ok(_)) | (Ok(_), Err((path, e))) => {
                tracing::warn!(url = %self.client.url(path), cause = %e, "task metadata read failed");
                Err((path, e))
            }
            (Err((path, e)), Err((path2, e2))) => {
                tracing::warn!(url = %self.client.url(path), cause = %e, also = %format!("{}: {e2}", self.client.url(path2)), "task metadata read failed");
                Err((path, e))
            }
        };
        Upstream { at: Instant::now(), result }
    }

    /// Parse one body and count the request's outcome: its transfer error, `invalid` when the
    /// body does not parse, else `ok`.
    fn finish<T>(
        &self,
        path: Path,
        body: Result<bytes::Bytes, FetchError>,
        parse: fn(&[u8]) -> Result<T, crate::tmds::model::ParseError>,
    ) -> Result<T, (Path, FetchError)> {
        let r = body.and_then(|b| {
            tracing::debug!(url = %self.client.url(path), body = %String::from_utf8_lossy(&b), "upstream body");
            parse(&b).map_err(|e| FetchError::Invalid(e.to_string()))
        });
        self.counters.inc(
            path,
            match &r {
                Ok(_) => "ok",
                Err(e) => e.outcome(),
            },
        );
        r.map_err(|e| (path, e))
    }
}
