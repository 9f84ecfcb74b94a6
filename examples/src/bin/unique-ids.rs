//! A unique-ids node: every id is `(node index + 1) × 2^56 + counter`, an exact integer that
//! needs no coordination. Every id exceeds 2^53, which also exercises
//! the harness's exact integer handling.

use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError};

struct UniqueIds {
    prefix: u64,
    counter: u64,
}

impl Node for UniqueIds {
    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        match msg.body.kind.as_str() {
            "generate" => {
                self.counter += 1;
                let id = (self.prefix << 56) | self.counter;
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
    straum_node::run(|init| UniqueIds {
        // The node's position in the cluster; ids are unique across nodes by prefix.
        prefix: init
            .node_ids
            .iter()
            .position(|id| *id == init.node_id)
            .unwrap_or(0) as u64
            + 1,
        counter: 0,
    })
}
