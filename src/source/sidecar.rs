//! Sidecar source: `/task` and `/task/stats` of the task metadata endpoint (v4, or v3) of the
//! task the exporter runs in, read concurrently.

use super::http::{Counters, HttpClient};
use super::{fetch, Read, SourceError, TaskRead};
use crate::parse::tmds::{Task, TaskStats};
use std::time::Instant;

/// The `path` labels of its requests.
pub const PATHS: &[&str] = &["/task", "/task/stats"];

/// The sidecar source.
#[derive(Debug)]
pub struct Sidecar {
    pub(super) client: HttpClient,
    pub(super) counters: Counters,
}

impl Sidecar {
    /// A source reading the endpoint behind `client`.
    pub fn new(client: HttpClient) -> Self {
        Sidecar { client, counters: Counters::new(PATHS) }
    }

    /// Read `/task` and `/task/stats`: both must succeed.
    pub async fn read(&self, deadline: Instant) -> Result<Read, SourceError> {
        let (task, stats) = tokio::join!(
            fetch(&self.client, &self.counters, 0, PATHS[0], deadline, Task::parse),
            fetch(&self.client, &self.counters, 1, PATHS[1], deadline, TaskStats::parse),
        );
        let err = |i: usize, e| SourceError::new(&self.client, PATHS[i], e);
        match (task, stats) {
            (Ok(task), Ok(stats)) => Ok(Read { tasks: vec![TaskRead { task, stats }], ..Read::default() }),
            (Err(e), Ok(_)) => Err(err(0, e)),
            (Ok(_), Err(e)) => Err(err(1, e)),
            (Err(e), Err(e2)) => {
                Err(SourceError { also: Some(format!("{}: {e2}", self.client.url(PATHS[1]))), ..err(0, e) })
            }
        }
    }
}
