//! EC2 container instance source: the ECS agent's introspection API lists the tasks on the host
//! (`/v1/tasks`: ARN, family, revision, statuses, and the Docker id of each container) and
//! describes the instance (`/v1/metadata`); the Docker Engine gives each container's state,
//! limits and stats ([`super::docker::Engine`]). The three listing calls run concurrently, then
//! the per-container calls.

use super::docker::{self, Containers, Engine};
use super::http::{Counters, Deadline, HttpClient};
use super::{fetch, Instance, Read, SourceError, TaskRead};
use crate::parse::agent::{self, AgentTask, Metadata};
use crate::parse::docker::Summary;
use crate::parse::lenient::Str;
use crate::parse::tmds::{Container, Task, TaskDoc};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::time::Instant;

/// The `path` labels of the agent requests.
pub const PATHS: &[&str] = &["/v1/metadata", "/v1/tasks"];

/// The EC2 source.
#[derive(Debug)]
pub struct Ec2 {
    pub(super) agent: HttpClient,
    pub(super) counters: Counters,
    pub(super) engine: Engine,
}

impl Ec2 {
    /// A source reading the agent behind `agent` and the Docker Engine.
    pub fn new(agent: HttpClient, engine: Engine) -> Self {
        Ec2 { agent, counters: Counters::new(PATHS), engine }
    }

    /// Read the agent and the Engine. The agent's two answers and the Engine's container list
    /// must all arrive; a container whose inspect or stats fail is reported alone.
    pub async fn read(&self, deadline: Instant) -> Result<Read, SourceError> {
        let shared = &Deadline::new(deadline);
        let (meta, tasks, list) = tokio::join!(
            fetch(&self.agent, &self.counters, 0, PATHS[0], shared, Metadata::parse),
            fetch(&self.agent, &self.counters, 1, PATHS[1], shared, agent::parse_tasks),
            self.engine.list(true, deadline),
        );
        let agent_err = |i: usize, cause| {
            SourceError {
            url: self.agent.url(PATHS[i]),
            cause,
            hint: Some("is the ECS agent running, and does the exporter use the host network (networkMode host) to reach localhost:51678?"),
            also: None,
        }
        };
        let meta = meta.map_err(|e| agent_err(0, e))?;
        let tasks = tasks.map_err(|e| agent_err(1, e))?;
        let list = list?;
        let wanted: HashSet<&str> = tasks
            .iter()
            .flat_map(|t| t.containers.items())
            .filter_map(|c| c.docker_id.get())
            .filter(|id| !id.is_empty())
            .collect();
        let seen = self.engine.details(list, &wanted, deadline).await;
        Ok(assemble(&meta, tasks, seen))
    }
}

/// The tasks of the agent, their containers described by what Docker saw.
pub fn assemble(meta: &Metadata, tasks: Vec<AgentTask>, mut seen: Containers) -> Read {
    let list = std::mem::take(&mut seen.list);
    let by_id: HashMap<&str, &Summary> = list.iter().map(|c| (c.id.or_empty(), c)).collect();
    let find = |id: &str| -> Option<&Summary> { by_id.get(id).copied().filter(|_| !id.is_empty()) };
    let mut read = Read {
        instance: Some(Instance {
            cluster: meta.cluster.or_empty().to_owned(),
            container_instance_arn: meta.container_instance_arn.or_empty().to_owned(),
            agent_version: meta.agent_version().to_owned(),
        }),
        ..Read::default()
    };
    for t in tasks {
        let members: Vec<(&agent::AgentContainer, Option<&Summary>)> =
            t.containers.items().iter().map(|c| (c, find(c.docker_id.or_empty()))).collect();
        let mode = docker::task_network_mode(members.iter().filter_map(|(_, s)| s.map(|s| s.network_mode())));
        let task_stopped = t.known_status.get() == Some("STOPPED");
        let containers: Vec<Result<Container, String>> = members
            .iter()
            .map(|(a, s)| {
                let name = a.name.or_empty();
                let mut c = match s {
                    Some(s) => {
                        let inspect = seen.inspected.get(s.id.or_empty()).map(|i| &i.inspect);
                        docker::container(name, s, inspect, mode)
                    }
                    // Not (or no longer) known to Docker: what the agent says.
                    None => Container {
                        docker_id: a.docker_id.clone(),
                        name: Str::new(name),
                        kind: Str::new(if name.starts_with("~internal~ecs") { "CNI_PAUSE" } else { "NORMAL" }),
                        known_status: Str(task_stopped.then(|| std::sync::Arc::from("STOPPED"))),
                        ..Container::default()
                    },
                };
                if let Some(st) = a.known_status.get().filter(|s| !s.is_empty()) {
                    c.known_status = Str::new(st);
                }
                // The agent's count (its restart policy); Docker's own stays 0 under ECS.
                c.restart_count = a.restart_count;
                Ok(c)
            })
            .collect();
        let ids: Vec<&str> = members.iter().filter_map(|(_, s)| s.map(|s| s.id.or_empty())).collect();
        let stats = docker::task_stats(ids, &mut seen);
        let doc = TaskDoc {
            cluster: meta.cluster.clone(),
            task_arn: t.arn,
            family: t.family,
            revision: t.version,
            desired_status: t.desired_status,
            known_status: t.known_status,
            ..TaskDoc::default()
        };
        read.tasks.push(TaskRead { task: Task { doc, containers, standalone: false }, stats });
    }
    read.errors = seen.errors;
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_id_the_agent_lists_twice_is_described_both_times() {
        // Each agent container gets its own copy of what Docker says of it.
        let meta = Metadata::parse(br#"{"Cluster": "c"}"#).unwrap();
        let tasks = agent::parse_tasks(
            br#"{"Tasks": [{"Arn": "arn:1", "Containers": [{"DockerId": "a", "Name": "x"}]},
                          {"Arn": "arn:2", "Containers": [{"DockerId": "a", "Name": "y"}, {"DockerId": "gone", "Name": "z"}]}]}"#,
        )
        .unwrap();
        let list = crate::parse::docker::parse_list(
            br#"[{"Id": "a", "Image": "img", "ImageID": "sha256:1", "State": "running", "Labels": {"k": "v"}}]"#,
        )
        .unwrap();
        let read = assemble(&meta, tasks, Containers { list, ..Containers::default() });
        let described: Vec<_> = read
            .tasks
            .iter()
            .flat_map(|t| t.task.containers.iter().flatten())
            .map(|c| {
                let label = c.labels.get().and_then(|l| l.get("k")).and_then(|v| v.get());
                (c.name.or_empty(), c.docker_id.or_empty(), c.image.or_empty(), c.image_id.or_empty(), label)
            })
            .collect();
        assert_eq!(
            described,
            [
                ("x", "a", "img", "sha256:1", Some("v")),
                ("y", "a", "img", "sha256:1", Some("v")),
                ("z", "gone", "", "", None)
            ]
        );
    }
}
