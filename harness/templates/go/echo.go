%%
	case "echo":
		n.reply(msg, map[string]any{"type": "echo_ok", "echo": msg.Body["echo"]})
