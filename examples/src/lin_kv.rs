//! A linearizable key/value node replicated with Raft (Maelstrom's `lin-kv` workload,
//! the classic chapter-6 Raft node of Maelstrom's tutorial).
//!
//! Every node keeps a Raft log of client operations (`read`, `write`, `cas`) and
//! applies committed entries, in log order, to a key → value map. Keys are JSON values,
//! stored under their JSON text; values are kept as JSON.
//!
//! * **Election.** A follower that hears nothing from a leader for a randomized
//!   150–300 ms becomes a candidate: it bumps its term, votes for itself and asks every
//!   peer for a vote. A node votes at most once per term, and only for a candidate
//!   whose log is at least as up to date as its own (last term, then last index). A
//!   candidate with a majority of votes leads the term and appends a no-op entry, so
//!   entries of earlier terms get committed promptly.
//! * **Replication.** The leader sends `append_entries` to each peer every 50 ms
//!   (heartbeats), and at once when a request arrives or an acknowledgement shows the
//!   peer is behind, with up to 64 entries after the peer's `next_index`. A follower
//!   accepts them only if its log holds the entry before them with the same term (log
//!   matching), truncates a conflicting suffix, and answers with the index it now
//!   matches up to, or with a hint where to retry from.
//! * **Commit.** The leader commits the highest index replicated on a majority whose
//!   entry is of its own term; followers learn the commit index from `append_entries`.
//! * **Clients.** Every request, reads included, goes through the log. The leader
//!   answers once the entry is committed and applied. A follower forwards a request to
//!   the leader it knows and relays the answer itself (replies must come from the node
//!   the client asked); knowing no leader it answers 11 (temporarily unavailable).
//! * **Stepping down.** A leader that sees a higher term, or has not heard from a
//!   majority for 300 ms (check-quorum), becomes a follower and answers its waiting
//!   requests with error 13 (crash, indefinite): their entries may still commit.
//!
//! Messages between nodes carry no `msg_id` (fire and forget, lost ones are covered by
//! the next heartbeat); forwarded client requests are RPCs matched by `in_reply_to`.
//! State lives in memory only: the lin-kv workload partitions nodes but does not
//! restart them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use straum_node::{Body, Context, ErrorCode, Init, Message, Node, RpcError, TimerToken};

/// How often the node's single periodic timer fires.
const TICK: Duration = Duration::from_millis(10);
/// Election timeouts are drawn uniformly from this range of milliseconds.
const ELECTION_MS: (u64, u64) = (150, 300);
/// How often a leader sends `append_entries` to every peer.
const HEARTBEAT: Duration = Duration::from_millis(50);
/// A leader that has not heard from a majority for this long steps down.
const QUORUM_TIMEOUT: Duration = Duration::from_millis(300);
/// The most entries one `append_entries` carries.
const MAX_BATCH: usize = 64;
/// How long a follower remembers a request it forwarded to the leader.
const FORWARD_TTL: Duration = Duration::from_secs(10);

const TICK_TIMER: TimerToken = 0;

/// A small seeded random number generator (splitmix64); the seed is the node id, so
/// runs are reproducible and nodes draw different election timeouts.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn seeded(seed: &str) -> Rng {
        // FNV-1a of the seed text.
        let hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Rng(hash)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// One log entry: the term it was created in and the client operation (`null` for a
/// leader's no-op), as a JSON object `{"type", "key", "value" | "from", "to"}`.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    term: u64,
    op: Value,
}

impl Entry {
    fn to_json(&self) -> Value {
        json!({"term": self.term, "op": self.op})
    }

    fn from_json(v: &Value) -> Option<Entry> {
        Some(Entry {
            term: v.get("term")?.as_u64()?,
            op: v.get("op").cloned().unwrap_or(Value::Null),
        })
    }
}

/// A node's role in its current term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Follower,
    Candidate,
    Leader,
}

