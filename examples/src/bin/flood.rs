//! A benchmark and test node, not a workload solution: `--delay-ms D` after init
//! (default 0) it starts `--tokens K` messages (default 8) around the ring of nodes
//! (with `--only-first`, only the first node does),
//! and it forwards every `flood` message it receives to the next node — so the harness
//! routes as fast as it and the nodes can, and what each link carries depends only on
//! what the network did to earlier messages, not on timing.

use std::time::Duration;

use straum_node::{Body, Context, Message, Node, RpcError, TimerToken};

struct Flood {
    next: String,
    tokens: u64,
    delay: Duration,
    only_first: bool,
}

impl Node for Flood {
    fn start(&mut self, ctx: &mut Context) {
        if self.delay.is_zero() {
            self.tick(0, ctx);
        } else {
            ctx.set_timer(self.delay, 0);
        }
    }

    fn tick(&mut self, _: TimerToken, ctx: &mut Context) {
        let me = ctx.node_id().to_string();
        if self.only_first && ctx.node_ids().first() != Some(&me) {
            return;
        }
        for token in 0..self.tokens {
            ctx.send(
                &self.next,
                Body::new("flood").with("token", format!("{me}-{token}")),
            );
        }
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        if msg.body.kind == "flood" {
            ctx.send(&self.next, msg.body);
        }
        Ok(())
    }
}

/// The number after `flag` on the command line, or `default`.
fn arg(flag: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|k| k.parse().ok())
        .unwrap_or(default)
}

/// The node after `me` in the cluster's order, wrapping around.
fn successor(me: &str, all: &[String]) -> String {
    let i = all.iter().position(|id| id == me).unwrap_or(0);
    all[(i + 1) % all.len()].clone()
}

fn main() -> std::io::Result<()> {
    let tokens = arg("--tokens", 8);
    let delay = Duration::from_millis(arg("--delay-ms", 0));
    let only_first = std::env::args().any(|a| a == "--only-first");
    straum_node::run(|init| Flood {
        next: successor(&init.node_id, &init.node_ids),
        tokens,
        delay,
        only_first,
    })
}
