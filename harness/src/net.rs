//! The simulated network: one owner of every in-flight message, delivering each at its
//! deadline from a timer queue. It assigns Maelstrom's global message ids, applies
//! latency (zero for anything touching a client), and keeps the statistics of §5.6.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use rand::RngCore;
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
    /// Built-in service, by index into [`crate::services::NAMES`].
    Service(u8),
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
    /// Node and service names; clients are `c<k>` and found by parsing.
    by_name: FxHashMap<String, Addr>,
    /// Every name as a JSON string, for encoding without escaping again.
    node_json: Vec<Box<[u8]>>,
    client_json: Vec<Box<[u8]>>,
    service_json: Vec<Box<[u8]>>,
}

fn json_string(name: &str) -> Box<[u8]> {
    serde_json::to_vec(name)
        .expect("a string serialises")
        .into_boxed_slice()
}

impl AddressBook {
    /// A book with the given server nodes, the built-in services and no clients.
    pub fn new(node_names: &[String]) -> AddressBook {
        let mut book = AddressBook::default();
        for (i, name) in node_names.iter().enumerate() {
            book.node_names.push(name.clone());
            book.by_name.insert(name.clone(), Addr::Node(i as u32));
            book.node_json.push(json_string(name));
        }
        for (i, name) in crate::services::NAMES.iter().enumerate() {
            book.by_name
                .insert(name.to_string(), Addr::Service(i as u8));
            book.service_json.push(json_string(name));
        }
        book
    }

    /// Open a new client `c<k>` with the next k.
    pub fn open_client(&mut self) -> Addr {
        let k = self.client_names.len() as u32;
        let name = format!("c{k}");
        self.client_json.push(json_string(&name));
        self.client_names.push(name);
        Addr::Client(k)
    }

