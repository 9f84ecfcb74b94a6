//! A totally available transactional key/value node (Maelstrom's `txn-rw-register`
//! workload; Gossip Glomers 6a–6c: read uncommitted and read committed).
//!
//! * **Local, atomic transactions.** Every `txn` is answered by the node that receives
//!   it, at once, whatever the network does: its micro-ops run in order against the
//!   node's map (`["r", k, null]` reads the current value, `["w", k, v]` sets it), all
//!   in one message handler, so no other transaction sees it half done. Nothing is
//!   ever aborted.
//! * **Replication of committed writes only.** After a transaction commits, its
//!   writes — the last value it wrote to each key, never an intermediate one — go to
//!   every peer as one `replicate` message, resent every 200 ms until the peer
//!   acknowledges it. A peer applies a replicated transaction's writes in one handler
//!   too, so remote readers see all of a transaction's writes or none of them.
//! * **One version order.** Each committed transaction gets a Lamport timestamp (the
//!   node's clock, bumped past every timestamp it has applied, then the node's index to
//!   break ties). A key keeps the write with the highest timestamp, so replicas apply
//!   concurrent writes in the same order and converge, and every write a transaction
//!   reads or overwrites carries a lower timestamp than its own: write–write and
//!   write–read dependencies all follow timestamp order, so they form no cycle (no G0,
//!   no G1c); with no aborts and no intermediate writes shipped there is no G1a or G1b
//!   either. That is read committed. It is not serializable: two nodes may each read a
//!   key the other is overwriting (write skew, G2).
//!
//! State lives in memory only.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use straum_node::{Body, Context, ErrorCode, Init, Message, Node, RpcError, TimerToken};

/// How often unacknowledged replications are resent.
const RESEND_EVERY: Duration = Duration::from_millis(200);
/// The most transactions one resent `replicate` message carries.
const RESEND_BATCH: usize = 256;

const RESEND_TIMER: TimerToken = 0;

/// A committed transaction's position in the version order: (Lamport clock, index of
/// the node that committed it).
type Stamp = (u64, u64);

/// A key's value and the stamp of the transaction that wrote it.
#[derive(Debug, Clone, PartialEq)]
struct Version {
    value: Value,
    stamp: Stamp,
}

/// The writes of one committed transaction, as replicated: its stamp and the final
/// value it wrote to each key.
#[derive(Debug, Clone, PartialEq)]
struct Committed {
    stamp: Stamp,
    writes: BTreeMap<i64, Value>,
}

impl Committed {
    fn to_json(&self) -> Value {
        let writes: Vec<Value> = (self.writes.iter()).map(|(k, v)| json!([k, v])).collect();
        json!({"stamp": [self.stamp.0, self.stamp.1], "writes": writes})
    }

    fn from_json(v: &Value) -> Option<Committed> {
        let stamp = v.get("stamp")?.as_array()?;
        let stamp = (stamp.first()?.as_u64()?, stamp.get(1)?.as_u64()?);
        let mut writes = BTreeMap::new();
        for w in v.get("writes")?.as_array()? {
            writes.insert(w.get(0)?.as_i64()?, w.get(1)?.clone());
        }
        Some(Committed { stamp, writes })
    }
}

/// The node.
#[derive(Debug)]
/// The node (see the module documentation).
pub struct TxnNode {
    /// This node's index in the cluster, the second half of its stamps.
    index: u64,
    peers: Vec<String>,
    /// The Lamport clock: at least the clock of every stamp applied here.
    clock: u64,
    /// The committed state: key → latest version.
    kv: BTreeMap<i64, Version>,
    /// Per peer: committed transactions it has not acknowledged yet, by stamp.
    unacked: BTreeMap<String, BTreeMap<Stamp, Committed>>,
}

fn malformed(text: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::MalformedRequest, text)
}

