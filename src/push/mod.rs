//! The StatsD push: every `--statsd.interval`, take the current upstream read (shared with the
//! scrapes: the same single flight and cache), encode it with [`crate::encode::statsd`] and send
//! the lines over UDP in datagrams of at most `--statsd.max-packet-bytes`. The address is
//! resolved again on every push (the agent's address changes when it restarts); a name that does
//! not resolve or a send that fails is counted and logged (at most once a minute), and the loop
//! goes on. It runs in its own task, so it never delays `/metrics`.

use crate::encode::statsd::{pack, Encoder, PushStats};
use crate::scrape::Exporter;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::UdpSocket;

/// The push's settings.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// `HOST:PORT` of the StatsD server.
    pub address: String,
    /// Time between pushes.
    pub interval: Duration,
    /// Largest datagram payload.
    pub max_packet_bytes: usize,
}

/// Why one push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The address did not resolve.
    #[error("cannot resolve {addr}: {reason}")]
    Resolve {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// A datagram could not be sent.
    #[error("cannot send to {addr}: {source}")]
    Send {
        /// The resolved address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Warnings at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Push until `shutdown` completes.
pub async fn run(
    exporter: Arc<Exporter>,
    cfg: PushConfig,
    mut encoder: Encoder,
    stats: Arc<PushStats>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_warn: Option<Instant> = None;
    let mut conn: Option<(SocketAddr, UdpSocket)> = None;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut shutdown => return,
        }
        let up = exporter.shared_read().await;
        let snap = up.result.as_ref().ok().map(|(s, _)| s);
        if snap.is_none() && last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            // The read already logged its cause; say what the push did about it.
            tracing::warn!(statsd = %cfg.address, "upstream read failed: pushing only ecs.exporter.up 0 this interval");
            last_warn = Some(Instant::now());
        }
        let lines = encoder.encode(snap);
        let datagrams = pack(&lines, cfg.max_packet_bytes);
        match send(&cfg.address, &mut conn, &datagrams, &stats).await {
            Ok(()) => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                stats.last_push_ms.store(now.as_millis() as i64, Ordering::Relaxed);
            }
            Err(e) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                if last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                    tracing::warn!(error = %e, "statsd push failed; retrying next interval");
                    last_warn = Some(Instant::now());
                }
            }
        }
    }
}

/// Resolve `addr` and send every datagram; stop at the first failure. The socket is kept
/// between pushes while the address stays the same, so that an ICMP port unreachable caused by
/// one push is reported on the next send.
async fn send(
    addr: &str,
    conn: &mut Option<(SocketAddr, UdpSocket)>,
    datagrams: &[Vec<u8>],
    stats: &PushStats,
) -> Result<(), PushError> {
    let resolve = tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host(addr)).await;
    let target = match resolve {
        Err(_) => return Err(PushError::Resolve { addr: addr.to_owned(), reason: "timed out".into() }),
        Ok(Err(e)) => return Err(PushError::Resolve { addr: addr.to_owned(), reason: e.to_string() }),
        Ok(Ok(mut it)) => {
            it.next().ok_or_else(|| PushError::Resolve { addr: addr.to_owned(), reason: "no address".into() })?
        }
    };
    if conn.as_ref().is_none_or(|(a, _)| *a != target) {
        let bind: SocketAddr = if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let sock = UdpSocket::bind(bind).await.map_err(|source| PushError::Send { addr: target, source })?;
        // Connected, so that an ICMP port unreachable comes back as an error on a later send.
        sock.connect(target).await.map_err(|source| PushError::Send { addr: target, source })?;
        *conn = Some((target, sock));
    }
    let Some((_, sock)) = conn.as_ref() else { return Ok(()) };
    for d in datagrams {
        match sock.send(d).await {
            Ok(n) => {
                stats.datagrams.fetch_add(1, Ordering::Relaxed);
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(source) => {
                *conn = None;
                return Err(PushError::Send { addr: target, source });
            }
        }
    }
    Ok(())
}