/// The Raft node and its key/value state machine.
#[derive(Debug)]
/// The node (see the module documentation).
pub struct Raft {
    id: String,
    /// Every other node.
    peers: Vec<String>,
    rng: Rng,
    /// The latest term this node has seen.
    term: u64,
    /// Whom this node voted for in `term`.
    voted_for: Option<String>,
    /// The log; entry `i` (1-based, as Raft counts) is `log[i - 1]`.
    log: Vec<Entry>,
    role: Role,
    /// The leader of `term`, when known.
    leader: Option<String>,
    /// The highest log index known to be committed.
    commit_index: u64,
    /// The highest log index applied to `kv`.
    last_applied: u64,
    /// The state machine: key (JSON text) → value.
    kv: BTreeMap<String, Value>,
    /// When a follower or candidate starts the next election.
    election_deadline: Duration,
    /// Candidate: who voted for it in `term`.
    votes: BTreeSet<String>,
    /// Leader: the next log index to send to each peer.
    next_index: BTreeMap<String, u64>,
    /// Leader: the highest log index known to be replicated on each peer.
    match_index: BTreeMap<String, u64>,
    /// Leader: when each peer last answered an `append_entries` of this term.
    last_ack: BTreeMap<String, Duration>,
    /// Leader: peers with an unanswered `append_entries` (no eager resend to them).
    in_flight: BTreeSet<String>,
    /// Leader: when the next heartbeat round is due.
    next_heartbeat: Duration,
    /// Leader: client requests waiting for their entry to be applied, by log index.
    pending: BTreeMap<u64, Message>,
    /// Requests forwarded to the leader, by the forward's msg_id: the original request
    /// and when it was forwarded.
    forwarded: BTreeMap<u64, (Message, Duration)>,
    /// Leader: forwarded requests already taken, by (follower, msg_id) and when, so a
    /// duplicated forward is not appended twice.
    forwards_seen: BTreeMap<(String, u64), Duration>,
}

/// The error for a read or cas of a missing key.
fn missing_key() -> Body {
    RpcError::new(ErrorCode::KeyDoesNotExist, "key does not exist").to_body()
}

fn malformed(text: &str) -> RpcError {
    RpcError::new(ErrorCode::MalformedRequest, text)
}

impl Raft {
    /// A node for the cluster `init` describes.
    pub fn new(init: &Init) -> Raft {
        Raft {
            id: init.node_id.clone(),
            peers: (init.node_ids.iter())
                .filter(|n| **n != init.node_id)
                .cloned()
                .collect(),
            rng: Rng::seeded(&init.node_id),
            term: 0,
            voted_for: None,
            log: Vec::new(),
            role: Role::Follower,
            leader: None,
            commit_index: 0,
            last_applied: 0,
            kv: BTreeMap::new(),
            election_deadline: Duration::ZERO,
            votes: BTreeSet::new(),
            next_index: BTreeMap::new(),
            match_index: BTreeMap::new(),
            last_ack: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            next_heartbeat: Duration::ZERO,
            pending: BTreeMap::new(),
            forwarded: BTreeMap::new(),
            forwards_seen: BTreeMap::new(),
        }
    }

    /// Votes or replicas needed out of the whole cluster.
    fn majority(&self) -> usize {
        let nodes = self.peers.len() + 1;
        nodes / 2 + 1
    }

    fn last_index(&self) -> u64 {
        self.log.len() as u64
    }

    /// The term of entry `index` (0 for index 0, before the log starts, or past its end).
    fn term_at(&self, index: u64) -> u64 {
        match index {
            0 => 0,
            i => self.log.get(i as usize - 1).map_or(0, |e| e.term),
        }
    }

    fn reset_election_timer(&mut self, now: Duration) {
        let ms = self.rng.between(ELECTION_MS.0, ELECTION_MS.1);
        self.election_deadline = now + Duration::from_millis(ms);
    }

