//! The command line: every flag with its environment variable (`ECS_EXPORTER_<FLAG>`, flag
//! wins), validation, and the one immutable [`Config`] the rest of the program reads. Bad input
//! is a one-line error and exit code 2.

use crate::collect::{Allow, Filter};
use clap::{Parser, Subcommand, ValueEnum};
use regex_lite::Regex;
use std::time::Duration;

/// Version line: version, git revision, rustc version.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("ECS_EXPORTER_GIT_REVISION"),
    ", ",
    env!("ECS_EXPORTER_RUSTC_VERSION"),
    ")"
);

/// The git revision the binary was built from (`unknown` outside a checkout).
pub const REVISION: &str = env!("ECS_EXPORTER_GIT_REVISION");

/// Prometheus exporter for Amazon ECS: reads the task metadata endpoint (sidecar) or every task of
/// a host (`host`), and serves /metrics.
#[derive(Debug, Parser)]
#[command(name = "ecs-exporter", version = LONG_VERSION, about, disable_help_subcommand = true)]
pub struct Cli {
    /// Run a subcommand instead of the sidecar exporter.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The flags every mode shares.
    #[command(flatten)]
    pub common: CommonArgs,

    /// Serve metrics of a built-in simulated task (no AWS needed).
    #[arg(long, env = "ECS_EXPORTER_DEMO")]
    pub demo: bool,

    /// Log level.
    #[arg(
        long = "log.level",
        env = "ECS_EXPORTER_LOG_LEVEL",
        default_value = "info",
        global = true,
        value_name = "LEVEL",
        help_heading = "Logging"
    )]
    pub log_level: LogLevel,

    /// Log format.
    #[arg(
        long = "log.format",
        env = "ECS_EXPORTER_LOG_FORMAT",
        default_value = "logfmt",
        global = true,
        value_name = "FORMAT",
        help_heading = "Logging"
    )]
    pub log_format: LogFormat,
}

/// The flags of the sidecar and of host mode alike.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Web server flags.
    #[command(flatten)]
    pub web: WebArgs,

    /// Upstream flags.
    #[command(flatten)]
    pub metadata: MetadataArgs,

    /// Container selection flags.
    #[command(flatten)]
    pub containers: ContainerArgs,

    /// StatsD push flags.
    #[command(flatten)]
    pub statsd: StatsdArgs,

    /// Scheduling policy (Linux): batch never preempts the running task when the exporter wakes (the workload, or the endpoint answering it); normal is the default policy of other processes.
    #[arg(
        long = "runtime.scheduler",
        env = "ECS_EXPORTER_RUNTIME_SCHEDULER",
        default_value = "batch",
        value_name = "POLICY",
        help_heading = "Runtime"
    )]
    pub scheduler: Scheduler,
}

/// The web server's flags, the same in every mode.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Web")]
pub struct WebArgs {
    /// Address to serve on (`:PORT` means every interface).
    #[arg(
        long = "web.listen-address",
        env = "ECS_EXPORTER_WEB_LISTEN_ADDRESS",
        default_value = ":9779",
        value_name = "ADDR"
    )]
    pub listen_address: String,

    /// Path under which metrics are served.
    #[arg(long = "web.telemetry-path", env = "ECS_EXPORTER_WEB_TELEMETRY_PATH", default_value = "/metrics", value_parser = parse_path, value_name = "PATH")]
    pub telemetry_path: String,

    /// TLS and basic authentication settings, in the Prometheus exporter-toolkit web config format.
    #[arg(long = "web.config.file", env = "ECS_EXPORTER_WEB_CONFIG_FILE", value_name = "FILE")]
    pub web_config_file: Option<std::path::PathBuf>,

    /// Most connections served at once; further connections are closed at once.
    #[arg(long = "web.max-connections", env = "ECS_EXPORTER_WEB_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65535), value_name = "N")]
    pub max_connections: u32,

    /// Leave out the exporter's own metrics (process_* and ecs_exporter_* but ecs_exporter_up), as node_exporter's flag does.
    #[arg(long = "web.disable-exporter-metrics", env = "ECS_EXPORTER_WEB_DISABLE_EXPORTER_METRICS")]
    pub disable_exporter_metrics: bool,

    /// At shutdown, how long requests in flight may take to finish (connections without one close at once).
    #[arg(long = "web.shutdown-timeout", env = "ECS_EXPORTER_WEB_SHUTDOWN_TIMEOUT", default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_timeout: Duration,
}

