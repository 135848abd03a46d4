//! Wiring: build the exporter from a [`Config`], start the simulated endpoint for `--demo`, and
//! run the servers until SIGTERM or SIGINT.

use crate::config::{Config, HealthcheckArgs, SimulateArgs, UriSource};
use crate::config::{DockerHost, HostConfig, SourceChoice};
use crate::scrape::Exporter;
use crate::server::{self, ServerError, State};
use crate::simulate::{self, Endpoint, HostOpts, HostSim, Listener, Scenario};
use crate::source::docker::Engine;
use crate::source::http::{Deadline, HttpClient};
use crate::source::pipeline::{self, Pipeline};
use crate::source::sidecar::Sidecar;
use crate::source::{docker, ec2, managed, Kind, Source};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A start-up error: printed as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A listener could not be bound.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The web config is unusable.
    #[cfg(feature = "web-config")]
    #[error(transparent)]
    WebConfig(#[from] crate::webconfig::WebConfigError),
    /// A web config was given to a build without web config support.
    #[cfg(not(feature = "web-config"))]
    #[error("--web.config.file: this minimal build (--no-default-features) has no TLS or basic auth support; use the default build")]
    NoWebConfig,
    /// TLS cannot be set up from the web config.
    #[error("web config {path}: TLS: {reason}")]
    Tls {
        /// The web config file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A replay file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Run the exporter (sidecar or demo mode) until a termination signal.
pub async fn run_exporter(mut cfg: Config) -> Result<(), AppError> {
    raise_fd_limit();
    keep_heap();
    set_scheduler(cfg.scheduler);
    let web = web_config(&cfg)?;
    let listener = server::bind(&cfg.listen_address).await?;
    if cfg.uri_source == UriSource::Demo && cfg.host.is_none() {
        let sim = server::bind("127.0.0.1:0").await?;
        let addr =
            sim.local_addr().map_err(|cause| ServerError::Bind { addr: "127.0.0.1:0".into(), cause, hint: "" })?;
        let endpoint = Endpoint::new(simulate::Source::live(Scenario::Fargate));
        tokio::spawn(simulate::serve(sim, endpoint, std::future::pending()));
        cfg.metadata_uri = Some(format!("http://{addr}/v4/{}", "demo"));
    }
    let demo_host = match (&cfg.host, cfg.uri_source == UriSource::Demo) {
        (Some(_), true) => Some(start_demo_host(&mut cfg).await?),
        _ => None,
    };
    let uri = cfg.metadata_uri.clone().unwrap_or_default();
    let source = match &cfg.host {
        None => Source::Sidecar(Sidecar::new(
            HttpClient::tcp(uri.clone(), cfg.metadata_timeout, cfg.max_body_bytes, 4),
            cfg.filter.task_tags.is_some(),
        )),
        Some(h) => host_source(&cfg, h).await,
    };
    let exporter_upstream = source.describe();
    let mut exporter = Exporter::new(source, cfg.filter.clone(), cfg.metadata_timeout, cfg.cache_ttl);
    let push_stats = cfg.statsd.as_ref().map(|_| Arc::new(crate::encode::statsd::PushStats::default()));
    exporter.push_stats.clone_from(&push_stats);
    exporter.exporter_metrics = !cfg.disable_exporter_metrics;
    let mut state = State::new(exporter, cfg.telemetry_path.clone());
    state.demo = cfg.uri_source == UriSource::Demo;
    state.auth = web.auth;
    state.headers = web.headers;
    let tls = web.tls;
    let (scheme, auth_on) = (if tls.is_some() { "https" } else { "http" }, state.auth.is_some());
    let state = Arc::new(state);
    if let (Some(sc), Some(stats)) = (&cfg.statsd, push_stats) {
        let settings = crate::encode::statsd::Settings {
            flavor: sc.flavor,
            prefix: sc.prefix.clone(),
            tags: sc.tags.clone(),
            host_cpus: host_cpus(),
        };
        let push = crate::push::PushConfig {
            address: sc.address.clone(),
            interval: sc.interval,
            max_packet_bytes: sc.max_packet_bytes,
        };
        tracing::info!(statsd = %sc.address, format = ?sc.flavor, interval = ?sc.interval, "statsd push started");
        let encoder = crate::encode::statsd::Encoder::new(settings);
        tokio::spawn(crate::push::run(state.exporter.clone(), push, encoder, stats, std::future::pending()));
    }
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| cfg.listen_address.clone());
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        listen = %local,
        metrics_path = %cfg.telemetry_path,
        upstream = %exporter_upstream,
        mode = state.exporter.source().mode(),
        uri_from = ?cfg.uri_source,
        scheme,
        basic_auth = auth_on,
        "ecs-exporter started"
    );
    if cfg.uri_source == UriSource::Demo {
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(9779);
        let what = match &demo_host {
            Some(d) => {
                let o = d.sim.opts();
                format!("a simulated host ({} tasks of {} containers, with churn)", o.tasks, o.containers)
            }
            None => "a simulated Fargate task".to_owned(),
        };
        let url = format!("http://localhost:{port}{}", cfg.telemetry_path);
        tracing::info!(metrics = %url, "demo: serving {what}");
    }
    server::serve(
        listener,
        state,
        cfg.max_connections,
        tls,
        cfg.shutdown_timeout,
        server::HEADER_READ_TIMEOUT,
        shutdown_signal(),
    )
    .await;
    if let Some(d) = demo_host {
        let _ = std::fs::remove_file(&d.socket);
    }
    tracing::info!("stopped");
    Ok(())
}

