	messages []any
%%
	case "topology":
		// TODO (3b): remember your neighbours, or ignore them and choose your own.
		n.reply(msg, map[string]any{"type": "topology_ok"})
	case "broadcast":
		n.messages = append(n.messages, msg.Body["message"])
		// TODO (3b): send the message on to the other nodes (and handle their
		// copies: a message type of your own). 3c: resend until acknowledged.
		n.reply(msg, map[string]any{"type": "broadcast_ok"})
	case "read":
		n.reply(msg, map[string]any{"type": "read_ok", "messages": append([]any{}, n.messages...)})
