//! `lin-kv`: a linearizable key-value store — one map, each request applied atomically
//! when the service handles it.

use serde_json::{Map, Value};

use super::kv::{self, KvMap, Reply};

/// The linearizable KV service.
#[derive(Debug, Default)]
pub struct LinKv {
    map: KvMap,
}

impl LinKv {
    /// Handle one request.
    pub fn handle(&mut self, body: &Map<String, Value>) -> Reply {
        match kv::parse(body) {
            Ok(request) => kv::apply(&mut self.map, &request, true).0,
            Err(reply) => reply,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_read_sees_the_last_write() {
        let mut s = LinKv::default();
        for v in 0..20 {
            s.handle(
                json!({"type":"write","key":"k","value":v})
                    .as_object()
                    .unwrap(),
            );
            let r = s.handle(json!({"type":"read","key":"k"}).as_object().unwrap());
            assert_eq!(r["value"], v);
        }
    }
}