/// The simulated host of `host --demo`, served in-process.
struct DemoHost {
    sim: Arc<HostSim>,
    socket: std::path::PathBuf,
}

/// Start the simulated host (agent and daemon paths on TCP, the Docker Engine on a unix socket)
/// and point the configuration at it.
async fn start_demo_host(cfg: &mut Config) -> Result<DemoHost, AppError> {
    let sim = Arc::new(HostSim::new(HostOpts::default()));
    let tcp = server::bind("127.0.0.1:0").await?;
    let addr = tcp.local_addr().map_err(|cause| ServerError::Bind { addr: "127.0.0.1:0".into(), cause, hint: "" })?;
    let socket = std::env::temp_dir().join(format!("ecs-exporter-demo-{}.sock", std::process::id()));
    let unix = bind_unix(&socket)?;
    tokio::spawn(simulate::serve_host(Listener::Tcp(tcp), sim.clone(), std::future::pending()));
    tokio::spawn(simulate::serve_host(unix, sim.clone(), std::future::pending()));
    cfg.metadata_uri = Some(format!("http://{addr}/v4/demo"));
    if let Some(h) = cfg.host.as_mut() {
        h.agent_uri = format!("http://{addr}");
        h.docker_host = DockerHost::Unix(socket.clone());
    }
    Ok(DemoHost { sim, socket })
}

/// Bind a unix socket for the simulated Docker Engine, replacing a stale socket file.
fn bind_unix(path: &std::path::Path) -> Result<Listener, AppError> {
    #[cfg(unix)]
    {
        let _ = std::fs::remove_file(path);
        let l = tokio::net::UnixListener::bind(path).map_err(|cause| ServerError::Bind {
            addr: format!("unix://{}", path.display()),
            cause,
            hint: "",
        })?;
        Ok(Listener::Unix(l))
    }
    #[cfg(not(unix))]
    {
        Err(ServerError::Bind {
            addr: format!("unix://{}", path.display()),
            cause: std::io::Error::new(std::io::ErrorKind::Unsupported, "unix sockets"),
            hint: "",
        }
        .into())
    }
}

/// The Docker Engine client of host mode.
fn engine(cfg: &Config, h: &HostConfig) -> Engine {
    let endpoint = match &h.docker_host {
        DockerHost::Unix(p) => pipeline::Endpoint::Unix(p.clone()),
        DockerHost::Tcp(u) => pipeline::Endpoint::Tcp(u.trim_start_matches("http://").to_owned()),
    };
    let client = Pipeline::new(endpoint, h.docker_timeout, cfg.max_body_bytes, h.docker_max_concurrency);
    Engine::new(client, h.docker_max_concurrency, h.docker_timeout)
}

