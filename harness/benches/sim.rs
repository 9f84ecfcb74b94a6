//! Seeds per second of the simulator against the same test as spawned processes.
//!
//! `cargo bench -p straum --bench sim [-- SEEDS]` runs broadcast (5 nodes, 20 s of
//! virtual time at rate 10, partitions, the correct example node) for SEEDS seeds
//! (default 200) on every core, then on one thread, and then the same configuration
//! once as spawned processes (the example binary on wall time, ~30 s), and prints
//! ms per seed, seeds per minute and the ratio.

use std::process::Command;
use std::time::Instant;

use straum::sim::config_from;
use straum::sim::sweep::{sweep, SweepOptions};
use straum_node::{Init, Node};

const FLAGS: &str = "-w broadcast --node-count 5 --time-limit 20 --rate 10 --nemesis partition";

fn main() {
    let seeds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let args: Vec<String> = FLAGS.split(' ').map(String::from).collect();
    let mut config = config_from(&args, "sim:broadcast").expect("valid flags");
    let store = tempfile::tempdir().unwrap();
    config.store = store.path().to_path_buf();
    let factory =
        |_: &Init| -> Box<dyn Node> { Box::new(straum_examples::broadcast::Broadcast::default()) };
    let list: Vec<u64> = (0..seeds).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut per_seed_all = 0.0;
    for threads in [0, 1] {
        let options = SweepOptions {
            threads,
            ..SweepOptions::default()
        };
        let started = Instant::now();
        let outcome = sweep(&config, &factory, &list, &options, &|_| String::new());
        let seconds = started.elapsed().as_secs_f64();
        let failed = outcome.reports.iter().filter(|r| !r.passed()).count();
        let label = if threads == 0 {
            format!("{cores} threads")
        } else {
            "1 thread".to_string()
        };
        let ms = seconds * 1e3 / seeds as f64;
        if threads == 0 {
            per_seed_all = ms;
        }
        println!(
            "sim, {label}: {seeds} seeds in {seconds:.2} s = {ms:.1} ms per seed, {:.0} seeds/min ({failed} failed)",
            seeds as f64 * 60.0 / seconds
        );
    }

    // The same test as spawned processes, for the ratio.
    let straum = std::path::PathBuf::from(env!("CARGO_BIN_EXE_straum"));
    let bin_dir = straum.parent().unwrap();
    let built = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-p",
            "straum-examples",
            "--bin",
            "broadcast",
        ])
        .status()
        .expect("cargo build");
    assert!(built.success());
    let started = Instant::now();
    let status = Command::new(&straum)
        .args(["test", "--bin"])
        .arg(bin_dir.join("broadcast"))
        .args(FLAGS.split(' '))
        .args(["--seed", "0", "--store"])
        .arg(store.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("straum test");
    let process_ms = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "processes: 1 run in {:.1} s (exit {:?}); simulated seeds are {:.0}× faster",
        process_ms / 1e3,
        status.code(),
        process_ms / per_seed_all
    );
}
