//! Sources: where one upstream read comes from. Every source yields the same typed model, a
//! [`Read`]: the tasks it sees, each with its `/task`-shaped metadata and `/task/stats`-shaped
//! stats (the Docker stats JSON is that shape), and what it knows of the host. `collect`,
//! `snapshot` and `encode` never know which source spoke.
//!
//! - [`sidecar`]: the task metadata endpoint of the task the exporter runs in (`/task`,
//!   `/task/stats`).
//! - [`managed`]: a daemon task on ECS Managed Instances (`/tasks`, `/tasks/stats`).
//! - [`ec2`]: an EC2 container instance: the agent's introspection API and the Docker Engine.
//! - [`docker`]: every container of a Docker host, grouped into tasks by the ECS labels; also
//!   the Docker Engine reading that [`ec2`] shares.
//!
//! I/O is here, in [`http`] (the metadata endpoint, the agent) and in [`pipeline`] (the Docker
//! Engine's many calls per read); turning answers into the model is pure (`assemble` functions),
//! tested on captured answers.

pub mod docker;
pub mod ec2;
pub mod http;
pub mod managed;
pub mod pipeline;
pub mod sidecar;

use crate::parse::tmds::{ParseError, Task, TaskStats};
use http::{Counters, Deadline, FetchError, HttpClient};
use std::time::{Duration, Instant};

/// What the source knows of the host (host mode only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    /// Cluster name or ARN.
    pub cluster: String,
    /// The container instance ARN.
    pub container_instance_arn: String,
    /// The ECS agent's version.
    pub agent_version: String,
}

/// One task and its containers' stats.
#[derive(Debug, Default)]
pub struct TaskRead {
    /// The task metadata.
    pub task: Task,
    /// Stats by Docker id.
    pub stats: TaskStats,
}

/// One upstream read: the typed model every source yields.
#[derive(Debug, Default)]
pub struct Read {
    /// The host, in host mode.
    pub instance: Option<Instance>,
    /// The tasks seen.
    pub tasks: Vec<TaskRead>,
    /// Entries (a task, a container's inspect or stats) that could not be used, as
    /// `(id, reason)`; the rest is exported.
    pub errors: Vec<(String, String)>,
}

/// A read that failed as a whole: the request that failed, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{url}: {cause}")]
pub struct SourceError {
    /// The URL (or `unix://` socket and path) of the failed request.
    pub url: String,
    /// Why it failed.
    pub cause: FetchError,
    /// What the user can do about it, when known.
    pub hint: Option<&'static str>,
    /// A second failed request of the same read, as `url: cause`.
    pub also: Option<String>,
}

impl SourceError {
    /// A consumer gave up waiting for a read another one had started.
    pub fn waited(url: String) -> Self {
        SourceError { url, cause: FetchError::Timeout(Duration::ZERO), hint: None, also: None }
    }

    fn new(client: &HttpClient, path: &str, cause: FetchError) -> Self {
        SourceError { url: client.url(path), cause, hint: None, also: None }
    }
}

/// Which source; the `--source` choices but `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The agent introspection API and the Docker Engine of an EC2 container instance.
    Ec2,
    /// `/tasks` and `/tasks/stats` of an ECS Managed Instances daemon task.
    ManagedDaemon,
    /// Every container of a Docker host.
    Docker,
}

/// The source of the exporter's reads.
#[derive(Debug)]
pub enum Source {
    /// Sidecar mode: one task.
    Sidecar(sidecar::Sidecar),
    /// Host mode, Managed Instances daemon.
    Managed(managed::Managed),
    /// Host mode, EC2 container instance.
    Ec2(Box<ec2::Ec2>),
    /// Host mode, plain Docker host.
    Docker(Box<docker::DockerHost>),
}

impl Source {
    /// Read everything once, finishing by `deadline`.
    pub async fn read(&self, deadline: Instant) -> Result<Read, SourceError> {
        match self {
            Source::Sidecar(s) => s.read(deadline).await,
            Source::Managed(s) => s.read(deadline).await,
            Source::Ec2(s) => s.read(deadline).await,
            Source::Docker(s) => s.read(deadline).await,
        }
    }

    /// Whether the scrape target is a host (series carry `task_arn`) rather than one task.
    pub fn host_mode(&self) -> bool {
        !matches!(self, Source::Sidecar(_))
    }

    /// The request counters, for `ecs_exporter_upstream_requests_total`.
    pub fn counters(&self) -> impl Iterator<Item = &Counters> {
        match self {
            Source::Sidecar(s) => [Some(&s.counters), None],
            Source::Managed(s) => [Some(&s.counters), None],
            Source::Ec2(s) => [Some(&s.counters), Some(s.engine.counters())],
            Source::Docker(s) => [Some(s.engine.counters()), None],
        }
        .into_iter()
        .flatten()
    }

    /// The mode, for the status page: `sidecar`, or `host (ec2)` and so on.
    pub fn mode(&self) -> &'static str {
        match self {
            Source::Sidecar(_) => "sidecar",
            Source::Managed(_) => "host (managed-daemon, experimental)",
            Source::Ec2(_) => "host (ec2)",
            Source::Docker(_) => "host (docker)",
        }
    }

    /// Failed reads of the task's tags, when the source reads them.
    pub fn tag_errors(&self) -> Option<u64> {
        match self {
            Source::Sidecar(s) if s.reads_tags() => Some(s.tag_errors.load(std::sync::atomic::Ordering::Relaxed)),
            _ => None,
        }
    }

    /// The main upstream, for log lines.
    pub fn describe(&self) -> String {
        match self {
            Source::Sidecar(s) => s.client.url("/task"),
            Source::Managed(s) => s.client.url("/tasks"),
            Source::Ec2(s) => s.agent.url("/v1/tasks"),
            Source::Docker(s) => s.engine.url("/containers/json"),
        }
    }
}

/// GET `path`, parse the body and count the outcome (`invalid` when it does not parse). Raw
/// bodies are logged at debug level, so users can send captures.
pub(crate) async fn fetch<T>(
    client: &HttpClient,
    counters: &Counters,
    index: usize,
    path: &str,
    deadline: &Deadline,
    parse: impl FnOnce(&[u8]) -> Result<T, ParseError>,
) -> Result<T, FetchError> {
    let r = client.get(path, deadline).await.and_then(|b| {
        tracing::debug!(url = %client.url(path), body = %String::from_utf8_lossy(&b), "upstream body");
        parse(&b).map_err(|e| FetchError::Invalid(e.to_string()))
    });
    counters.count(index, &r);
    r
}
