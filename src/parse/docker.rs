//! Typed model of the Docker Engine API answers the host sources read: `GET /containers/json`
//! (every container with its state, labels and network mode) and `GET /containers/{id}/json`
//! (the limits given to `docker run`, start and finish times, exit code). Stats bodies are the
//! [`super::tmds::Stats`] shape and are parsed as such. Lenient like the rest of
//! [`crate::parse`].

use super::json::{self, FromJson, Reader};
use super::lenient::{lenient_struct, Deferred, Entry, List, Num, Obj, Objects, Str};
use super::tmds::{ParseError, Stats};
use std::collections::BTreeMap;

/// The ECS agent's Docker labels on every task container.
pub mod labels {
    /// The task's ARN.
    pub const TASK_ARN: &str = "com.amazonaws.ecs.task-arn";
    /// The container's name in the task definition.
    pub const CONTAINER_NAME: &str = "com.amazonaws.ecs.container-name";
    /// The task definition family.
    pub const FAMILY: &str = "com.amazonaws.ecs.task-definition-family";
    /// The task definition revision.
    pub const REVISION: &str = "com.amazonaws.ecs.task-definition-version";
    /// The cluster.
    pub const CLUSTER: &str = "com.amazonaws.ecs.cluster";
}

lenient_struct! {
    /// One element of `GET /containers/json`.
    pub struct Summary {
        "Id" => id: Str,
        /// With a leading `/`.
        "Names" => names: List<Str>,
        "Image" => image: Str,
        "ImageID" => image_id: Str,
        "Labels" => labels: DockerLabels,
        /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
        "State" => state: Str,
        /// `Up 5 minutes (healthy)`, `Exited (0) 2 hours ago`.
        "Status" => status: Str,
        "HostConfig" => host_config: Obj<SummaryHostConfig>,
    }
}

lenient_struct! {
    /// `HostConfig` of a `/containers/json` element: only the network mode.
    pub struct SummaryHostConfig {
        "NetworkMode" => network_mode: Str,
    }
}

/// A container's Docker labels: the ECS agent's, which group containers into tasks, read as
/// fields; all of them only when asked for ([`Deferred`], for `--container.labels`). A host's
/// list has a dozen labels per container, each a key and a value to build on every read.
#[derive(Debug, Default, Clone)]
pub struct DockerLabels {
    /// [`labels::TASK_ARN`].
    pub task_arn: Str,
    /// [`labels::CONTAINER_NAME`].
    pub container_name: Str,
    /// [`labels::FAMILY`].
    pub family: Str,
    /// [`labels::REVISION`].
    pub revision: Str,
    /// [`labels::CLUSTER`].
    pub cluster: Str,
    /// Every label, built on first use.
    pub all: Deferred<BTreeMap<String, Str>>,
}

impl FromJson for DockerLabels {
    fn read(r: &mut Reader<'_>) -> Result<Self, json::Error> {
        let mut out = DockerLabels::default();
        if r.peek()? != b'{' {
            r.skip()?;
            return Ok(out);
        }
        let start = r.offset();
        r.object(|r, key| {
            let field = match &*key {
                labels::TASK_ARN => &mut out.task_arn,
                labels::CONTAINER_NAME => &mut out.container_name,
                labels::FAMILY => &mut out.family,
                labels::REVISION => &mut out.revision,
                labels::CLUSTER => &mut out.cluster,
                _ => return r.skip(),
            };
            *field = Str::read(r)?;
            Ok(())
        })?;
        out.all = Deferred::text(r.since(start));
        Ok(out)
    }
}

impl Summary {
    /// A label's value, from every label (built on first use; the ECS agent's are also the
    /// fields of [`DockerLabels`]).
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.all.get()?.get(key)?.get()
    }

    /// The container's name without Docker's leading `/`.
    pub fn name(&self) -> &str {
        let n = self.names.items().first().map(|s| s.or_empty()).unwrap_or("");
        n.strip_prefix('/').unwrap_or(n)
    }

    /// The network mode: `bridge`, `host`, `none`, `container:<id>`, a network's name.
    pub fn network_mode(&self) -> &str {
        self.host_config.get().map(|h| h.network_mode.or_empty()).unwrap_or("")
    }

    /// The health check state from the status text (`(healthy)`, `(unhealthy)`,
    /// `(health: starting)`), as ECS writes it; `None` without a health check.
    pub fn health(&self) -> Option<&'static str> {
        let s = self.status.or_empty();
        if s.contains("(healthy)") {
            Some("HEALTHY")
        } else if s.contains("(unhealthy)") {
            Some("UNHEALTHY")
        } else if s.contains("(health: starting)") {
            Some("UNKNOWN")
        } else {
            None
        }
    }

    /// Whether the container is running (so has stats worth asking for).
    pub fn running(&self) -> bool {
        matches!(self.state.get(), Some("running" | "paused" | "restarting"))
    }
}