impl TxnNode {
    /// A node for the cluster `init` describes.
    pub fn new(init: &Init) -> TxnNode {
        let index = init.node_ids.iter().position(|n| *n == init.node_id);
        let peers: Vec<String> = (init.node_ids.iter())
            .filter(|n| **n != init.node_id)
            .cloned()
            .collect();
        TxnNode {
            index: index.unwrap_or(0) as u64,
            unacked: peers.iter().map(|p| (p.clone(), BTreeMap::new())).collect(),
            peers,
            clock: 0,
            kv: BTreeMap::new(),
        }
    }

    /// Apply one write if it is newer than the key's current version.
    fn apply(&mut self, key: i64, value: Value, stamp: Stamp) {
        self.clock = self.clock.max(stamp.0);
        let newer = self.kv.get(&key).is_none_or(|v| v.stamp < stamp);
        if newer {
            self.kv.insert(key, Version { value, stamp });
        }
    }

    /// Run a client transaction atomically and return the completed micro-ops, or
    /// refuse it whole if any micro-op is malformed (nothing is applied then).
    fn run_txn(&mut self, txn: &[Value]) -> Result<(Vec<Value>, Committed), RpcError> {
        let stamp = (self.clock + 1, self.index);
        let mut writes: BTreeMap<i64, Value> = BTreeMap::new();
        let mut done = Vec::with_capacity(txn.len());
        for op in txn {
            let parts = op.as_array().map(Vec::as_slice);
            let Some([f, key, value]) = parts else {
                return Err(malformed(format!("micro-op {op} is not [f, k, v]")));
            };
            let k = key
                .as_i64()
                .ok_or_else(|| malformed(format!("key {key} is not an integer")))?;
            match f.as_str() {
                Some("r") => {
                    let current = match writes.get(&k) {
                        Some(own) => own.clone(),
                        None => self.kv.get(&k).map_or(Value::Null, |v| v.value.clone()),
                    };
                    done.push(json!(["r", k, current]));
                }
                Some("w") => {
                    writes.insert(k, value.clone());
                    done.push(json!(["w", k, value]));
                }
                _ => return Err(malformed(format!("unknown micro-op {f}"))),
            }
        }
        self.clock = stamp.0;
        for (k, v) in &writes {
            self.apply(*k, v.clone(), stamp);
        }
        Ok((done, Committed { stamp, writes }))
    }

    /// Queue a committed transaction for every peer and send it at once.
    fn replicate(&mut self, committed: Committed, ctx: &mut Context) {
        if committed.writes.is_empty() {
            return;
        }
        let body = Body::new("replicate").with("txns", vec![committed.to_json()]);
        for peer in &self.peers {
            ctx.send(peer, body.clone());
            let queue = self.unacked.entry(peer.clone()).or_default();
            queue.insert(committed.stamp, committed.clone());
        }
    }

    fn on_replicate(&mut self, msg: &Message, ctx: &mut Context) {
        let txns = msg.body.get("txns").and_then(Value::as_array);
        let mut acked = Vec::new();
        for committed in txns.into_iter().flatten().filter_map(Committed::from_json) {
            for (k, v) in committed.writes {
                self.apply(k, v, committed.stamp);
            }
            acked.push(json!([committed.stamp.0, committed.stamp.1]));
        }
        ctx.send(&msg.src, Body::new("replicate_ack").with("stamps", acked));
    }

    fn on_ack(&mut self, msg: &Message) {
        let Some(queue) = self.unacked.get_mut(&msg.src) else {
            return;
        };
        let stamps = msg.body.get("stamps").and_then(Value::as_array);
        for s in stamps.into_iter().flatten() {
            if let (Some(c), Some(n)) = (s.get(0).and_then(Value::as_u64), s.get(1)) {
                if let Some(n) = n.as_u64() {
                    queue.remove(&(c, n));
                }
            }
        }
    }

