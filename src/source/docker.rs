//! The Docker Engine, read for host mode: [`Engine`] lists the containers, inspects each once
//! (limits do not change; a container is inspected again when its state changes), and fetches
//! one-shot stats of every running container concurrently (the daemon samples in one-second
//! rounds, so calls in a row would cost a second each), pipelined over a few kept connections
//! ([`super::pipeline`]). [`DockerHost`] is the plain Docker host
//! source: every container, grouped into tasks by the ECS agent's labels; containers of no task
//! are reported by their Docker name. The [`ec2`](super::ec2) source shares [`Engine`] and the
//! container model built here ([`container`]).

use super::http::{Counters, FetchError};
use super::pipeline::Pipeline;
use super::{Instance, Read, SourceError, TaskRead};
use crate::parse::docker::{self, Inspect, Summary};
use crate::parse::lenient::{Num, Objects, Str};
use crate::parse::tmds::{Container, Limits, Network, Stats, Task, TaskDoc, TaskStats};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `path` labels of the Engine's requests.
pub const PATHS: &[&str] = &["/containers/json", "/containers/{id}/json", "/containers/{id}/stats"];

/// What to do when the socket cannot be opened.
pub const SOCKET_HINT: &str = "mount the Docker socket into the exporter's container read-only (docker run -v /var/run/docker.sock:/var/run/docker.sock:ro; in a task definition a host volume with sourcePath /var/run/docker.sock and a mount point with readOnly true) and run the exporter as root or a member of the socket's group";

/// An inspected container, with the state it was in then.
#[derive(Debug)]
pub struct Inspected {
    /// `State` of the container list when it was inspected.
    pub state: String,
    /// The answer.
    pub inspect: Inspect,
}

/// Inspected containers by id.
/// (Fx-hashed: the ids come from the local Engine, and SipHash of a 64-character id was a
/// tenth of a host read's hashing and lookups.)
pub type Inspections = HashMap<Arc<str>, Arc<Inspected>>;

/// Everything one read of the Engine saw.
#[derive(Debug, Default)]
pub struct Containers {
    /// `GET /containers/json`.
    pub list: Vec<Summary>,
    /// Inspected containers, by id (from this read or an earlier one): the Engine's cache,
    /// shared, not copied.
    pub inspected: Arc<Inspections>,
    /// One-shot stats by id: `Err` when the call failed; absent when the container vanished
    /// (404) or is not running.
    pub stats: HashMap<Arc<str>, Result<Option<Stats>, String>>,
    /// Inspect or stats calls that failed, as `(id, reason)`.
    pub errors: Vec<(String, String)>,
}

/// The Docker Engine client of host mode.
#[derive(Debug)]
pub struct Engine {
    client: Pipeline,
    counters: Counters,
    max_concurrency: usize,
    timeout: Duration,
    cache: Mutex<Arc<Inspections>>,
}

impl Engine {
    /// An Engine client: at most `max_concurrency` calls at once, each under `timeout`.
    pub fn new(client: Pipeline, max_concurrency: usize, timeout: Duration) -> Self {
        Engine {
            client,
            counters: Counters::new(PATHS),
            max_concurrency: max_concurrency.max(1),
            timeout,
            cache: Mutex::default(),
        }
    }

    /// Its request counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The URL of `path`, for logs.
    pub fn url(&self, path: &str) -> String {
        self.client.url(path)
    }

    /// `GET /containers/json?all=true`, only the ECS agent's containers when `ecs_only`.
    pub async fn list(&self, ecs_only: bool, deadline: Instant) -> Result<Vec<Summary>, SourceError> {
        let path = if ecs_only {
            // filters={"label":["com.amazonaws.ecs.task-arn"]}
            "/containers/json?all=true&filters=%7B%22label%22%3A%5B%22com.amazonaws.ecs.task-arn%22%5D%7D"
        } else {
            "/containers/json?all=true"
        };
        let r = self.get(0, vec![path.to_owned()], deadline, docker::parse_list).await.pop();
        let r = r.unwrap_or(Err(FetchError::Invalid("no answer".into())));
        r.map_err(|cause| {
            let hint = match &cause {
                FetchError::Connect(m) if is_socket_problem(m) => Some(SOCKET_HINT),
                _ => None,
            };
            SourceError { url: self.client.url("/containers/json"), cause, hint, also: None }
        })
    }

