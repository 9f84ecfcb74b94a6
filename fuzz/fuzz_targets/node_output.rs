//! Everything that parses what a node writes: the envelope parser, then the body as
//! each workload's client reads replies and as each built-in service reads requests.
//! Nothing may panic, whatever the bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use serde_json::{Map, Value};
use straum::services::Services;
use straum::wire::parse_line;
use straum_workloads::{Invocation, WorkloadOptions, REGISTRY};

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = parse_line(data) else {
        return;
    };
    let body: Value = serde_json::from_str(envelope.body.get()).unwrap_or(Value::Null);
    let mut services = Services::new(rand_chacha::ChaCha8Rng::seed_from_u64(0));
    for service in 0..straum::services::NAMES.len() {
        let _ = services.handle(service, &envelope.src, &body);
    }
    let Some(reply) = body.as_object() else {
        return;
    };
    let options = WorkloadOptions {
        node_count: 2,
        concurrency: 2,
        node_ids: vec!["n0".into(), "n1".into()],
        ..Default::default()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for entry in REGISTRY {
        let Ok(mut workload) = (entry.build)(&options) else {
            continue;
        };
        for _ in 0..4 {
            let Some(op) = workload.next_op(&mut rng) else {
                break;
            };
            let _ = workload.invoke(0, &op);
            let _ = workload.reply(0, &op, reply);
        }
        let _ = workload.check_setup_reply(reply);
        let fin = Invocation::new("read", Value::Null);
        let _ = workload.reply(0, &fin, &Map::clone(reply));
    }
});
