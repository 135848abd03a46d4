//! ECS Managed Instances daemon source (experimental): a task of a managed daemon service reads
//! `${ECS_CONTAINER_METADATA_URI_V4}/tasks` (the metadata of every task on the instance) and
//! `/tasks/stats` (the stats of every container on it). AWS does not document them yet; the
//! shapes seen are a JSON array of `/task` objects and an array of `/task/stats` maps, one per
//! task. Also accepted: an object keyed by task ARN (of tasks, or of stats maps), and one merged
//! Docker id map of stats. Stats are matched to tasks by Docker id, so the shapes mix freely.

use super::http::{Counters, Deadline, HttpClient};
use super::{fetch, Instance, Read, SourceError, TaskRead};
use crate::parse::json::Reader;
use crate::parse::tmds::{ParseError, Stats, Task, TaskStats};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// One task of `/tasks`: the task, or `(id, reason)` when it cannot be used.
pub type TaskEntry = Result<Task, (String, String)>;

/// The `path` labels of its requests.
pub const PATHS: &[&str] = &["/tasks", "/tasks/stats"];

/// The Managed Instances daemon source.
#[derive(Debug)]
pub struct Managed {
    pub(super) client: HttpClient,
    pub(super) counters: Counters,
}

impl Managed {
    /// A source reading the endpoint behind `client`.
    pub fn new(client: HttpClient) -> Self {
        Managed { client, counters: Counters::new(PATHS) }
    }

    /// Read `/tasks` and `/tasks/stats` concurrently: both must succeed.
    pub async fn read(&self, deadline: Instant) -> Result<Read, SourceError> {
        let deadline = &Deadline::new(deadline);
        let (tasks, stats) = tokio::join!(
            fetch(&self.client, &self.counters, 0, PATHS[0], deadline, parse_tasks),
            fetch(&self.client, &self.counters, 1, PATHS[1], deadline, parse_stats),
        );
        let err = |i: usize, e| SourceError::new(&self.client, PATHS[i], e);
        match (tasks, stats) {
            (Ok(tasks), Ok(stats)) => Ok(assemble(tasks, stats)),
            (Err(e), Ok(_)) => Err(err(0, e)),
            (Ok(_), Err(e)) => Err(err(1, e)),
            (Err(e), Err(e2)) => {
                Err(SourceError { also: Some(format!("{}: {e2}", self.client.url(PATHS[1]))), ..err(0, e) })
            }
        }
    }
}

/// A member of a JSON array (no key) or object, and its value's text.
type Member<'a> = (Option<String>, &'a str);

/// The members of a JSON array or object as text, each with its key (`None` in an array; an
/// object's in key order, the last of a repeated key kept), checked to be JSON as a whole;
/// `Ok(None)` for any other value.
fn members(text: &str) -> Result<Option<Vec<Member<'_>>>, ParseError> {
    let mut r = Reader::new(text);
    let mut out = Vec::new();
    match r.peek()? {
        b'[' => r.array(|r| {
            let start = r.offset();
            r.skip()?;
            out.push((None, r.since(start).trim_start()));
            Ok(())
        })?,
        b'{' => {
            let mut map = BTreeMap::new();
            r.object(|r, key| {
                let start = r.offset();
                r.skip()?;
                map.insert(key.into_owned(), r.since(start).trim_start());
                Ok(())
            })?;
            out.extend(map.into_iter().map(|(k, v)| (Some(k), v)));
        }
        _ => {
            r.skip()?;
            r.finish()?;
            return Ok(None);
        }
    }
    r.finish()?;
    Ok(Some(out))
}

/// Parse `/tasks`: each task on its own, so one that is not an object is an error beside the
/// others (`Err((key or index, reason))`).
pub fn parse_tasks(body: &[u8]) -> Result<Vec<TaskEntry>, ParseError> {
    let text = crate::parse::text(body);
    let Some(items) = members(&text)? else { return Err(ParseError::NotObject) };
    let one = |key: String, raw: &str| Task::parse_str(raw).map_err(|e| (key, e.to_string()));
    // One task object rather than a map of them.
    if items.iter().any(|(k, _)| matches!(k.as_deref(), Some("TaskARN" | "Containers"))) {
        return Ok(vec![Ok(Task::parse_str(&text)?)]);
    }
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, (k, raw))| one(k.unwrap_or_else(|| format!("tasks[{i}]")), raw))
        .collect())
}

/// Parse `/tasks/stats` into one map of Docker id to stats, whatever the shape.
pub fn parse_stats(body: &[u8]) -> Result<TaskStats, ParseError> {
    let text = crate::parse::text(body);
    let Some(items) = members(&text)? else { return Err(ParseError::NotObject) };
    let mut all = TaskStats::default();
    let keyed = items.first().is_some_and(|(k, _)| k.is_some());
    if keyed && !items.iter().all(|(k, _)| k.as_deref().is_some_and(|k| k.starts_with("arn:"))) {
        // One merged map of Docker id to stats.
        return TaskStats::parse_str(&text);
    }
    for (_, raw) in items {
        // A task's map that is not an object is skipped: its containers have no stats.
        if let Ok(s) = TaskStats::parse_str(raw) {
            all.containers.extend(s.containers);
        }
    }
    Ok(all)
}

/// Each task with the stats of its containers.
pub fn assemble(tasks: Vec<TaskEntry>, mut stats: TaskStats) -> Read {
    let mut read = Read::default();
    for t in tasks {
        let task = match t {
            Ok(t) => t,
            Err((key, why)) => {
                read.errors.push((key, format!("task: {why}")));
                continue;
            }
        };
        let mut mine: BTreeMap<Arc<str>, Result<Option<Stats>, String>> = BTreeMap::new();
        for c in task.containers.iter().filter_map(|c| c.as_ref().ok()) {
            if let Some((id, s)) = c.docker_id.get().and_then(|id| stats.containers.remove_entry(id)) {
                mine.insert(id, s);
            }
        }
        read.tasks.push(TaskRead { task, stats: TaskStats { containers: mine } });
    }
    let cluster = read.tasks.iter().find_map(|t| t.task.cluster.get()).unwrap_or("").to_owned();
    read.instance = Some(Instance { cluster, ..Instance::default() });
    read
}
