//! An echo node: answers `echo` with `echo_ok` carrying the same `echo` value.

use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError};

/// The node (see the module documentation).
pub struct Echo;

impl Node for Echo {
    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        match msg.body.kind.as_str() {
            "echo" => {
                let echo = msg.body.get("echo").cloned().unwrap_or_default();
                ctx.reply(&msg, Body::new("echo_ok").with("echo", echo));
                Ok(())
            }
            other => Err(RpcError::new(
                ErrorCode::NotSupported,
                format!("echo node does not handle {other:?}"),
            )),
        }
    }
}
