//! Per-node wall clocks for the clock fault, through libfaketime: every node is
//! started with the library preloaded and its own timestamp file, which the harness
//! rewrites to move that node's `CLOCK_REALTIME` (`time()`, `gettimeofday`,
//! `SystemTime::now`) by an offset. The monotonic clock is left alone, as a real
//! `settimeofday` leaves it, so a node can still measure elapsed time truthfully —
//! and a node that measures leases on the wall clock is caught.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The environment variable that names the library to preload instead of searching
/// the usual places (also how tests point straum at a missing library).
pub const LIBRARY_VARIABLE: &str = "STRAUM_LIBFAKETIME";

/// Where Debian and others install the library; the multi-threaded build first.
const CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketimeMT.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
];

/// Find libfaketime, or say how to install it.
pub fn locate() -> Result<PathBuf, String> {
    let how = "--nemesis clock runs every node under libfaketime; install it with \
               `apt-get install faketime` (Debian/Ubuntu: package libfaketime) or \
               name the library in STRAUM_LIBFAKETIME";
    if let Some(path) = std::env::var_os(LIBRARY_VARIABLE) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{LIBRARY_VARIABLE} names {}, which is not a file; {how}",
                path.display()
            ))
        };
    }
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "libfaketime is not installed (looked in {}); {how}",
                CANDIDATES.join(", ")
            )
        })
}

/// The nodes' clock files and the library that reads them.
#[derive(Debug, Clone)]
pub struct Clocks {
    library: PathBuf,
    dir: PathBuf,
}

impl Clocks {
    /// Clocks kept as `<dir>/<node>.faketime` (an absolute directory), read by `library`.
    pub fn new(library: PathBuf, dir: PathBuf) -> std::io::Result<Clocks> {
        std::fs::create_dir_all(&dir)?;
        Ok(Clocks { library, dir })
    }

    fn file(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.faketime"))
    }

    /// The environment a node starts with: the library preloaded (before any
    /// `LD_PRELOAD` already set), its clock file, re-read on every call, monotonic
    /// clocks untouched. Creates the file at offset 0 if it does not exist yet.
    pub fn environment(&self, node: &str) -> std::io::Result<Vec<(&'static str, OsString)>> {
        let file = self.file(node);
        if !file.exists() {
            self.set_offset(node, 0)?;
        }
        let mut preload = self.library.clone().into_os_string();
        if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
            preload.push(":");
            preload.push(existing);
        }
        Ok(vec![
            ("LD_PRELOAD", preload),
            ("FAKETIME_TIMESTAMP_FILE", file.into_os_string()),
            ("FAKETIME_NO_CACHE", "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
        ])
    }

    /// Move a node's wall clock to `offset_ms` from real time, atomically (the node
    /// reads either the old file or the new one).
    pub fn set_offset(&self, node: &str, offset_ms: i64) -> std::io::Result<()> {
        write_atomically(&self.file(node), &offset_text(offset_ms))
    }
}

/// libfaketime's relative form: `+1.250` or `-0.040` seconds.
fn offset_text(offset_ms: i64) -> String {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let ms = offset_ms.unsigned_abs();
    format!("{sign}{}.{:03}\n", ms / 1000, ms % 1000)
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("faketime.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_data().ok();
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_written_in_libfaketime_relative_form() {
        assert_eq!(offset_text(0), "+0.000\n");
        assert_eq!(offset_text(1_250), "+1.250\n");
        assert_eq!(offset_text(-40), "-0.040\n");
        assert_eq!(offset_text(-10_000), "-10.000\n");
        let dir = tempfile::tempdir().unwrap();
        let clocks = Clocks::new("/lib/x.so".into(), dir.path().join("clocks")).unwrap();
        let env = clocks.environment("n1").unwrap();
        assert!(env
            .iter()
            .any(|(k, v)| *k == "LD_PRELOAD" && v.to_string_lossy().starts_with("/lib/x.so")));
        let file = dir.path().join("clocks/n1.faketime");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "+0.000\n");
        clocks.set_offset("n1", -2_500).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "-2.500\n");
    }
}
