//! Maelstrom's built-in services, as network participants: nodes send them ordinary
//! messages and get replies back through the network (with latency, counted as server
//! traffic, never partitioned). Each service is one module; all are deterministic given
//! the seed.
//!
//! Replies carry `in_reply_to` (the request's `msg_id`, `null` if it had none) and no
//! `msg_id`. A request of an unknown type gets error 10 (`not-supported`) — Maelstrom
//! stays silent and the caller times out.

mod fenced_store;
mod kv;
mod lin_kv;
mod lin_tso;
mod lww_kv;
mod seq_kv;

use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

pub use fenced_store::FencedStore;
pub use kv::Reply;
pub use lin_kv::LinKv;
pub use lin_tso::LinTso;
pub use lww_kv::LwwKv;
pub use seq_kv::SeqKv;

/// What `straum doc` says about one service.
pub struct ServiceDoc {
    /// Its name (and id on the network).
    pub name: &'static str,
    /// What it guarantees, in a sentence or two.
    pub about: &'static str,
    /// The RPCs it answers.
    pub rpcs: &'static [straum_workloads::rpc::Rpc],
}

/// The services, for `straum doc`.
pub const DOCS: [ServiceDoc; 5] = [
    ServiceDoc {
        name: "lin-kv",
        about: "A linearizable key-value store: every request takes effect atomically \
                at one moment between its send and its reply.",
        rpcs: kv::RPCS,
    },
    ServiceDoc {
        name: "seq-kv",
        about: "A sequentially consistent key-value store: a read may be stale, but never \
                older than what the same caller already saw; write something new to get \
                a fresh view.",
        rpcs: kv::RPCS,
    },
    ServiceDoc {
        name: "lww-kv",
        about: "A last-write-wins key-value store over two replicas that merge by Lamport \
                timestamp: reads may be stale and concurrent writes may be lost.",
        rpcs: kv::RPCS,
    },
    ServiceDoc {
        name: "lin-tso",
        about: "A linearizable timestamp oracle.",
        rpcs: &[lin_tso::TS],
    },
    ServiceDoc {
        name: "fenced-store",
        about: "The resource the lease workload's lock holders act on: it logs every \
                accepted write with its fencing token and, with --fenced-store-enforce \
                true, refuses tokens older than the highest seen (by default it accepts \
                everything, so a node must fence its own writes).",
        rpcs: fenced_store::RPCS,
    },
];

/// The services' names, which are also their ids on the network.
pub const NAMES: [&str; 5] = ["lin-kv", "lin-tso", "lww-kv", "seq-kv", "fenced-store"];

/// All the services.
pub struct Services {
    lin_kv: LinKv,
    lin_tso: LinTso,
    lww_kv: LwwKv,
    seq_kv: SeqKv,
    fenced_store: FencedStore,
    rng: ChaCha8Rng,
}

impl Services {
    /// Fresh services whose random choices come from `rng`.
    pub fn new(rng: ChaCha8Rng) -> Services {
        Services {
            lin_kv: LinKv::default(),
            lin_tso: LinTso::default(),
            lww_kv: LwwKv::default(),
            seq_kv: SeqKv::default(),
            fenced_store: FencedStore::default(),
            rng,
        }
    }

    /// These services with `fenced-store` refusing stale tokens if `enforce` is set
    /// (`--fenced-store-enforce`).
    pub fn with_fencing(mut self, enforce: bool) -> Services {
        self.fenced_store = FencedStore::new(enforce);
        self
    }

    /// Handle a request body from `caller` to the service with index `service` (into
    /// [`NAMES`]); returns the reply body, `in_reply_to` included.
    pub fn handle(&mut self, service: usize, caller: &str, request: &Value) -> Value {
        let Some(body) = request.as_object() else {
            return with_in_reply_to(
                kv::error(12, "request body must be a JSON object".into()),
                &Map::new(),
            );
        };
        let reply = match NAMES[service] {
            "lin-kv" => self.lin_kv.handle(body),
            "lin-tso" => self.lin_tso.handle(body),
            "lww-kv" => self.lww_kv.handle(body, &mut self.rng),
            "fenced-store" => self.fenced_store.handle(body),
            _ => self.seq_kv.handle(caller, body, &mut self.rng),
        };
        with_in_reply_to(reply, body)
    }
}

fn with_in_reply_to(mut reply: Map<String, Value>, request: &Map<String, Value>) -> Value {
    let msg_id = request.get("msg_id").cloned().unwrap_or(Value::Null);
    reply.insert("in_reply_to".into(), msg_id);
    Value::Object(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    #[test]
    fn replies_carry_in_reply_to_even_for_msg_id_zero_and_unknown_types_get_error_10() {
        let mut services = Services::new(ChaCha8Rng::seed_from_u64(1));
        let reply = services.handle(1, "n0", &json!({"type":"ts","msg_id":0}));
        assert_eq!(reply, json!({"type":"ts_ok","ts":0,"in_reply_to":0}));
        let reply = services.handle(0, "n0", &json!({"type":"frobnicate","msg_id":4}));
        assert_eq!(reply["code"], 10);
        assert_eq!(reply["in_reply_to"], 4);
        assert!(reply.get("msg_id").is_none());
        let reply = services.handle(3, "n0", &json!({"type":"read","key":"x"}));
        assert_eq!(reply["in_reply_to"], Value::Null);
        assert_eq!(reply["code"], 20);
    }
}
