//! `straum serve`: a small read-only web server over the store.
//!
//! `/` lists the runs, newest first; `/runs/<path>` serves the files and directories
//! under the store (a directory's `index.html` if it has one, else a listing).
//!
//! Nothing outside the store is ever served. A request path is refused if any of its
//! segments is empty, `.` or `..`, or holds (raw or percent-encoded) a slash, a
//! backslash or NUL; what is left is joined to the store, every symlink resolved, and
//! served only if the real path still lies under the store's real path.

use crate::render::svg::escape;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde_json::Value;
use tiny_http::{Header, Method, Request, Response, ResponseBox, Server};

/// The prefix of the URLs that serve the store's files.
const RUNS: &str = "/runs/";

/// Verdict colours of the run list, as Jepsen's web view shades them.
const VALID_COLOUR: &str = "#ADF6FF";
const UNKNOWN_COLOUR: &str = "#FFD8A8";
const INVALID_COLOUR: &str = "#FEB5DA";
const NO_RESULTS_COLOUR: &str = "#EAEAEA";

/// Why a request path does not lead to something to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed: bad percent-encoding or not UTF-8 (400).
    BadRequest(&'static str),
    /// Would reach outside the store (403).
    Forbidden(&'static str),
    /// Nothing there (404).
    NotFound,
}

impl Refusal {
    /// The HTTP status and the short text sent for it.
    fn status_and_text(&self) -> (u16, &'static str) {
        match self {
            Refusal::BadRequest(why) => (400, why),
            Refusal::Forbidden(why) => (403, why),
            Refusal::NotFound => (404, "not found"),
        }
    }
}

/// Serve `store` on `host:port` until the process is killed; returns the exit code
/// (255 if the address cannot be bound).
pub fn run(store: &Path, host: &str, port: u16) -> i32 {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let server = match Server::http(format!("{host}:{port}")) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("straum: cannot listen on http://{host}:{port}/: {e}");
            return 255;
        }
    };
    let port = server.server_addr().to_ip().map_or(port, |a| a.port());
    println!(
        "straum: serving {} on http://{host}:{port}/",
        store.display()
    );
    if !store.is_dir() {
        eprintln!("straum: note: {} does not exist (yet)", store.display());
    }
    for request in server.incoming_requests() {
        let store = store.to_path_buf();
        // One thread per request, so a slow download holds up nobody else. Spawned
        // threads never keep the process alive once it is told to exit.
        std::thread::spawn(move || handle(&store, request));
    }
    0
}

/// Answer one request.
fn handle(store: &Path, request: Request) {
    let response = match request.method() {
        Method::Get | Method::Head => answer(store, request.url()),
        _ => text(405, "only GET and HEAD are supported\n")
            .with_header(header("Allow", "GET, HEAD"))
            .boxed(),
    };
    let _ = request.respond(response);
}

/// The response to a GET of `url`.
fn answer(store: &Path, url: &str) -> ResponseBox {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    if path == "/" {
        return html(render_index(store, &list_runs(store)));
    }
    if path == "/runs" {
        return redirect(RUNS);
    }
    let Some(rest) = path.strip_prefix(RUNS) else {
        return refused(&Refusal::NotFound);
    };
    match resolve(store, rest) {
        Err(refusal) => refused(&refusal),
        Ok(real) if real.is_dir() => {
            if !path.ends_with('/') {
                return redirect(&format!("{path}/"));
            }
            match resolve(store, &format!("{rest}index.html")) {
                Ok(index) if index.is_file() => file(&index),
                _ => html(render_listing(store, path, &real)),
            }
        }
        Ok(real) => file(&real),
    }
}

/// The real path of the file or directory that `url_path` names under the store.
///
/// `url_path` is the request path after `/runs/`, still percent-encoded, without a
/// query; `""` and a trailing `/` name directories. Refuses (see the module docs) any
/// path that could reach outside the store, or that resolves outside it.
pub fn resolve(store_root: &Path, url_path: &str) -> Result<PathBuf, Refusal> {
    let mut relative = PathBuf::new();
    let segments: Vec<&str> = url_path.split('/').collect();
    for (i, raw) in segments.iter().enumerate() {
        if raw.is_empty() {
            if i + 1 == segments.len() {
                continue; // a trailing slash, or the store itself
            }
            return Err(Refusal::Forbidden("empty path segment (absolute path?)\n"));
        }
        let segment = percent_decode(raw)?;
        if segment == "." || segment == ".." {
            return Err(Refusal::Forbidden("`.` and `..` are not allowed\n"));
        }
        if segment.contains(['/', '\\', '\0']) {
            return Err(Refusal::Forbidden(
                "slashes, backslashes and NUL are not allowed in a name\n",
            ));
        }
        relative.push(segment);
    }
    let root = store_root.canonicalize().map_err(|_| Refusal::NotFound)?;
    let real = root
        .join(&relative)
        .canonicalize()
        .map_err(|_| Refusal::NotFound)?;
    if !real.starts_with(&root) {
        return Err(Refusal::Forbidden("that leads outside the store\n"));
    }
    Ok(real)
}

