//! Faults and watchdogs: carrying out the nemesis's starts and stops (network
//! settings and process actions), holding deliveries for paused or restarting nodes,
//! noticing nodes that stopped reading, and progress reports.

use super::*;

impl<'a, B: Backend> Engine<'a, B> {
    /// Fire the nemesis's due starts and stops (or, with `heal`, stop every fault),
    /// carry out the process actions they ask for, and record them.
    pub(super) fn run_nemesis(&mut self, now: Nanos, heal: bool) -> Result<(), Stop> {
        let grudge_before = self.net.faults_mut().cut.clone();
        let mut ctx = FaultContext {
            faults: self.net.faults_mut(),
            nodes: &self.settings.node_ids,
            actions: Vec::new(),
        };
        let events = if heal {
            self.nemesis.heal_all(&mut ctx)
        } else {
            self.nemesis.fire_due(now, &mut ctx)
        };
        let actions = ctx.actions;
        self.record_nemesis(now, events);
        if self.net.faults_mut().cut != grudge_before {
            let cut = self.net.faults_mut().cut.clone();
            self.backend.set_grudge(cut.as_deref()).map_err(|e| {
                Stop::Failed(Failure {
                    node: None,
                    cause: format!("could not change the real network's partition: {e}"),
                    line: None,
                })
            })?;
        }
        for action in actions {
            self.act_on_process(action, now)?;
        }
        Ok(())
    }

    pub(super) fn act_on_process(&mut self, action: ProcessAction, now: Nanos) -> Result<(), Stop> {
        match action {
            ProcessAction::Kill(node) => {
                self.backend.kill(node);
                self.nodes.killed(node);
                self.net.faults_mut().set_down(node, true);
            }
            ProcessAction::Restart(node) => {
                let generation = self.backend.restart(node).map_err(|e| {
                    Failure::of(
                        node,
                        format!(
                            "could not restart node {}: {e}",
                            self.settings.node_ids[node]
                        ),
                    )
                })?;
                self.net.faults_mut().set_down(node, false);
                if self.backend.performs_operations() {
                    // A real system restarts on its own terms: nothing to initialise.
                    self.nodes.restarted_ready(node, generation);
                    return Ok(());
                }
                let client = self.book.open_client();
                self.owners.push(ClientOwner::Reinit(node));
                let reinit = Reinit {
                    client,
                    deadline: now + self.settings.init_timeout,
                };
                self.nodes.restarted(node, generation, reinit);
                let body = serde_json::json!({
                    "type": "init",
                    "node_id": self.settings.node_ids[node],
                    "node_ids": self.settings.node_ids,
                    "msg_id": 1,
                });
                self.send(now, client, Addr::Node(node as u32), to_raw(&body));
            }
            ProcessAction::Pause(node) => {
                self.backend.pause(node);
                self.nodes.set_paused(node, true);
            }
            ProcessAction::Resume(node) => {
                self.backend.resume(node);
                self.nodes.set_paused(node, false);
                self.release_held(node)?;
            }
            ProcessAction::SetClock(node, offset_ms) => {
                self.backend
                    .set_clock_offset(node, offset_ms)
                    .map_err(|e| {
                        Failure::of(
                            node,
                            format!(
                                "could not move the clock of node {}: {e}",
                                self.settings.node_ids[node]
                            ),
                        )
                    })?;
            }
        }
        Ok(())
    }

    /// Hand a node the deliveries held for it while it could not take them.
    pub(super) fn release_held(&mut self, node: NodeIndex) -> Result<(), Stop> {
        for line in self.nodes.release(node) {
            self.hand_to_node(node, &line)?;
        }
        Ok(())
    }

    /// Look for nodes that stopped reading their stdin, and start a new window for
    /// counting floods.
    pub(super) fn watch(&mut self, now: Nanos) -> Result<(), Stop> {
        self.next_watch = now + WATCH_INTERVAL;
        if now >= self.next_progress {
            self.next_progress = now + PROGRESS_INTERVAL;
            self.report_progress(now);
        }
        for node in 0..self.settings.node_ids.len() {
            let live = self.nodes.is_live(node, self.nodes.generation(node));
            if self.nodes.is_paused(node) || !live {
                continue;
            }
            let stalled = self.backend.write_blocked_for(node).unwrap_or(0);
            if stalled >= STDIN_STALL_LIMIT {
                self.check_flood(node)?;
                return Err(Failure::of(
                    node,
                    format!(
                        "node {} stopped reading its stdin: a delivery has waited {} s to be written",
                        self.settings.node_ids[node],
                        stalled / SECOND
                    ),
                ));
            }
        }
        if now - self.second_started >= SECOND {
            self.second_started = now;
            std::mem::swap(&mut self.sent_this_second, &mut self.sent_last_second);
            self.sent_this_second.iter_mut().for_each(|n| *n = 0);
        }
        Ok(())
    }

    /// A node that sent more than `--max-node-rate` messages in this or the previous
    /// second is flooding. Every watchdog that notices a node misbehaving asks this
    /// first, so a flood is reported as the cause whichever symptom shows first.
    pub(super) fn check_flood(&self, node: NodeIndex) -> Result<(), Stop> {
        let limit = self.settings.max_node_rate;
        if self.sent_this_second[node] <= limit && self.sent_last_second[node] <= limit {
            return Ok(());
        }
        Err(Failure::of(
            node,
            format!(
                "node {} is flooding the network: it sent more than {limit} messages within one second (--max-node-rate)",
                self.settings.node_ids[node]
            ),
        ))
    }

    pub(super) fn report_progress(&mut self, now: Nanos) {
        let main_start = if matches!(self.phase, Phase::Init | Phase::Setup) {
            now
        } else {
            self.phase_start
        };
        self.counts.phase = match self.phase {
            Phase::Init => "init",
            Phase::Setup => "setup",
            Phase::Main { .. } => "running",
            Phase::Recovery { .. } => "recovery",
            Phase::Final => "final reads",
        };
        self.counts.elapsed = (now - main_start) as f64 / 1e9;
        self.counts.total = self.settings.time_limit as f64 / 1e9;
        self.counts.faults = self.nemesis.active();
        self.progress.update(&self.counts);
    }

    pub(super) fn record_nemesis(&mut self, now: Nanos, events: Vec<NemesisEvent>) {
        for event in events {
            for (value, _) in [(event.invoke_value, 0), (event.completion_value, 1)] {
                self.history.record(OpRecord {
                    time: now - self.phase_start,
                    kind: OpType::Info,
                    process: Process::Nemesis,
                    f: event.f,
                    value,
                    error: None,
                    exception: None,
                    final_read: false,
                    node: None,
                });
            }
        }
    }
}
