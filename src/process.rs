//! The exporter's own process metrics (`process_*`), read from `/proc` on Linux, the same
//! names and meanings as the Prometheus client libraries. Elsewhere they are left out.

use crate::metrics::Family;
use crate::snapshot::{Snapshot, Value};

/// Append the `process_*` series that can be read.
pub fn collect(out: &mut Snapshot) {
    #[cfg(target_os = "linux")]
    linux::collect(out);
    #[cfg(not(target_os = "linux"))]
    let _ = out;
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;

    pub(super) fn collect(out: &mut Snapshot) {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let (ticks, page) = (if ticks > 0 { ticks as u64 } else { 100 }, if page > 0 { page as u64 } else { 4096 });
        if let Some(st) = read_self_stat().as_deref().and_then(parse_stat) {
            // utime + stime are in clock ticks.
            let cpu_ns = (st.utime + st.stime).saturating_mul(1_000_000_000) / ticks;
            out.push(Family::ProcessCpu, vec![], Value::Nanos(i128::from(cpu_ns)));
            out.push(Family::ProcessResident, vec![], Value::U64(st.rss_pages.saturating_mul(page)));
            out.push(Family::ProcessVirtual, vec![], Value::U64(st.vsize));
            // The start time never changes: /proc/stat (large on big hosts) is read once.
            static START_NS: std::sync::OnceLock<Option<i128>> = std::sync::OnceLock::new();
            let start = START_NS.get_or_init(|| {
                let btime = boot_time()?;
                Some(i128::from(btime) * 1_000_000_000 + i128::from(st.starttime) * 1_000_000_000 / i128::from(ticks))
            });
            if let Some(start_ns) = *start {
                out.push(Family::ProcessStartTime, vec![], Value::Nanos(start_ns));
            }
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            // One entry is the directory handle itself.
            let n = dir.count().saturating_sub(1);
            out.push(Family::ProcessOpenFds, vec![], Value::U64(n as u64));
        }
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `lim` is a valid, writable rlimit.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            out.push(Family::ProcessMaxFds, vec![], Value::U64(lim.rlim_cur));
        }
    }

    /// `/proc/self/stat`, re-read through one file kept open (procfs regenerates it on every read
    /// from offset 0), which saves an open, a stat and a close per scrape.
    fn read_self_stat() -> Option<String> {
        use std::os::unix::fs::FileExt;
        static FILE: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
        let f = FILE.get_or_init(|| std::fs::File::open("/proc/self/stat").ok()).as_ref()?;
        let mut buf = [0u8; 1024];
        let n = f.read_at(&mut buf, 0).ok()?;
        String::from_utf8(buf[..n].to_vec()).ok()
    }

    struct Stat {
        utime: u64,
        stime: u64,
        starttime: u64,
        vsize: u64,
        rss_pages: u64,
    }

    /// Fields of `/proc/self/stat` after the `(comm)` field, which may hold spaces.
    fn parse_stat(s: &str) -> Option<Stat> {
        let rest = &s[s.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        // `rest` starts at field 3 (state): field N is f[N - 3].
        let n = |i: usize| f.get(i - 3)?.parse::<u64>().ok();
        Some(Stat { utime: n(14)?, stime: n(15)?, starttime: n(22)?, vsize: n(23)?, rss_pages: n(24)? })
    }

    fn boot_time() -> Option<u64> {
        let s = std::fs::read_to_string("/proc/stat").ok()?;
        s.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn reads_own_process() {
            let mut s = Snapshot::default();
            super::collect(&mut s);
            use super::*;
            assert!(s.get(Family::ProcessResident, &[]).is_some_and(|v| v.as_f64() > 100_000.0));
            assert!(s.get(Family::ProcessStartTime, &[]).is_some_and(|v| v.as_f64() > 1.6e9));
        }
    }
}