    /// The address called `name`, if any such participant exists.
    pub fn lookup(&self, name: &str) -> Option<Addr> {
        if let Some(addr) = self.by_name.get(name) {
            return Some(*addr);
        }
        // `c<k>` exactly as opened: no sign, no leading zero.
        let digits = name.strip_prefix('c')?;
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        let k: u32 = digits
            .parse()
            .ok()
            .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))?;
        ((k as usize) < self.client_names.len()).then_some(Addr::Client(k))
    }

    /// The name of `addr` as a JSON string (quoted and escaped), for encoding.
    pub fn json_name(&self, addr: Addr) -> &[u8] {
        match addr {
            Addr::Node(i) => &self.node_json[i as usize],
            Addr::Client(k) => &self.client_json[k as usize],
            Addr::Service(i) => &self.service_json[i as usize],
        }
    }

    /// The name of an address.
    pub fn name(&self, addr: Addr) -> &str {
        match addr {
            Addr::Node(i) => &self.node_names[i as usize],
            Addr::Client(k) => &self.client_names[k as usize],
            Addr::Service(i) => crate::services::NAMES[i as usize],
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
    /// Whole milliseconds uniform in [0, 2·mean).
    Uniform,
    /// Exponential with the given mean, truncated to whole milliseconds.
    Exponential,
    /// Normal with the given mean and a standard deviation of mean/4, truncated to
    /// whole milliseconds and at 0.
    Normal,
}

impl LatencyDist {
    /// Parse a `--latency-dist` name.
    pub fn parse(name: &str) -> Result<LatencyDist, String> {
        match name {
            "constant" => Ok(LatencyDist::Constant),
            "uniform" => Ok(LatencyDist::Uniform),
            "exponential" => Ok(LatencyDist::Exponential),
            "normal" => Ok(LatencyDist::Normal),
            other => Err(format!(
                "--latency-dist expects constant, uniform, exponential or normal, got {other:?}"
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
    /// Reject settings that make a distribution degenerate (Maelstrom hangs on a
    /// uniform distribution with mean 0 and divides by zero on an exponential one).
    pub fn validate(&self) -> Result<(), String> {
        if self.mean_ms == 0 && self.dist != LatencyDist::Constant {
            return Err(format!(
                "--latency-dist {} needs --latency greater than 0 (with mean 0 every \
                 message would have latency 0; use the default constant distribution)",
                match self.dist {
                    LatencyDist::Uniform => "uniform",
                    LatencyDist::Exponential => "exponential",
                    _ => "normal",
                }
            ));
        }
        Ok(())
    }

    /// Draw a latency in nanoseconds from two uniform numbers in [0, 1).
    fn draw(&self, u1: f64, u2: f64) -> Nanos {
        let mean = self.mean_ms as f64;
        let ms = match self.dist {
            LatencyDist::Constant => mean,
            LatencyDist::Uniform => (u1 * 2.0 * mean).floor(),
            LatencyDist::Exponential => (-(1.0 - u1).ln() * mean).floor(),
            LatencyDist::Normal => {
                let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (mean + z * mean / 4.0).max(0.0).floor()
            }
        };
        ms as Nanos * MS
    }
}

const MS: Nanos = 1_000_000;

/// The fault settings currently in force on node↔node links. Clients are never
/// affected.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// `cut[dest * n + src]`: dest drops messages from src (a partition's grudge).
    pub cut: Option<Vec<bool>>,
    /// Probability that a message is lost (drop fault).
    pub drop_rate: f64,
    /// Probability that a message is delivered twice (duplicate fault).
    pub duplicate_rate: f64,
    /// Latency multiplier and jitter while the latency fault is on.
    pub slow: Option<SlowLinks>,
    /// Nodes that are down (killed): messages due for them are lost.
    pub down: Vec<bool>,
}

/// The latency fault's rule: a message's latency becomes `factor ×` its normal draw
/// plus a uniform jitter in [0, jitter), so messages also reorder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowLinks {
    /// Multiplier of the normal latency.
    pub factor: u64,
    /// Exclusive upper bound of the added jitter.
    pub jitter: Nanos,
}

impl Faults {
    /// Mark a node as down (killed) or up again.
    pub fn set_down(&mut self, node: usize, down: bool) {
        if self.down.len() <= node {
            self.down.resize(node + 1, false);
        }
        self.down[node] = down;
    }

    fn is_down(&self, addr: Addr) -> bool {
        match addr {
            Addr::Node(i) => self.down.get(i as usize).copied().unwrap_or(false),
            _ => false,
        }
    }

    fn is_cut(&self, n: usize, src: Addr, dest: Addr) -> bool {
        match (&self.cut, src, dest) {
            (Some(cut), Addr::Node(s), Addr::Node(d)) => cut[d as usize * n + s as usize],
            _ => false,
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
    /// Messages lost to partitions.
    pub partitioned: u64,
    /// Messages lost to the drop fault.
    pub dropped: u64,
    /// Messages lost because their receiver was down (killed).
    pub to_down_nodes: u64,
    /// Extra copies made by the duplicate fault.
    pub duplicated: u64,
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
            "lost": {
                "partitioned": self.partitioned,
                "dropped": self.dropped,
                "receiver-down": self.to_down_nodes,
            },
            "duplicated": self.duplicated,
        })
    }
}

/// What became of a message handed to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// In flight, due at the deadline.
    Queued,
    /// Lost to a partition.
    Partitioned,
    /// Lost to the drop fault.
    Dropped,
    /// Lost because the receiver was down.
    ReceiverDown,
}

/// Observes every network event; the journal implements it.
pub trait NetObserver {
    /// A message entered the network (`copy_of` is set for duplicates).
    fn sent(&mut self, now: Nanos, packet: &Packet, link_seq: u64, copy_of: Option<u64>);
    /// A message was delivered.
    fn delivered(&mut self, now: Nanos, packet: &Packet);
    /// A message was lost, and why.
    fn lost(&mut self, now: Nanos, packet: &Packet, fate: Fate);
}

/// An observer that ignores everything.
pub struct NoObserver;

impl NetObserver for NoObserver {
    fn sent(&mut self, _: Nanos, _: &Packet, _: u64, _: Option<u64>) {}
    fn delivered(&mut self, _: Nanos, _: &Packet) {}
    fn lost(&mut self, _: Nanos, _: &Packet, _: Fate) {}
}

/// Per-message random decisions, keyed by (link, per-link sequence number) rather than
/// drawn in arrival order, so a seed reproduces them whatever the thread timing: each
/// message owns a fixed window of the ChaCha stream of its link.
struct LinkDraws {
    rng: ChaCha8Rng,
    seq: FxHashMap<(u32, u32), u64>,
}

/// 32-bit words of the stream reserved per message (eight u64 draws).
const WORDS_PER_MESSAGE: u128 = 16;

impl LinkDraws {
    /// The next message's sequence number on the link, and its draws if `draw`; a
    /// message that needs none skips the stream without shifting anyone else's.
    fn next(&mut self, src: u32, dest: u32, draw: bool) -> (u64, [f64; 6]) {
        let seq = self.seq.entry((src, dest)).or_insert(0);
        let this = *seq;
        *seq += 1;
        if !draw {
            return (this, [0.0; 6]);
        }
        self.rng.set_stream(((src as u64) << 32) | dest as u64);
        self.rng.set_word_pos(this as u128 * WORDS_PER_MESSAGE);
        let mut u = [0.0; 6];
        for x in &mut u {
            *x = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        }
        (this, u)
    }
}

/// The network: in-flight messages ordered by deadline, ids, latency, faults and
/// statistics.
pub struct Network {
    next_id: u64,
    node_count: usize,
    latency: Latency,
    draws: LinkDraws,
    faults: Faults,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    stats: NetStats,
    observer: Box<dyn NetObserver>,
    lateness: Option<hdrhistogram::Histogram<u64>>,
}

impl Network {
    /// An empty network for `node_count` nodes whose random decisions come from `rng`.
    pub fn new(node_count: usize, latency: Latency, rng: ChaCha8Rng) -> Network {
        Network {
            next_id: 0,
            node_count,
            latency,
            draws: LinkDraws {
                rng,
                seq: FxHashMap::default(),
            },
            faults: Faults::default(),
            in_flight: BinaryHeap::new(),
            stats: NetStats::default(),
            observer: Box::new(NoObserver),
            lateness: None,
        }
    }

    /// Report every event to `observer` from now on.
    pub fn observe(&mut self, observer: Box<dyn NetObserver>) {
        self.observer = observer;
    }

    /// Record how late each delivery is (actual minus scheduled), for benchmarks.
    pub fn measure_lateness(&mut self) {
        self.lateness = Some(hdrhistogram::Histogram::new(3).expect("valid histogram"));
    }

    /// Delivery lateness in nanoseconds, if measured.
    pub fn lateness(&self) -> Option<&hdrhistogram::Histogram<u64>> {
        self.lateness.as_ref()
    }

    /// The faults in force; nemeses change them.
    pub fn faults_mut(&mut self) -> &mut Faults {
        &mut self.faults
    }

    /// Accept a message at time `now`; returns its id and what became of it.
    ///
    /// Messages touching a client have zero latency and are never faulted. Others get
    /// a latency draw and, while faults are on, may be lost or duplicated. A
    /// partition applies both when a message is sent and when it is due: it is lost if
    /// its link is cut at either moment.
    pub fn send(&mut self, now: Nanos, src: Addr, dest: Addr, body: Box<RawValue>) -> (u64, Fate) {
        let id = self.take_id();
        let packet = Packet {
            id,
            src,
            dest,
            body,
        };
        if src.is_client() || dest.is_client() {
            self.stats.clients.send += 1;
            self.observer.sent(now, &packet, 0, None);
            self.enqueue(now, packet);
            return (id, Fate::Queued);
        }
        self.stats.servers.send += 1;
        let draw = self.needs_draws();
        let (seq, u) = self
            .draws
            .next(self.link_end(src), self.link_end(dest), draw);
        self.observer.sent(now, &packet, seq, None);
        // Faults touch node↔node links only; node↔service traffic just has latency.
        let faultable = matches!((src, dest), (Addr::Node(_), Addr::Node(_)));
        if faultable && self.faults.is_cut(self.node_count, src, dest) {
            self.stats.partitioned += 1;
            self.observer.lost(now, &packet, Fate::Partitioned);
            return (id, Fate::Partitioned);
        }
        if faultable && u[1] < self.faults.drop_rate {
            self.stats.dropped += 1;
            self.observer.lost(now, &packet, Fate::Dropped);
            return (id, Fate::Dropped);
        }
        let duplicate = faultable && u[2] < self.faults.duplicate_rate;
        let base = self.latency.draw(u[0], u[3]);
        let delay = if faultable {
            self.slowed(base, u[4])
        } else {
            base
        };
        if duplicate {
            let copy = Packet {
                id: self.take_id(),
                src,
                dest,
                body: packet.body.clone(),
            };
            self.stats.servers.send += 1;
            self.stats.duplicated += 1;
            self.observer.sent(now, &copy, seq, Some(id));
            let copy_delay = self.slowed(self.latency.draw(u[5], u[3]), u[4]);
            self.in_flight.push(Reverse(InFlight {
                deadline: now + copy_delay,
                packet: copy,
            }));
        }
        self.in_flight.push(Reverse(InFlight {
            deadline: now + delay,
            packet,
        }));
        (id, Fate::Queued)
    }

    /// Whether a message's fate or latency can depend on its draws now: with constant
    /// latency and no loss, duplication or slowness it cannot.
    fn needs_draws(&self) -> bool {
        self.latency.dist != LatencyDist::Constant
            || self.faults.drop_rate > 0.0
            || self.faults.duplicate_rate > 0.0
            || self.faults.slow.is_some()
    }

    /// A link end's number for keying random draws: nodes by index, services after.
    fn link_end(&self, addr: Addr) -> u32 {
        match addr {
            Addr::Node(i) => i,
            Addr::Service(i) => self.node_count as u32 + i as u32,
            Addr::Client(_) => unreachable!("client traffic is not drawn for"),
        }
    }

    fn slowed(&self, base: Nanos, u_jitter: f64) -> Nanos {
        match self.faults.slow {
            Some(slow) => base * slow.factor + (u_jitter * slow.jitter as f64) as Nanos,
            None => base,
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn enqueue(&mut self, deadline: Nanos, packet: Packet) {
        self.in_flight.push(Reverse(InFlight { deadline, packet }));
    }

    /// The id the next message sent will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// When the next message is due, if any is in flight.
    pub fn next_deadline(&self) -> Option<Nanos> {
        self.in_flight.peek().map(|Reverse(m)| m.deadline)
    }

    /// Take the next message due at or before `now` that survives the partition check
    /// at delivery, counting its delivery.
    pub fn pop_due(&mut self, now: Nanos) -> Option<Packet> {
        loop {
            if self.next_deadline()? > now {
                return None;
            }
            let Reverse(InFlight { packet, deadline }) = self.in_flight.pop()?;
            if self.faults.is_down(packet.dest) {
                self.stats.to_down_nodes += 1;
                self.observer.lost(now, &packet, Fate::ReceiverDown);
                continue;
            }
            if self.faults.is_cut(self.node_count, packet.src, packet.dest) {
                self.stats.partitioned += 1;
                self.observer.lost(now, &packet, Fate::Partitioned);
                continue;
            }
            if let Some(lateness) = &mut self.lateness {
                let _ = lateness.record(now - deadline);
            }
            if packet.src.is_client() || packet.dest.is_client() {
                self.stats.clients.recv += 1;
            } else {
                self.stats.servers.recv += 1;
            }
            self.observer.delivered(now, &packet);
            return Some(packet);
        }
    }

    /// Statistics so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Flush the observer (the journal) and stop observing.
    pub fn close_observer(&mut self) {
        self.observer = Box::new(NoObserver);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashMap;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    fn net(mean_ms: u64, dist: LatencyDist) -> Network {
        Network::new(3, Latency { mean_ms, dist }, ChaCha8Rng::seed_from_u64(1))
    }

    const N0: Addr = Addr::Node(0);
    const N1: Addr = Addr::Node(1);
    const N2: Addr = Addr::Node(2);
    const C0: Addr = Addr::Client(0);

    #[test]
    fn client_traffic_is_immediate_and_server_traffic_waits_for_latency() {
        let mut net = net(100, LatencyDist::Constant);
        assert_eq!(net.send(0, N0, N1, raw("{}")), (0, Fate::Queued));
        assert_eq!(net.send(0, C0, N0, raw("{}")).0, 1);
        assert_eq!(net.pop_due(0).unwrap().id, 1);
        assert!(net.pop_due(99_999_999).is_none());
        assert_eq!(net.next_deadline(), Some(100_000_000));
        assert_eq!(net.pop_due(100_000_000).unwrap().id, 0);
    }

    #[test]
    fn statistics_on_a_small_hand_computed_run() {
        // 2 client ops (request + reply each), 3 node↔node messages of which one is
        // partitioned: clients 4/4, servers 3 sent / 2 delivered; 2 ops.
        let mut net = net(0, LatencyDist::Constant);
        net.send(0, C0, N0, raw("{}"));
        net.send(0, N0, C0, raw("{}"));
        net.send(0, C0, N1, raw("{}"));
        net.send(0, N1, C0, raw("{}"));
        net.send(0, N0, N1, raw("{}"));
        net.send(0, N1, N2, raw("{}"));
        let mut cut = vec![false; 9];
        cut[2 * 3] = true; // n2 drops from n0
        net.faults_mut().cut = Some(cut);
        assert_eq!(net.send(0, N0, N2, raw("{}")).1, Fate::Partitioned);
        while net.pop_due(0).is_some() {}
        let j = net.stats().to_json(2);
        assert_eq!(
            j["clients"],
            json!({"send-count": 4, "recv-count": 4, "msg-count": 4})
        );
        assert_eq!(
            j["servers"],
            json!({"send-count": 3, "recv-count": 2, "msg-count": 3, "msgs-per-op": 1.5})
        );
        assert_eq!(j["all"]["msgs-per-op"], json!(3.5));
        assert_eq!(j["all"]["recv-count"], json!(6));
        assert_eq!(j["lost"]["partitioned"], json!(1));
    }

    #[test]
    fn a_partition_also_applies_at_delivery_time() {
        let mut net = net(100, LatencyDist::Constant);
        net.send(0, N0, N1, raw("{}"));
        let mut cut = vec![false; 9];
        cut[3] = true; // n1 drops from n0
        net.faults_mut().cut = Some(cut);
        assert!(net.pop_due(200_000_000).is_none());
        assert_eq!(net.stats().partitioned, 1);
        // Clients are never partitioned.
        net.send(0, C0, N1, raw("{}"));
        assert!(net.pop_due(0).is_some());
    }

    #[test]
    fn drop_and_duplicate_faults_apply_to_node_links_only() {
        let mut net = net(0, LatencyDist::Constant);
        net.faults_mut().drop_rate = 1.0;
        assert_eq!(net.send(0, N0, N1, raw("{}")).1, Fate::Dropped);
        assert_eq!(net.send(0, C0, N1, raw("{}")).1, Fate::Queued);
        net.faults_mut().drop_rate = 0.0;
        net.faults_mut().duplicate_rate = 1.0;
        let (id, _) = net.send(0, N0, N1, raw(r#"{"a":1}"#));
        let delivered: Vec<Packet> = std::iter::from_fn(|| net.pop_due(0)).collect();
        assert_eq!(delivered.len(), 3);
        let copies: Vec<&Packet> = delivered
            .iter()
            .filter(|p| p.dest == N1 && p.src == N0)
            .collect();
        assert_eq!(copies.len(), 2);
        assert_ne!(copies[0].id, copies[1].id);
        assert!(copies.iter().any(|p| p.id == id));
        assert_eq!(copies[0].body.get(), copies[1].body.get());
        assert_eq!(net.stats().duplicated, 1);
    }

    #[test]
    fn decisions_depend_on_link_and_sequence_not_on_arrival_order() {
        let latencies = |order: &[(Addr, Addr)]| {
            let mut net = net(100, LatencyDist::Exponential);
            let mut by_link: HashMap<(u32, u32), Vec<Nanos>> = HashMap::new();
            for (src, dest) in order {
                let before = net.next_id();
                net.send(0, *src, *dest, raw("1"));
                assert_eq!(net.next_id(), before + 1);
            }
            while let Some(deadline) = net.next_deadline() {
                let p = net.pop_due(deadline).unwrap();
                let (Addr::Node(s), Addr::Node(d)) = (p.src, p.dest) else {
                    unreachable!()
                };
                by_link.entry((s, d)).or_default().push(deadline);
            }
            let mut v: Vec<_> = by_link.into_iter().collect();
            v.sort();
            v
        };
        let a = latencies(&[(N0, N1), (N0, N1), (N1, N2), (N0, N1)]);
        let b = latencies(&[(N1, N2), (N0, N1), (N0, N1), (N0, N1)]);
        assert_eq!(a, b);
        assert_eq!(a[0].1.len(), 3);
        assert!(
            a[0].1.iter().any(|d| *d != 100_000_000),
            "exponential draws vary"
        );
    }

    #[test]
    fn distributions_have_roughly_their_mean_and_degenerate_ones_are_rejected() {
        for dist in [
            LatencyDist::Uniform,
            LatencyDist::Exponential,
            LatencyDist::Normal,
        ] {
            let mut net = net(100, dist);
            let n = 4000;
            for _ in 0..n {
                net.send(0, N0, N1, raw("1"));
            }
            let mut total = 0;
            while let Some(deadline) = net.next_deadline() {
                net.pop_due(deadline);
                total += deadline;
            }
            let mean_ms = total as f64 / n as f64 / 1e6;
            assert!((90.0..110.0).contains(&mean_ms), "{dist:?} mean {mean_ms}");
            assert!(Latency { mean_ms: 0, dist }.validate().is_err());
        }
        let constant = Latency {
            mean_ms: 0,
            dist: LatencyDist::Constant,
        };
        assert!(constant.validate().is_ok());
    }

    #[test]
    fn equal_deadlines_deliver_in_send_order() {
        let mut net = net(0, LatencyDist::Constant);
        for _ in 0..5 {
            net.send(7, N0, N1, raw("1"));
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
