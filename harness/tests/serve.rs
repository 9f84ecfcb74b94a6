//! End to end: `straum serve` over a store holding a real run, spoken to with plain
//! HTTP/1.0 over a TCP socket.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{example, s, straum_bin, straum_cmd};

/// A running `straum serve`, killed when dropped (also when a test panics).
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Start `straum serve` over `store` on a free port and wait until it answers.
    fn start(store: &Path) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(straum_bin())
            .args(["serve", "--store", s(store), "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting straum serve");
        let mut server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("straum serve exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "straum serve did not answer in 5 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// `method path` over HTTP/1.0: the status and the body.
    fn request(&self, method: &str, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\n\r\n"
        )
        .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no header end in {response:?}"));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        (status, body.to_string())
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path)
    }
}

#[test]
fn serves_the_store_and_nothing_outside_it() {
    let echo = example("echo");
    let run = straum_cmd(&format!(
        "test -w echo --bin {} --node-count 1 --time-limit 1 --rate 10",
        s(&echo)
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    let store = run.dir.path().join("store");
    let timestamp = std::fs::read_link(store.join("echo/latest")).unwrap();
    let timestamp = timestamp.to_str().unwrap();
    // A file outside the store, and a symlink inside the store leading to it.
    std::fs::write(run.dir.path().join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(
        run.dir.path().join("secret.txt"),
        store.join("echo/leak.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(run.dir.path(), store.join("echo/leak-dir")).unwrap();

    let server = Server::start(&store);

    let (status, index) = server.get("/");
    assert_eq!(status, 200, "{index}");
    assert!(
        index.contains(timestamp),
        "run missing from the list: {index}"
    );
    assert!(index.contains("echo"), "{index}");
    assert!(index.contains(">valid<"), "verdict missing: {index}");

    let (status, body) = server.get("/runs/echo/latest/results.json");
    assert_eq!(status, 200, "{body}");
    let results: serde_json::Value = serde_json::from_str(&body).expect("results.json parses");
    assert_eq!(results["valid?"], serde_json::json!(true));

    // The run's own link from the list works, and HEAD sends no body.
    let (status, _) = server.get(&format!("/runs/echo/{}/", timestamp.replace('+', "%2B")));
    assert_eq!(status, 200);
    let (status, body) = server.request("HEAD", "/runs/echo/latest/results.json");
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, _) = server.request("DELETE", "/runs/echo/latest/results.json");
    assert_eq!(status, 405);

    for path in [
        "/runs/../Cargo.toml",
        "/runs/%2e%2e/x",
        "/runs/%2E%2E%2Fsecret.txt",
        "/runs/echo/latest/../../../etc/passwd",
        "/runs/..%2fsecret.txt",
        "/runs/..\\secret.txt",
        "/runs//etc/passwd",
        "/runs/echo/leak.txt",
        "/runs/echo/leak-dir/secret.txt",
    ] {
        let (status, body) = server.get(path);
        assert!(
            status == 403 || status == 400,
            "{path} answered {status}: {body}"
        );
        assert!(!body.contains("top secret") && !body.contains("root:"));
    }
    let (status, _) = server.get("/runs/echo/latest/no-such-file.json");
    assert_eq!(status, 404);
}