    /// Resend the oldest unacknowledged transactions to every peer.
    fn resend(&mut self, ctx: &mut Context) {
        for (peer, queue) in &self.unacked {
            if queue.is_empty() {
                continue;
            }
            let txns: Vec<Value> = (queue.values())
                .take(RESEND_BATCH)
                .map(Committed::to_json)
                .collect();
            ctx.send(peer, Body::new("replicate").with("txns", txns));
        }
    }
}

impl Node for TxnNode {
    fn start(&mut self, ctx: &mut Context) {
        ctx.set_timer(RESEND_EVERY, RESEND_TIMER);
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        match msg.body.kind.as_str() {
            "txn" => {
                let txn = (msg.body.get("txn").and_then(Value::as_array))
                    .ok_or_else(|| malformed("txn needs a \"txn\" array"))?;
                let (done, committed) = self.run_txn(txn)?;
                ctx.reply(&msg, Body::new("txn_ok").with("txn", done));
                self.replicate(committed, ctx);
            }
            "replicate" => self.on_replicate(&msg, ctx),
            "replicate_ack" => self.on_ack(&msg),
            other => {
                return Err(RpcError::new(
                    ErrorCode::NotSupported,
                    format!("txn-rw-register node does not handle {other:?}"),
                ));
            }
        }
        Ok(())
    }