    /// Become a follower in `term` (at least the current one). A leader stepping down
    /// abandons its waiting requests.
    fn become_follower(&mut self, term: u64, ctx: &mut Context) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.leader = None;
        }
        if self.role == Role::Leader {
            for (_, request) in std::mem::take(&mut self.pending) {
                let error = RpcError::new(ErrorCode::Crash, "leader stepped down; outcome unknown");
                ctx.reply(&request, error.to_body());
            }
            self.reset_election_timer(ctx.now());
        }
        self.role = Role::Follower;
    }

    fn start_election(&mut self, ctx: &mut Context) {
        self.term += 1;
        self.role = Role::Candidate;
        self.voted_for = Some(self.id.clone());
        self.votes = BTreeSet::from([self.id.clone()]);
        self.leader = None;
        self.reset_election_timer(ctx.now());
        let body = Body::new("request_vote")
            .with("term", self.term)
            .with("last_log_index", self.last_index())
            .with("last_log_term", self.term_at(self.last_index()));
        for peer in &self.peers {
            ctx.send(peer, body.clone());
        }
        self.count_votes(ctx);
    }

    fn count_votes(&mut self, ctx: &mut Context) {
        if self.role == Role::Candidate && self.votes.len() >= self.majority() {
            self.become_leader(ctx);
        }
    }

    fn become_leader(&mut self, ctx: &mut Context) {
        self.role = Role::Leader;
        self.leader = Some(self.id.clone());
        let now = ctx.now();
        for peer in &self.peers {
            self.next_index.insert(peer.clone(), self.last_index() + 1);
            self.match_index.insert(peer.clone(), 0);
            self.last_ack.insert(peer.clone(), now);
        }
        self.in_flight.clear();
        self.log.push(Entry {
            term: self.term,
            op: Value::Null,
        });
        self.heartbeat(ctx);
        self.advance_commit(ctx);
    }

    fn on_request_vote(&mut self, msg: &Message, ctx: &mut Context) {
        let (last_index, last_term) = (self.last_index(), self.term_at(self.last_index()));
        let their_index = msg.body.get_u64("last_log_index").unwrap_or(0);
        let their_term = msg.body.get_u64("last_log_term").unwrap_or(0);
        let up_to_date =
            their_term > last_term || (their_term == last_term && their_index >= last_index);
        let granted = msg.body.get_u64("term") == Some(self.term)
            && (self.voted_for.is_none() || self.voted_for.as_deref() == Some(&msg.src))
            && up_to_date;
        if granted {
            self.voted_for = Some(msg.src.clone());
            self.reset_election_timer(ctx.now());
        }
        let body = Body::new("request_vote_res")
            .with("term", self.term)
            .with("vote_granted", granted);
        ctx.send(&msg.src, body);
    }

    fn on_vote_result(&mut self, msg: &Message, ctx: &mut Context) {
        let granted = msg.body.get("vote_granted") == Some(&Value::Bool(true));
        if self.role == Role::Candidate && msg.body.get_u64("term") == Some(self.term) && granted {
            self.votes.insert(msg.src.clone());
            self.count_votes(ctx);
        }
    }

    /// Send one `append_entries` to `peer`: the entries from its `next_index` on.
    fn replicate(&mut self, peer: &str, ctx: &mut Context) {
        let next = self.next_index.get(peer).copied().unwrap_or(1).max(1);
        let prev = next - 1;
        let end = self.log.len().min(prev as usize + MAX_BATCH);
        let entries: Vec<Value> = self.log[prev as usize..end]
            .iter()
            .map(Entry::to_json)
            .collect();
        let body = Body::new("append_entries")
            .with("term", self.term)
            .with("prev_log_index", prev)
            .with("prev_log_term", self.term_at(prev))
            .with("entries", entries)
            .with("leader_commit", self.commit_index);
        ctx.send(peer, body);
        self.in_flight.insert(peer.to_string());
    }

    /// Send `append_entries` to every peer (heartbeats, which also resend lost ones).
    fn heartbeat(&mut self, ctx: &mut Context) {
        for peer in self.peers.clone() {
            self.replicate(&peer, ctx);
        }
        self.next_heartbeat = ctx.now() + HEARTBEAT;
    }

    fn on_append_entries(&mut self, msg: &Message, ctx: &mut Context) {
        let body = &msg.body;
        let reply = |node: &Raft, success: bool, field: &str, index: u64| {
            Body::new("append_entries_res")
                .with("term", node.term)
                .with("success", success)
                .with(field, index)
        };
        if body.get_u64("term") != Some(self.term) || self.role == Role::Leader {
            // A stale leader (its term is below ours); tell it our term.
            return ctx.send(&msg.src, reply(self, false, "conflict_index", 0));
        }
        self.become_follower(self.term, ctx);
        self.leader = Some(msg.src.clone());
        self.reset_election_timer(ctx.now());

        let prev = body.get_u64("prev_log_index").unwrap_or(0);
        let prev_term = body.get_u64("prev_log_term").unwrap_or(0);
        if prev > self.last_index() {
            let hint = self.last_index() + 1;
            return ctx.send(&msg.src, reply(self, false, "conflict_index", hint));
        }
        if self.term_at(prev) != prev_term {
            // Retry from the first entry of the conflicting term.
            let bad = self.term_at(prev);
            let mut hint = prev;
            while hint > 1 && self.term_at(hint - 1) == bad {
                hint -= 1;
            }
            return ctx.send(&msg.src, reply(self, false, "conflict_index", hint));
        }
        let entries: Vec<Entry> = (body.get("entries").and_then(Value::as_array))
            .map(|es| es.iter().filter_map(Entry::from_json).collect())
            .unwrap_or_default();
        for (k, entry) in entries.iter().enumerate() {
            let index = prev + 1 + k as u64;
            if index <= self.last_index() && self.term_at(index) == entry.term {
                continue; // already there (log matching: so is everything before it)
            }
            assert!(
                index > self.commit_index,
                "leader overwrote a committed entry"
            );
            self.log.truncate(index as usize - 1);
            self.log.extend(entries[k..].iter().cloned());
            break;
        }
        let matched = prev + entries.len() as u64;
        let leader_commit = body.get_u64("leader_commit").unwrap_or(0);
        if leader_commit > self.commit_index {
            self.commit_index = leader_commit.min(matched).max(self.commit_index);
            self.apply_committed(ctx);
        }
        ctx.send(&msg.src, reply(self, true, "match_index", matched));
    }

    fn on_append_result(&mut self, msg: &Message, ctx: &mut Context) {
        if self.role != Role::Leader || msg.body.get_u64("term") != Some(self.term) {
            return;
        }
        let peer = msg.src.clone();
        if !self.peers.contains(&peer) {
            return;
        }
        self.last_ack.insert(peer.clone(), ctx.now());
        self.in_flight.remove(&peer);
        let matched = self.match_index.get(&peer).copied().unwrap_or(0);
        if msg.body.get("success") == Some(&Value::Bool(true)) {
            let index = msg.body.get_u64("match_index").unwrap_or(0);
            if index > matched {
                self.match_index.insert(peer.clone(), index);
                self.advance_commit(ctx);
            }
            let next = self.next_index.entry(peer.clone()).or_insert(1);
            *next = (*next).max(index + 1);
        } else {
            let hint = msg.body.get_u64("conflict_index").unwrap_or(1);
            self.next_index.insert(peer.clone(), hint.max(matched + 1));
        }
        if self.next_index[&peer] <= self.last_index() {
            self.replicate(&peer, ctx);
        }
    }

    /// Leader: commit the highest entry of this term that a majority holds.
    fn advance_commit(&mut self, ctx: &mut Context) {
        for index in (self.commit_index + 1..=self.last_index()).rev() {
            if self.term_at(index) != self.term {
                break; // earlier entries are of earlier terms too
            }
            let replicas = 1 + self.match_index.values().filter(|m| **m >= index).count();
            if replicas >= self.majority() {
                self.commit_index = index;
                self.apply_committed(ctx);
                break;
            }
        }
    }

    /// Apply committed entries in order; the leader answers the requests behind them.
    fn apply_committed(&mut self, ctx: &mut Context) {
        while self.last_applied < self.commit_index {
            self.last_applied += 1;
            let op = self.log[self.last_applied as usize - 1].op.clone();
            let result = self.apply(&op);
            if let Some(request) = self.pending.remove(&self.last_applied) {
                ctx.reply(&request, result);
            }
        }
    }

    /// Apply one operation to the state machine and return the reply body for it.
    fn apply(&mut self, op: &Value) -> Body {
        let key = op.get("key").map(Value::to_string).unwrap_or_default();
        let field = |name: &str| op.get(name).cloned().unwrap_or(Value::Null);
        match op.get("type").and_then(Value::as_str) {
            Some("read") => match self.kv.get(&key) {
                Some(value) => Body::new("read_ok").with("value", value.clone()),
                None => missing_key(),
            },
            Some("write") => {
                self.kv.insert(key, field("value"));
                Body::new("write_ok")
            }
            Some("cas") => match self.kv.get(&key) {
                None if field("create_if_not_exists") == Value::Bool(true) => {
                    self.kv.insert(key, field("to"));
                    Body::new("cas_ok")
                }
                None => missing_key(),
                Some(current) if *current == field("from") => {
                    self.kv.insert(key, field("to"));
                    Body::new("cas_ok")
                }
                Some(current) => {
                    let text = format!("current value {current} is not {}", field("from"));
                    RpcError::new(ErrorCode::PreconditionFailed, text).to_body()
                }
            },
            _ => Body::new("noop"),
        }
    }

    /// A `read`, `write` or `cas`, from a client or forwarded by a follower.
    fn on_client_request(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        let body = &msg.body;
        let key = body
            .get("key")
            .ok_or_else(|| malformed("missing \"key\""))?;
        let mut op = json!({"type": body.kind, "key": key});
        let needed: &[&str] = match body.kind.as_str() {
            "write" => &["value"],
            "cas" => &["from", "to"],
            _ => &[],
        };
        for name in needed.iter().chain(["create_if_not_exists"].iter()) {
            match body.get(name) {
                Some(v) => op[*name] = v.clone(),
                None if *name == "create_if_not_exists" => {}
                None => return Err(malformed(&format!("{} needs \"{name}\"", body.kind))),
            }
        }
        let unavailable = |text: &str| Err(RpcError::new(ErrorCode::TemporarilyUnavailable, text));
        if self.role == Role::Leader {
            if self.peers.contains(&msg.src) {
                let seen = (msg.src.clone(), body.msg_id.unwrap_or(0));
                if self.forwards_seen.insert(seen, ctx.now()).is_some() {
                    return Ok(()); // a duplicate of a forward already in the log
                }
            }
            self.log.push(Entry {
                term: self.term,
                op,
            });
            self.pending.insert(self.last_index(), msg);
            for peer in self.peers.clone() {
                if !self.in_flight.contains(&peer) {
                    self.replicate(&peer, ctx);
                }
            }
            self.advance_commit(ctx);
            return Ok(());
        }
        if self.peers.contains(&msg.src) {
            return unavailable("not the leader"); // never forward twice
        }
        let Some(leader) = self.leader.clone() else {
            return unavailable("no leader known");
        };
        let mut forward = msg.body.clone();
        forward.in_reply_to = None;
        let id = ctx.rpc(&leader, forward);
        self.forwarded.insert(id, (msg, ctx.now()));
        Ok(())
    }

    /// The leader's answer to a forwarded request: relay it to the client.
    fn on_forwarded_reply(&mut self, msg: Message, ctx: &mut Context) {
        let Some(id) = msg.body.in_reply_to else {
            return;
        };
        if let Some((request, _)) = self.forwarded.remove(&id) {
            let mut body = msg.body;
            body.msg_id = None;
            ctx.reply(&request, body);
        }
    }
}

