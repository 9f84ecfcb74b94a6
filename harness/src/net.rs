//! The simulated network: one owner of every in-flight message, delivering each at its
//! deadline from a timer queue. It assigns Maelstrom's global message ids, applies
//! latency (zero for anything touching a client), and keeps the statistics of §5.6.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::backend::Nanos;

/// A participant of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addr {
    /// Server node by index.
    Node(u32),
    /// Harness client `c<k>`.
    Client(u32),
}

impl Addr {
    fn is_client(self) -> bool {
        matches!(self, Addr::Client(_))
    }
}

/// Names ↔ addresses for nodes and every client opened so far.
#[derive(Debug, Default)]
pub struct AddressBook {
    node_names: Vec<String>,
    client_names: Vec<String>,
    by_name: HashMap<String, Addr>,
}

impl AddressBook {
    /// A book with the given server nodes and no clients.
    pub fn new(node_names: &[String]) -> AddressBook {
        let mut book = AddressBook::default();
        for (i, name) in node_names.iter().enumerate() {
            book.node_names.push(name.clone());
            book.by_name.insert(name.clone(), Addr::Node(i as u32));
        }
        book
    }

    /// Open a new client `c<k>` with the next k.
    pub fn open_client(&mut self) -> Addr {
        let k = self.client_names.len() as u32;
        let name = format!("c{k}");
        self.by_name.insert(name.clone(), Addr::Client(k));
        self.client_names.push(name);
        Addr::Client(k)
    }

    /// The address called `name`, if any such participant exists.
    pub fn lookup(&self, name: &str) -> Option<Addr> {
        self.by_name.get(name).copied()
    }

    /// The name of an address.
    pub fn name(&self, addr: Addr) -> &str {
        match addr {
            Addr::Node(i) => &self.node_names[i as usize],
            Addr::Client(k) => &self.client_names[k as usize],
        }
    }

    /// Number of server nodes.
    pub fn node_count(&self) -> usize {
        self.node_names.len()
    }
}

/// How node↔node latency is drawn (`--latency`, `--latency-dist`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyDist {
    /// Exactly the mean.
    Constant,
    /// Integer milliseconds uniform in [0, 2·mean).
    Uniform,
    /// Exponential with the given mean, truncated to whole milliseconds.
    Exponential,
}

impl LatencyDist {
    /// Parse a `--latency-dist` name.
    pub fn parse(name: &str) -> Result<LatencyDist, String> {
        match name {
            "constant" => Ok(LatencyDist::Constant),
            "uniform" => Ok(LatencyDist::Uniform),
            "exponential" => Ok(LatencyDist::Exponential),
            other => Err(format!(
                "--latency-dist expects constant, uniform or exponential, got {other:?}"
            )),
        }
    }
}

/// Latency settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Mean in milliseconds.
    pub mean_ms: u64,
    /// Shape.
    pub dist: LatencyDist,
}

impl Latency {
    fn draw_ms(&self, rng: &mut ChaCha8Rng) -> u64 {
        match (self.dist, self.mean_ms) {
            (_, 0) | (LatencyDist::Constant, _) => self.mean_ms,
            (LatencyDist::Uniform, mean) => rng.gen_range(0..2 * mean),
            (LatencyDist::Exponential, mean) => {
                let u: f64 = rng.gen_range(f64::EPSILON..1.0);
                (-u.ln() * mean as f64) as u64
            }
        }
    }
}

/// A message in the network.
#[derive(Debug)]
pub struct Packet {
    /// Maelstrom's global id.
    pub id: u64,
    /// Sender.
    pub src: Addr,
    /// Receiver.
    pub dest: Addr,
    /// Payload JSON.
    pub body: Box<RawValue>,
}

struct InFlight {
    deadline: Nanos,
    packet: Packet,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    /// Earliest deadline first; equal deadlines in send order.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.deadline, self.packet.id).cmp(&(other.deadline, other.packet.id))
    }
}

/// Send/receive counters of one traffic class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages sent.
    pub send: u64,
    /// Messages delivered.
    pub recv: u64,
}

/// Network statistics (Maelstrom §5.6): all traffic, traffic touching a client, and
/// the rest (servers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Traffic with a client as sender or receiver.
    pub clients: Counts,
    /// Every other message (node↔node, node↔service).
    pub servers: Counts,
}