/// The upstream's flags: the task metadata endpoint, timeouts and reuse.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Metadata")]
pub struct MetadataArgs {
    /// Task metadata base URI [default: $ECS_CONTAINER_METADATA_URI_V4, else $ECS_CONTAINER_METADATA_URI].
    #[arg(long = "metadata.uri", env = "ECS_EXPORTER_METADATA_URI", value_name = "URI")]
    pub metadata_uri: Option<String>,

    /// Upper bound for one upstream read (never longer than the scrape timeout Prometheus announces).
    #[arg(long = "metadata.timeout", env = "ECS_EXPORTER_METADATA_TIMEOUT", default_value = "5s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub metadata_timeout: Duration,

    /// How long one upstream read is reused by later scrapes (0s disables reuse).
    #[arg(long = "metadata.cache-ttl", env = "ECS_EXPORTER_METADATA_CACHE_TTL", default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub cache_ttl: Duration,

    /// Read /taskWithTags and export these task tags as ecs_task_tags{tag_<key>}: KEY,... or * for all (the task role needs ecs:ListTagsForResource).
    #[arg(long = "metadata.task-tags", env = "ECS_EXPORTER_METADATA_TASK_TAGS", value_name = "KEY,...|*")]
    pub task_tags: Option<String>,

    /// Largest upstream response body accepted, in bytes.
    #[arg(long = "metadata.max-body-bytes", env = "ECS_EXPORTER_METADATA_MAX_BODY_BYTES", default_value_t = 8 << 20, value_parser = clap::value_parser!(u64).range(1024..), value_name = "BYTES")]
    pub max_body_bytes: u64,
}

/// Which containers are exported.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Containers")]
pub struct ContainerArgs {
    /// Export only containers whose name matches this regular expression.
    #[arg(long = "container.include", env = "ECS_EXPORTER_CONTAINER_INCLUDE", value_parser = parse_regex, value_name = "REGEX")]
    pub container_include: Option<Regex>,

    /// Leave out containers whose name matches this regular expression (wins over include).
    #[arg(long = "container.exclude", env = "ECS_EXPORTER_CONTAINER_EXCLUDE", value_parser = parse_regex, value_name = "REGEX")]
    pub container_exclude: Option<Regex>,

    /// Also export containers whose Type is not NORMAL (the ~internal~ecs~pause container).
    #[arg(long = "container.include-internal", env = "ECS_EXPORTER_CONTAINER_INCLUDE_INTERNAL")]
    pub container_include_internal: bool,

    /// Export these Docker labels of each container as ecs_container_labels{label_<key>}: KEY,... or * for all.
    #[arg(long = "container.labels", env = "ECS_EXPORTER_CONTAINER_LABELS", value_name = "KEY,...|*")]
    pub container_labels: Option<String>,

    /// Export each container's CPU time per host CPU (cgroup v1 percpu_usage; absent on v2).
    #[arg(long = "container.per-cpu", env = "ECS_EXPORTER_CONTAINER_PER_CPU")]
    pub container_per_cpu: bool,
}

impl ContainerArgs {
    /// The container filter. `ecs-container-exporter`'s `INCLUDE` and `EXCLUDE` (comma-separated
    /// exact names) apply where the flags and `ECS_EXPORTER_CONTAINER_*` are not set.
    pub fn filter(&self) -> Filter {
        Filter {
            include: self.container_include.clone().or_else(|| names_regex("INCLUDE")),
            exclude: self.container_exclude.clone().or_else(|| names_regex("EXCLUDE")),
            include_internal: self.container_include_internal,
            container_labels: self.container_labels.as_deref().filter(|v| !v.trim().is_empty()).map(Allow::parse),
            per_cpu: self.container_per_cpu,
            task_tags: None,
        }
    }
}

