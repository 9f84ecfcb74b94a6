//! A unique-ids node: every id is `(node index + 1) × 2^56 + counter`, an exact integer
//! that needs no coordination. Every id exceeds 2^53, which also exercises the harness's
//! exact integer handling.
//!
//! With `--durable` the node survives crashes: it reserves counter values in blocks and
//! records each block's end in the node's durable storage (`Context::storage`, the file
//! `$STRAUM_NODE_DATA_DIR/counter` under the stdio runtime) before handing out ids
//! from it, so a restarted node continues after the last reserved block. Without it a
//! restarted node starts counting from 1 again and repeats ids — as it should fail.

use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError};

/// Counter values reserved per write to storage.
const BLOCK: u64 = 1000;
/// The storage key holding the end of the last reserved block.
const COUNTER_KEY: &str = "counter";

/// The node (see the module documentation).
pub struct UniqueIds {
    prefix: u64,
    counter: u64,
    /// End (exclusive) of the reserved block, when durable.
    reserved: Option<u64>,
}

impl UniqueIds {
    /// A node for the cluster `init` describes; `durable` makes it reserve ids in
    /// [`Context::storage`] so a restart never repeats one.
    pub fn new(init: &straum_node::Init, durable: bool) -> UniqueIds {
        UniqueIds {
            // The node's position in the cluster; ids are unique across nodes by prefix.
            prefix: init
                .node_ids
                .iter()
                .position(|id| *id == init.node_id)
                .unwrap_or(0) as u64
                + 1,
            counter: 0,
            reserved: durable.then_some(0),
        }
    }

    fn next_id(&mut self, ctx: &mut Context) -> Result<u64, RpcError> {
        self.counter += 1;
        if let Some(end) = &mut self.reserved {
            if self.counter >= *end {
                *end = self.counter + BLOCK;
                ctx.storage()
                    .put(COUNTER_KEY, end.to_string().as_bytes())
                    .map_err(|e| {
                        RpcError::new(ErrorCode::Crash, format!("cannot reserve ids: {e}"))
                    })?;
            }
        }
        Ok((self.prefix << 56) | self.counter)
    }
}

impl Node for UniqueIds {
    fn start(&mut self, ctx: &mut Context) {
        if self.reserved.is_some() {
            let end = ctx
                .storage()
                .get(COUNTER_KEY)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| text.trim().parse().ok())
                .unwrap_or(0);
            self.counter = end;
            self.reserved = Some(end);
        }
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        match msg.body.kind.as_str() {
            "generate" => {
                let id = self.next_id(ctx)?;
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