/// Parse `GET /containers/json`: a JSON array; elements that are not objects are skipped.
pub fn parse_list(body: &[u8]) -> Result<Vec<Summary>, ParseError> {
    match crate::parse::read::<Objects<Summary>>(body)?.0 {
        Some(v) => Ok(v),
        None => Err(ParseError::NotArray),
    }
}

lenient_struct! {
    /// `GET /containers/{id}/json`, the parts used.
    pub struct Inspect {
        "Id" => id: Str,
        "RestartCount" => restart_count: Num,
        "State" => state: Obj<State>,
        "HostConfig" => host_config: Obj<HostConfig>,
    }
}

lenient_struct! {
    /// `State` of an inspected container.
    pub struct State {
        "Status" => status: Str,
        "ExitCode" => exit_code: Num,
        /// RFC 3339; `0001-01-01T00:00:00Z` when never.
        "StartedAt" => started_at: Str,
        "FinishedAt" => finished_at: Str,
    }
}

lenient_struct! {
    /// The limits of `HostConfig`.
    pub struct HostConfig {
        /// `--cpus` × 1e9.
        "NanoCpus" => nano_cpus: Num,
        /// `--cpu-shares`: the ECS agent writes the container's CPU units here.
        "CpuShares" => cpu_shares: Num,
        "CpuQuota" => cpu_quota: Num,
        "CpuPeriod" => cpu_period: Num,
        /// `--memory`, bytes.
        "Memory" => memory: Num,
        "NetworkMode" => network_mode: Str,
    }
}

impl Inspect {
    /// Parse `GET /containers/{id}/json`.
    pub fn parse(body: &[u8]) -> Result<Inspect, ParseError> {
        match crate::parse::read::<Obj<Inspect>>(body)? {
            Obj(Some(i)) => Ok(i),
            Obj(None) => Err(ParseError::NotObject),
        }
    }

    /// The hard CPU limit in vCPUs: `NanoCpus` (`--cpus`), else `CpuQuota` / `CpuPeriod`
    /// (`--cpu-quota`; the period defaults to 100 ms); `None` when unlimited.
    pub fn cpu_limit_vcpus(&self) -> Option<f64> {
        let h = self.host_config.get()?;
        if let Some(n) = h.nano_cpus.as_u64().filter(|n| *n > 0) {
            return Some(n as f64 / 1e9);
        }
        let quota = h.cpu_quota.as_u64().filter(|q| *q > 0)? as f64;
        let period = h.cpu_period.as_u64().filter(|p| *p > 0).unwrap_or(100_000) as f64;
        Some(quota / period)
    }
}

/// Parse one `GET /containers/{id}/stats` body. `Ok(None)` for `null`.
pub fn parse_stats(body: &[u8]) -> Result<Option<Stats>, ParseError> {
    match crate::parse::read::<Entry<Stats>>(body)? {
        Entry::Value(s) => Ok(Some(s)),
        Entry::Null => Ok(None),
        Entry::NotObject => Err(ParseError::NotObject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_limits() {
        let i = |j: &str| Inspect::parse(j.as_bytes()).unwrap();
        assert_eq!(i(r#"{"HostConfig": {"NanoCpus": 250000000}}"#).cpu_limit_vcpus(), Some(0.25));
        assert_eq!(i(r#"{"HostConfig": {"CpuQuota": 50000, "CpuPeriod": 100000}}"#).cpu_limit_vcpus(), Some(0.5));
        assert_eq!(i(r#"{"HostConfig": {"CpuQuota": 25000}}"#).cpu_limit_vcpus(), Some(0.25));
        assert_eq!(i(r#"{"HostConfig": {"NanoCpus": 0, "CpuQuota": 0}}"#).cpu_limit_vcpus(), None);
    }

    #[test]
    fn summaries() {
        let l = parse_list(br#"[{"Id": "a", "Names": ["/web"], "State": "running", "Status": "Up 2 minutes (healthy)", "HostConfig": {"NetworkMode": "host"}, "Labels": {"x": "1"}}, 7]"#).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(
            (l[0].name(), l[0].network_mode(), l[0].health(), l[0].running()),
            ("web", "host", Some("HEALTHY"), true)
        );
        assert_eq!(l[0].label("x"), Some("1"));
        assert!(parse_list(b"{}").is_err());
    }
}