/// Decode `%XX` escapes; the result must be UTF-8.
fn percent_decode(raw: &str) -> Result<String, Refusal> {
    const BAD: Refusal = Refusal::BadRequest("bad percent-encoding\n");
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3).ok_or(BAD)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| BAD)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| BAD)
}

/// Percent-encode a file name for use as one URL path segment.
fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The content type of a file, by its extension.
fn content_type(path: &Path) -> &'static str {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "txt" | "log" | "jsonl" | "edn" | "md" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// Whether a run passed, as its results.json says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Valid,
    Invalid,
    Unknown,
    /// No readable results.json: still running, or it crashed.
    NoResults,
}

impl Verdict {
    fn of(results: Option<&Value>) -> Verdict {
        match results.and_then(|r| r.get("valid?")) {
            Some(Value::Bool(true)) => Verdict::Valid,
            Some(Value::Bool(false)) => Verdict::Invalid,
            Some(_) => Verdict::Unknown,
            None => Verdict::NoResults,
        }
    }

    fn label_and_colour(self) -> (&'static str, &'static str) {
        match self {
            Verdict::Valid => ("valid", VALID_COLOUR),
            Verdict::Invalid => ("invalid", INVALID_COLOUR),
            Verdict::Unknown => ("unknown", UNKNOWN_COLOUR),
            Verdict::NoResults => ("no results", NO_RESULTS_COLOUR),
        }
    }
}

/// One row of the run list.
#[derive(Debug, Clone)]
struct RunRow {
    workload: String,
    timestamp: String,
    verdict: Verdict,
    seed: Option<String>,
    /// Milliseconds since the epoch: from the directory's name, else its mtime.
    started_ms: i64,
}

/// Every `store/<workload>/<timestamp>/` directory (symlinks skipped), newest first.
fn list_runs(store: &Path) -> Vec<RunRow> {
    let mut runs = Vec::new();
    for (workload, workload_dir) in real_subdirs(store) {
        for (timestamp, run_dir) in real_subdirs(&workload_dir) {
            let results: Option<Value> = fs::read_to_string(run_dir.join("results.json"))
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok());
            let seed = results
                .as_ref()
                .and_then(|r| r.get("seed"))
                .map(|seed| match seed {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            let started_ms = parse_timestamp(&timestamp).unwrap_or_else(|| mtime_ms(&run_dir));
            runs.push(RunRow {
                verdict: Verdict::of(results.as_ref()),
                workload: workload.clone(),
                timestamp,
                seed,
                started_ms,
            });
        }
    }
    runs.sort_by(|a, b| {
        (b.started_ms, &b.timestamp, &b.workload).cmp(&(a.started_ms, &a.timestamp, &a.workload))
    });
    runs
}

/// The subdirectories of `dir` that are not symlinks and have UTF-8 names.
fn real_subdirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect()
}

/// The start time in a run directory's name (`%Y%m%dT%H%M%S%.3f%z`, maybe with a
/// `-N` suffix for a second run in the same millisecond), in ms since the epoch.
fn parse_timestamp(name: &str) -> Option<i64> {
    const FORMAT: &str = "%Y%m%dT%H%M%S%.3f%z";
    let parse = |s: &str| chrono::DateTime::parse_from_str(s, FORMAT).ok();
    parse(name)
        .or_else(|| {
            let (head, tail) = name.rsplit_once('-')?;
            tail.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
            parse(head)
        })
        .map(|t| t.timestamp_millis())
}

fn mtime_ms(path: &Path) -> i64 {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em}\
table{border-collapse:collapse}\
td,th{padding:.3em .8em;text-align:left;border-bottom:1px solid #ddd}\
td.verdict{font-weight:bold}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    )
}

