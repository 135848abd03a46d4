//! The header-read timeout without a timer per request: one reaper per server closes each
//! connection that has been ready for a request (accepted, or done with its last response) for
//! longer than the timeout without a request head read.
//!
//! hyper's own `header_read_timeout` arms a tokio timer for every request, and any pending tokio
//! timer makes the runtime park in `epoll_wait` with a timeout, which arms a kernel timer on
//! every park. Here a request costs a clock read and two atomic stores. The reaper waits on a
//! Linux `timerfd`, which the runtime's epoll watches like a socket, armed at the earliest
//! deadline and left unarmed with no connection, so the runtime parks without a timeout.
//! Elsewhere, or when no timerfd can be made, it sleeps on tokio's timer: one pending timer per
//! server, never one per request.
//!
//! The timer never needs to be moved earlier by a request: a connection's deadline only moves
//! later, a new connection's is a whole timeout away, and a sweep counts a connection with a
//! request in flight as ready now. A sweep closes the connections past their deadline and arms
//! the timer at the earliest other one; with none left it stays unarmed until one is accepted.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::AbortHandle;

/// Milliseconds since `epoch`, never 0 (0 marks a request in flight).
fn ms_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64 + 1
}

/// Closes the connections that wait too long for a request head.
#[derive(Debug)]
pub(super) struct Reaper {
    /// The timeout in milliseconds (at least 1).
    timeout: u64,
    /// The zero of the reaper's clock.
    epoch: Instant,
    inner: Mutex<Inner>,
    #[cfg(target_os = "linux")]
    timer: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

#[derive(Debug)]
struct Inner {
    conns: Vec<Arc<Conn>>,
    /// When the timer fires (on the reaper's clock), 0 when it is not armed.
    armed: u64,
}

/// A connection's entry.
#[derive(Debug)]
pub(super) struct Conn {
    /// Since when (on the reaper's clock) the connection has been ready for a request; 0 while
    /// one is handled.
    since: AtomicU64,
    /// The zero of the reaper's clock.
    epoch: Instant,
    /// Its index in [`Inner::conns`] (changed with the lock held).
    slot: AtomicUsize,
    /// The connection's task, aborted (dropping the connection) to close it.
    task: OnceLock<AbortHandle>,
}

impl Conn {
    /// The connection is served by `task` (set once, right after the task is spawned).
    pub(super) fn served_by(&self, task: AbortHandle) {
        let _ = self.task.set(task);
    }

    fn close(&self) {
        if let Some(t) = self.task.get() {
            t.abort();
        }
    }

    /// A request is being handled: the connection has no deadline.
    pub(super) fn busy(&self) {
        self.since.store(0, Relaxed);
    }

    /// The response is out: the next request head is due within the timeout.
    pub(super) fn ready(&self) {
        self.since.store(ms_since(self.epoch), Relaxed);
    }
}

/// A connection known to the reaper, forgotten when dropped.
#[derive(Debug)]
pub(super) struct Registration {
    reaper: Arc<Reaper>,
    /// The connection's entry.
    pub(super) conn: Arc<Conn>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut inner = self.reaper.lock();
        let i = self.conn.slot.load(Relaxed);
        if i < inner.conns.len() {
            inner.conns.swap_remove(i);
            if let Some(moved) = inner.conns.get(i) {
                moved.slot.store(i, Relaxed);
            }
        }
    }
}

impl Reaper {
    /// A reaper closing connections `timeout` after they became ready; call within the runtime,
    /// and poll [`Reaper::run`].
    pub(super) fn new(timeout: Duration) -> Arc<Reaper> {
        Arc::new(Reaper {
            timeout: (timeout.as_millis() as u64).max(1),
            epoch: Instant::now(),
            inner: Mutex::new(Inner { conns: Vec::new(), armed: 0 }),
            #[cfg(target_os = "linux")]
            timer: timerfd(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Register a connection just accepted: it is ready for its first request.
    pub(super) fn register(self: &Arc<Self>) -> Registration {
        let now = ms_since(self.epoch);
        let conn = Arc::new(Conn {
            since: AtomicU64::new(now),
            epoch: self.epoch,
            slot: AtomicUsize::new(0),
            task: OnceLock::new(),
        });
        let mut inner = self.lock();
        conn.slot.store(inner.conns.len(), Relaxed);
        inner.conns.push(conn.clone());
        let deadline = now + self.timeout;
        if inner.armed == 0 || inner.armed > deadline {
            self.arm(&mut inner, deadline, now);
        }
        Registration { reaper: self.clone(), conn }
    }

    /// Close every connection with no request in flight now (at shutdown).
    pub(super) fn close_ready(&self) {
        for c in self.lock().conns.iter().filter(|c| c.since.load(Relaxed) != 0) {
            c.close();
        }
    }

    /// Close the connections past their deadline; arm the timer for the earliest other one.
    fn sweep(&self) {
        let now = ms_since(self.epoch);
        let mut inner = self.lock();
        let mut next = u64::MAX;
        for c in &inner.conns {
            let since = c.since.load(Relaxed);
            let deadline = if since == 0 { now } else { since } + self.timeout;
            if deadline <= now {
                c.close();
            } else {
                next = next.min(deadline);
            }
        }
        if next == u64::MAX {
            inner.armed = 0;
        } else {
            self.arm(&mut inner, next, now);
        }
    }

    /// Have the timer fire at `at` (after `now`).
    fn arm(&self, inner: &mut Inner, at: u64, now: u64) {
        inner.armed = at;
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.timer {
            use std::os::fd::AsRawFd;
            let ms = at.saturating_sub(now).max(1);
            let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            let value = libc::timespec { tv_sec: (ms / 1000) as _, tv_nsec: (ms % 1000 * 1_000_000) as _ };
            let spec = libc::itimerspec { it_interval: zero, it_value: value };
            // SAFETY: a timerfd we own and a valid setting; a one-shot relative timer.
            unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = now;
    }

    /// Close connections as their deadlines pass (never ends).
    pub(super) async fn run(&self) {
        loop {
            #[cfg(target_os = "linux")]
            if let Some(fd) = &self.timer {
                use std::os::fd::AsRawFd;
                // An error only when the runtime shuts down.
                let Ok(mut fired) = fd.readable().await else { return std::future::pending().await };
                let mut n = 0u64;
                // SAFETY: reads the 8-byte expiration count into `n` (nothing, with EAGAIN, when
                // the timer was armed again since it fired).
                unsafe { libc::read(fd.as_raw_fd(), (&raw mut n).cast(), 8) };
                fired.clear_ready();
                self.sweep();
                continue;
            }
            // Without a timerfd: sleep until the armed time, or a whole timeout with nothing
            // armed (any connection accepted meanwhile is due later than that).
            let wait = match self.lock().armed {
                0 => self.timeout,
                at => at.saturating_sub(ms_since(self.epoch)),
            };
            tokio::time::sleep(Duration::from_millis(wait)).await;
            self.sweep();
        }
    }
}

/// A non-blocking one-shot monotonic timer that the runtime watches, if one can be made.
#[cfg(target_os = "linux")]
fn timerfd() -> Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    // SAFETY: a plain system call.
    let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a descriptor just made, owned from here on.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: the descriptor is owned by the `AsyncFd`, open and the same until it is dropped.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
}
