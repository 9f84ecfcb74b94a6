//! A unique-ids node: every id is `(node index + 1) × 2^56 + counter`, an exact integer
//! that needs no coordination. Every id exceeds 2^53, which also exercises the harness's
//! exact integer handling.
//!
//! With `--durable` the node survives crashes: it reserves counter values in blocks and
//! records each block's end in `$STRAUM_NODE_DATA_DIR/counter` before handing out ids
//! from it, so a restarted node continues after the last reserved block. Without it a
//! restarted node starts counting from 1 again and repeats ids — as it should fail.

use std::path::PathBuf;

use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError};

/// Counter values reserved per write to disk.
const BLOCK: u64 = 1000;

struct UniqueIds {
    prefix: u64,
    counter: u64,
    /// End (exclusive) of the reserved block, with the file recording it.
    reserved: Option<(u64, PathBuf)>,
}

impl UniqueIds {
    fn next_id(&mut self) -> Result<u64, RpcError> {
        self.counter += 1;
        if let Some((end, file)) = &mut self.reserved {
            if self.counter >= *end {
                *end = self.counter + BLOCK;
                persist(file, *end).map_err(|e| {
                    RpcError::new(ErrorCode::Crash, format!("cannot reserve ids: {e}"))
                })?;
            }
        }
        Ok((self.prefix << 56) | self.counter)
    }
}

/// Write `end` to `file` atomically (write a temporary file, then rename it).
fn persist(file: &PathBuf, end: u64) -> std::io::Result<()> {
    let temporary = file.with_extension("tmp");
    std::fs::write(&temporary, end.to_string())?;
    std::fs::rename(&temporary, file)
}

impl Node for UniqueIds {
    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        match msg.body.kind.as_str() {
            "generate" => {
                let id = self.next_id()?;
                ctx.reply(&msg, Body::new("generate_ok").with("id", id));
                Ok(())
            }
            other => Err(RpcError::new(
                ErrorCode::NotSupported,
                format!("unique-ids node does not handle {other:?}"),
            )),
        }
    }
}

fn main() -> std::io::Result<()> {
    let durable = std::env::args().any(|a| a == "--durable");
    let reserved = if durable {
        let dir = std::env::var_os("STRAUM_NODE_DATA_DIR")
            .map(PathBuf::from)
            .ok_or_else(|| {
                std::io::Error::other("--durable needs STRAUM_NODE_DATA_DIR (set by straum)")
            })?;
        let file = dir.join("counter");
        let end = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        Some((end, file))
    } else {
        None
    };
    straum_node::run(|init| {
        let start = reserved.as_ref().map_or(0, |(end, _)| *end);
        UniqueIds {
            // The node's position in the cluster; ids are unique across nodes by prefix.
            prefix: init
                .node_ids
                .iter()
                .position(|id| *id == init.node_id)
                .unwrap_or(0) as u64
                + 1,
            counter: start,
            reserved,
        }
    })
}
