//! `straum serve`: a small web server over the store (being written).

use std::path::Path;

/// Serve `store` on `host:port` until interrupted; returns the exit code.
pub fn run(_store: &Path, _host: &str, _port: u16) -> i32 {
    eprintln!("straum serve: not available yet");
    2
}