/// A regex matching exactly the comma-separated names of environment variable `var`.
fn names_regex(var: &str) -> Option<Regex> {
    let v = env_nonempty(var)?;
    let names: Vec<String> = v.split(',').map(str::trim).filter(|n| !n.is_empty()).map(regex_lite::escape).collect();
    if names.is_empty() {
        return None;
    }
    Regex::new(&format!("^(?:{})$", names.join("|"))).ok()
}

/// The StatsD push, in every mode.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "StatsD")]
pub struct StatsdArgs {
    /// Push to this StatsD/DogStatsD server (HOST:PORT, UDP) every --statsd.interval, alongside /metrics [compatibility: USE_STATSD with STATSD_HOST and STATSD_PORT].
    #[arg(long = "statsd.address", env = "ECS_EXPORTER_STATSD_ADDRESS", value_parser = parse_host_port, value_name = "HOST:PORT")]
    pub statsd_address: Option<String>,

    /// Time between pushes.
    #[arg(long = "statsd.interval", env = "ECS_EXPORTER_STATSD_INTERVAL", default_value = "10s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub statsd_interval: Duration,

    /// Line format: dogstatsd (identity as tags) or statsd (identity in the metric path).
    #[arg(
        long = "statsd.format",
        env = "ECS_EXPORTER_STATSD_FORMAT",
        default_value = "dogstatsd",
        value_name = "FORMAT"
    )]
    pub statsd_format: crate::encode::statsd::Flavor,

    /// Prefix of every metric name.
    #[arg(long = "statsd.prefix", env = "ECS_EXPORTER_STATSD_PREFIX", default_value = "ecs.", value_name = "PREFIX")]
    pub statsd_prefix: String,

    /// Tags added to every line (DogStatsD), comma-separated: env:prod,team:payments.
    #[arg(long = "statsd.tags", env = "ECS_EXPORTER_STATSD_TAGS", value_parser = parse_tags, value_name = "K:V,...")]
    pub statsd_tags: Option<Vec<String>>,

    /// Largest UDP datagram payload; lines are never split.
    #[arg(long = "statsd.max-packet-bytes", env = "ECS_EXPORTER_STATSD_MAX_PACKET_BYTES", default_value_t = 1432, value_parser = clap::value_parser!(u32).range(64..=65507), value_name = "BYTES")]
    pub statsd_max_packet_bytes: u32,
}

/// The StatsD push's settings.
#[derive(Debug, Clone)]
pub struct StatsdConfig {
    /// `HOST:PORT`.
    pub address: String,
    /// Time between pushes.
    pub interval: Duration,
    /// Line format.
    pub flavor: crate::encode::statsd::Flavor,
    /// Name prefix.
    pub prefix: String,
    /// Constant tags.
    pub tags: Vec<String>,
    /// Largest datagram.
    pub max_packet_bytes: usize,
}

impl StatsdArgs {
    /// The push's settings, `None` when it is off. `ecs-container-exporter`'s `USE_STATSD`
    /// (with `STATSD_HOST`, default localhost, and `STATSD_PORT`, default 8125) turns it on when
    /// `--statsd.address` is not given.
    pub fn config(&self) -> Result<Option<StatsdConfig>, ConfigError> {
        let address = match &self.statsd_address {
            Some(a) => a.clone(),
            None => {
                let on = env_nonempty("USE_STATSD")
                    .is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "no"));
                if !on {
                    return Ok(None);
                }
                let host = env_nonempty("STATSD_HOST").unwrap_or_else(|| "localhost".into());
                let port = env_nonempty("STATSD_PORT").unwrap_or_else(|| "8125".into());
                parse_host_port(&format!("{}:{}", host.trim(), port.trim()))
                    .map_err(|reason| ConfigError::Env { var: "STATSD_HOST/STATSD_PORT", reason })?
            }
        };
        Ok(Some(StatsdConfig {
            address,
            interval: self.statsd_interval,
            flavor: self.statsd_format,
            prefix: self.statsd_prefix.clone(),
            tags: self.statsd_tags.clone().unwrap_or_default(),
            max_packet_bytes: self.statsd_max_packet_bytes as usize,
        }))
    }
}

