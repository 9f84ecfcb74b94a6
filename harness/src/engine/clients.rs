//! Client workers: which worker takes the next operation, the requests of an
//! operation (several for multi-RPC workloads), replies, timeouts and completions.

use super::*;

impl<'a, B: Backend> Engine<'a, B> {
    pub(super) fn issue_due_ops(&mut self, now: Nanos) {
        match self.phase {
            Phase::Main { end } => {
                while let Some(at) = self.next_op_at {
                    if at > now || now >= end {
                        break;
                    }
                    let Some(worker) = self.free_worker() else {
                        break;
                    };
                    let elapsed = std::time::Duration::from_nanos(now - self.phase_start);
                    self.workload.observe_time(elapsed);
                    let process = self.workers[worker].process;
                    let next = self.workload.next_op_for(worker, process, &mut self.op_rng);
                    let Some(invocation) = next else {
                        self.next_op_at = None;
                        break;
                    };
                    self.invoke(worker, invocation, now);
                    // Stagger from the scheduled time, not from when the loop got to it,
                    // so wake-up latency does not erode the rate; but never catch up on
                    // a backlog (workers all busy) with a burst.
                    let base = if now - at < MAX_SCHEDULE_LAG { at } else { now };
                    let delay = self.schedule_rng.gen_range(0.0..2.0 / self.settings.rate);
                    self.next_op_at = Some(base + (delay * 1e9) as Nanos);
                }
            }
            Phase::Final => {
                if self.final_deadline.is_some_and(|d| now >= d) {
                    return;
                }
                let pause = self.workload.final_op_pause().as_nanos() as f64;
                for worker in 0..self.workers.len() {
                    let w = &self.workers[worker];
                    if w.final_done || w.pending.is_some() || w.final_not_before > now {
                        continue;
                    }
                    match self.workload.final_op(worker, w.finals) {
                        Some(invocation) => {
                            let w = &mut self.workers[worker];
                            w.finals += 1;
                            if pause > 0.0 {
                                let wait = self.schedule_rng.gen_range(0.0..2.0 * pause);
                                w.final_not_before = now + wait as Nanos;
                            }
                            self.invoke(worker, invocation, now);
                        }
                        None => self.workers[worker].final_done = true,
                    }
                }
            }
            Phase::Init | Phase::Setup | Phase::Recovery { .. } => {}
        }
    }

    /// The next free worker, round-robin, so that ops spread evenly over the nodes and
    /// a seed gives the same (process, node) sequence whenever workers keep up.
    pub(super) fn free_worker(&self) -> Option<usize> {
        let count = self.workers.len();
        (0..count)
            .map(|offset| (self.next_worker + offset) % count)
            .find(|w| self.workers[*w].pending.is_none())
    }

    pub(super) fn invoke(&mut self, worker: usize, invocation: Invocation, now: Nanos) {
        self.next_worker = (worker + 1) % self.workers.len();
        let w = &self.workers[worker];
        self.counts.invoked += 1;
        self.history.record(OpRecord {
            time: now - self.phase_start,
            kind: OpType::Invoke,
            process: Process::Client(w.process),
            f: invocation.f,
            value: invocation.value.clone(),
            error: None,
            exception: None,
            final_read: invocation.final_read,
            node: Some(self.settings.node_ids[w.node].clone()),
        });
        if self.backend.performs_operations() {
            self.perform(worker, invocation, now);
            return;
        }
        let client = self.client_of(worker);
        let step = self.workload.invoke(client_id(client), &invocation);
        self.workers[worker].pending = Some(Pending {
            msg_id: 0,
            invocation,
        });
        self.take_step(worker, step, now);
    }

    /// Mode B: the backend's client performs the whole operation; it is numbered like
    /// a request so that its timeout and its outcome find it.
    fn perform(&mut self, worker: usize, invocation: Invocation, now: Nanos) {
        let w = &mut self.workers[worker];
        let op = w.next_msg_id;
        w.next_msg_id += 1;
        let node = w.node;
        self.backend.perform(worker, op, node, &invocation);
        self.workers[worker].pending = Some(Pending {
            msg_id: op,
            invocation,
        });
        self.timeouts
            .push(Reverse((now + self.settings.rpc_timeout, worker, op)));
    }

