//! What the process benches share: building an example node beside the straum binary
//! and reading this process's resource usage.

// Each bench compiles its own copy and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Build the release example binary `name` and return its path, beside the straum
/// binary wherever CARGO_TARGET_DIR puts it.
pub fn build_example(name: &str) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "-q",
            "--release",
            "-p",
            "straum-examples",
            "--bin",
            name,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo build");
    assert!(status.success(), "building the {name} example failed");
    Path::new(env!("CARGO_BIN_EXE_straum"))
        .parent()
        .unwrap()
        .join(name)
}

/// This process's (`RUSAGE_SELF`) or its reaped children's (`RUSAGE_CHILDREN`) usage.
pub fn usage(who: i32) -> libc::rusage {
    // SAFETY: getrusage fills the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut usage) };
    usage
}

/// User plus system CPU seconds of this process, all threads.
pub fn cpu_seconds() -> f64 {
    let usage = usage(libc::RUSAGE_SELF);
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}