impl NetStats {
    /// The `:net` result for a history with `op_count` client invocations.
    pub fn to_json(&self, op_count: u64) -> Value {
        let all = Counts {
            send: self.clients.send + self.servers.send,
            recv: self.clients.recv + self.servers.recv,
        };
        let class = |c: Counts, per_op: bool| {
            let mut v = json!({"send-count": c.send, "recv-count": c.recv, "msg-count": c.send});
            if per_op && op_count > 0 {
                v["msgs-per-op"] = json!(c.send as f64 / op_count as f64);
            }
            v
        };
        json!({
            "valid?": true,
            "all": class(all, true),
            "clients": class(self.clients, false),
            "servers": class(self.servers, true),
        })
    }
}

/// The network: in-flight messages ordered by deadline, ids, latency and statistics.
pub struct Network {
    next_id: u64,
    latency: Latency,
    rng: ChaCha8Rng,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    stats: NetStats,
}

impl Network {
    /// An empty network whose latency draws come from `rng`.
    pub fn new(latency: Latency, rng: ChaCha8Rng) -> Network {
        Network {
            next_id: 0,
            latency,
            rng,
            in_flight: BinaryHeap::new(),
            stats: NetStats::default(),
        }
    }

    /// Accept a message at time `now`; returns its id.
    pub fn send(&mut self, now: Nanos, src: Addr, dest: Addr, body: Box<RawValue>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let via_client = src.is_client() || dest.is_client();
        let delay_ms = if via_client {
            0
        } else {
            self.latency.draw_ms(&mut self.rng)
        };
        self.class_mut(via_client).send += 1;
        self.in_flight.push(Reverse(InFlight {
            deadline: now + delay_ms * 1_000_000,
            packet: Packet {
                id,
                src,
                dest,
                body,
            },
        }));
        id
    }

    /// The id the next message sent will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// When the next message is due, if any is in flight.
    pub fn next_deadline(&self) -> Option<Nanos> {
        self.in_flight.peek().map(|Reverse(m)| m.deadline)
    }

    /// Take the next message due at or before `now`, counting its delivery.
    pub fn pop_due(&mut self, now: Nanos) -> Option<Packet> {
        if self.next_deadline()? > now {
            return None;
        }
        let Reverse(InFlight { packet, .. }) = self.in_flight.pop()?;
        let via_client = packet.src.is_client() || packet.dest.is_client();
        self.class_mut(via_client).recv += 1;
        Some(packet)
    }

    /// Statistics so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    fn class_mut(&mut self, via_client: bool) -> &mut Counts {
        if via_client {
            &mut self.stats.clients
        } else {
            &mut self.stats.servers
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn client_traffic_is_immediate_and_server_traffic_waits_for_latency() {
        let latency = Latency {
            mean_ms: 100,
            dist: LatencyDist::Constant,
        };
        let mut net = Network::new(latency, ChaCha8Rng::seed_from_u64(1));
        let (n0, n1, c0) = (Addr::Node(0), Addr::Node(1), Addr::Client(0));
        assert_eq!(net.send(0, n0, n1, raw("{}")), 0);
        assert_eq!(net.send(0, c0, n0, raw("{}")), 1);
        assert_eq!(net.pop_due(0).unwrap().id, 1);
        assert!(net.pop_due(99_999_999).is_none());
        assert_eq!(net.next_deadline(), Some(100_000_000));
        assert_eq!(net.pop_due(100_000_000).unwrap().id, 0);
        let stats = net.stats();
        assert_eq!(stats.clients, Counts { send: 1, recv: 1 });
        assert_eq!(stats.servers, Counts { send: 1, recv: 1 });
        let j = stats.to_json(4);
        assert_eq!(j["all"]["msgs-per-op"], json!(0.5));
        assert_eq!(j["servers"]["msg-count"], json!(1));
        assert!(j["clients"].get("msgs-per-op").is_none());
    }

    #[test]
    fn equal_deadlines_deliver_in_send_order() {
        let latency = Latency {
            mean_ms: 0,
            dist: LatencyDist::Uniform,
        };
        let mut net = Network::new(latency, ChaCha8Rng::seed_from_u64(1));
        for _ in 0..5 {
            net.send(7, Addr::Node(0), Addr::Node(1), raw("1"));
        }
        let ids: Vec<u64> = std::iter::from_fn(|| net.pop_due(7).map(|p| p.id)).collect();
        assert_eq!(ids, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn address_book_names_clients_in_opening_order() {
        let mut book = AddressBook::new(&["n0".to_string(), "n1".to_string()]);
        assert_eq!(book.open_client(), Addr::Client(0));
        assert_eq!(book.open_client(), Addr::Client(1));
        assert_eq!(book.lookup("c1"), Some(Addr::Client(1)));
        assert_eq!(book.lookup("n1"), Some(Addr::Node(1)));
        assert_eq!(book.lookup("c9"), None);
        assert_eq!(book.name(Addr::Client(1)), "c1");
    }
}