fn parse_host_port(s: &str) -> Result<String, String> {
    let ok = s.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?}: expected HOST:PORT, for example localhost:8125"))
    }
}

fn parse_tags(s: &str) -> Result<Vec<String>, String> {
    let tags: Vec<String> = s.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
    match tags.iter().find(|t| t.contains(['|', '#', '@', ' ']) || t.starts_with(':')) {
        Some(bad) => Err(format!("{bad:?}: a tag is key:value without | # @ or spaces")),
        None => Ok(tags),
    }
}

/// `ecs-exporter host` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {
    /// The flags every mode shares (`--metadata.uri` is read by the `managed-daemon` source).
    #[command(flatten)]
    pub common: CommonArgs,

    /// Where the tasks come from: auto (the agent if it answers, else a Managed Instances
    /// daemon's /tasks if the metadata endpoint has it, else the Docker host), ec2, managed-daemon or docker.
    #[arg(long, env = "ECS_EXPORTER_SOURCE", default_value = "auto", value_name = "SOURCE", help_heading = "Host")]
    pub source: SourceChoice,

    /// The ECS agent's introspection API.
    #[arg(
        long = "agent.uri",
        env = "ECS_EXPORTER_AGENT_URI",
        default_value = "http://localhost:51678",
        value_name = "URI",
        help_heading = "Host"
    )]
    pub agent_uri: String,

    /// The Docker Engine API: unix:///PATH or tcp://HOST:PORT.
    #[arg(long = "docker.host", env = "ECS_EXPORTER_DOCKER_HOST", default_value = "unix:///var/run/docker.sock", value_parser = parse_docker_host, value_name = "URI", help_heading = "Host")]
    pub docker_host: DockerHost,

    /// Most Docker Engine connections, so calls at once; each pipelines its share (stats are sampled in one-second rounds: concurrent calls share one).
    #[arg(long = "docker.max-concurrency", env = "ECS_EXPORTER_DOCKER_MAX_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024), value_name = "N", help_heading = "Host")]
    pub docker_max_concurrency: u32,

    /// Upper bound for one Docker Engine call.
    #[arg(long = "docker.timeout", env = "ECS_EXPORTER_DOCKER_TIMEOUT", default_value = "3s", value_parser = parse_positive_duration, value_name = "DURATION", help_heading = "Host")]
    pub docker_timeout: Duration,

    /// Serve metrics of a built-in simulated host: an agent and a Docker Engine with several tasks (no AWS needed).
    #[arg(long, env = "ECS_EXPORTER_DEMO", help_heading = "Host")]
    pub demo: bool,
}

/// `--source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceChoice {
    /// Detect at start: ec2, else managed-daemon, else docker.
    Auto,
    /// The agent introspection API and the Docker Engine.
    Ec2,
    /// A Managed Instances daemon task's /tasks and /tasks/stats (experimental).
    ManagedDaemon,
    /// Every container of the Docker host.
    Docker,
}

/// Where the Docker Engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// A unix socket.
    Unix(std::path::PathBuf),
    /// `http://HOST:PORT`.
    Tcp(String),
}

impl std::fmt::Display for DockerHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DockerHost::Unix(p) => write!(f, "unix://{}", p.display()),
            DockerHost::Tcp(u) => write!(f, "tcp://{}", u.trim_start_matches("http://")),
        }
    }
}