/// Build host mode's source: the one `--source` names, or for `auto` the first that answers
/// of the agent (ec2), the metadata endpoint's `/tasks` (managed-daemon), else the Docker host.
async fn host_source(cfg: &Config, h: &HostConfig) -> Source {
    let agent = || HttpClient::tcp(h.agent_uri.clone(), cfg.metadata_timeout, cfg.max_body_bytes, 4);
    let metadata =
        || HttpClient::tcp(cfg.metadata_uri.clone().unwrap_or_default(), cfg.metadata_timeout, cfg.max_body_bytes, 4);
    let kind = match h.source {
        SourceChoice::Ec2 => Kind::Ec2,
        SourceChoice::ManagedDaemon => Kind::ManagedDaemon,
        SourceChoice::Docker => Kind::Docker,
        SourceChoice::Auto => {
            let probe = Duration::from_millis(1500);
            let agent_up = agent().get("/v1/metadata", &Deadline::new(Instant::now() + probe)).await;
            let daemon_up = match (&agent_up, &cfg.metadata_uri) {
                (Err(_), Some(_)) => {
                    Some(metadata().get("/tasks", &Deadline::new(Instant::now() + probe)).await.is_ok())
                }
                _ => None,
            };
            let kind = match (agent_up.is_ok(), daemon_up) {
                (true, _) => Kind::Ec2,
                (false, Some(true)) => Kind::ManagedDaemon,
                _ => Kind::Docker,
            };
            tracing::info!(
                source = ?kind,
                agent = %h.agent_uri,
                agent_answered = agent_up.is_ok(),
                daemon_tasks_answered = ?daemon_up,
                order = "ec2 (the agent answers /v1/metadata), managed-daemon (the metadata endpoint answers /tasks), docker",
                "source chosen"
            );
            kind
        }
    };
    match kind {
        Kind::Ec2 => Source::Ec2(Box::new(ec2::Ec2::new(agent(), engine(cfg, h)))),
        Kind::ManagedDaemon => Source::Managed(managed::Managed::new(metadata())),
        Kind::Docker => Source::Docker(Box::new(docker::DockerHost::new(engine(cfg, h)))),
    }
}

/// What the web config file sets up for the server.
#[derive(Debug, Default)]
struct Web {
    tls: Option<server::Tls>,
    auth: Option<Arc<server::BasicAuth>>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// Load `--web.config.file`, if given.
#[cfg(feature = "web-config")]
fn web_config(cfg: &Config) -> Result<Web, AppError> {
    let Some(path) = &cfg.web_config_file else { return Ok(Web::default()) };
    let w = crate::webconfig::WebConfig::load(path)?;
    let tls = match &w.tls {
        Some(t) => Some(tls_from(t, Some(path))?),
        None => None,
    };
    Ok(Web { tls, auth: w.auth.map(Arc::new), headers: w.headers })
}

/// Without web config support, a web config file is refused.
#[cfg(not(feature = "web-config"))]
fn web_config(cfg: &Config) -> Result<Web, AppError> {
    match cfg.web_config_file {
        Some(_) => Err(AppError::NoWebConfig),
        None => Ok(Web::default()),
    }
}

/// The server's TLS from the web config's settings.
#[cfg(feature = "tls")]
fn tls_from(t: &crate::webconfig::TlsSettings, path: Option<&std::path::Path>) -> Result<server::Tls, AppError> {
    let shown = path.map(|p| p.display().to_string()).unwrap_or_default();
    let cfg = crate::tls::server_config(t).map_err(|e| AppError::Tls { path: shown, reason: e.to_string() })?;
    Ok(server::Tls::new(cfg))
}

/// Without the `tls` feature a web config asking for TLS is refused.
#[cfg(all(feature = "web-config", not(feature = "tls")))]
fn tls_from(_: &crate::webconfig::TlsSettings, path: Option<&std::path::Path>) -> Result<server::Tls, AppError> {
    Err(AppError::Tls {
        path: path.map(|p| p.display().to_string()).unwrap_or_default(),
        reason: "this build has no TLS support; build with `--features tls`".into(),
    })
}

/// The host's online CPUs (the kernel's count, not this process's quota): what a container
/// without any CPU limit can use.
fn host_cpus() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf reads a system value and has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        if n > 0 {
            return n as f64;
        }
    }
    std::thread::available_parallelism().map(|n| n.get() as f64).unwrap_or(1.0)
}