    /// GET `paths`, pipelined over at most `max_concurrency` connections, each counted under
    /// the `index`th path label.
    async fn get<T: Send, E: std::fmt::Display>(
        &self,
        index: usize,
        paths: Vec<String>,
        deadline: Instant,
        parse: impl Fn(&[u8]) -> Result<T, E> + Send + Sync,
    ) -> Vec<Result<T, FetchError>> {
        let rs = self.client.get_all(&paths, self.max_concurrency, self.timeout, deadline, parse).await;
        for r in &rs {
            self.counters.count(index, r);
        }
        rs
    }

    /// Inspect the containers of `wanted` that are not inspected yet, or whose state changed
    /// since, and fetch the stats of those running: all concurrently, by `deadline`.
    pub async fn details(&self, list: Vec<Summary>, wanted: &HashSet<&str>, deadline: Instant) -> Containers {
        // The cache as the last read left it: shared; copied only when this read changes it.
        let cached: Arc<Inspections> = match self.cache.lock() {
            Ok(c) => c.clone(),
            Err(_) => Arc::default(),
        };
        let mut to_inspect = Vec::new();
        let mut to_stat = Vec::new();
        for c in list.iter().filter(|c| wanted.contains(c.id.or_empty())) {
            let id = c.id.shared();
            let state = c.state.or_empty();
            if cached.get(&*id).is_none_or(|i| i.state != state) {
                to_inspect.push((id.clone(), state.to_owned()));
            }
            if c.running() {
                to_stat.push(id);
            }
        }
        let inspect_paths = to_inspect.iter().map(|(id, _)| format!("/containers/{id}/json")).collect();
        let stat_paths =
            to_stat.iter().map(|id| format!("/containers/{id}/stats?stream=false&one-shot=true")).collect();
        let (inspected, stats) = tokio::join!(
            self.get(1, inspect_paths, deadline, Inspect::parse),
            self.get(2, stat_paths, deadline, docker::parse_stats)
        );
        let inspected = to_inspect.into_iter().zip(inspected).map(|((id, state), r)| (id, state, r));
        let stats = to_stat.into_iter().zip(stats);

        let mut out = Containers::default();
        let mut fresh = Vec::new();
        for (id, state, r) in inspected {
            match r {
                Ok(inspect) => fresh.push((id, Arc::new(Inspected { state, inspect }))),
                // Gone between the list and the call: churn, not an error.
                Err(FetchError::Http(404)) => tracing::debug!(container = %id, "vanished before inspect"),
                Err(e) => out.errors.push((id.to_string(), format!("inspect: {e}"))),
            }
        }
        for (id, r) in stats {
            match r {
                Ok(s) => {
                    out.stats.insert(id, Ok(s));
                }
                Err(FetchError::Http(404)) => tracing::debug!(container = %id, "vanished before stats"),
                // Reported by `collect` with the container it belongs to.
                Err(e) => {
                    out.stats.insert(id, Err(e.to_string()));
                }
            }
        }
        // Keep only containers that still exist; the cache is copied only when it changes.
        let present: HashSet<&str> = list.iter().map(|c| c.id.or_empty()).collect();
        out.inspected = if fresh.is_empty() && cached.keys().all(|id| present.contains(&**id)) {
            cached
        } else {
            let mut next = Inspections::clone(&cached);
            next.extend(fresh);
            next.retain(|id, _| present.contains(&**id));
            let next = Arc::new(next);
            if let Ok(mut c) = self.cache.lock() {
                *c = next.clone();
            }
            next
        };
        out.list = list;
        out
    }
}

/// Whether a connection error says the socket is missing or forbidden.
fn is_socket_problem(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("no such file") || m.contains("permission denied") || m.contains("not found")
}