fn parse_docker_host(s: &str) -> Result<DockerHost, String> {
    if let Some(p) = s.strip_prefix("unix://") {
        if !p.starts_with('/') {
            return Err(format!("{s:?}: the socket path must be absolute (unix:///var/run/docker.sock)"));
        }
        return Ok(DockerHost::Unix(p.into()));
    }
    if let Some(hp) = s.strip_prefix("tcp://").or_else(|| s.strip_prefix("http://")) {
        let hp = hp.trim_end_matches('/');
        let ok = hp.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !ok {
            return Err(format!("{s:?}: expected tcp://HOST:PORT"));
        }
        return Ok(DockerHost::Tcp(format!("http://{hp}")));
    }
    Err(format!("{s:?}: expected unix:///PATH or tcp://HOST:PORT (TLS to the Docker Engine is not supported)"))
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One exporter per host: every task and container on it (EC2 agent and Docker, a Managed
    /// Instances daemon, or a plain Docker host).
    Host(Box<HostArgs>),
    /// Serve only the simulated task metadata endpoint (for development and tests).
    Simulate(SimulateArgs),
    /// Check a running exporter's /health (for container health checks: the image has no curl);
    /// exit 0 when it answers 200, else 1.
    Healthcheck(HealthcheckArgs),
}

/// `ecs-exporter healthcheck` flags.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// URL to check [default: /health on the port of $ECS_EXPORTER_WEB_LISTEN_ADDRESS, else
    /// http://127.0.0.1:9779/health].
    #[arg(long, env = "ECS_EXPORTER_HEALTHCHECK_URL", value_name = "URL")]
    pub url: Option<String>,
    /// How long to wait for the answer.
    #[arg(long, default_value = "3s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

/// `ecs-exporter simulate` flags.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Address to serve the simulated endpoint on.
    #[arg(long, default_value = "127.0.0.1:51679", value_name = "ADDR")]
    pub listen: String,
    /// Which simulated task to serve.
    #[arg(long, default_value = "fargate", value_name = "NAME")]
    pub scenario: crate::simulate::Scenario,
    /// Serve this `/task` body instead of a scenario (with --stats).
    #[arg(long, requires = "stats", value_name = "FILE")]
    pub task: Option<std::path::PathBuf>,
    /// Serve this `/task/stats` body instead of a scenario (with --task).
    #[arg(long, requires = "task", value_name = "FILE")]
    pub stats: Option<std::path::PathBuf>,
    /// Start with this fault injected (change it at run time with GET /_sim/fault?mode=...).
    #[arg(long, default_value = "none", value_name = "MODE")]
    pub fault: crate::simulate::FaultKind,
    /// Delay of the `slow` fault.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub fault_delay: Duration,
    /// Host scenario: the Docker Engine API's unix socket (also served on --listen).
    #[arg(long, value_name = "PATH")]
    pub docker_socket: Option<std::path::PathBuf>,
    /// Host scenario: running tasks.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub tasks: usize,
    /// Host scenario: containers per task.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub containers: usize,
    /// Host scenario: no churn (no vanishing, stopping, stopped or pending containers).
    #[arg(long)]
    pub no_churn: bool,
    /// Host scenario: the same bodies on every request (for golden tests).
    #[arg(long)]
    pub frozen: bool,
    /// Host scenario: delay one container's stats by this much (the first of the last task).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub slow_stats: Option<Duration>,
}

/// `--runtime.scheduler`: the Linux scheduling policy the exporter runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scheduler {
    /// `SCHED_BATCH`: the same fair share of CPU, but a wake-up never preempts the running task.
    Batch,
    /// `SCHED_OTHER`, as started.
    Normal,
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including raw upstream bodies.
    Debug,
    /// Start-up and notable events.
    Info,
    /// Upstream failures and other problems.
    Warn,
    /// Only errors.
    Error,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `ts=... level=... msg="..." key=value`.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Where the metadata URI came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriSource {
    /// `--metadata.uri` or `ECS_EXPORTER_METADATA_URI`.
    Flag,
    /// `ECS_CONTAINER_METADATA_URI_V4`.
    V4,
    /// `ECS_CONTAINER_METADATA_URI` (v3).
    V3,
    /// The in-process simulated task of `--demo`.
    Demo,
}