/// Raise the soft open-files limit to the hard limit (at most 65536), as Go programs do, so the
/// connection bound, not the default soft limit of 1024, decides how many clients are served.
fn raise_fd_limit() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `lim` is a valid rlimit; setrlimit only reads it.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                let want = lim.rlim_max.min(65_536);
                if want > lim.rlim_cur {
                    lim.rlim_cur = want;
                    let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                }
            }
        }
    }
}

/// Keep the heap's free memory between reads (glibc): by default glibc hands the top of the heap
/// back to the kernel once 128 KB to 64 MB of it are free (the bound moves with the largest block
/// freed), so every read grew the heap again and faulted in each page anew (host mode at 500
/// containers: some 10 `brk` calls and 11% of its CPU in page faults, every read). A read's peak
/// is what the exporter's memory limit must allow for anyway; between reads that memory now stays
/// mapped for the next read instead of being handed back and faulted in again. Blocks of 32 MiB
/// and more are still mapped apart and returned when freed. musl's allocator has no such knob.
fn keep_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two of the allocator's parameters (under its own lock).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

/// Run under `policy` (`--runtime.scheduler`). Under `SCHED_BATCH` the exporter gets the same
/// fair share of CPU, but waking up (an answer from the endpoint, a scrape) never preempts the
/// task that is running: that task finishes its slice, and the exporter then finds several
/// answers ready instead of one. Measured with the exporter and its upstream on one CPU: 7% less
/// CPU per uncached scrape, 22% less per container in host mode, from fewer context switches.
/// Switching between `SCHED_OTHER` and `SCHED_BATCH` needs no privilege. It is set on the main
/// thread first thing; the current-thread runtime starts its blocking threads later, and they
/// inherit it. A refusal (a seccomp filter) is logged, and the exporter runs on as started.
fn set_scheduler(policy: crate::config::Scheduler) {
    #[cfg(target_os = "linux")]
    {
        let policy = match policy {
            crate::config::Scheduler::Batch => libc::SCHED_BATCH,
            crate::config::Scheduler::Normal => libc::SCHED_OTHER,
        };
        // The system call itself: musl's `sched_setscheduler` always fails (ENOSYS), by design.
        // The kernel reads one int, the priority (0 for both policies); musl's struct has more.
        // SAFETY: an all-zero sched_param is valid.
        let param: libc::sched_param = unsafe { std::mem::zeroed() };
        // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread.
        if unsafe { libc::syscall(libc::SYS_sched_setscheduler, 0, policy, &param as *const libc::sched_param) } != 0 {
            let cause = std::io::Error::last_os_error();
            tracing::info!(%cause, "cannot set the scheduling policy; running under the one started with");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = policy;
}

/// Run only the simulated endpoint until a termination signal.
pub async fn run_simulator(args: SimulateArgs) -> Result<(), AppError> {
    if args.scenario == Scenario::Host {
        return run_host_simulator(args).await;
    }
    let source = match (&args.task, &args.stats) {
        (Some(t), Some(s)) => {
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|source| AppError::Read { path: p.display().to_string(), source })
            };
            simulate::Source::Fixed { task: read(t)?.into(), stats: read(s)?.into() }
        }
        _ => simulate::Source::live(args.scenario),
    };
    let listener = server::bind(&args.listen).await?;
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or(args.listen.clone());
    tracing::info!(listen = %addr, "simulated task metadata endpoint started");
    // The base URI on its own line on stdout, for scripts and tests.
    println!("http://{addr}");
    let endpoint = Endpoint::new(source);
    endpoint.set_fault(simulate::Fault { kind: args.fault, delay: args.fault_delay, ..Default::default() });
    simulate::serve(listener, endpoint, shutdown_signal()).await;
    Ok(())
}

