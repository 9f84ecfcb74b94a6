//! The `straum` command: parse arguments and hand over to the library.

use clap::Parser;
use straum::cli::{Cli, Command};
use straum::runner::{analyze_stored, run_tests, EXIT_BAD_ARGUMENTS};

/// mimalloc: the checkers build and free millions of small JSON values, and glibc's
/// allocator spent about half the Elle check's time there, more when one thread
/// frees what another allocated (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_BAD_ARGUMENTS
            } else {
                0
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.command {
        Command::Test(args) => {
            // Descendants that escape a node's process group come back to straum, which
            // kills them at teardown.
            straum::orphans::become_subreaper();
            let mut command_line = vec!["straum".to_string()];
            command_line.extend(argv.into_iter().skip(1));
            match (*args).into_config(command_line) {
                Ok(config) => run_tests(&config),
                Err(errors) => {
                    for error in errors {
                        eprintln!("straum: {error}");
                    }
                    EXIT_BAD_ARGUMENTS
                }
            }
        }
        Command::Analyze(args) => analyze_stored(&args),
        Command::Serve(args) => straum::serve::run(&args.store, &args.host, args.port),
        Command::Check(args) => straum::check::run(&args),
        Command::Doc(args) => straum::doc::run(&args),
        Command::Challenge(args) => straum::challenge::run(&args),
        Command::New(args) => straum::scaffold::run(&args),
        Command::Sim(args) => {
            let mut command_line = vec!["straum".to_string()];
            command_line.extend(argv.into_iter().skip(1));
            straum::sim::command::run(*args, command_line)
        }
        Command::SimMerge(args) => straum::sim::command::merge(&args),
        Command::Clean(args) => straum::realnet::clean::run_command(&args),
        Command::RealnetHold(args) => straum::realnet::hold::run_command(&args),
    };
    std::process::exit(code);
}