/// The ECS container status of a Docker state.
pub fn known_status(state: &str) -> Option<&'static str> {
    Some(match state {
        "created" => "CREATED",
        "running" | "paused" | "restarting" => "RUNNING",
        "exited" | "dead" | "removing" => "STOPPED",
        _ => return None,
    })
}

/// The network mode of a task from its containers' Docker modes: `awsvpc` when one joins
/// another's namespace (`container:<id>`, as ECS does for `awsvpc` tasks on EC2), `host` when
/// one is in the host's, else `bridge` (each its own).
pub fn task_network_mode<'a>(modes: impl IntoIterator<Item = &'a str>) -> &'static str {
    let mut mode = "bridge";
    for m in modes {
        if m.starts_with("container:") || m == "awsvpc" {
            return "awsvpc";
        }
        if m == "host" {
            mode = "host";
        }
    }
    mode
}

/// An RFC 3339 time, or absent for Docker's zero time.
fn time(s: &Str) -> Str {
    Str(s.0.clone().filter(|t| !t.starts_with("0001-01-01")))
}

/// Bytes as MiB for [`Limits::memory`], exact when whole.
fn mib(bytes: u64) -> Num {
    if bytes % 1_048_576 == 0 {
        Num::U(bytes / 1_048_576)
    } else {
        Num::F(bytes as f64 / 1_048_576.0)
    }
}

/// The model of one container from what Docker says of it: `name` as the task definition
/// names it, the list entry, its inspect (limits, times, exit code) and the task's network mode.
pub fn container(name: &str, s: &Summary, inspected: Option<&Inspect>, network_mode: &str) -> Container {
    let state = s.state.or_empty();
    let stopped = known_status(state) == Some("STOPPED");
    let st = inspected.and_then(|i| i.state.get());
    let hc = inspected.and_then(|i| i.host_config.get());
    let cpu_units = hc.and_then(|h| h.cpu_shares.as_u64()).filter(|u| *u > 0);
    let memory = hc.and_then(|h| h.memory.as_u64()).filter(|m| *m > 0);
    let limits = (cpu_units.is_some() || memory.is_some())
        .then(|| Limits { cpu: cpu_units.map_or(Num::Absent, Num::U), memory: memory.map_or(Num::Absent, mib) });
    Container {
        docker_id: s.id.clone(),
        name: Str::new(name),
        image: s.image.clone(),
        image_id: s.image_id.clone(),
        known_status: Str(known_status(state).map(Arc::from)),
        kind: Str::new(if name.starts_with("~internal~ecs") { "CNI_PAUSE" } else { "NORMAL" }),
        exit_code: if stopped { st.map_or(Num::Absent, |s| s.exit_code) } else { Num::Absent },
        started_at: st.map(|s| time(&s.started_at)).unwrap_or_default(),
        finished_at: if stopped { st.map(|s| time(&s.finished_at)).unwrap_or_default() } else { Str(None) },
        limits: crate::parse::lenient::Obj(limits),
        health: crate::parse::lenient::Obj(s.health().map(|h| crate::parse::tmds::Health { status: Str::new(h) })),
        networks: Objects(Some(vec![Network { network_mode: Str::new(network_mode) }])),
        cpu_limit_vcpus: inspected.and_then(Inspect::cpu_limit_vcpus),
        labels: s.labels.all.clone(),
        ..Container::default()
    }
}

/// The stats of these containers, by id, from one Engine read.
pub fn task_stats<'a>(ids: impl IntoIterator<Item = &'a str>, seen: &mut Containers) -> TaskStats {
    let mut containers = BTreeMap::new();
    for id in ids {
        if let Some((id, s)) = seen.stats.remove_entry(id) {
            containers.insert(id, s);
        }
    }
    TaskStats { containers }
}

/// The plain Docker host source.
#[derive(Debug)]
pub struct DockerHost {
    pub(super) engine: Engine,
}

