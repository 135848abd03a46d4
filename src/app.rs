//! Wiring: build the exporter from a [`Config`], start the simulated endpoint for `--demo`, and
//! run the servers until SIGTERM or SIGINT.

use crate::config::{Config, HealthcheckArgs, SimulateArgs, UriSource};
use crate::scrape::Exporter;
use crate::server::{self, ServerError, State};
use crate::simulate::{self, Endpoint, Scenario, Source};
use crate::tmds::client::MetadataClient;
use std::sync::Arc;

/// A start-up error: printed as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A listener could not be bound.
    #[error(transparent)]
    Server(#[from] ServerError),
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
    let listener = server::bind(&cfg.listen_address).await?;
    if cfg.uri_source == UriSource::Demo {
        let sim = server::bind("127.0.0.1:0").await?;
        let addr = sim.local_addr().map_err(|source| ServerError::Bind { addr: "127.0.0.1:0".into(), source })?;
        let endpoint = Endpoint::new(Source::live(Scenario::Fargate));
        tokio::spawn(simulate::serve(sim, endpoint, std::future::pending()));
        cfg.metadata_uri = Some(format!("http://{addr}/v4/{}", "demo"));
    }
    let uri = cfg.metadata_uri.clone().unwrap_or_default();
    let client = MetadataClient::new(uri.clone(), cfg.metadata_timeout, cfg.max_body_bytes);
    let exporter = Exporter::new(client, cfg.filter.clone(), cfg.metadata_timeout, cfg.cache_ttl);
    let state = Arc::new(State::new(exporter, cfg.telemetry_path.clone()));
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| cfg.listen_address.clone());
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        listen = %local,
        metrics_path = %cfg.telemetry_path,
        metadata_uri = %uri,
        source = ?cfg.uri_source,
        "ecs-exporter started"
    );
    if cfg.uri_source == UriSource::Demo {
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(9779);
        eprintln!("demo: serving a simulated Fargate task; metrics at http://localhost:{port}{}", cfg.telemetry_path);
    }
    server::serve(listener, state, cfg.max_connections, shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
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

/// Run only the simulated endpoint until a termination signal.
pub async fn run_simulator(args: SimulateArgs) -> Result<(), AppError> {
    let source = match (&args.task, &args.stats) {
        (Some(t), Some(s)) => {
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|source| AppError::Read { path: p.display().to_string(), source })
            };
            Source::Fixed { task: read(t)?.into(), stats: read(s)?.into() }
        }
        _ => Source::live(args.scenario),
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

/// GET the health URL once; `Ok` when it answers 200 in time.
pub async fn healthcheck(args: HealthcheckArgs) -> Result<(), HealthError> {
    let url = crate::config::validate_uri(&args.resolved_url(), "--url")?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let unhealthy = |cause: String| HealthError::Unhealthy { url: url.clone(), cause };
    let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| unhealthy(e.to_string()))?;
    match tokio::time::timeout(args.timeout, client.get(uri)).await {
        Err(_) => Err(unhealthy(format!("no answer within {:?}", args.timeout))),
        Ok(Err(e)) => Err(unhealthy(e.to_string())),
        Ok(Ok(r)) if r.status() == http::StatusCode::OK => Ok(()),
        Ok(Ok(r)) => Err(unhealthy(format!("HTTP status {}", r.status().as_u16()))),
    }
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
