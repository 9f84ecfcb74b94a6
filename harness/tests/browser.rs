//! A real browser opens a run's report: headless Chromium screenshots `index.html` and
//! `messages.svg` of a broadcast run with partitions, and the page of a failing lin-kv
//! key, and dumps their DOM.
//!
//! Without Chromium the test is skipped with a note, except under CI (`CI` set), which
//! installs it and where its absence is a failure.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{example, fixture, s, straum_cmd};

/// How long one Chromium invocation may take.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(90);

/// The 8-byte signature every PNG file starts with.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// `chromium` on PATH, else `/usr/bin/chromium`.
fn find_chromium() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let fixed = PathBuf::from("/usr/bin/chromium");
        fixed.is_file().then_some(fixed)
    })
}

/// Run headless Chromium on `file` with `extra` flags, in a fresh profile, killing it
/// (its whole process group) if it outlives [`CHROMIUM_DEADLINE`]. Returns its stdout.
fn chromium(browser: &Path, file: &Path, extra: &[&str]) -> String {
    use std::os::unix::process::CommandExt;

    let scratch = tempfile::tempdir().unwrap();
    let profile = scratch.path().join("profile");
    let stdout_path = scratch.path().join("stdout");
    let stderr_path = scratch.path().join("stderr");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", s(&profile)))
        .args(extra)
        .arg(format!("file://{}", s(file)))
        .stdin(Stdio::null())
        // Files, not pipes: a large DOM would fill a pipe nobody reads while we wait.
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap())
        .process_group(0)
        .spawn()
        .expect("starting chromium");
    let deadline = Instant::now() + CHROMIUM_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            // SAFETY: kill(2) on the process group of the child we just started.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!(
                "chromium on {} {extra:?} took over {CHROMIUM_DEADLINE:?}",
                file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        status.success(),
        "chromium on {} {extra:?} failed ({status}):\n{stderr}",
        file.display()
    );
    std::fs::read_to_string(&stdout_path).unwrap()
}

/// Screenshot `file` and check a real PNG of the window's size came out.
fn assert_screenshot(browser: &Path, file: &Path) {
    let scratch = tempfile::tempdir().unwrap();
    let shot = scratch.path().join("shot.png");
    chromium(
        browser,
        file,
        &[
            &format!("--screenshot={}", s(&shot)),
            "--window-size=1280,2000",
        ],
    );
    let png =
        std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot of {}: {e}", file.display()));
    assert!(
        png.len() > 1000,
        "screenshot of {} is only {} bytes",
        file.display(),
        png.len()
    );
    assert_eq!(png[..8], PNG_SIGNATURE, "not a PNG: {}", file.display());
    // IHDR follows the signature: length, "IHDR", width, height (big-endian).
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1280, "screenshot width of {}", file.display());
}

/// Chromium, or `None` (with a note) where it may be missing: everywhere but CI.
fn chromium_or_skip() -> Option<PathBuf> {
    let found = find_chromium();
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed; CI must install it (apt-get install chromium)"
        );
        eprintln!("note: chromium not found on PATH; skipping the browser check");
    }
    found
}

#[test]
fn a_failing_lin_kv_key_is_drawn_in_chromium() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let run = straum_cmd(&format!(
        "test -w lin-kv --bin {} --node-count 3 --concurrency 6 --time-limit 5 --rate 100 --seed 12 -- lww-kv",
        s(&fixture("kv_proxy.py"))
    ));
    assert_eq!(run.code, Some(1), "{}", run.output());
    let key = run.results()["workload"]["failures"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no failing key\n{}", run.output()))
        .to_string();
    let page = run.latest(&format!("lin-kv-key-{key}.html"));
    assert_screenshot(&browser, &page);
    let dom = chromium(&browser, &page, &["--dump-dom"]);
    assert!(
        dom.contains(&format!("key {key}: not linearizable")),
        "{dom:.2000}"
    );
    assert!(dom.contains("breaks here"), "no break marked");
    assert!(dom.contains("<polyline"), "no linearization drawn");
    assert!(
        dom.matches("<g class=\"op ").count() >= 2,
        "no operations drawn"
    );
    let index = chromium(&browser, &run.latest("index.html"), &["--dump-dom"]);
    assert!(index.contains(&format!("href=\"lin-kv-key-{key}.html\"")));
}

#[test]
fn run_report_renders_in_chromium() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let broadcast = example("broadcast");
    let run = straum_cmd(&format!(
        "test -w broadcast --bin {} --node-count 3 --time-limit 3 --rate 20 --nemesis partition --nemesis-interval 1 --recovery-time 1",
        s(&broadcast)
    ));
    let results = run.results();
    let seed = match &results["seed"] {
        serde_json::Value::String(seed) => seed.clone(),
        seed => seed.to_string(),
    };
    let index = run.latest("index.html");
    let messages = run.latest("messages.svg");
    for file in [&index, &messages] {
        assert!(
            file.is_file(),
            "{} missing\n{}",
            file.display(),
            run.output()
        );
    }

    assert_screenshot(&browser, &index);
    let dom = chromium(&browser, &index, &["--dump-dom"]);
    assert!(dom.contains("valid"), "no verdict in index.html's DOM");
    assert!(dom.contains(&seed), "seed {seed} not in index.html's DOM");

    assert_screenshot(&browser, &messages);
    let dom = chromium(&browser, &messages, &["--dump-dom"]);
    assert!(dom.contains("<svg"), "messages.svg's DOM has no <svg>");
}
