//! Sidecar source: `/task` and `/task/stats` of the task metadata endpoint (v4, or v3) of the
//! task the exporter runs in, read concurrently. With `--metadata.task-tags` the task comes from
//! `/taskWithTags` instead; when that fails (an HTTP error) the read falls back to `/task`, and
//! when the agent could not fetch the tags (`Errors` in the answer) the task is exported without
//! them: both are counted and logged once.

use super::http::{Counters, Deadline, FetchError, HttpClient};
use super::{fetch, Read, SourceError, TaskRead};
use crate::parse::tmds::{Task, TaskStats};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The `path` labels of its requests.
pub const PATHS: &[&str] = &["/task", "/task/stats"];
/// The `path` labels with `--metadata.task-tags`: `/task` is the fallback.
pub const PATHS_WITH_TAGS: &[&str] = &["/taskWithTags", "/task/stats", "/task"];

/// The sidecar source.
#[derive(Debug)]
pub struct Sidecar {
    pub(super) client: HttpClient,
    pub(super) counters: Counters,
    tags: bool,
    pub(super) tag_errors: AtomicU64,
    warned: AtomicBool,
}

impl Sidecar {
    /// A source reading the endpoint behind `client`; the task's tags too when `tags`.
    pub fn new(client: HttpClient, tags: bool) -> Self {
        let paths = if tags { PATHS_WITH_TAGS } else { PATHS };
        Sidecar {
            client,
            counters: Counters::new(paths),
            tags,
            tag_errors: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// Whether it reads the task's tags.
    pub fn reads_tags(&self) -> bool {
        self.tags
    }

    /// Read the task and `/task/stats`: both must succeed.
    pub async fn read(&self, deadline: Instant) -> Result<Read, SourceError> {
        let paths = if self.tags { PATHS_WITH_TAGS } else { PATHS };
        let deadline = &Deadline::new(deadline);
        let (task, stats) = tokio::join!(
            self.task(deadline),
            fetch(&self.client, &self.counters, 1, paths[1], deadline, TaskStats::parse),
        );
        let err = |i: usize, e| SourceError::new(&self.client, paths[i], e);
        match (task, stats) {
            (Ok(task), Ok(stats)) => Ok(Read { tasks: vec![TaskRead { task, stats }], ..Read::default() }),
            (Err((i, e)), Ok(_)) => Err(err(i, e)),
            (Ok(_), Err(e)) => Err(err(1, e)),
            (Err((i, e)), Err(e2)) => {
                Err(SourceError { also: Some(format!("{}: {e2}", self.client.url(paths[1]))), ..err(i, e) })
            }
        }
    }

    /// The task: `/task`, or `/taskWithTags` with the fallback; on failure, the index of the
    /// path that failed.
    async fn task(&self, deadline: &Deadline) -> Result<Task, (usize, FetchError)> {
        if !self.tags {
            return fetch(&self.client, &self.counters, 0, PATHS[0], deadline, Task::parse).await.map_err(|e| (0, e));
        }
        match fetch(&self.client, &self.counters, 0, PATHS_WITH_TAGS[0], deadline, Task::parse).await {
            Ok(task) => {
                if let Some(e) = task.errors.items().first() {
                    self.tag_error(&format!("{}: {} {}", e.field.or_empty(), e.code.or_empty(), e.message.or_empty()));
                }
                Ok(task)
            }
            Err(FetchError::Http(status)) => {
                self.tag_error(&format!("HTTP status {status}; reading /task instead"));
                fetch(&self.client, &self.counters, 2, PATHS_WITH_TAGS[2], deadline, Task::parse)
                    .await
                    .map_err(|e| (2, e))
            }
            Err(e) => Err((0, e)),
        }
    }

    fn tag_error(&self, why: &str) {
        self.tag_errors.fetch_add(1, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                url = %self.client.url(PATHS_WITH_TAGS[0]),
                cause = why,
                hint = "the task role needs ecs:ListTagsForResource for the task's tags; everything else is exported (logged once, counted in ecs_exporter_task_tags_errors_total)",
                "task tags could not be read"
            );
        }
    }
}
