//! Durable storage for node data that must survive a crash: a small key → bytes
//! store on [`crate::Context`]. The stdio runtime keeps it as files under
//! `$STRAUM_NODE_DATA_DIR` (which straum keeps across restarts); the simulator keeps
//! it in memory, outside the node, so a killed node's rebuilt successor finds it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;

/// The environment variable naming a node's data directory.
pub const DATA_DIR_VARIABLE: &str = "STRAUM_NODE_DATA_DIR";

/// A key → bytes store whose writes survive the node being killed.
pub trait Storage: std::fmt::Debug {
    /// The value last put under `key`, if any.
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Store `value` under `key`; when this returns `Ok` the write is durable.
    fn put(&mut self, key: &str, value: &[u8]) -> io::Result<()>;
}

/// Storage in memory, shared by clones: the simulator keeps one clone per node and
/// gives another to each incarnation, so data outlives a kill.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    entries: Rc<RefCell<BTreeMap<String, Vec<u8>>>>,
}

impl Storage for MemoryStorage {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries.borrow().get(key).cloned()
    }

    fn put(&mut self, key: &str, value: &[u8]) -> io::Result<()> {
        self.entries
            .borrow_mut()
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }
}

/// Storage as one file per key in a directory (keys are used as file names, so keep
/// them to `[A-Za-z0-9._-]`). Writes go to a temporary file renamed over the old one.
#[derive(Debug, Clone)]
pub struct DirStorage {
    dir: PathBuf,
}

impl DirStorage {
    /// Storage in `dir`, created if missing.
    pub fn new(dir: PathBuf) -> io::Result<DirStorage> {
        std::fs::create_dir_all(&dir)?;
        Ok(DirStorage { dir })
    }

    /// Storage in `$STRAUM_NODE_DATA_DIR`, or `None` when it is not set.
    pub fn from_env() -> Option<DirStorage> {
        let dir = std::env::var_os(DATA_DIR_VARIABLE)?;
        DirStorage::new(PathBuf::from(dir)).ok()
    }
}

impl Storage for DirStorage {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join(key)).ok()
    }

    fn put(&mut self, key: &str, value: &[u8]) -> io::Result<()> {
        let file = self.dir.join(key);
        let temporary = self.dir.join(format!(".{key}.tmp"));
        std::fs::write(&temporary, value)?;
        std::fs::rename(&temporary, file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_clones_share_and_dirs_persist() {
        let mut a = MemoryStorage::default();
        let b = a.clone();
        a.put("k", b"1").unwrap();
        assert_eq!(b.get("k").as_deref(), Some(&b"1"[..]));
        let dir = std::env::temp_dir().join(format!("straum-storage-{}", std::process::id()));
        let mut d = DirStorage::new(dir.clone()).unwrap();
        d.put("counter", b"42").unwrap();
        assert_eq!(
            DirStorage::new(dir.clone())
                .unwrap()
                .get("counter")
                .unwrap(),
            b"42"
        );
        assert_eq!(d.get("missing"), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