/// The exporter's validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to serve on.
    pub listen_address: String,
    /// Metrics path.
    pub telemetry_path: String,
    /// Connection bound.
    pub max_connections: usize,
    /// How long in-flight requests may take at shutdown.
    pub shutdown_timeout: Duration,
    /// Leave out the exporter's own metrics but `ecs_exporter_up`.
    pub disable_exporter_metrics: bool,
    /// The web config file (TLS, basic auth), if any.
    pub web_config_file: Option<std::path::PathBuf>,
    /// TMDS base URI without a trailing slash; `None` in demo mode until the simulator starts.
    pub metadata_uri: Option<String>,
    /// Where the URI came from.
    pub uri_source: UriSource,
    /// Upstream timeout.
    pub metadata_timeout: Duration,
    /// Result reuse period.
    pub cache_ttl: Duration,
    /// Body size cap.
    pub max_body_bytes: u64,
    /// Container filter.
    pub filter: Filter,
    /// Host mode (`ecs-exporter host`), with its settings; `None` for a sidecar.
    pub host: Option<HostConfig>,
    /// The StatsD push, when on.
    pub statsd: Option<StatsdConfig>,
    /// The scheduling policy to run under.
    pub scheduler: Scheduler,
}

/// The settings of host mode.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// `--source`.
    pub source: SourceChoice,
    /// The agent's introspection API, without a trailing slash.
    pub agent_uri: String,
    /// The Docker Engine.
    pub docker_host: DockerHost,
    /// Most Docker calls at once.
    pub docker_max_concurrency: usize,
    /// Upper bound for one Docker call.
    pub docker_timeout: Duration,
}

/// A configuration error: printed as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A compatibility environment variable has a bad value.
    #[error("{var}: {reason}")]
    Env {
        /// The variable(s).
        var: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No metadata URI anywhere.
    #[error("no task metadata endpoint: ECS_CONTAINER_METADATA_URI_V4 is not set (ECS sets it in every task); pass --metadata.uri, or try --demo")]
    MissingUri,
    /// A URI that is not `http://host[:port][/path]`.
    #[error("invalid metadata URI {uri:?} (from {from}): {reason}")]
    InvalidUri {
        /// The value.
        uri: String,
        /// Its source.
        from: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Look up an environment variable, treating empty as unset.
fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The metadata URI from `--metadata.uri` or the environment, and where it came from.
fn metadata_uri(flag: Option<String>) -> Result<Option<(String, UriSource)>, ConfigError> {
    if let Some(u) = flag {
        if u.trim().is_empty() {
            let from = if std::env::args().any(|a| a.starts_with("--metadata.uri")) {
                "--metadata.uri"
            } else {
                "ECS_EXPORTER_METADATA_URI"
            };
            return Err(ConfigError::InvalidUri {
                uri: u,
                from,
                reason:
                    "empty; give the endpoint's http:// URI, or leave it unset to use ECS_CONTAINER_METADATA_URI_V4"
                        .into(),
            });
        }
        return Ok(Some((validate_uri(&u, "--metadata.uri")?, UriSource::Flag)));
    }
    if let Some(u) = env_nonempty("ECS_CONTAINER_METADATA_URI_V4") {
        return Ok(Some((validate_uri(&u, "ECS_CONTAINER_METADATA_URI_V4")?, UriSource::V4)));
    }
    if let Some(u) = env_nonempty("ECS_CONTAINER_METADATA_URI") {
        return Ok(Some((validate_uri(&u, "ECS_CONTAINER_METADATA_URI")?, UriSource::V3)));
    }
    Ok(None)
}

/// The settings every mode shares.
fn base(common: CommonArgs, uri: Option<(String, UriSource)>) -> Result<Config, ConfigError> {
    let CommonArgs { web, metadata, containers, statsd, scheduler } = common;
    let (metadata_uri, uri_source) = match uri {
        Some((u, s)) => (Some(u), s),
        None => (None, UriSource::Demo),
    };
    Ok(Config {
        listen_address: web.listen_address,
        telemetry_path: web.telemetry_path,
        max_connections: web.max_connections as usize,
        shutdown_timeout: web.shutdown_timeout,
        disable_exporter_metrics: web.disable_exporter_metrics,
        web_config_file: web.web_config_file.filter(|p| !p.as_os_str().is_empty()),
        metadata_uri,
        uri_source,
        metadata_timeout: metadata.metadata_timeout,
        cache_ttl: metadata.cache_ttl,
        max_body_bytes: metadata.max_body_bytes,
        filter: Filter {
            task_tags: metadata.task_tags.as_deref().filter(|v| !v.trim().is_empty()).map(Allow::parse),
            ..containers.filter()
        },
        host: None,
        statsd: statsd.config()?,
        scheduler,
    })
}

impl Cli {
    /// Turn the parsed flags into the sidecar's [`Config`], resolving the metadata URI.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let uri = if self.demo {
            None
        } else {
            Some(metadata_uri(self.common.metadata.metadata_uri.clone())?.ok_or(ConfigError::MissingUri)?)
        };
        base(self.common, uri)
    }
}

