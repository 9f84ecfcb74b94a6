//! The network journal: every send, delivery and loss appended to
//! `net-journal.jsonl` as it happens, so memory stays bounded however long the run,
//! and read back afterwards for analyses that follow messages.
//!
//! One JSON object per line: `t` (ns since the harness started), `e` (`send`, `recv`,
//! `drop`), `id`, `src`, `dest`, `body`; sends between nodes add `seq` (the per-link
//! sequence number that keys the message's random decisions) and duplicates `copy-of`;
//! losses add `why` (`partition` or `drop`).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;
use straum_workloads::{NetEvent, NetEventKind};

use crate::backend::Nanos;
use crate::net::{Addr, Fate, NetObserver, NetStats, Packet};

/// Writes the journal.
pub struct Journal {
    out: Option<File>,
    /// Node names as JSON strings, encoded once.
    node_names: Vec<Box<[u8]>>,
    /// Lines not yet written: events are formatted straight into it (each body is
    /// copied once) and it goes to the file in [`WRITE_AT`]-sized writes.
    line: Vec<u8>,
}

/// Bytes of journal gathered before one write to the file.
const WRITE_AT: usize = 1 << 20;

impl Journal {
    /// A journal written to `path` for nodes called `node_names`.
    pub fn create(path: &Path, node_names: &[String]) -> std::io::Result<Journal> {
        Ok(Journal {
            out: Some(File::create(path)?),
            node_names: node_names
                .iter()
                .map(|name| {
                    serde_json::to_vec(name)
                        .expect("a string serialises")
                        .into_boxed_slice()
                })
                .collect(),
            line: Vec::with_capacity(WRITE_AT + 64 * 1024),
        })
    }

    fn write_name(&mut self, addr: Addr) {
        match addr {
            Addr::Node(i) => self.line.extend_from_slice(&self.node_names[i as usize]),
            Addr::Client(k) => {
                self.line.extend_from_slice(b"\"c");
                self.write_number(k as u64);
                self.line.push(b'"');
            }
            Addr::Service(i) => {
                self.line.push(b'"');
                self.line
                    .extend_from_slice(crate::services::NAMES[i as usize].as_bytes());
                self.line.push(b'"');
            }
        }
    }

    fn write_number(&mut self, n: u64) {
        self.line
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// Append one event line (formatted in place: no allocation per event).
    fn event(&mut self, now: Nanos, kind: &str, packet: &Packet, extra: Extra) {
        self.line.extend_from_slice(b"{\"t\":");
        self.write_number(now);
        self.line.extend_from_slice(b",\"e\":\"");
        self.line.extend_from_slice(kind.as_bytes());
        self.line.extend_from_slice(b"\",\"id\":");
        self.write_number(packet.id);
        self.line.extend_from_slice(b",\"src\":");
        self.write_name(packet.src);
        self.line.extend_from_slice(b",\"dest\":");
        self.write_name(packet.dest);
        match extra {
            Extra::None => {}
            Extra::Seq(seq) => {
                self.line.extend_from_slice(b",\"seq\":");
                self.write_number(seq);
            }
            Extra::Copy(seq, original) => {
                self.line.extend_from_slice(b",\"seq\":");
                self.write_number(seq);
                self.line.extend_from_slice(b",\"copy-of\":");
                self.write_number(original);
            }
            Extra::Why(why) => {
                self.line.extend_from_slice(b",\"why\":\"");
                self.line.extend_from_slice(why.as_bytes());
                self.line.push(b'"');
            }
        }
        self.line.extend_from_slice(b",\"body\":");
        self.line.extend_from_slice(packet.body.get().as_bytes());
        self.line.extend_from_slice(b"}\n");
        if self.line.len() >= WRITE_AT {
            self.write_out();
        }
    }

    fn write_out(&mut self) {
        if let Some(out) = &mut self.out {
            // A failing disk must not stop the run; the journal just ends there.
            if out.write_all(&self.line).is_err() {
                self.out = None;
            }
        }
        self.line.clear();
        if self.line.capacity() > 4 * WRITE_AT {
            // One huge body grew it; do not keep that for the rest of the run.
            self.line.shrink_to(WRITE_AT + 64 * 1024);
        }
    }
}

/// The event-specific fields of a journal line.
enum Extra {
    None,
    Seq(u64),
    Copy(u64, u64),
    Why(&'static str),
}

impl NetObserver for Journal {
    fn sent(&mut self, now: Nanos, packet: &Packet, link_seq: u64, copy_of: Option<u64>) {
        let via_client =
            matches!(packet.src, Addr::Client(_)) || matches!(packet.dest, Addr::Client(_));
        let extra = match (via_client, copy_of) {
            (true, _) => Extra::None,
            (false, None) => Extra::Seq(link_seq),
            (false, Some(original)) => Extra::Copy(link_seq, original),
        };
        self.event(now, "send", packet, extra);
    }