/// The run list page.
fn render_index(store: &Path, runs: &[RunRow]) -> String {
    let mut body = format!(
        "<h1>straum runs</h1>\n<p>{} run{} in <code>{}</code> \
         (<a href=\"{RUNS}\">browse the store</a>)</p>\n",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        escape(&store.display().to_string())
    );
    if runs.is_empty() {
        body.push_str("<p>No runs yet.</p>\n");
        return page("straum runs", &body);
    }
    body.push_str(
        "<table>\n<tr><th>Time</th><th>Workload</th><th>Verdict</th><th>Seed</th>\
         <th>Results</th></tr>\n",
    );
    for run in runs {
        let link = format!(
            "{RUNS}{}/{}/",
            percent_encode(&run.workload),
            percent_encode(&run.timestamp)
        );
        let (label, colour) = run.verdict.label_and_colour();
        let _ = writeln!(
            body,
            "<tr><td><a href=\"{link}\">{}</a></td><td>{}</td>\
             <td class=\"verdict\" style=\"background:{colour}\">{label}</td>\
             <td>{}</td><td><a href=\"{link}results.json\">results.json</a></td></tr>",
            escape(&run.timestamp),
            escape(&run.workload),
            escape(run.seed.as_deref().unwrap_or("")),
        );
    }
    body.push_str("</table>\n");
    page("straum runs", &body)
}

