//! A real nginx for end-to-end tests (started on a free loopback port,
//! stopped on drop) and curl as its client.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

pub const NGINX: &str = "/usr/sbin/nginx";

/// nginx, stopped when dropped.
pub struct Nginx {
    pub child: Child,
    pub dir: PathBuf,
}

impl Nginx {
    /// A graceful stop (`nginx -s quit`); whether nginx exited (and was
    /// reaped) within 10 s.
    pub fn stop(&mut self) -> bool {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return true;
        }
        let quit = Command::new(NGINX)
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .args(["-s", "quit"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while quit.as_ref().is_ok_and(|s| s.success()) && Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Nginx {
    /// nginx runs as one process (`master_process off`) in the test's own
    /// process group: a graceful stop ends it, and so does Ctrl-C at the
    /// terminal, which signals the whole foreground group. Should the stop
    /// fail, the one process is killed.
    fn drop(&mut self) {
        if !self.stop() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port no other server of this test run was given, and one
/// that no client connection can be using: ports are handed out in turn
/// from below Linux's ephemeral range (32768 and up, where the kernel puts
/// outgoing connections and `bind(0)` ports), starting at an offset taken
/// from the process id so that two test runs at once rarely meet, and a
/// port that cannot be bound now is skipped.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const LOW: u16 = 20000;
    const SPAN: u16 = 12000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % u32::from(SPAN)) as u16;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < SPAN, "no free loopback port left for test servers");
        let port = LOW + (start + n) % SPAN;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// nginx serving `200 hello` over TLS on `port`, checking clients with
/// `mtls` (nginx directives; empty: the nginx bundle's nginx-mtls.conf).
pub fn start_nginx_with(env: &Env, port: u16, extra: &str) -> Nginx {
    let dir = env.path("nginx");
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let server = env.cert_dir("localhost");
    let bundle = env.pki.join("bundles/nginx");
    let conf = format!(
        "master_process off;\n\
         worker_processes 1;\n\
         error_log {d}/error.log info;\n\
         pid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
           access_log off;\n\
           client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;\n\
           fastcgi_temp_path {d}/tmp/fastcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;\n\
           server {{\n\
             listen 127.0.0.1:{port} ssl;\n\
             ssl_certificate {s}/fullchain.pem;\n\
             ssl_certificate_key {s}/key.pem;\n\
             {mtls}\n\
             location / {{ return 200 \"hello $ssl_client_s_dn\\n\"; }}\n\
           }}\n\
         }}\n",
        d = dir.display(),
        s = server.display(),
        mtls = match extra {
            "" => format!("include {}/nginx-mtls.conf;", bundle.display()),
            given => given.to_string(),
        },
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nginx");
    let mut n = Nginx { child, dir };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Something listens: make sure it is this nginx, not a server
            // another test started on the same port.
            if let Ok(Some(status)) = n.child.try_wait() {
                let log = std::fs::read_to_string(n.dir.join("error.log")).unwrap_or_default();
                panic!("nginx exited ({status}) after port {port} was taken:\n{log}");
            }
            return n;
        }
        if let Ok(Some(status)) = n.child.try_wait() {
            let log = std::fs::read_to_string(n.dir.join("error.log")).unwrap_or_default();
            panic!("nginx exited ({status}) before listening:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "nginx did not listen on port {port} within 15 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// curl's HTTP status ("000" when the TLS handshake itself failed).
pub fn curl(env: &Env, port: u16, id: Option<(PathBuf, PathBuf)>) -> String {
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "10",
    ])
    .arg("--cacert")
    .arg(env.root_pem())
    .arg("--resolve")
    .arg(format!("localhost:{port}:127.0.0.1"));
    if let Some((cert, key)) = id {
        c.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let out = c
        .arg(format!("https://localhost:{port}/"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn nginx_available() -> bool {
    if Path::new(NGINX).exists() && have("curl") {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("nginx and curl are required in CI (apt-get install nginx curl)");
    }
    eprintln!(
        "\n**********************************************************************\n\
         SKIPPED: the nginx mTLS end-to-end test needs {NGINX} and curl.\n\
         Install them (apt-get install nginx curl) to run it; CI always does.\n\
         **********************************************************************\n"
    );
    false
}