impl Node for Raft {
    fn start(&mut self, ctx: &mut Context) {
        self.reset_election_timer(ctx.now());
        ctx.set_timer(TICK, TICK_TIMER);
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        if msg.body.in_reply_to.is_some() {
            self.on_forwarded_reply(msg, ctx);
            return Ok(());
        }
        let kind = msg.body.kind.as_str();
        if matches!(kind, "read" | "write" | "cas") {
            return self.on_client_request(msg, ctx);
        }
        let term = msg.body.get_u64("term").unwrap_or(0);
        if term > self.term {
            self.become_follower(term, ctx);
        }
        match kind {
            "request_vote" => self.on_request_vote(&msg, ctx),
            "request_vote_res" => self.on_vote_result(&msg, ctx),
            "append_entries" => self.on_append_entries(&msg, ctx),
            "append_entries_res" => self.on_append_result(&msg, ctx),
            other => {
                let text = format!("lin-kv node does not handle {other:?}");
                return Err(RpcError::new(ErrorCode::NotSupported, text));
            }
        }
        Ok(())
    }

    fn tick(&mut self, _token: TimerToken, ctx: &mut Context) {
        let now = ctx.now();
        self.forwarded.retain(|_, (_, at)| now < *at + FORWARD_TTL);
        self.forwards_seen.retain(|_, at| now < *at + FORWARD_TTL);
        if self.role == Role::Leader {
            let heard = (self.last_ack.values())
                .filter(|at| now <= **at + QUORUM_TIMEOUT)
                .count();
            if heard + 1 < self.majority() {
                self.become_follower(self.term, ctx);
                self.leader = None;
            } else if now >= self.next_heartbeat {
                self.heartbeat(ctx);
            }
        } else if now >= self.election_deadline {
            self.start_election(ctx);
        }
        ctx.set_timer(TICK, TICK_TIMER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Several nodes wired together in memory with zero latency. Time advances in 5 ms
    /// steps; inter-node messages can be cut for some nodes (clients always get
    /// through) or dropped at random. Raft's safety properties are checked after
    /// every step.
    struct Cluster {
        ids: Vec<String>,
        nodes: Vec<Raft>,
        ctxs: Vec<Context>,
        timers: Vec<Vec<(Duration, TimerToken)>>,
        now: Duration,
        net: VecDeque<Message>,
        /// Nodes cut off from every other node.
        cut: BTreeSet<String>,
        /// Drop each inter-node message with this probability (in percent).
        loss_percent: u64,
        rng: Rng,
        /// Messages sent to clients.
        replies: Vec<Message>,
        next_msg_id: u64,
        /// The leader seen for each term.
        leaders: BTreeMap<u64, String>,
    }

    impl Cluster {
        fn new(n: usize) -> Cluster {
            let ids: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
            let mut c = Cluster {
                ids: ids.clone(),
                nodes: Vec::new(),
                ctxs: Vec::new(),
                timers: vec![Vec::new(); n],
                now: Duration::ZERO,
                net: VecDeque::new(),
                cut: BTreeSet::new(),
                loss_percent: 0,
                rng: Rng::seeded("network"),
                replies: Vec::new(),
                next_msg_id: 0,
                leaders: BTreeMap::new(),
            };
            for id in &ids {
                let init = Init {
                    node_id: id.clone(),
                    node_ids: ids.clone(),
                };
                c.nodes.push(Raft::new(&init));
                c.ctxs.push(Context::new(init));
            }
            for i in 0..n {
                c.nodes[i].start(&mut c.ctxs[i]);
                c.collect(i);
            }
            c
        }

        fn index(&self, id: &str) -> Option<usize> {
            self.ids.iter().position(|n| n == id)
        }

        /// Move node `i`'s outgoing messages and timers into the world.
        fn collect(&mut self, i: usize) {
            self.timers[i].extend(self.ctxs[i].take_timers());
            for msg in self.ctxs[i].take_outbox() {
                match self.index(&msg.dest) {
                    Some(_) => self.net.push_back(msg),
                    None => self.replies.push(msg),
                }
            }
        }

        /// Deliver queued messages until the network is quiet.
        fn pump(&mut self) {
            while let Some(msg) = self.net.pop_front() {
                let i = self.index(&msg.dest).expect("to a node");
                if self.index(&msg.src).is_some() {
                    let cut = self.cut.contains(&msg.src) || self.cut.contains(&msg.dest);
                    if cut || self.rng.between(1, 100) <= self.loss_percent {
                        continue;
                    }
                }
                // As the stdio runtime does: an error becomes an error reply.
                let request = msg.body.msg_id.is_some().then(|| msg.clone());
                if let Err(e) = self.nodes[i].handle(msg, &mut self.ctxs[i]) {
                    self.ctxs[i].reply(&request.expect("a request"), e.to_body());
                }
                self.collect(i);
            }
        }

        /// Advance time by one step, firing due timers, and check the invariants.
        fn step(&mut self) {
            self.now += Duration::from_millis(5);
            for i in 0..self.nodes.len() {
                self.ctxs[i].set_now(self.now);
                let now = self.now;
                let mut due: Vec<_> = self.timers[i]
                    .iter()
                    .filter(|t| t.0 <= now)
                    .copied()
                    .collect();
                self.timers[i].retain(|t| t.0 > now);
                due.sort();
                for (_, token) in due {
                    self.nodes[i].tick(token, &mut self.ctxs[i]);
                }
                self.collect(i);
            }
            self.pump();
            self.check_invariants();
        }

        fn run_for(&mut self, d: Duration) {
            let end = self.now + d;
            while self.now < end {
                self.step();
            }
        }

        /// At most one leader per term; committed prefixes agree; applied ≤ committed.
        fn check_invariants(&mut self) {
            for node in &self.nodes {
                if node.role == Role::Leader {
                    let seen = self.leaders.entry(node.term).or_insert(node.id.clone());
                    assert_eq!(*seen, node.id, "two leaders in term {}", node.term);
                }
                assert!(node.last_applied <= node.commit_index);
                assert!(node.commit_index <= node.last_index());
            }
            for a in &self.nodes {
                for b in &self.nodes {
                    let n = a.commit_index.min(b.commit_index) as usize;
                    assert_eq!(a.log[..n], b.log[..n], "{} and {} disagree", a.id, b.id);
                }
            }
        }

        /// Send a client request to node `node`; returns its msg_id.
        fn send(&mut self, node: usize, body: Body) -> u64 {
            self.next_msg_id += 1;
            let body = Body {
                msg_id: Some(self.next_msg_id),
                ..body
            };
            self.net.push_back(Message {
                id: None,
                src: "c1".into(),
                dest: self.ids[node].clone(),
                body,
            });
            self.pump();
            self.next_msg_id
        }

        /// The reply to client request `msg_id`, checked to come from the node asked.
        fn reply(&self, node: usize, msg_id: u64) -> Option<Body> {
            let replies: Vec<&Message> = (self.replies.iter())
                .filter(|m| m.body.in_reply_to == Some(msg_id))
                .collect();
            assert!(replies.len() <= 1, "several replies to {msg_id}");
            let reply = replies.first()?;
            assert_eq!(reply.src, self.ids[node], "reply from the wrong node");
            assert_eq!(reply.dest, "c1");
            Some(reply.body.clone())
        }

        /// Send a request and run until it is answered (at most two seconds).
        fn call(&mut self, node: usize, body: Body) -> Body {
            let id = self.send(node, body);
            for _ in 0..400 {
                if let Some(reply) = self.reply(node, id) {
                    return reply;
                }
                self.step();
            }
            panic!("no reply from n{node} to request {id}");
        }

        fn leader_indices(&self) -> Vec<usize> {
            (0..self.nodes.len())
                .filter(|i| self.nodes[*i].role == Role::Leader)
                .collect()
        }

        /// The single leader (panics unless there is exactly one).
        fn leader(&self) -> usize {
            let leaders = self.leader_indices();
            assert_eq!(leaders.len(), 1, "leaders: {leaders:?}");
            leaders[0]
        }
    }

    fn read(key: i64) -> Body {
        Body::new("read").with("key", key)
    }

    fn write(key: i64, value: i64) -> Body {
        Body::new("write").with("key", key).with("value", value)
    }

    fn cas(key: i64, from: i64, to: i64) -> Body {
        Body::new("cas")
            .with("key", key)
            .with("from", from)
            .with("to", to)
    }

    fn code(body: &Body) -> Option<i64> {
        (body.kind == "error")
            .then(|| body.get_i64("code"))
            .flatten()
    }

    #[test]
    fn elects_one_leader_that_stays() {
        let mut c = Cluster::new(3);
        // Before any election nobody knows a leader.
        let r = c.call(0, read(1));
        assert_eq!(code(&r), Some(11));
        c.run_for(Duration::from_secs(1));
        let leader = c.leader();
        let term = c.nodes[leader].term;
        for node in &c.nodes {
            assert_eq!(node.term, term);
            assert_eq!(node.leader.as_deref(), Some(c.ids[leader].as_str()));
        }
        c.run_for(Duration::from_secs(3));
        assert_eq!(c.leader(), leader);
        assert_eq!(c.nodes[leader].term, term, "heartbeats keep the leader");
    }

    #[test]
    fn reads_writes_and_cas_through_the_leader_and_followers() {
        let mut c = Cluster::new(3);
        c.run_for(Duration::from_secs(1));
        let l = c.leader();
        let f = (l + 1) % 3;
        assert_eq!(code(&c.call(l, read(4))), Some(20));
        assert_eq!(code(&c.call(f, cas(4, 1, 2))), Some(20));
        assert_eq!(c.call(l, write(4, 1)).kind, "write_ok");
        let r = c.call(l, read(4));
        assert_eq!((r.kind.as_str(), r.get_i64("value")), ("read_ok", Some(1)));
        assert_eq!(c.call(l, cas(4, 1, 2)).kind, "cas_ok");
        let r = c.call(f, cas(4, 1, 3));
        assert_eq!(code(&r), Some(22));
        assert_eq!(r.get_str("text"), Some("current value 2 is not 1"));
        // Through a follower: forwarded, and answered by the follower itself.
        assert_eq!(c.call(f, write(5, 3)).kind, "write_ok");
        assert_eq!(c.call(f, read(5)).get_i64("value"), Some(3));
        assert_eq!(c.call(l, read(4)).get_i64("value"), Some(2));
        let r = c.call(f, Body::new("write").with("key", 1));
        assert_eq!(code(&r), Some(12));
        // Every node applied the same state.
        c.run_for(Duration::from_millis(200));
        for node in &c.nodes {
            assert_eq!(node.kv, c.nodes[l].kv);
            assert_eq!(node.last_applied, c.nodes[l].last_index());
        }
    }

    #[test]
    fn an_isolated_leader_is_replaced_and_its_uncommitted_entry_discarded() {
        let mut c = Cluster::new(3);
        c.run_for(Duration::from_secs(1));
        let old = c.leader();
        let old_term = c.nodes[old].term;
        assert_eq!(c.call(old, write(1, 1)).kind, "write_ok");

        // Cut the leader off from its peers; a client still reaches it.
        c.cut.insert(c.ids[old].clone());
        let lost = c.send(old, write(99, 7));
        assert_eq!(c.nodes[old].log.last().unwrap().op["key"], json!(99));
        c.run_for(Duration::from_secs(1));
        let leaders = c.leader_indices();
        assert_eq!(leaders.len(), 1, "one leader among the majority");
        let new = leaders[0];
        assert_ne!(new, old);
        assert!(c.nodes[new].term > old_term);
        // The old leader gave up (check-quorum) without claiming success.
        let r = c.reply(old, lost).expect("abandoned request answered");
        assert_eq!(code(&r), Some(13), "indefinite: {r:?}");
        assert_eq!(code(&c.call(old, read(1))), Some(11));

        // The majority keeps serving.
        assert_eq!(c.call(new, write(1, 2)).kind, "write_ok");
        assert_eq!(c.call(new, read(1)).get_i64("value"), Some(2));

        // Heal: logs converge and the lost write is nowhere.
        c.cut.clear();
        c.run_for(Duration::from_secs(2));
        let l = c.leader();
        let r = c.call(old, read(99));
        assert_eq!(code(&r), Some(20));
        assert_eq!(c.call(old, read(1)).get_i64("value"), Some(2));
        c.run_for(Duration::from_millis(200));
        for node in &c.nodes {
            assert_eq!(node.log, c.nodes[l].log, "{} converged", node.id);
            assert_eq!(node.commit_index, c.nodes[l].last_index());
            assert_eq!(node.kv, c.nodes[l].kv);
            assert!(!node.kv.contains_key("99"));
            let lost_write = json!({"type": "write", "key": 99, "value": 7});
            assert!(node.log.iter().all(|e| e.op != lost_write));
        }
    }

    #[test]
    fn lossy_network_keeps_logs_consistent_and_converges() {
        let mut c = Cluster::new(5);
        c.loss_percent = 30;
        let mut acked = Vec::new();
        for i in 0..200 {
            let node = (i * 7 % 5) as usize;
            let id = c.send(node, write(i % 3, i));
            acked.push((node, id, i));
            if i % 20 == 0 {
                // Shuffle partitions around as well.
                c.cut = BTreeSet::from([c.ids[i as usize % 5].clone()]);
            }
            c.run_for(Duration::from_millis(25));
        }
        c.loss_percent = 0;
        c.cut.clear();
        c.run_for(Duration::from_secs(2));
        let l = c.leader();
        // Every write acknowledged ok is in the final log.
        let ok: Vec<i64> = (acked.iter())
            .filter(|(node, id, _)| c.reply(*node, *id).is_some_and(|r| r.kind == "write_ok"))
            .map(|(_, _, v)| *v)
            .collect();
        assert!(ok.len() > 20, "only {} writes succeeded", ok.len());
        for v in ok {
            assert!(c.nodes[l]
                .log
                .iter()
                .any(|e| e.op.get("value") == Some(&json!(v))));
        }
        for node in &c.nodes {
            assert_eq!(node.log, c.nodes[l].log);
            assert_eq!(node.kv, c.nodes[l].kv);
        }
    }

    #[test]
    fn a_duplicated_forward_is_appended_once() {
        let mut c = Cluster::new(3);
        c.run_for(Duration::from_secs(1));
        let l = c.leader();
        let f = (l + 1) % 3;
        let id = c.send(f, write(2, 3));
        // Replay the forward the follower sent (msg_id 1 is its first RPC).
        let forward = Body {
            msg_id: Some(1),
            ..write(2, 3)
        };
        let (from, to) = (c.ids[f].clone(), c.ids[l].clone());
        c.net.push_back(Message {
            id: None,
            src: from,
            dest: to,
            body: forward,
        });
        c.run_for(Duration::from_millis(200));
        assert_eq!(c.reply(f, id).unwrap().kind, "write_ok");
        let writes = (c.nodes[l].log.iter())
            .filter(|e| e.op.get("type") == Some(&json!("write")))
            .count();
        assert_eq!(writes, 1);
    }

    #[test]
    fn a_single_node_commits_alone() {
        let mut c = Cluster::new(1);
        c.run_for(Duration::from_millis(400));
        assert_eq!(c.leader(), 0);
        assert_eq!(c.call(0, write(1, 4)).kind, "write_ok");
        assert_eq!(c.call(0, read(1)).get_i64("value"), Some(4));
    }
}