impl DockerHost {
    /// A source reading the Engine.
    pub fn new(engine: Engine) -> Self {
        DockerHost { engine }
    }

    /// List every container, inspect and stat them, and group them into tasks.
    pub async fn read(&self, deadline: Instant) -> Result<Read, SourceError> {
        let list = self.engine.list(false, deadline).await?;
        let ids: Vec<String> = list.iter().filter(|c| keep(c)).map(|c| c.id.or_empty().to_owned()).collect();
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let seen = self.engine.details(list, &wanted, deadline).await;
        Ok(assemble(seen))
    }
}

/// Containers of an ECS task are kept whatever their state (a stopped task keeps its status
/// series while Docker keeps its containers); other containers while they run.
fn keep(c: &Summary) -> bool {
    c.labels.task_arn.get().is_some_and(|a| !a.is_empty()) || c.running()
}

/// Group what the Engine saw into tasks: containers with the ECS task ARN label by task (named
/// by their `container-name` label), every other running container a task of its own, named by
/// its Docker name.
pub fn assemble(mut seen: Containers) -> Read {
    let list = std::mem::take(&mut seen.list);
    let mut tasks: BTreeMap<&str, Vec<&Summary>> = BTreeMap::new();
    let mut standalone = Vec::new();
    for c in list.iter().filter(|c| keep(c)) {
        match c.labels.task_arn.get().filter(|a| !a.is_empty()) {
            Some(arn) => tasks.entry(arn).or_default().push(c),
            None => standalone.push(c),
        }
    }
    let clusters: HashSet<&str> = list.iter().filter_map(|c| c.labels.cluster.get()).collect();
    let mut read = Read {
        instance: Some(Instance {
            cluster: if clusters.len() == 1 {
                clusters.iter().next().map(|c| c.to_string()).unwrap_or_default()
            } else {
                String::new()
            },
            ..Instance::default()
        }),
        ..Read::default()
    };
    for members in tasks.into_values() {
        let mode = task_network_mode(members.iter().map(|c| c.network_mode()));
        let first = members[0];
        let running = members.iter().any(|c| c.running());
        let doc = TaskDoc {
            cluster: first.labels.cluster.clone(),
            task_arn: first.labels.task_arn.clone(),
            family: first.labels.family.clone(),
            revision: first.labels.revision.clone(),
            known_status: Str::new(if running { "RUNNING" } else { "STOPPED" }),
            ..TaskDoc::default()
        };
        let containers = members
            .iter()
            .map(|c| {
                let name = c.labels.container_name.get().filter(|n| !n.is_empty()).unwrap_or(c.name());
                let inspect = seen.inspected.get(c.id.or_empty()).map(|i| &i.inspect);
                let mut m = container(name, c, inspect, mode);
                // Docker's count of restarts by its restart policy.
                m.restart_count = inspect.map_or(Num::Absent, |i| i.restart_count);
                Ok(m)
            })
            .collect();
        let stats = task_stats(members.iter().map(|c| c.id.or_empty()), &mut seen);
        read.tasks.push(TaskRead { task: Task { doc, containers, standalone: false }, stats });
    }
    for c in standalone {
        let inspect = seen.inspected.get(c.id.or_empty()).map(|i| &i.inspect);
        let mode = if c.network_mode() == "host" { "host" } else { "bridge" };
        let mut m = container(c.name(), c, inspect, mode);
        m.restart_count = inspect.map_or(Num::Absent, |i| i.restart_count);
        let mut stats = task_stats([c.id.or_empty()], &mut seen);
        if c.network_mode().starts_with("container:") {
            // Joined to another container's namespace: that one reports its counters.
            for s in stats.containers.values_mut().filter_map(|s| s.as_mut().ok()).flatten() {
                s.networks = crate::parse::lenient::Obj(None);
                s.network_rate_stats = crate::parse::lenient::Obj(None);
            }
        }
        read.tasks
            .push(TaskRead { task: Task { containers: vec![Ok(m)], standalone: true, ..Task::default() }, stats });
    }
    read.errors = seen.errors;
    read
}