    fn delivered(&mut self, now: Nanos, packet: &Packet) {
        self.event(now, "recv", packet, Extra::None);
    }

    fn lost(&mut self, now: Nanos, packet: &Packet, fate: Fate) {
        let why = match fate {
            Fate::Partitioned => "partition",
            Fate::ReceiverDown => "receiver-down",
            _ => "drop",
        };
        self.event(now, "drop", packet, Extra::Why(why));
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.write_out();
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    t: u64,
    e: &'a str,
    id: u64,
    src: String,
    dest: String,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// Network statistics recounted from a journal (for `straum analyze`).
pub fn stats(path: &Path) -> std::io::Result<NetStats> {
    #[derive(Deserialize)]
    struct Event<'a> {
        e: &'a str,
        src: &'a str,
        dest: &'a str,
        why: Option<&'a str>,
        #[serde(rename = "copy-of")]
        copy_of: Option<u64>,
    }
    let mut stats = NetStats::default();
    let reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    for line in reader.lines().map_while(Result::ok) {
        let Ok(event) = serde_json::from_str::<Event>(&line) else {
            continue;
        };
        let client = event.src.starts_with('c') || event.dest.starts_with('c');
        let class = if client {
            &mut stats.clients
        } else {
            &mut stats.servers
        };
        match (event.e, event.why) {
            ("send", _) => {
                class.send += 1;
                if event.copy_of.is_some() {
                    stats.duplicated += 1;
                }
            }
            ("recv", _) => class.recv += 1,
            (_, Some("partition")) => stats.partitioned += 1,
            (_, Some("receiver-down")) => stats.to_down_nodes += 1,
            _ => stats.dropped += 1,
        }
    }
    Ok(stats)
}

/// Read a journal back as events, times shifted so that `origin` is 0 (earlier events
/// get 0). Unreadable lines are skipped.
pub fn read(path: &Path, origin: Nanos) -> std::io::Result<impl Iterator<Item = NetEvent>> {
    let reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    Ok(reader
        .lines()
        .map_while(Result::ok)
        .filter_map(move |text| {
            let line: Line = serde_json::from_str(&text).ok()?;
            let kind = match line.e {
                "send" => NetEventKind::Send,
                "recv" => NetEventKind::Recv,
                _ => NetEventKind::Drop,
            };
            Some(NetEvent {
                time: line.t.saturating_sub(origin),
                kind,
                id: line.id,
                src: line.src,
                dest: line.dest,
                body: line.body.get().to_string(),
            })
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_round_trips_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        {
            let mut journal = Journal::create(&path, &["n0".into(), "n1".into()]).unwrap();
            let body = RawValue::from_string(r#"{"type":"gossip","messages":[1]}"#.into()).unwrap();
            let p = Packet {
                id: 7,
                src: Addr::Node(0),
                dest: Addr::Node(1),
                body,
            };
            journal.sent(10, &p, 3, None);
            journal.delivered(20, &p);
            journal.lost(30, &p, Fate::Partitioned);
            let c = Packet {
                id: 8,
                src: Addr::Client(4),
                dest: Addr::Node(1),
                body: RawValue::from_string("{}".into()).unwrap(),
            };
            journal.sent(40, &c, 0, None);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().next().unwrap().contains("\"seq\":3"));
        let events: Vec<NetEvent> = read(&path, 15).unwrap().collect();
        assert_eq!(events.len(), 4);
        assert_eq!(events[0].time, 0);
        assert_eq!(events[1].kind, NetEventKind::Recv);
        assert_eq!(events[1].time, 5);
        assert_eq!(events[2].kind, NetEventKind::Drop);
        assert_eq!(events[3].src, "c4");
        assert_eq!(events[0].body, r#"{"type":"gossip","messages":[1]}"#);
    }
}
