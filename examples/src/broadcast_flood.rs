//! A correct but wasteful broadcast node, the Gossip Glomers 3b answer that 3d rejects:
//! every node that learns a value (from a client or a peer) sends it to every other
//! node, so one broadcast costs N × (N − 1) messages. Without faults every value
//! reaches every node at once (it passes 3b); with 25 nodes it sends hundreds of
//! messages per operation, far over 3d's 30.

use std::collections::BTreeSet;

use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError};

/// The flooding node.
#[derive(Default)]
pub struct FloodingBroadcast {
    values: BTreeSet<u64>,
}

impl FloodingBroadcast {
    /// Remember `value`; the first time, send it to every other node.
    fn learn(&mut self, value: u64, ctx: &mut Context) {
        if self.values.insert(value) {
            let me = ctx.node_id().to_string();
            let peers: Vec<String> = ctx.node_ids().to_vec();
            for peer in peers.iter().filter(|p| **p != me) {
                ctx.send(peer, Body::new("flood").with("message", value));
            }
        }
    }
}

impl Node for FloodingBroadcast {
    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        match msg.body.kind.as_str() {
            "topology" => ctx.reply(&msg, Body::new("topology_ok")),
            "broadcast" | "flood" => {
                let value = msg.body.get_u64("message").ok_or_else(|| {
                    RpcError::new(ErrorCode::MalformedRequest, "no integer \"message\"")
                })?;
                if msg.body.kind == "broadcast" {
                    ctx.reply(&msg, Body::new("broadcast_ok"));
                }
                self.learn(value, ctx);
            }
            "read" => {
                let messages: Vec<u64> = self.values.iter().copied().collect();
                ctx.reply(&msg, Body::new("read_ok").with("messages", messages));
            }
            other => {
                return Err(RpcError::new(
                    ErrorCode::NotSupported,
                    format!("flooding broadcast node does not handle {other:?}"),
                ))
            }
        }
        Ok(())
    }
}