impl HostArgs {
    /// Turn the parsed flags into host mode's [`Config`]. The metadata URI is optional here:
    /// only the `managed-daemon` source needs it.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let uri = if self.demo { None } else { metadata_uri(self.common.metadata.metadata_uri.clone())? };
        if uri.is_none() && self.source == SourceChoice::ManagedDaemon && !self.demo {
            return Err(ConfigError::MissingUri);
        }
        let agent_uri = validate_uri(&self.agent_uri, "--agent.uri")?;
        let mut cfg = base(self.common, uri)?;
        if !self.demo && cfg.metadata_uri.is_none() {
            cfg.uri_source = UriSource::Flag;
        }
        cfg.host = Some(HostConfig {
            source: self.source,
            agent_uri,
            docker_host: self.docker_host,
            docker_max_concurrency: self.docker_max_concurrency as usize,
            docker_timeout: self.docker_timeout,
        });
        Ok(cfg)
    }
}

impl HealthcheckArgs {
    /// The URL to check: `--url`; else `/health` where the exporter really listens: the
    /// `--web.listen-address` on the command line of PID 1 when that is the exporter (as in its
    /// container, where the health check runs beside it), else `ECS_EXPORTER_WEB_LISTEN_ADDRESS`,
    /// else port 9779 (wildcard hosts meaning loopback); `https://` when the web config turns
    /// TLS on.
    pub fn resolved_url(&self) -> String {
        if let Some(u) = self.url.as_ref().filter(|u| !u.trim().is_empty()) {
            return u.clone();
        }
        let pid1: Vec<String> = std::fs::read("/proc/1/cmdline")
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        health_url_from(
            &pid1,
            env_nonempty("ECS_EXPORTER_WEB_LISTEN_ADDRESS").as_deref(),
            env_nonempty("ECS_EXPORTER_WEB_CONFIG_FILE").as_deref(),
            |p| std::fs::read_to_string(p).ok(),
        )
    }
}

/// The health URL of an exporter started with `args` (its whole command line, or nothing when
/// it is not the exporter), the environment's listen address and web config file; `read`
/// reads the web config.
pub fn health_url_from(
    args: &[String],
    env_listen: Option<&str>,
    env_web_config: Option<&str>,
    read: impl Fn(&std::path::Path) -> Option<String>,
) -> String {
    let is_exporter = args.first().is_some_and(|a| a.rsplit('/').next() == Some("ecs-exporter"));
    let flag = |name: &str| -> Option<String> {
        if !is_exporter {
            return None;
        }
        let mut it = args.iter().skip(1);
        let mut found = None;
        while let Some(a) = it.next() {
            if a == name {
                found = it.next().cloned();
            } else if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                found = Some(v.to_owned());
            }
        }
        found
    };
    let listen = flag("--web.listen-address").or(env_listen.map(str::to_owned)).unwrap_or_else(|| ":9779".into());
    let web_config = flag("--web.config.file").or(env_web_config.map(str::to_owned)).filter(|p| !p.is_empty());
    let tls = web_config
        .and_then(|p| read(std::path::Path::new(&p)))
        .is_some_and(|c| c.lines().any(|l| l.trim_start().starts_with("tls_server_config:") && !l.starts_with(' ')));
    let url = health_url_for(&listen);
    if tls {
        url.replacen("http://", "https://", 1)
    } else {
        url
    }
}

/// The `http://` health URL of a listen address.
pub fn health_url_for(listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').unwrap_or(("", listen));
    let host = match host {
        "" | "0.0.0.0" | "[::]" | "::" => "127.0.0.1",
        h => h,
    };
    format!("http://{host}:{port}/health")
}

