//! The example etcd client adapter (examples/adapters/etcd.py) against a real etcd
//! (Debian's etcd-server), spoken to through straum's adapter protocol
//! (`straum::realnet::adapter`): lin-kv's read, write and cas become range, put and a
//! compare-and-put transaction, and a dead etcd gives no `ok`. Without `etcd` the test
//! skips with a note, unless `CI` is set.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use straum::realnet::adapter::{completion, parse_reply, request_line};
use straum_workloads::{Invocation, OpType};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A one-member etcd on loopback, killed on drop.
struct Etcd {
    child: Child,
    client: String,
    _data: tempfile::TempDir,
}

impl Etcd {
    fn start() -> Etcd {
        let data = tempfile::tempdir().unwrap();
        let (client, peer) = (free_port(), free_port());
        let child = Command::new("etcd")
            .args(["--name", "e1", "--data-dir"])
            .arg(data.path().join("member"))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
            ))
            .arg(format!("--initial-cluster=e1=http://127.0.0.1:{peer}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting etcd");
        let etcd = Etcd {
            child,
            client: format!("127.0.0.1:{client}"),
            _data: data,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&etcd.client).is_err() {
            assert!(Instant::now() < deadline, "etcd did not start listening");
            std::thread::sleep(Duration::from_millis(100));
        }
        etcd
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Adapter {
    child: Child,
    replies: BufReader<std::process::ChildStdout>,
}

impl Adapter {
    fn start(args: &[&str]) -> Adapter {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/adapters/etcd.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let replies = BufReader::new(child.stdout.take().unwrap());
        Adapter { child, replies }
    }

    fn call(&mut self, invocation: &Invocation, addr: &str) -> straum_workloads::Completion {
        let line = request_line(invocation, "n1", addr);
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(&line).unwrap();
        stdin.flush().unwrap();
        let mut reply = String::new();
        self.replies.read_line(&mut reply).unwrap();
        let reply = parse_reply(reply.trim_end().as_bytes()).unwrap();
        completion(invocation, reply)
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn etcd_or_skip() -> bool {
    let present = Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "etcd is missing (Debian's etcd-server); CI must install it"
        );
        eprintln!("note: etcd not installed (Debian's etcd-server); skipping");
    }
    present
}

#[test]
fn lin_kv_operations_reach_etcd_and_a_dead_etcd_gives_no_ok() {
    if !etcd_or_skip() {
        return;
    }
    let etcd = Etcd::start();
    let mut adapter = Adapter::start(&[]);
    let addr = etcd.client.clone();
    let write = adapter.call(&Invocation::new("write", json!([3, 5])), &addr);
    assert_eq!((write.kind, write.value), (OpType::Ok, json!([3, 5])));
    let read = adapter.call(&Invocation::new("read", json!([3, null])), &addr);
    assert_eq!((read.kind, read.value), (OpType::Ok, json!([3, 5])));
    let cas = adapter.call(&Invocation::new("cas", json!([3, [5, 6]])), &addr);
    assert_eq!(cas.kind, OpType::Ok);
    let stale_cas = adapter.call(&Invocation::new("cas", json!([3, [5, 7]])), &addr);
    assert_eq!(stale_cas.kind, OpType::Fail, "{stale_cas:?}");
    let read = adapter.call(&Invocation::new("read", json!([3, null])), &addr);
    assert_eq!(read.value, json!([3, 6]));
    let missing = adapter.call(&Invocation::new("read", json!([42, null])), &addr);
    assert_eq!(missing.value, json!([42, null]));
    // Serializable reads see the same single member.
    let mut serializable = Adapter::start(&["--serializable"]);
    let read = serializable.call(&Invocation::new("read", json!([3, null])), &addr);
    assert_eq!(read.value, json!([3, 6]));
    drop(etcd);
    let write = adapter.call(&Invocation::new("write", json!([3, 9])), &addr);
    assert!(
        matches!(write.kind, OpType::Fail | OpType::Info),
        "a write to a dead etcd must not be ok: {write:?}"
    );
    let read = adapter.call(&Invocation::new("read", json!([3, null])), &addr);
    assert_eq!(
        read.kind,
        OpType::Fail,
        "a failed read changed nothing: {read:?}"
    );
}
