//! Run the real binary: the simulated endpoint and the exporter, killed on drop; and a minimal
//! HTTP/1.1 client over a plain socket, so the tests use nothing the product does not.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ecs-exporter");

/// A child process killed when dropped, with its stderr collected line by line.
pub struct Proc {
    pub child: Child,
    pub stderr: mpsc::Receiver<String>,
    pub addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Lines written to stderr so far (waiting up to `wait` for the first one).
    pub fn stderr_lines(&self, wait: Duration) -> Vec<String> {
        let mut v = Vec::new();
        if let Ok(l) = self.stderr.recv_timeout(wait) {
            v.push(l);
        }
        while let Ok(l) = self.stderr.try_recv() {
            v.push(l);
        }
        v
    }
}

fn pipe_stderr(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Start `ecs-exporter simulate` with `args`; returns it with its base URI.
pub fn simulator(args: &[&str]) -> Proc {
    let mut child = Command::new(BIN)
        .arg("simulate")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start simulator");
    let stderr = pipe_stderr(&mut child);
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("simulator prints its URI");
    let addr = line.trim().to_owned();
    assert!(addr.starts_with("http://127.0.0.1:"), "simulator said {addr:?}");
    Proc { child, stderr, addr }
}

/// Start the exporter with `args` (a listen address on port 0 is added) and `env`; waits for
/// its start-up line and returns it with its `host:port`.
pub fn exporter(args: &[&str], env: &[(&str, &str)]) -> Proc {
    start_exporter(&[], args, env)
}

/// Start `ecs-exporter host` with `args` and `env`, like [`exporter`].
pub fn host_exporter(args: &[&str], env: &[(&str, &str)]) -> Proc {
    start_exporter(&["host"], args, env)
}

/// Start the simulated host (`simulate --scenario host`) with its Docker Engine API on a unix
/// socket in a fresh temporary directory; returns it and the socket's `unix://` URI.
pub fn host_simulator(args: &[&str]) -> (Proc, String, tempdir::Dir) {
    let dir = tempdir::Dir::new("sim");
    let sock = dir.path.join("docker.sock");
    let mut all = vec!["--scenario", "host", "--docker-socket", sock.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let sim = simulator(&all);
    (sim, format!("unix://{}", sock.display()), dir)
}

/// A temporary directory removed on drop.
pub mod tempdir {
    /// The directory.
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        /// A new empty directory under the system's temporary directory.
        pub fn new(tag: &str) -> Dir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("ecs-exporter-test-{}-{tag}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn start_exporter(sub: &[&str], args: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args(sub).args(["--web.listen-address", "127.0.0.1:0"]).args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd.env_remove("ECS_CONTAINER_METADATA_URI_V4").env_remove("ECS_CONTAINER_METADATA_URI");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start exporter");
    let stderr = pipe_stderr(&mut child);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        match stderr.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => {
                if l.contains("ecs-exporter started") {
                    let addr = l
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("listen="))
                        .expect("listen= in start line")
                        .to_owned();
                    return Proc { child, stderr, addr };
                }
                seen.push(l);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("exporter did not start; stderr: {seen:?}");
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// A header value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

/// `METHOD path` on `addr` (`host:port`) with extra header lines; reads the whole response.
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    parse(&raw, method == "HEAD")
}

/// GET `path`.
pub fn get(addr: &str, path: &str) -> Resp {
    request(addr, "GET", path, &[])
}

fn parse(raw: &[u8], head: bool) -> Resp {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head_text = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head_text.split("\r\n");
    let status: u16 = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked && !head {
        body = dechunk(&body);
    }
    Resp { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        b = &b[nl + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// A TCP socket bound to a free port of 127.0.0.1 and not listening, and its port: connections
/// to it are refused, and while it is held no other test takes the port and no connection to it
/// can be a self-connect (a port merely released may be picked as a connection's own source
/// port). Close-on-exec, so that processes started meanwhile do not hold it too.
pub fn bound_not_listening() -> (std::os::fd::OwnedFd, u16) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a socket we own; `addr` is a valid sockaddr_in.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len), 0);
        let mut got = len;
        assert_eq!(libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut got), 0);
        (owned, u16::from_be(addr.sin_port))
    }
}
