//! Init and setup: one request per node, every reply due by a deadline; and the
//! re-initialisation of a restarted node.

use super::*;

impl<'a, B: Backend> Engine<'a, B> {
    /// Send every node its `init` and wait for every `init_ok`. At most
    /// [`INIT_WINDOW`] inits are unanswered at a time: each carries all node ids, so a
    /// thousand nodes' inits at once would be a thousand copies of that list in memory.
    pub(super) fn init_nodes(&mut self) -> Result<(), Stop> {
        let mut node_ids = Vec::new();
        serde_json::to_writer(&mut node_ids, &self.settings.node_ids)
            .expect("writing to a Vec cannot fail");
        self.init_node_ids = String::from_utf8(node_ids).expect("serde_json writes UTF-8");
        self.unanswered = self.settings.node_ids.len();
        self.send_inits(self.backend.now());
        self.drive(Self::handshakes_done)
    }

    /// Send inits to the next nodes while the window has room.
    fn send_inits(&mut self, now: Nanos) {
        let count = self.settings.node_ids.len();
        while self.inits_sent < count && self.inits_sent - (count - self.unanswered) < INIT_WINDOW {
            let node = self.inits_sent;
            self.inits_sent += 1;
            self.handshake_deadline = now + self.settings.init_timeout;
            let client = self.book.open_client();
            self.owners.push(ClientOwner::Init(node));
            // Keys in the order serde_json's map used to give them.
            let body = format!(
                "{{\"msg_id\":1,\"node_id\":{},\"node_ids\":{},\"type\":\"init\"}}",
                Value::from(self.settings.node_ids[node].as_str()),
                self.init_node_ids
            );
            let body = RawValue::from_string(body).expect("the init body is JSON");
            self.send(now, client, Addr::Node(node as u32), body);
        }
    }

    /// Init and setup are handshakes: one request per node, every reply due by a
    /// deadline.
    pub(super) fn handshakes_done(&self, now: Nanos) -> Result<bool, Stop> {
        if self.unanswered == 0 {
            return Ok(true);
        }
        if now < self.handshake_deadline {
            return Ok(false);
        }
        let node = self.awaiting.iter().position(|w| *w).unwrap_or(0);
        let name = &self.settings.node_ids[node];
        Err(Failure::of(
            node,
            if self.phase == Phase::Init {
                format!(
                    "node {name} did not answer init within {} ms (expected {{\"type\":\"init_ok\",\"in_reply_to\":1}})",
                    self.settings.init_timeout / MS
                )
            } else {
                format!(
                    "node {name} did not answer its setup request within {} ms",
                    self.settings.setup_timeout / MS
                )
            },
        ))
    }

    /// Maelstrom opens one setup client per node after init (so workers' client ids
    /// start after them); workloads with a setup request send it from there.
    pub(super) fn set_up_nodes(&mut self) -> Result<(), Stop> {
        let now = self.backend.now();
        self.phase = Phase::Setup;
        self.handshake_deadline = now + self.settings.setup_timeout;
        self.unanswered = 0;
        for node in 0..self.settings.node_ids.len() {
            let client = self.book.open_client();
            self.owners.push(ClientOwner::Setup(node));
            let request = self.workload.setup_request(node);
            self.awaiting[node] = request.is_some();
            self.unanswered += usize::from(request.is_some());
            if let Some(mut body) = request {
                body.insert("msg_id".into(), Value::from(1));
                self.send(
                    now,
                    client,
                    Addr::Node(node as u32),
                    to_raw(&Value::Object(body)),
                );
            }
        }
        self.drive(Self::handshakes_done)
    }

    pub(super) fn on_reinit_reply(&mut self, node: NodeIndex, packet: &Packet) -> Result<(), Stop> {
        if self
            .nodes
            .reinit(node)
            .is_none_or(|r| r.client != packet.dest)
        {
            return Ok(());
        }
        let body: Map<String, Value> = serde_json::from_str(packet.body.get()).unwrap_or_default();
        if body.get("in_reply_to").and_then(Value::as_u64) != Some(1) {
            return Ok(());
        }
        if body.get("type").and_then(Value::as_str) != Some("init_ok") {
            return Err(Failure::of(
                node,
                format!(
                    "node {} answered init after its restart with {} but an init_ok was expected",
                    self.settings.node_ids[node],
                    packet.body.get()
                ),
            ));
        }
        self.nodes.reinitialised(node);
        self.release_held(node)
    }

    pub(super) fn on_handshake_reply(
        &mut self,
        node: NodeIndex,
        packet: &Packet,
    ) -> Result<(), Stop> {
        let name = &self.settings.node_ids[node];
        let what = if self.phase == Phase::Init {
            "init"
        } else {
            "its setup request"
        };
        let Ok(body) = serde_json::from_str::<Map<String, Value>>(packet.body.get()) else {
            return Err(Failure::of(
                node,
                format!(
                    "node {name} answered {what} with a body that is not a JSON object: {}",
                    packet.body.get()
                ),
            ));
        };
        if !self.awaiting[node] || body.get("in_reply_to").and_then(Value::as_u64) != Some(1) {
            return Ok(());
        }
        let verdict = match body.get("type").and_then(Value::as_str) {
            Some("error") => Err("an error".to_string()),
            Some("init_ok") if self.phase == Phase::Init => Ok(()),
            _ if self.phase == Phase::Init => Err("something other than init_ok".to_string()),
            _ => self.workload.check_setup_reply(&body),
        };
        match verdict {
            Ok(()) => {
                self.awaiting[node] = false;
                self.unanswered -= 1;
                if self.phase == Phase::Init {
                    self.send_inits(self.backend.now());
                }
                Ok(())
            }
            Err(reason) => Err(Failure::of(
                node,
                format!(
                    "node {name} answered {what} with {reason}: {}",
                    packet.body.get()
                ),
            )),
        }
    }
}
