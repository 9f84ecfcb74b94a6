//! The stdio runtime: Maelstrom's newline-delimited JSON on stdin and stdout.

use std::io::{self, BufRead, BufWriter, Write};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::storage::{DirStorage, MemoryStorage, Storage};
use crate::{Body, Context, Init, Message, Node, TimerToken};

/// The environment variable the stdio runtime seeds [`Context::rng`] from (straum sets
/// it to the run's seed); without it the seed comes from the operating system.
pub const SEED_VARIABLE: &str = "STRAUM_NODE_SEED";

/// Run a node on stdin/stdout until stdin closes. The runtime answers `init` with
/// `init_ok` and then builds the node with `make`.
pub fn run<N: Node>(make: impl FnOnce(&Init) -> N) -> io::Result<()> {
    let lines = spawn_stdin_reader();
    run_with(lines, io::stdout().lock(), make)
}

/// Run a node over any source of input lines and any output (the testable core of
/// [`run`]). Returns when the line source is exhausted.
pub fn run_with<N: Node, W: Write>(
    lines: Receiver<String>,
    output: W,
    make: impl FnOnce(&Init) -> N,
) -> io::Result<()> {
    let start = Instant::now();
    let mut out = BufWriter::new(output);
    let Some((init, init_request)) = wait_for_init(&lines, &mut out)? else {
        return Ok(());
    };
    let seed = std::env::var(SEED_VARIABLE)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(rand::random);
    let storage: Box<dyn Storage> = match DirStorage::from_env() {
        Some(dir) => Box::new(dir),
        None => Box::new(MemoryStorage::default()),
    };
    let mut ctx = Context::with_seed(init.clone(), seed, storage);
    ctx.reply(&init_request, Body::new("init_ok"));
    flush_outbox(&mut ctx, &mut out)?;
    let mut node = make(&init);
    stamp(&mut ctx, start);
    node.start(&mut ctx);
    let mut timers: Vec<(Duration, TimerToken)> = Vec::new();

    loop {
        stamp(&mut ctx, start);
        fire_due_timers(&mut node, &mut ctx, &mut timers);
        timers.extend(ctx.take_timers());
        flush_outbox(&mut ctx, &mut out)?;
        let next_due = timers.iter().map(|(due, _)| *due).min();
        let received = match next_due {
            Some(due) => lines.recv_timeout(due.saturating_sub(start.elapsed())),
            None => lines.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(line) => {
                stamp(&mut ctx, start);
                handle_line(&mut node, &mut ctx, &line);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return out.flush(),
        }
        timers.extend(ctx.take_timers());
        flush_outbox(&mut ctx, &mut out)?;
    }
}

/// Tell the context what time it is: monotonic time since start and the wall clock.
fn stamp(ctx: &mut Context, start: Instant) {
    ctx.set_now(start.elapsed());
    ctx.set_wall_clock(std::time::SystemTime::now());
}

fn spawn_stdin_reader() -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::bounded(1024);
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Read lines until an `init` arrives; anything before it is logged and skipped.
fn wait_for_init<W: Write>(
    lines: &Receiver<String>,
    _out: &mut W,
) -> io::Result<Option<(Init, Message)>> {
    for line in lines.iter() {
        let Some(msg) = parse(&line) else { continue };
        let Some(init) = init_of(&msg) else {
            eprintln!("ignoring {:?} before init", msg.body.kind);
            continue;
        };
        return Ok(Some((init, msg)));
    }
    Ok(None)
}

/// What an `init` message tells a node, or `None` if `msg` is not an `init`.
pub fn init_of(msg: &Message) -> Option<Init> {
    if msg.body.kind != "init" {
        return None;
    }
    let node_id = msg.body.get_str("node_id").unwrap_or_default().to_string();
    let node_ids = msg
        .body
        .get("node_ids")
        .and_then(|v| v.as_array())
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some(Init { node_id, node_ids })
}

fn parse(line: &str) -> Option<Message> {
    if line.trim().is_empty() {
        return None;
    }
    match serde_json::from_str(line) {
        Ok(msg) => Some(msg),
        Err(e) => {
            eprintln!("ignoring unparseable input line ({e}): {line}");
            None
        }
    }
}

fn handle_line<N: Node>(node: &mut N, ctx: &mut Context, line: &str) {
    let Some(msg) = parse(line) else { return };
    dispatch(node, msg, ctx);
}

/// Hand `msg` to the node; an `Err` becomes an `error` reply when the message was a
/// request, else a line on stderr. Every runtime (stdio, simulator) calls this.
pub fn dispatch<N: Node + ?Sized>(node: &mut N, msg: Message, ctx: &mut Context) {
    let request = msg.body.msg_id.is_some().then(|| msg.clone());
    if let Err(error) = node.handle(msg, ctx) {
        match request {
            Some(request) => ctx.reply(&request, error.to_body()),
            None => eprintln!("handler failed on a message that was not a request: {error}"),
        }
    }
}

fn fire_due_timers<N: Node>(
    node: &mut N,
    ctx: &mut Context,
    timers: &mut Vec<(Duration, TimerToken)>,
) {
    let now = ctx.now();
    let mut due: Vec<(Duration, TimerToken)> = Vec::new();
    timers.retain(|timer| {
        if timer.0 <= now {
            due.push(*timer);
            false
        } else {
            true
        }
    });
    due.sort();
    for (_, token) in due {
        node.tick(token, ctx);
    }
}

fn flush_outbox<W: Write>(ctx: &mut Context, out: &mut BufWriter<W>) -> io::Result<()> {
    let outbox = ctx.take_outbox();
    if outbox.is_empty() {
        return Ok(());
    }
    for msg in &outbox {
        serde_json::to_writer(&mut *out, msg)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RpcError;

    struct Echo;
    impl Node for Echo {
        fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
            match msg.body.kind.as_str() {
                "echo" => {
                    let echo = msg.body.get("echo").cloned().unwrap_or_default();
                    ctx.reply(&msg, Body::new("echo_ok").with("echo", echo));
                    Ok(())
                }
                other => Err(RpcError::new(
                    crate::ErrorCode::NotSupported,
                    format!("no handler for {other}"),
                )),
            }
        }
    }

    fn run_lines(input: &[&str]) -> Vec<serde_json::Value> {
        let (tx, rx) = crossbeam_channel::unbounded();
        for line in input {
            tx.send(line.to_string()).unwrap();
        }
        drop(tx);
        let mut out = Vec::new();
        run_with(rx, &mut out, |_| Echo).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn answers_init_then_requests_and_turns_errors_into_error_replies() {
        let out = run_lines(&[
            r#"{"id":0,"src":"c0","dest":"n0","body":{"type":"init","node_id":"n0","node_ids":["n0"],"msg_id":1}}"#,
            r#"{"id":2,"src":"c2","dest":"n0","body":{"echo":"Please echo 35","type":"echo","msg_id":1}}"#,
            r#"{"id":3,"src":"c2","dest":"n0","body":{"type":"bogus","msg_id":2}}"#,
        ]);
        assert_eq!(
            out[0],
            serde_json::json!({"src":"n0","dest":"c0","body":{"type":"init_ok","in_reply_to":1}})
        );
        assert_eq!(
            out[1],
            serde_json::json!({"src":"n0","dest":"c2","body":{"type":"echo_ok","echo":"Please echo 35","in_reply_to":1}})
        );
        assert_eq!(out[2]["body"]["type"], "error");
        assert_eq!(out[2]["body"]["code"], 10);
        assert_eq!(out[2]["body"]["in_reply_to"], 2);
    }
}