    /// Mode B: a client's answer to operation `op` of `worker`.
    pub(super) fn on_performed(
        &mut self,
        worker: usize,
        op: u64,
        reply: Result<crate::realnet::adapter::Reply, String>,
        now: Nanos,
    ) -> Result<(), Stop> {
        // An unusable client stops the run whatever operation it was about (a line
        // nobody asked for belongs to none).
        let reply = reply.map_err(|cause| {
            Stop::Failed(Failure {
                node: None,
                cause,
                line: None,
            })
        })?;
        let Some(pending) = &self.workers[worker].pending else {
            return Ok(());
        };
        if pending.msg_id != op {
            return Ok(()); // a late answer to an operation that already timed out
        }
        let completion = crate::realnet::adapter::completion(&pending.invocation, reply);
        self.complete(worker, completion, now);
        Ok(())
    }

    /// Carry out what the workload said to do next for a worker's operation.
    pub(super) fn take_step(&mut self, worker: usize, step: Step, now: Nanos) {
        match step {
            Step::Done(completion) => self.complete(worker, completion, now),
            Step::Send(body) => self.send_request(worker, body, now),
        }
    }

    /// The worker's client, opening a new one if it has none.
    pub(super) fn client_of(&mut self, worker: usize) -> Addr {
        match self.workers[worker].client {
            Some(client) => client,
            None => {
                let client = self.book.open_client();
                self.owners.push(ClientOwner::Worker(worker));
                let w = &mut self.workers[worker];
                w.client = Some(client);
                w.next_msg_id = 1;
                client
            }
        }
    }

    /// Send one request of the worker's pending operation, with a fresh `msg_id` and
    /// its own timeout.
    pub(super) fn send_request(&mut self, worker: usize, mut body: Map<String, Value>, now: Nanos) {
        let client = self.client_of(worker);
        let w = &mut self.workers[worker];
        let msg_id = w.next_msg_id;
        w.next_msg_id += 1;
        let node = w.node;
        if let Some(pending) = &mut w.pending {
            pending.msg_id = msg_id;
        }
        body.insert("msg_id".into(), Value::from(msg_id));
        self.timeouts
            .push(Reverse((now + self.settings.rpc_timeout, worker, msg_id)));
        self.send(
            now,
            client,
            Addr::Node(node as u32),
            to_raw(&Value::Object(body)),
        );
    }

    pub(super) fn complete(&mut self, worker: usize, completion: Completion, now: Nanos) {
        let reusable = self.workload.client_reusable();
        let concurrency = self.workers.len() as u64;
        let w = &mut self.workers[worker];
        let Some(pending) = w.pending.take() else {
            return;
        };
        match completion.kind {
            OpType::Ok => self.counts.ok += 1,
            OpType::Fail => self.counts.fail += 1,
            _ => self.counts.info += 1,
        }
        self.history.record(OpRecord {
            time: now - self.phase_start,
            kind: completion.kind,
            process: Process::Client(w.process),
            f: pending.invocation.f,
            value: completion.value,
            error: completion.error,
            exception: completion.exception,
            final_read: pending.invocation.final_read,
            node: None,
        });
        if completion.kind == OpType::Info {
            w.process += concurrency;
            if self.backend.performs_operations() {
                self.backend.retire_client(worker);
            } else if !reusable {
                if let Some(Addr::Client(k)) = w.client.take() {
                    self.owners[k as usize] = ClientOwner::Retired;
                    self.workload.client_closed(k as u64);
                }
            }
        }
    }

