//! Typed model of the ECS agent's introspection API (`localhost:51678`): `/v1/metadata` (the
//! container instance) and `/v1/tasks` (every task the agent knows on the host, with the Docker
//! ids of its containers). Lenient like the rest of [`crate::parse`].

use super::lenient::{lenient_struct, Num, Obj, Objects, Str};
use super::tmds::ParseError;

lenient_struct! {
    /// `/v1/metadata`.
    pub struct Metadata {
        "Cluster" => cluster: Str,
        "ContainerInstanceArn" => container_instance_arn: Str,
        /// `Amazon ECS Agent - v1.30.0 (02ff320c)`.
        "Version" => version: Str,
    }
}

impl Metadata {
    /// Parse a `/v1/metadata` body; fails only when it is not a JSON object.
    pub fn parse(body: &[u8]) -> Result<Metadata, ParseError> {
        match crate::parse::read::<Obj<Metadata>>(body)? {
            Obj(Some(m)) => Ok(m),
            Obj(None) => Err(ParseError::NotObject),
        }
    }

    /// The agent's version number (`1.30.0` of `Amazon ECS Agent - v1.30.0 (02ff320c)`); the
    /// whole string when it has no `v<digit>` word.
    pub fn agent_version(&self) -> &str {
        let v = self.version.or_empty();
        v.split_whitespace()
            .find_map(|w| w.strip_prefix('v').filter(|n| n.starts_with(|c: char| c.is_ascii_digit())))
            .unwrap_or(v)
    }
}

lenient_struct! {
    /// One task of `/v1/tasks`.
    pub struct AgentTask {
        "Arn" => arn: Str,
        /// Left out (omitempty) by some agents for stopped tasks.
        "DesiredStatus" => desired_status: Str,
        "KnownStatus" => known_status: Str,
        "Family" => family: Str,
        "Version" => version: Str,
        "Containers" => containers: Objects<AgentContainer>,
    }
}

lenient_struct! {
    /// One container of a `/v1/tasks` task. Agents document `DockerId`, `DockerName` and
    /// `Name`; the others are read when an agent sends them.
    pub struct AgentContainer {
        "DockerId" => docker_id: Str,
        "DockerName" => docker_name: Str,
        "Name" => name: Str,
        "KnownStatus" => known_status: Str,
        "RestartCount" => restart_count: Num,
    }
}

lenient_struct! {
    /// The `/v1/tasks` document.
    pub struct TasksDoc {
        "Tasks" => tasks: Objects<AgentTask>,
    }
}

/// Parse a `/v1/tasks` body: `{"Tasks": [...]}`, or the single task object that
/// `/v1/tasks?dockerid=` answers. Tasks that are not objects are skipped.
pub fn parse_tasks(body: &[u8]) -> Result<Vec<AgentTask>, ParseError> {
    let Obj(Some(doc)) = crate::parse::read::<Obj<TasksDoc>>(body)? else {
        return Err(ParseError::NotObject);
    };
    if let Some(tasks) = doc.tasks.0 {
        return Ok(tasks);
    }
    let Obj(Some(single)) = crate::parse::read::<Obj<AgentTask>>(body)? else { return Ok(Vec::new()) };
    Ok(if single.arn.get().is_some() { vec![single] } else { Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let m = |v: &str| Metadata { version: Str::new(v), ..Metadata::default() };
        assert_eq!(m("Amazon ECS Agent - v1.30.0 (02ff320c)").agent_version(), "1.30.0");
        assert_eq!(m("Amazon ECS Agent - v1.67.1 (*989593e9)").agent_version(), "1.67.1");
        assert_eq!(m("custom build").agent_version(), "custom build");
    }

    #[test]
    fn tasks_wrapped_or_single() {
        let t = parse_tasks(br#"{"Tasks": [{"Arn": "a", "Containers": [{"DockerId": "x", "Name": "n"}, 3]}, null]}"#)
            .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].containers.items().len(), 1);
        let one = parse_tasks(br#"{"Arn": "b", "Containers": []}"#).unwrap();
        assert_eq!(one[0].arn.get(), Some("b"));
        assert!(parse_tasks(br#"{}"#).unwrap().is_empty());
        assert!(parse_tasks(b"[]").is_err());
    }
}