/// A directory listing; `url_path` is the directory's (percent-encoded) URL, ending in
/// `/`. Entries that would be refused (symlinks leading outside, dangling) are left out.
fn render_listing(store: &Path, url_path: &str, dir: &Path) -> String {
    let rest = url_path.strip_prefix(RUNS).unwrap_or_default();
    let mut entries: Vec<(String, bool, u64)> = fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let real = resolve(store, &format!("{rest}{}", percent_encode(&name))).ok()?;
            let meta = fs::metadata(real).ok()?;
            Some((name, meta.is_dir(), meta.len()))
        })
        .collect();
    entries.sort();
    let shown = percent_decode(url_path).unwrap_or_else(|_| url_path.to_string());
    let mut body = format!(
        "<h1>{}</h1>\n<p><a href=\"/\">all runs</a></p>\n<table>\n",
        escape(&shown)
    );
    if !rest.is_empty() {
        body.push_str("<tr><td><a href=\"../\">../</a></td><td></td></tr>\n");
    }
    for (name, is_dir, size) in entries {
        let slash = if is_dir { "/" } else { "" };
        let size = if is_dir {
            String::new()
        } else {
            format!("{size} bytes")
        };
        let _ = writeln!(
            body,
            "<tr><td><a href=\"{}{slash}\">{}{slash}</a></td><td>{size}</td></tr>",
            percent_encode(&name),
            escape(&name)
        );
    }
    body.push_str("</table>\n");
    page(&shown, &body)
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn text(status: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn html(body: String) -> ResponseBox {
    Response::from_string(body)
        .with_header(header("Content-Type", "text/html; charset=utf-8"))
        .boxed()
}

fn redirect(location: &str) -> ResponseBox {
    text(301, "moved\n")
        .with_header(header("Location", location))
        .boxed()
}

fn refused(refusal: &Refusal) -> ResponseBox {
    let (status, why) = refusal.status_and_text();
    text(status, why).boxed()
}

fn file(path: &Path) -> ResponseBox {
    match fs::File::open(path) {
        Ok(f) => Response::from_file(f)
            .with_header(header("Content-Type", content_type(path)))
            .with_header(header("X-Content-Type-Options", "nosniff"))
            .boxed(),
        Err(_) => refused(&Refusal::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A store with one echo run, `latest` links, and a file outside it.
    fn store() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let run = store.join("echo/20240102T030405.678+0000");
        fs::create_dir_all(run.join("node-logs")).unwrap();
        fs::write(run.join("results.json"), r#"{"valid?": true, "seed": 7}"#).unwrap();
        symlink("20240102T030405.678+0000", store.join("echo/latest")).unwrap();
        symlink("echo/20240102T030405.678+0000", store.join("latest")).unwrap();
        fs::write(dir.path().join("secret"), "secret").unwrap();
        (dir, store)
    }

    #[test]
    fn resolves_paths_inside_the_store() {
        let (_dir, store) = store();
        let run = store
            .canonicalize()
            .unwrap()
            .join("echo/20240102T030405.678+0000");
        assert_eq!(resolve(&store, ""), Ok(store.canonicalize().unwrap()));
        assert_eq!(resolve(&store, "echo/latest/"), Ok(run.clone()));
        assert_eq!(
            resolve(&store, "latest/results.json"),
            Ok(run.join("results.json"))
        );
        assert_eq!(
            resolve(&store, "echo/20240102T030405.678%2B0000/results.json"),
            Ok(run.join("results.json"))
        );
        assert_eq!(resolve(&store, "echo/latest/nope"), Err(Refusal::NotFound));
    }

    #[test]
    fn refuses_traversal() {
        let (dir, store) = store();
        let forbidden = |path: &str| {
            assert!(
                matches!(resolve(&store, path), Err(Refusal::Forbidden(_))),
                "{path} was not refused"
            )
        };
        forbidden("..");
        forbidden("../secret");
        forbidden("echo/../../secret");
        forbidden("echo/latest/../../../etc/passwd");
        forbidden("%2e%2e/secret");
        forbidden("%2E%2E/secret");
        forbidden(".%2e/secret");
        forbidden("echo%2f..%2f..%2fsecret");
        forbidden("..%5csecret");
        forbidden("echo\\..\\..\\secret");
        forbidden("echo%00");
        forbidden("/etc/passwd");
        forbidden("echo//latest");
        forbidden("./echo");
        assert!(matches!(
            resolve(&store, "%zz"),
            Err(Refusal::BadRequest(_))
        ));
        assert!(matches!(
            resolve(&store, "%ff"),
            Err(Refusal::BadRequest(_))
        ));
        assert!(matches!(resolve(&store, "%2"), Err(Refusal::BadRequest(_))));
        // A symlink inside the store that leads outside it.
        symlink(dir.path().join("secret"), store.join("echo/escape")).unwrap();
        symlink(dir.path(), store.join("echo/escape-dir")).unwrap();
        forbidden("echo/escape");
        forbidden("echo/escape-dir/secret");
    }

    #[test]
    fn lists_runs_newest_first_with_verdicts() {
        let (_dir, store) = store();
        let older = store.join("echo/20240101T000000.000+0000");
        fs::create_dir_all(&older).unwrap();
        fs::write(older.join("results.json"), r#"{"valid?": false}"#).unwrap();
        let newer = store.join("broadcast/20240102T030405.678+0000-2");
        fs::create_dir_all(&newer).unwrap();
        fs::write(newer.join("results.json"), r#"{"valid?": "unknown"}"#).unwrap();
        let runs = list_runs(&store);
        let names: Vec<_> = runs.iter().map(|r| r.timestamp.as_str()).collect();
        assert_eq!(
            names,
            [
                "20240102T030405.678+0000-2",
                "20240102T030405.678+0000",
                "20240101T000000.000+0000"
            ]
        );
        let verdicts: Vec<_> = runs.iter().map(|r| r.verdict).collect();
        assert_eq!(
            verdicts,
            [Verdict::Unknown, Verdict::Valid, Verdict::Invalid]
        );
        assert_eq!(runs[1].seed.as_deref(), Some("7"));
        let page = render_index(&store, &runs);
        assert!(page.contains("/runs/echo/20240102T030405.678%2B0000/"));
        assert!(page.contains(VALID_COLOUR) && page.contains(INVALID_COLOUR));
        assert!(page.contains(UNKNOWN_COLOUR));
    }

    #[test]
    fn escapes_names() {
        let (_dir, store) = store();
        fs::create_dir_all(store.join("<b>&\"x\"/1")).unwrap();
        let page = render_index(&store, &list_runs(&store));
        assert!(page.contains("&lt;b&gt;&amp;&quot;x&quot;"));
        assert!(!page.contains("<b>"));
        let listing = render_listing(&store, "/runs/", &store);
        assert!(listing.contains("%3Cb%3E%26%22x%22/"));
        assert!(!listing.contains("<b>"));
    }

    #[test]
    fn answers_routes() {
        let (_dir, store) = store();
        let status = |url: &str| answer(&store, url).status_code().0;
        assert_eq!(status("/"), 200);
        assert_eq!(status("/?x=1"), 200);
        assert_eq!(status("/runs"), 301);
        assert_eq!(status("/runs/"), 200);
        assert_eq!(status("/runs/echo/latest"), 301);
        assert_eq!(status("/runs/echo/latest/"), 200);
        assert_eq!(status("/runs/latest/results.json"), 200);
        assert_eq!(status("/runs/latest/missing"), 404);
        assert_eq!(status("/elsewhere"), 404);
        assert_eq!(status("/runs/../x"), 403);
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(Path::new("a/index.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("messages-2.svg")), "image/svg+xml");
        assert_eq!(content_type(Path::new("results.json")), "application/json");
        for name in ["history.txt", "n0.log", "history.jsonl", "results.edn"] {
            assert_eq!(content_type(Path::new(name)), "text/plain; charset=utf-8");
        }
    }
}