    pub(super) fn on_client_reply(&mut self, worker: usize, packet: &Packet, now: Nanos) {
        let Some(pending) = &self.workers[worker].pending else {
            return;
        };
        let body = match serde_json::from_str::<Map<String, Value>>(packet.body.get()) {
            Ok(body) => body,
            Err(why) => {
                // A body serde_json cannot hold (nested too deep, say) is still a reply
                // to this op if its top level says so; then the op ends indeterminate
                // instead of waiting for a timeout.
                if reply_target(packet.body.get()).is_some_and(|id| id.matches(pending.msg_id)) {
                    let completion = malformed_reply(
                        &pending.invocation,
                        &format!("the reply body cannot be read ({why})"),
                        packet.body.get(),
                    );
                    self.complete(worker, completion, now);
                }
                return;
            }
        };
        match body.get("in_reply_to") {
            Some(id) if id.as_u64() == Some(pending.msg_id) => {}
            Some(id) if id.as_u64().is_none() && id.is_number() => {
                let completion = malformed_reply(
                    &pending.invocation,
                    &format!(
                        "in_reply_to {} is not an integer straum can match",
                        straum_workloads::quote::abridge_json(id)
                    ),
                    packet.body.get(),
                );
                self.complete(worker, completion, now);
                return;
            }
            _ => return,
        }
        let step = if body.get("type").and_then(Value::as_str) == Some("error") {
            Step::Done(self.workload.error_style().on_error(
                &pending.invocation,
                body.get("code").and_then(Value::as_i64),
                body.get("text").and_then(Value::as_str),
            ))
        } else {
            let client = client_id(
                self.workers[worker]
                    .client
                    .expect("a pending op has a client"),
            );
            self.workload.reply(client, &pending.invocation, &body)
        };
        self.take_step(worker, step, now);
    }
}

/// What a reply's top-level `in_reply_to` says, read without parsing anything nested.
enum ReplyTarget {
    /// An integer msg_id.
    Id(u64),
    /// A number that is no u64 (`1e400`, `-1`, `1.5`).
    Unusable,
}

impl ReplyTarget {
    /// Whether this reply answers request `msg_id` (an unusable id answers whatever is
    /// pending: the node meant some request, and it cannot be matched to another).
    fn matches(&self, msg_id: u64) -> bool {
        match self {
            ReplyTarget::Id(id) => *id == msg_id,
            ReplyTarget::Unusable => true,
        }
    }
}

fn reply_target(body: &str) -> Option<ReplyTarget> {
    // Raw values are skipped without serde_json's nesting limit, so this reads the top
    // level of any well-formed body.
    let fields: std::collections::HashMap<&str, &RawValue> = serde_json::from_str(body).ok()?;
    let id = fields.get("in_reply_to")?;
    match serde_json::from_str::<Value>(id.get()) {
        Ok(id) => Some(id.as_u64().map_or(ReplyTarget::Unusable, ReplyTarget::Id)),
        Err(_) => Some(ReplyTarget::Unusable),
    }
}

/// An indeterminate completion for a reply the client cannot use, quoting it abridged.
fn malformed_reply(op: &Invocation, reason: &str, body: &str) -> Completion {
    Completion::exception(
        op.value.clone(),
        "malformed-rpc-response",
        &format!(
            "Malformed RPC response: {reason} in {}",
            straum_workloads::quote::abridge(body)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_level_of_a_reply_is_read_past_any_nesting_and_number_range() {
        let deep = format!(
            "{{\"type\":\"echo_ok\",\"echo\":{}{},\"in_reply_to\":7}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(
            serde_json::from_str::<Value>(&deep).is_err(),
            "past the depth limit"
        );
        assert!(matches!(reply_target(&deep), Some(ReplyTarget::Id(7))));
        let huge = r#"{"type":"echo_ok","in_reply_to":1e400}"#;
        assert!(matches!(reply_target(huge), Some(ReplyTarget::Unusable)));
        assert!(ReplyTarget::Unusable.matches(3));
        assert!(reply_target(r#"{"type":"echo_ok"}"#).is_none());
        assert!(reply_target("[1]").is_none());
    }

    #[test]
    fn integers_of_any_size_keep_their_digits() {
        let text = r#"{"id":1180591620717411303424123,"f":1.0,"g":1}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(value["id"].to_string(), "1180591620717411303424123");
        assert_ne!(value["f"], value["g"]);
    }
}