/// Check that `uri` is a plain `http://` URI with a host, and drop any trailing slash.
pub fn validate_uri(uri: &str, from: &'static str) -> Result<String, ConfigError> {
    let bad = |reason: &str| ConfigError::InvalidUri { uri: uri.to_owned(), from, reason: reason.to_owned() };
    let trimmed = uri.trim().trim_end_matches('/');
    let parsed: http::Uri = trimmed.parse().map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
    match parsed.scheme_str() {
        Some("http") => {}
        Some(s) => return Err(bad(&format!("scheme {s:?} is not supported, the endpoint speaks plain http"))),
        None => return Err(bad("expected http://host[:port]/path")),
    }
    if parsed.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if parsed.query().is_some() {
        return Err(bad("a query string is not allowed"));
    }
    Ok(trimmed.to_owned())
}

/// Parse a Prometheus-style duration: `500ms`, `5s`, `1m30s`, `2h`; `0` alone is zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let err = || format!("{s:?} is not a duration (examples: 500ms, 5s, 1m30s)");
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(err()),
        };
        let add = n.checked_mul(ms).ok_or_else(err)?;
        total = total.checked_add(Duration::from_millis(add)).ok_or_else(err)?;
    }
    Ok(total)
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("{s:?} must be greater than zero"));
    }
    Ok(d)
}

fn parse_regex(s: &str) -> Result<Regex, String> {
    Regex::new(s).map_err(|e| e.to_string().lines().next().unwrap_or("invalid regular expression").to_owned())
}

fn parse_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') || s.contains(char::is_whitespace) {
        return Err(format!("{s:?} must start with / and contain no spaces"));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "s", "5x", "-1s", "1.5s", "99999999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn health_urls() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let none = |_: &std::path::Path| None;
        // PID 1 is the exporter, started with another port: that port.
        assert_eq!(
            health_url_from(&v(&["/ecs-exporter", "--web.listen-address", ":9100"]), None, None, none),
            "http://127.0.0.1:9100/health"
        );
        assert_eq!(
            health_url_from(
                &v(&["/ecs-exporter", "host", "--web.listen-address=10.0.0.5:9000"]),
                Some(":1"),
                None,
                none
            ),
            "http://10.0.0.5:9000/health"
        );
        // The flag wins over the variable; without the flag the variable; else 9779.
        assert_eq!(
            health_url_from(&v(&["/ecs-exporter", "--demo"]), Some(":8080"), None, none),
            "http://127.0.0.1:8080/health"
        );
        assert_eq!(
            health_url_from(&v(&["/bin/sh", "--web.listen-address", ":1"]), None, None, none),
            "http://127.0.0.1:9779/health"
        );
        // A web config with TLS: https.
        let tls = |_: &std::path::Path| Some("tls_server_config:\n  cert_file: a\n".to_owned());
        assert_eq!(
            health_url_from(&v(&["/ecs-exporter", "--web.config.file", "/w.yml"]), None, None, tls),
            "https://127.0.0.1:9779/health"
        );
        let auth = |_: &std::path::Path| Some("basic_auth_users:\n  u: x\n".to_owned());
        assert_eq!(health_url_from(&v(&["/ecs-exporter"]), None, Some("/w.yml"), auth), "http://127.0.0.1:9779/health");
        assert_eq!(health_url_for(":9779"), "http://127.0.0.1:9779/health");
        assert_eq!(health_url_for("0.0.0.0:8080"), "http://127.0.0.1:8080/health");
        assert_eq!(health_url_for("[::]:8080"), "http://127.0.0.1:8080/health");
        assert_eq!(health_url_for("10.0.0.5:9000"), "http://10.0.0.5:9000/health");
    }

    #[test]
    fn uris() {
        assert_eq!(validate_uri("http://169.254.170.2/v4/abc-1/", "t").unwrap(), "http://169.254.170.2/v4/abc-1");
        for bad in ["", "169.254.170.2/v4", "https://x/v4", "http:///v4", "not a uri", "http://x/v4?a=1"] {
            assert!(validate_uri(bad, "t").is_err(), "{bad}");
        }
    }
}
