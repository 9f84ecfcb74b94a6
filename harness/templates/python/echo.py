%%
    def on_echo(self, msg, body):
        """echo → echo_ok: send the `echo` value straight back."""
        self.reply(msg, {"type": "echo_ok", "echo": body["echo"]})
