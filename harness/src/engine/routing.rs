//! Routing: every message into the network, deliveries out of it to nodes, clients
//! and services, and what the backend reports about the nodes.

use super::*;

/// Skipped lines warned about individually, per node, with `--bad-lines skip`.
const SKIP_WARNINGS_PER_NODE: u64 = 3;

impl<'a, B: Backend> Engine<'a, B> {
    /// A node wrote something unusable: stop the run with the report (the default), or
    /// with `--bad-lines skip` drop it, warn about the first few per node and count it.
    pub(super) fn reject_output(&mut self, failure: Failure) -> Result<(), Stop> {
        let Some(node) = failure.node.filter(|_| self.settings.skip_bad_lines) else {
            return Err(Stop::Failed(failure));
        };
        self.skipped_lines[node] += 1;
        if self.skipped_lines[node] <= SKIP_WARNINGS_PER_NODE {
            eprintln!(
                "straum: skipping (--bad-lines skip): {}\n  line: {}",
                failure.cause,
                failure.line.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Put a message into the network (every send goes through here).
    pub(super) fn send(&mut self, now: Nanos, src: Addr, dest: Addr, body: Box<RawValue>) {
        if self.settings.log_net_send {
            self.log_message(":send", self.net.next_id(), src, dest, &body);
        }
        self.net.send(now, src, dest, body);
    }

    pub(super) fn log_message(&self, what: &str, id: u64, src: Addr, dest: Addr, body: &RawValue) {
        eprintln!(
            "{what} {}",
            envelope_text(self.book.name(src), self.book.name(dest), body).replacen(
                '{',
                &format!("{{\"id\":{id},"),
                1
            )
        );
    }

    pub(super) fn deliver(&mut self, packet: Packet, now: Nanos) -> Result<(), Stop> {
        if self.settings.log_net_recv {
            self.log_message(":recv", packet.id, packet.src, packet.dest, &packet.body);
        }
        match packet.dest {
            Addr::Node(node) => {
                let node = node as usize;
                self.line.clear();
                encode_delivery(
                    &mut self.line,
                    packet.id,
                    self.book.json_name(packet.src),
                    self.book.json_name(packet.dest),
                    &packet.body,
                );
                let is_reinit = self
                    .nodes
                    .reinit(node)
                    .is_some_and(|r| r.client == packet.src);
                if !self.nodes.accepts(node) && !is_reinit {
                    return self.nodes.hold(node, self.line.clone()).map_err(|held| {
                        Failure::of(
                            node,
                            format!(
                                "{held} deliveries are waiting for node {}, which is paused or restarting",
                                self.settings.node_ids[node]
                            ),
                        )
                    });
                }
                let line = std::mem::take(&mut self.line);
                let handed = self.hand_to_node(node, &line);
                self.line = line;
                handed
            }
            Addr::Client(k) => {
                match self.owners[k as usize] {
                    ClientOwner::Init(node) | ClientOwner::Setup(node) => {
                        self.on_handshake_reply(node, &packet)?
                    }
                    ClientOwner::Worker(worker) => self.on_client_reply(worker, &packet, now),
                    ClientOwner::Reinit(node) => self.on_reinit_reply(node, &packet)?,
                    ClientOwner::Retired => {}
                }
                Ok(())
            }
            Addr::Service(service) => {
                let request: Value = serde_json::from_str(packet.body.get()).unwrap_or(Value::Null);
                let caller = self.book.name(packet.src).to_string();
                let reply = self.services.handle(service as usize, &caller, &request);
                self.send(now, packet.dest, packet.src, to_raw(&reply));
                Ok(())
            }
        }
    }

    /// The node a client talks to, if the client belongs to one: its init, setup or
    /// re-init client, or a worker's client bound to that node.
    fn peer_of(&self, client: u32) -> Option<NodeIndex> {
        match self.owners.get(client as usize)? {
            ClientOwner::Init(node) | ClientOwner::Setup(node) | ClientOwner::Reinit(node) => {
                Some(*node)
            }
            ClientOwner::Worker(worker) => Some(self.workers[*worker].node),
            ClientOwner::Retired => None,
        }
    }

    /// "the init client of node n1", "a client whose requests go to node n2", …
    fn client_role(&self, client: u32, peer: NodeIndex) -> String {
        let peer = &self.settings.node_ids[peer];
        match self.owners[client as usize] {
            ClientOwner::Init(_) => format!("the client that sent init to node {peer}"),
            ClientOwner::Setup(_) => format!("the client that set up node {peer}"),
            ClientOwner::Reinit(_) => format!("the client that re-initialised node {peer}"),
            _ => format!("a client whose requests go to node {peer}"),
        }
    }

    /// Hand one encoded delivery to a node's stdin.
    pub(super) fn hand_to_node(&mut self, node: NodeIndex, line: &[u8]) -> Result<(), Stop> {
        self.backend
            .deliver(node, line)
            .map_err(|DeliveryError::InboxFull { queued }| {
                // The node that floods, if one does, is the cause (often the receiver
                // itself, which sends instead of reading).
                let mut suspects = std::iter::once(node).chain(0..self.settings.node_ids.len());
                if let Some(flood) = suspects.find_map(|n| self.check_flood(n).err()) {
                    return flood;
                }
                Failure::of(
                    node,
                    format!(
                        "node {} stopped reading its stdin: {queued} deliveries are waiting",
                        self.settings.node_ids[node]
                    ),
                )
            })
    }

    pub(super) fn on_event(&mut self, event: BackendEvent) -> Result<(), Stop> {
        match event {
            BackendEvent::Output { node, envelope } => {
                self.sent_this_second[node] += 1;
                self.check_flood(node)?;
                let name = &self.settings.node_ids[node];
                let Some(src) = self.book.lookup(&envelope.src) else {
                    return self.reject_output(Failure {
                        node: Some(node),
                        cause: format!(
                            "node {name} sent a message from {:?}, which is not a node or client of this run",
                            envelope.src
                        ),
                        line: Some(envelope_text(&envelope.src, &envelope.dest, &envelope.body)),
                    });
                };
                let Some(dest) = self.book.lookup(&envelope.dest) else {
                    return self.reject_output(Failure {
                        node: Some(node),
                        cause: format!(
                            "node {name} sent a message to {:?}, which is not a node or client of this run (nodes: {})",
                            envelope.dest,
                            self.settings.node_ids.join(", ")
                        ),
                        line: Some(envelope_text(&envelope.src, &envelope.dest, &envelope.body)),
                    });
                };
                if src != Addr::Node(node as u32) {
                    return self.reject_output(Failure {
                        node: Some(node),
                        cause: format!(
                            "node {name} sent a message claiming to be from {:?}; a node may \
                             only send as itself (\"src\": {name:?})",
                            envelope.src
                        ),
                        line: Some(envelope_text(&envelope.src, &envelope.dest, &envelope.body)),
                    });
                }
                if let Addr::Client(client) = dest {
                    if let Some(peer) = self.peer_of(client).filter(|peer| *peer != node) {
                        return self.reject_output(Failure {
                            node: Some(node),
                            cause: format!(
                                "node {name} sent {} to {}, {}: a reply counts only from \
                                 the node the request was sent to",
                                describe_reply(&envelope.body),
                                envelope.dest,
                                self.client_role(client, peer)
                            ),
                            line: Some(envelope_text(
                                &envelope.src,
                                &envelope.dest,
                                &envelope.body,
                            )),
                        });
                    }
                }
                self.send(self.backend.now(), src, dest, envelope.body);
                Ok(())
            }
            BackendEvent::BadLine { node, line, reason } => self.reject_output(Failure {
                node: Some(node),
                cause: format!(
                    "node {} printed a line to stdout that straum cannot use: {reason}. \
                     Logging belongs on stderr",
                    self.settings.node_ids[node]
                ),
                line: Some(line),
            }),
            BackendEvent::StdoutClosed { node, generation } => {
                if self.nodes.is_live(node, generation) {
                    self.closed_stdout
                        .push((self.backend.now() + STDOUT_CLOSED_GRACE, node));
                }
                Ok(())
            }
            BackendEvent::Exited {
                node,
                generation,
                status,
            } => {
                if !self.nodes.is_live(node, generation) {
                    // A killed process, or an earlier incarnation of a restarted one.
                    return Ok(());
                }
                Err(Failure::of(
                    node,
                    format!(
                        "node {} {status} during the {}",
                        self.settings.node_ids[node],
                        match self.phase {
                            Phase::Init => "init phase",
                            Phase::Setup => "setup phase",
                            Phase::Main { .. } => "main phase",
                            Phase::Recovery { .. } => "recovery wait",
                            Phase::Final => "final phase",
                        }
                    ),
                ))
            }
            BackendEvent::Performed { worker, op, reply } => {
                self.on_performed(worker, op, reply, self.backend.now())
            }
            BackendEvent::Interrupted { signal } => Err(Stop::Interrupted(signal)),
        }
    }
}

/// "an init_ok reply", "a reply" or "a message", for a report about a misdirected one.
fn describe_reply(body: &RawValue) -> String {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<&'a str>,
        in_reply_to: Option<&'a RawValue>,
    }
    match serde_json::from_str::<Head>(body.get()) {
        Ok(Head {
            kind: Some(kind),
            in_reply_to: Some(_),
        }) => {
            let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            format!("{article} {kind} reply")
        }
        Ok(Head {
            in_reply_to: Some(_),
            ..
        }) => "a reply".to_string(),
        _ => "a message".to_string(),
    }
}