/// Serve the simulated host: agent and daemon paths (and the Engine API) on `--listen`, the
/// Engine API also on `--docker-socket` (bound before the base URI is printed).
async fn run_host_simulator(args: SimulateArgs) -> Result<(), AppError> {
    let sim = Arc::new(HostSim::new(HostOpts {
        tasks: args.tasks,
        containers: args.containers,
        churn: !args.no_churn,
        frozen: args.frozen,
        slow_stats: args.slow_stats,
    }));
    let listener = server::bind(&args.listen).await?;
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or(args.listen.clone());
    let unix = match &args.docker_socket {
        Some(p) => Some(bind_unix(p)?),
        None => None,
    };
    tracing::info!(listen = %addr, docker_socket = ?args.docker_socket, tasks = args.tasks, containers = args.containers, "simulated host started");
    // The base URI on stdout (the socket is where --docker-socket says), for scripts and tests.
    println!("http://{addr}");
    if let Some(u) = unix {
        tokio::spawn(simulate::serve_host(u, sim.clone(), std::future::pending()));
    }
    simulate::serve_host(Listener::Tcp(listener), sim, shutdown_signal()).await;
    if let Some(p) = &args.docker_socket {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// Why a health check failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The URL is not a plain http URL.
    #[error(transparent)]
    Uri(#[from] crate::config::ConfigError),
    /// No answer, or not 200.
    #[error("{url}: {cause}")]
    Unhealthy {
        /// The URL checked.
        url: String,
        /// What went wrong.
        cause: String,
    },
}

/// GET the health URL once; `Ok` when it answers 200 in time. For `https://` URLs the binary
/// carries no TLS client (it would cost 0.2 MiB on every task): the check sends a plain request
/// and is healthy when the exporter's TLS stack answers it with a TLS alert record, which proves
/// the process accepts and handshakes; it sends nothing secret.
pub async fn healthcheck(args: HealthcheckArgs) -> Result<(), HealthError> {
    let url = args.resolved_url();
    let unhealthy = |cause: String| HealthError::Unhealthy { url: url.clone(), cause };
    let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| unhealthy(e.to_string()))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(unhealthy("expected an http:// or https:// URL".into())),
    };
    let host = uri.host().unwrap_or("127.0.0.1").trim_matches(['[', ']']).to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    let check = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        if https {
            return tls_answers(tcp, &host, &path).await;
        }
        get_status(hyper_util::rt::TokioIo::new(tcp), &host, &path).await
    };
    match tokio::time::timeout(args.timeout, check).await {
        Err(_) => Err(unhealthy(format!("no answer within {:?}", args.timeout))),
        Ok(Err(e)) => Err(unhealthy(e)),
        Ok(Ok(200)) => Ok(()),
        Ok(Ok(status)) => Err(unhealthy(format!("HTTP status {status}"))),
    }
}

/// Send a plain HTTP request to a TLS port; "200" when a TLS record (an alert: the request is not
/// a ClientHello) comes back.
async fn tls_answers(mut tcp: tokio::net::TcpStream, host: &str, path: &str) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut head = [0u8; 5];
    tcp.read_exact(&mut head).await.map_err(|e| format!("no TLS answer: {e}"))?;
    // Content type 21 (alert) or 22 (handshake), protocol version 3.x.
    if matches!(head[0], 0x15 | 0x16) && head[1] == 3 {
        Ok(200)
    } else {
        Err(format!("not a TLS server (answered {:02x?})", &head))
    }
}

/// One GET over an established connection; the status code.
async fn get_status<I>(io: I, host: &str, path: &str) -> Result<u16, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, http_body_util::Empty<bytes::Bytes>>(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header(http::header::HOST, host)
        .body(http_body_util::Empty::new())
        .map_err(|e| e.to_string())?;
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    Ok(resp.status().as_u16())
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!(signal = "SIGTERM", "received signal"),
                    _ = int.recv() => tracing::info!(signal = "SIGINT", "received signal"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
