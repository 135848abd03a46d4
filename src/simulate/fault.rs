//! Fault injection for the simulated endpoint: slow answers, HTTP 500 and 429 (the agent's
//! throttle), resets mid-body, bodies that are not JSON, truncated JSON, a streamed body far over
//! any size cap, and containers that come and go between `/task` and `/task/stats`.
//!
//! Set with `ecs-exporter simulate --fault MODE` or at run time with
//! `GET /_sim/fault?mode=MODE[&delay_ms=N][&size_mb=N][&path=task|stats|tags]`; `mode=none` clears.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FaultKind {
    /// Nothing: normal answers.
    #[default]
    None,
    /// Answer after `delay_ms`.
    Slow,
    /// HTTP 500 with the agent's JSON error string.
    Status500,
    /// HTTP 429 with the agent's throttle text.
    Status429,
    /// HTTP 403 with an access-denied JSON error (as for tags the task role may not read).
    Status403,
    /// Send the headers and part of the body, then reset the connection.
    Reset,
    /// A 200 whose body is HTML, not JSON.
    NotJson,
    /// A 200 whose body is the first half of the real JSON.
    Truncated,
    /// A 200 streaming `size_mb` MiB of JSON-looking bytes without a length.
    Huge,
    /// Containers come and go: `/task` and `/task/stats` list different containers.
    Churn,
}

/// The current fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// Delay for [`FaultKind::Slow`].
    pub delay: Duration,
    /// Body size for [`FaultKind::Huge`], in bytes.
    pub size: u64,
    /// Only this path suffers (`None`: `/task`, `/task/stats` and `/taskWithTags`).
    pub only: Option<super::Route>,
}

impl Default for Fault {
    fn default() -> Self {
        Fault { kind: FaultKind::None, delay: Duration::from_secs(10), size: 512 << 20, only: None }
    }
}

impl Fault {
    /// Parse the query string of `/_sim/fault`.
    pub fn from_query(q: &str) -> Result<Fault, String> {
        let mut f = Fault::default();
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "mode" => f.kind = <FaultKind as clap::ValueEnum>::from_str(v, true)?,
                "delay_ms" => f.delay = Duration::from_millis(v.parse().map_err(|_| format!("bad delay_ms {v:?}"))?),
                "size_mb" => f.size = v.parse::<u64>().map_err(|_| format!("bad size_mb {v:?}"))? << 20,
                "path" => {
                    f.only = match v {
                        "task" => Some(super::Route::Task),
                        "stats" => Some(super::Route::TaskStats),
                        "tags" => Some(super::Route::TaskWithTags),
                        "" | "all" => None,
                        _ => return Err(format!("bad path {v:?}")),
                    }
                }
                _ => return Err(format!("unknown parameter {k:?}")),
            }
        }
        Ok(f)
    }

    /// Whether a request for `route` suffers this fault.
    pub fn applies(&self, route: super::Route) -> bool {
        use super::Route::*;
        self.kind != FaultKind::None
            && matches!(route, Task | TaskStats | TaskWithTags)
            && self.only.is_none_or(|o| o == route)
    }
}

/// A body that streams `remaining` bytes of filler in 64 KiB chunks, then ends, or fails after
/// `fail_after` bytes (a connection reset as the client sees it).
#[derive(Debug)]
pub struct Filler {
    prefix: Option<Bytes>,
    remaining: u64,
    fail: bool,
}

impl Filler {
    /// `prefix`, then `filler` bytes of padding.
    pub fn huge(prefix: Bytes, filler: u64) -> Self {
        Filler { prefix: Some(prefix), remaining: filler, fail: false }
    }
    /// `prefix`, then an error that aborts the connection.
    pub fn reset_after(prefix: Bytes) -> Self {
        Filler { prefix: Some(prefix), remaining: 0, fail: true }
    }
}

const CHUNK: &[u8] = &[b' '; 64 * 1024];

impl Body for Filler {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(p) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(p))));
        }
        if self.fail {
            self.fail = false;
            return Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "simulated reset"))));
        }
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(CHUNK.len() as u64);
        self.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..n as usize])))))
    }

    fn size_hint(&self) -> SizeHint {
        // No length: the body is chunked, as a misbehaving endpoint would send it.
        SizeHint::default()
    }
}

/// Drop some containers from a `/task` or `/task/stats` body and add one the other side does
/// not know, so the two disagree the way they do while containers start and stop.
pub fn churn(body: &[u8], is_task: bool) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) else { return body.to_vec() };
    if is_task {
        if let Some(cs) = v.get_mut("Containers").and_then(|c| c.as_array_mut()) {
            // The first container has gone from /task; a new one has appeared.
            if !cs.is_empty() {
                cs.remove(0);
            }
            cs.push(serde_json::json!({"DockerId": "newcomer-0000000001", "Name": "newcomer", "Type": "NORMAL", "KnownStatus": "PENDING"}));
        }
    } else if let Some(m) = v.as_object_mut() {
        // The stats still hold the first container, and one unknown to /task.
        m.insert(
            "departed-0000000002".into(),
            serde_json::json!({"read": "2026-01-01T00:00:00Z", "memory_stats": {"usage": 1}}),
        );
    }
    serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec())
}
