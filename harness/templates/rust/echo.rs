%%
            "echo" => {
                let echo = msg.body.get("echo").cloned().unwrap_or(Value::Null);
                ctx.reply(&msg, Body::new("echo_ok").with("echo", echo));
            }
