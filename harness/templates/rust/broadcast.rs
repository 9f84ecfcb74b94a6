    messages: Vec<Value>,
%%
            "topology" => {
                // TODO (3b): remember your neighbours, or ignore them and choose your own.
                ctx.reply(&msg, Body::new("topology_ok"));
            }
            "broadcast" => {
                let message = msg.body.get("message").cloned().unwrap_or(Value::Null);
                self.messages.push(message);
                // TODO (3b): send the message on to the other nodes (and handle their
                // copies: a message type of your own). 3c: resend until acknowledged.
                ctx.reply(&msg, Body::new("broadcast_ok"));
            }
            "read" => {
                let messages = Value::Array(self.messages.clone());
                ctx.reply(&msg, Body::new("read_ok").with("messages", messages));
            }