    fn tick(&mut self, _token: TimerToken, ctx: &mut Context) {
        ctx.set_timer(RESEND_EVERY, RESEND_TIMER);
        self.resend(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(id: &str, n: usize) -> Init {
        Init {
            node_id: id.into(),
            node_ids: (0..n).map(|i| format!("n{i}")).collect(),
        }
    }

    struct Cluster {
        nodes: Vec<TxnNode>,
        ctxs: Vec<Context>,
        next_msg_id: u64,
    }

    impl Cluster {
        fn new(n: usize) -> Cluster {
            let inits: Vec<Init> = (0..n).map(|i| init(&format!("n{i}"), n)).collect();
            Cluster {
                nodes: inits.iter().map(TxnNode::new).collect(),
                ctxs: inits.into_iter().map(Context::new).collect(),
                next_msg_id: 0,
            }
        }

        /// A client txn to node `i`; returns the reply and the messages it sent peers.
        fn txn(&mut self, i: usize, txn: Value) -> (Body, Vec<Message>) {
            self.next_msg_id += 1;
            let msg = Message {
                id: None,
                src: "c1".into(),
                dest: format!("n{i}"),
                body: Body {
                    msg_id: Some(self.next_msg_id),
                    ..Body::new("txn").with("txn", txn)
                },
            };
            let result = self.nodes[i].handle(msg, &mut self.ctxs[i]);
            let mut out = self.ctxs[i].take_outbox();
            if let Err(e) = result {
                return (e.to_body(), out);
            }
            let reply = out.remove(out.iter().position(|m| m.dest == "c1").unwrap());
            assert_eq!(reply.body.in_reply_to, Some(self.next_msg_id));
            (reply.body, out)
        }

        /// Deliver messages (and everything they cause) until none are left.
        fn deliver(&mut self, mut msgs: Vec<Message>) {
            while let Some(m) = msgs.pop() {
                let i: usize = m.dest[1..].parse().unwrap();
                self.nodes[i].handle(m, &mut self.ctxs[i]).unwrap();
                msgs.extend(self.ctxs[i].take_outbox());
            }
        }
    }

    #[test]
    fn a_txn_reads_its_own_writes_and_sees_committed_state() {
        let mut c = Cluster::new(1);
        let (reply, out) = c.txn(0, json!([["r", 1, null], ["w", 1, 3], ["r", 1, null]]));
        assert!(out.is_empty(), "no peers");
        assert_eq!(reply.kind, "txn_ok");
        assert_eq!(
            reply.get("txn"),
            Some(&json!([["r", 1, null], ["w", 1, 3], ["r", 1, 3]]))
        );
        let (reply, _) = c.txn(0, json!([["w", 1, 4], ["w", 2, 5], ["r", 1, null]]));
        assert_eq!(reply.get("txn").unwrap()[2], json!(["r", 1, 4]));
        let (reply, _) = c.txn(0, json!([["r", 1, null], ["r", 2, null]]));
        assert_eq!(reply.get("txn"), Some(&json!([["r", 1, 4], ["r", 2, 5]])));
    }

    #[test]
    fn a_malformed_txn_is_refused_whole() {
        let mut c = Cluster::new(1);
        let (reply, _) = c.txn(0, json!([["w", 1, 3], ["x", 1, 2]]));
        assert_eq!(reply.kind, "error");
        assert_eq!(reply.get_i64("code"), Some(12));
        let (reply, _) = c.txn(0, json!([["r", 1, null]]));
        assert_eq!(
            reply.get("txn"),
            Some(&json!([["r", 1, null]])),
            "w 1 3 not applied"
        );
    }

    #[test]
    fn only_final_writes_replicate_and_peers_apply_them_together() {
        let mut c = Cluster::new(2);
        let (_, out) = c.txn(0, json!([["w", 1, 1], ["w", 1, 2], ["w", 2, 7]]));
        assert_eq!(out.len(), 1);
        let txns = out[0].body.get("txns").unwrap();
        assert_eq!(
            txns,
            &json!([{"stamp": [1, 0], "writes": [[1, 2], [2, 7]]}])
        );
        c.deliver(out);
        let (reply, _) = c.txn(1, json!([["r", 1, null], ["r", 2, null]]));
        assert_eq!(reply.get("txn"), Some(&json!([["r", 1, 2], ["r", 2, 7]])));
        assert!(c.nodes[0].unacked["n1"].is_empty(), "acknowledged");
    }

    #[test]
    fn lost_replications_are_resent_until_acknowledged() {
        let mut c = Cluster::new(3);
        let (_, lost) = c.txn(0, json!([["w", 5, 1]]));
        assert_eq!(lost.len(), 2);
        drop(lost); // a partition ate both
        assert_eq!(c.nodes[0].unacked["n1"].len(), 1);
        c.nodes[0].tick(RESEND_TIMER, &mut c.ctxs[0]);
        let resent = c.ctxs[0].take_outbox();
        assert_eq!(resent.len(), 2);
        c.deliver(resent);
        for i in 1..3 {
            let (reply, _) = c.txn(i, json!([["r", 5, null]]));
            assert_eq!(reply.get("txn"), Some(&json!([["r", 5, 1]])));
        }
        assert!(c.nodes[0].unacked.values().all(BTreeMap::is_empty));
        c.nodes[0].tick(RESEND_TIMER, &mut c.ctxs[0]);
        assert!(c.ctxs[0].take_outbox().is_empty(), "nothing left to resend");
    }

    #[test]
    fn concurrent_writes_converge_on_the_higher_stamp_whatever_the_delivery_order() {
        let mut c = Cluster::new(2);
        let (_, from0) = c.txn(0, json!([["w", 1, 10], ["w", 2, 10]]));
        let (_, from1) = c.txn(1, json!([["w", 1, 11], ["w", 2, 11]]));
        // Equal clocks: the tie goes to the higher node index, n1.
        c.deliver(from1);
        c.deliver(from0);
        for i in 0..2 {
            let (reply, _) = c.txn(i, json!([["r", 1, null], ["r", 2, null]]));
            assert_eq!(reply.get("txn"), Some(&json!([["r", 1, 11], ["r", 2, 11]])));
        }
        // A txn that read n1's write is stamped after it, so its write wins everywhere.
        let (_, out) = c.txn(0, json!([["r", 1, null], ["w", 1, 12]]));
        c.deliver(out);
        let (reply, _) = c.txn(1, json!([["r", 1, null]]));
        assert_eq!(reply.get("txn"), Some(&json!([["r", 1, 12]])));
        assert!(c.nodes[0].kv[&1].stamp > (1, 1));
    }
}
