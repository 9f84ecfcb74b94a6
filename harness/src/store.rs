//! The store: one directory per run under `store/<workload>/<timestamp>/`, with the
//! symlinks `store/current`, `store/latest` and `store/<workload>/latest`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
    workload: String,
    name: String,
}

impl RunDir {
    /// Create `store/<workload>/<timestamp>/` (and `node-logs/` in it) and point
    /// `store/current` at it.
    pub fn create(store: &Path, workload: &str) -> io::Result<RunDir> {
        let base = chrono::Local::now()
            .format("%Y%m%dT%H%M%S%.3f%z")
            .to_string();
        let mut name = base.clone();
        let workload_dir = store.join(workload);
        fs::create_dir_all(&workload_dir)?;
        // Two runs in the same millisecond (parallel simulated seeds, say) get
        // distinct directories: creating one fails if it exists.
        let mut attempt = 1;
        loop {
            match fs::create_dir(workload_dir.join(&name)) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    attempt += 1;
                    name = format!("{base}-{attempt}");
                }
                Err(e) => return Err(e),
            }
        }
        let dir = RunDir {
            root: store.to_path_buf(),
            workload: workload.to_string(),
            name,
        };
        fs::create_dir_all(dir.path().join("node-logs"))?;
        replace_symlink(
            &Path::new(workload).join(&dir.name),
            &dir.root.join("current"),
        )?;
        Ok(dir)
    }

    /// A run directory that already exists (`store/<workload>/<name>`).
    pub fn existing(path: &Path) -> RunDir {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let workload_dir = path.parent().unwrap_or(path);
        let workload = workload_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let root = workload_dir.parent().unwrap_or(workload_dir).to_path_buf();
        RunDir {
            root,
            workload,
            name,
        }
    }

    /// The directory itself.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.workload).join(&self.name)
    }

    /// A file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// Point `store/latest` and `store/<workload>/latest` at this run.
    pub fn mark_latest(&self) -> io::Result<()> {
        replace_symlink(
            &Path::new(&self.workload).join(&self.name),
            &self.root.join("latest"),
        )?;
        replace_symlink(
            Path::new(&self.name),
            &self.root.join(&self.workload).join("latest"),
        )
    }
}

fn replace_symlink(target: &Path, link: &Path) -> io::Result<()> {
    // Unique per process and per call, so threads replacing the same link never
    // share a temporary.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = link.with_extension(format!("tmp{}-{call}", std::process::id()));
    let _ = fs::remove_file(&temporary);
    std::os::unix::fs::symlink(target, &temporary)?;
    fs::rename(&temporary, link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_run_dirs_and_links() {
        let store = tempfile::tempdir().unwrap();
        let a = RunDir::create(store.path(), "echo").unwrap();
        let b = RunDir::create(store.path(), "echo").unwrap();
        assert_ne!(a.path(), b.path());
        assert!(a.path().join("node-logs").is_dir());
        b.mark_latest().unwrap();
        fs::write(b.file("x"), "1").unwrap();
        assert_eq!(
            fs::read_to_string(store.path().join("latest/x")).unwrap(),
            "1"
        );
        assert_eq!(
            fs::read_to_string(store.path().join("echo/latest/x")).unwrap(),
            "1"
        );
        assert_eq!(
            fs::read_to_string(store.path().join("current/x")).unwrap(),
            "1"
        );
        let parallel: Vec<PathBuf> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| RunDir::create(store.path(), "echo").unwrap().path()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let distinct: std::collections::BTreeSet<_> = parallel.iter().collect();
        assert_eq!(distinct.len(), 8);
    }
}
