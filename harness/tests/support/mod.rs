//! Shared helpers for end-to-end tests: they run the real `straum` binary against real
//! node processes (the example nodes and the Python fixtures) in a scratch directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The `straum` binary under test.
pub fn straum_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_straum"))
}

/// An example node binary, built on first use with the same profile as `straum`.
pub fn example(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    let dir = straum_bin().parent().unwrap().to_path_buf();
    BUILD.call_once(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "-q", "-p", "straum-examples", "--bins"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.ends_with("release") {
            cargo.arg("--release");
        }
        let status = cargo
            .status()
            .expect("running cargo build for the examples");
        assert!(status.success(), "building the example nodes failed");
    });
    dir.join(name)
}

/// A Python fixture node from `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The result of one `straum` invocation.
pub struct Run {
    /// Exit code (None if killed by a signal).
    pub code: Option<i32>,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
    /// The scratch directory it ran in (holds `store/`).
    pub dir: tempfile::TempDir,
    /// Where fixtures wrote the pids of their processes.
    pub pid_dir: PathBuf,
}

impl Run {
    /// stdout and stderr together, for assertions and failure messages.
    pub fn output(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }

    /// A file of the latest run.
    pub fn latest(&self, name: &str) -> PathBuf {
        self.dir.path().join("store/latest").join(name)
    }

    /// The latest run's results.json.
    pub fn results(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.latest("results.json")).expect("results.json");
        serde_json::from_str(&text).expect("results.json parses")
    }

    /// The latest run's history.
    pub fn history(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.latest("history.jsonl"))
            .expect("history.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).expect("history line parses"))
            .collect()
    }

    /// Pids that fixtures recorded and that are still alive (zombies count as dead).
    pub fn surviving_pids(&self) -> Vec<i32> {
        let Ok(entries) = std::fs::read_dir(&self.pid_dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .filter_map(|text| text.trim().parse::<i32>().ok())
            .filter(|pid| is_alive(*pid))
            .collect()
    }

    /// How many pids fixtures recorded.
    pub fn recorded_pids(&self) -> usize {
        std::fs::read_dir(&self.pid_dir).map_or(0, |d| d.count())
    }
}

fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Start `straum` with `args` in a fresh scratch directory.
pub fn spawn(args: &[&str]) -> (std::process::Child, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pid_dir = dir.path().join("pids");
    std::fs::create_dir(&pid_dir).unwrap();
    let child = Command::new(straum_bin())
        .args(args)
        .current_dir(dir.path())
        .env("FIXTURE_PID_DIR", &pid_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting straum");
    (child, dir, pid_dir)
}

/// Run `straum` with `args` to completion.
pub fn straum(args: &[&str]) -> Run {
    let started = Instant::now();
    let (child, dir, pid_dir) = spawn(args);
    finish(child, dir, pid_dir, started)
}

/// Wait for a spawned `straum` and collect its output.
pub fn finish(
    child: std::process::Child,
    dir: tempfile::TempDir,
    pid_dir: PathBuf,
    started: Instant,
) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("waiting for straum");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed: started.elapsed(),
        dir,
        pid_dir,
    }
}

/// A path as a &str.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Run `straum` with a command line given as one string, split on whitespace (paths in
/// these tests have no spaces).
pub fn straum_cmd(command_line: &str) -> Run {
    let args: Vec<&str> = command_line.split_whitespace().collect();
    straum(&args)
}

/// The checks every run that a node made stop must pass: exit 255, ended within
/// `time_limit + 15` s, no process of the run left alive (at least `min_pids` fixture
/// processes were recorded), the history on disk and results marked unknown.
pub fn assert_stopped_cleanly(run: &Run, time_limit_secs: u64, min_pids: usize) {
    assert_eq!(run.code, Some(255), "{}", run.output());
    assert!(
        run.elapsed < Duration::from_secs(time_limit_secs + 15),
        "took {:?}",
        run.elapsed
    );
    assert!(
        run.recorded_pids() >= min_pids,
        "fixtures did not record their pids"
    );
    assert_eq!(
        run.surviving_pids(),
        Vec::<i32>::new(),
        "processes outlived the run"
    );
    assert!(run.latest("history.jsonl").exists());
    assert_eq!(run.results()["valid?"], "unknown");
}

/// The clock fault's schedule for `node` in a run's history (every change of its
/// offset in ms, in order, starting from 0) must be what the node reported in `log`
/// as `offset-ms <ms>` lines (`fixture.report_clock`), each within 50 ms; the last
/// change may come just before the node is stopped, unseen.
pub fn assert_clock_followed_schedule(run: &Run, node: &str, log: &str) {
    let mut expected = vec![0i64];
    for op in run.history() {
        let value = &op["value"];
        let offset = match op["f"].as_str() {
            Some("start-clock") if value.is_object() => value["offsets-ms"][node].as_i64(),
            Some("stop-clock") if value.is_object() => Some(0),
            _ => None,
        };
        if let Some(offset) = offset.filter(|o| Some(o) != expected.last()) {
            expected.push(offset);
        }
    }
    assert!(expected.len() >= 4, "{expected:?}");
    let seen: Vec<i64> = log
        .lines()
        .filter_map(|l| l.strip_prefix("offset-ms "))
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        seen.len() == expected.len() || seen.len() + 1 == expected.len(),
        "seen {seen:?}, scheduled {expected:?}"
    );
    for (s, e) in seen.iter().zip(&expected) {
        assert!((s - e).abs() <= 50, "seen {seen:?}, scheduled {expected:?}");
    }
}

pub mod realnet;
