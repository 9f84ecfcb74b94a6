        self.messages = []
%%
    def on_topology(self, msg, body):
        # TODO (3b): remember your neighbours, body["topology"][self.node_id],
        # or ignore them and choose your own.
        self.reply(msg, {"type": "topology_ok"})

    def on_broadcast(self, msg, body):
        self.messages.append(body["message"])
        # TODO (3b): send the message on to the other nodes (and handle their
        # copies: a message type of your own). 3c: resend until acknowledged.
        self.reply(msg, {"type": "broadcast_ok"})

    def on_read(self, msg, body):
        self.reply(msg, {"type": "read_ok", "messages": self.messages})
