//! The reference must describe exactly what is enforced: every example goes through
//! the validators, every request a workload sends matches its documented shape, and
//! `docs/workloads.md` is this module's current output.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use straum_workloads::{Step, REGISTRY};

use super::*;

fn object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        other => panic!("{text} is not a JSON object: {other:?}"),
    }
}

fn every_rpc() -> Vec<(String, Rpc)> {
    let mut all = vec![("init".to_string(), INIT)];
    for entry in REGISTRY {
        let workload = (entry.build)(&doc_options()).unwrap();
        assert!(
            !workload.rpcs().is_empty(),
            "workload {} documents no RPCs",
            entry.name
        );
        all.extend(workload.rpcs().iter().map(|r| (entry.name.to_string(), *r)));
    }
    for service in &services::DOCS {
        all.extend(service.rpcs.iter().map(|r| (service.name.to_string(), *r)));
    }
    all
}

#[test]
fn every_example_passes_the_validators_and_a_changed_one_does_not() {
    for (owner, rpc) in every_rpc() {
        let request = object(rpc.example_request);
        let reply = object(rpc.example_reply);
        assert_eq!(
            rpc.validate_request(&request),
            Ok(()),
            "{owner} {}",
            rpc.request
        );
        assert_eq!(rpc.validate(&reply), Ok(()), "{owner} {}", rpc.reply);
        assert_eq!(
            reply["in_reply_to"], request["msg_id"],
            "{owner} {}",
            rpc.request
        );
        let mut extra = reply.clone();
        extra.insert("surprise".into(), Value::from(1));
        assert!(rpc.validate(&extra).is_err(), "{owner} {}", rpc.reply);
        for field in rpc.reply_fields {
            let mut missing = reply.clone();
            missing.remove(field.name);
            assert!(rpc.validate(&missing).is_err(), "{owner} {}", field.name);
        }
    }
}

/// Drive each workload's own client: every request it sends must match a documented
/// RPC, and the documented example reply must complete the operation without a
/// `malformed-rpc-response`.
#[test]
fn workload_clients_send_documented_requests_and_accept_the_example_replies() {
    for entry in REGISTRY {
        let mut workload = (entry.build)(&doc_options()).unwrap();
        let rpcs = workload.rpcs();
        let find = |body: &Map<String, Value>| {
            let kind = body["type"].as_str().unwrap_or("");
            rpcs.iter()
                .find(|r| r.request == kind)
                .unwrap_or_else(|| panic!("{}: request {kind:?} is undocumented", entry.name))
        };
        if let Some(setup) = workload.setup_request(0) {
            let rpc = find(&setup);
            let mut with_id = setup.clone();
            with_id.insert("msg_id".into(), Value::from(1));
            assert_eq!(rpc.validate_request(&with_id), Ok(()), "{}", entry.name);
            assert_eq!(
                workload.check_setup_reply(&object(rpc.example_reply)),
                Ok(()),
                "{}",
                entry.name
            );
        }
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..400u64 {
            // time passes, so timed generators (lease's holds, kafka's crashes) move on
            workload.observe_time(std::time::Duration::from_millis(100 * i));
            let Some(op) = workload.next_op_for((i % 6) as usize, i % 6, &mut rng) else {
                break;
            };
            let mut step = workload.invoke(i, &op);
            while let Step::Send(mut body) = step {
                let rpc = find(&body);
                seen.insert(rpc.request);
                body.insert("msg_id".into(), Value::from(i));
                assert_eq!(rpc.validate_request(&body), Ok(()), "{}", entry.name);
                step = workload.reply(i, &op, &object(rpc.example_reply));
            }
            let Step::Done(completion) = step else {
                unreachable!()
            };
            assert_ne!(
                completion.exception.as_deref(),
                Some("malformed-rpc-response"),
                "{} {}: {:?}",
                entry.name,
                op.f,
                completion.error
            );
        }
        let setup = workload.setup_request(0).map(|b| b["type"].clone());
        for rpc in rpcs {
            assert!(
                seen.contains(rpc.request) || setup == Some(Value::from(rpc.request)),
                "{}: {} is documented but never sent",
                entry.name,
                rpc.request
            );
        }
    }
}

/// The services answer their example requests (write, then read, then cas) with a
/// documented reply or a documented error, and refuse a request missing a field.
#[test]
fn services_answer_their_examples_as_documented() {
    let mut live = services::Services::new(ChaCha8Rng::seed_from_u64(3));
    for (index, name) in services::NAMES.iter().enumerate() {
        let doc = services::DOCS.iter().find(|d| d.name == *name).unwrap();
        let mut order: Vec<&Rpc> = doc.rpcs.iter().collect();
        order.sort_by_key(|r| (r.request != "write", r.request != "read"));
        for rpc in order {
            let request = Value::Object(object(rpc.example_request));
            let reply = live.handle(index, "n0", &request);
            let reply = reply.as_object().unwrap();
            if reply["type"] == "error" {
                let code = reply["code"].as_i64().unwrap();
                assert!(
                    rpc.errors.iter().any(|(c, _)| *c == code),
                    "{name} {}: undocumented error {reply:?}",
                    rpc.request
                );
            } else {
                assert_eq!(rpc.validate(reply), Ok(()), "{name} {}", rpc.request);
            }
            for field in rpc.request_fields.iter().filter(|f| !f.optional) {
                let mut missing = object(rpc.example_request);
                missing.remove(field.name);
                let reply = live.handle(index, "n0", &Value::Object(missing));
                assert_eq!(
                    reply["code"], 12,
                    "{name} {} without {}",
                    rpc.request, field.name
                );
            }
        }
    }
}

#[test]
fn committed_markdown_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/workloads.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = render(None, Format::Markdown).unwrap();
    assert!(
        committed == generated,
        "docs/workloads.md is stale: regenerate it with \
         `cargo run -p straum -- doc --markdown > docs/workloads.md`"
    );
}

#[test]
fn one_workload_or_service_and_unknown_names() {
    let text = render(Some("echo"), Format::Text).unwrap();
    assert!(text.contains("echo → echo_ok"));
    assert!(!text.contains("generate"));
    let both = render(Some("lin-kv"), Format::Text).unwrap();
    assert!(both.contains("WORKLOAD LIN-KV") && both.contains("Service lin-kv"));
    assert!(render(Some("lin-tso"), Format::Text)
        .unwrap()
        .contains("ts → ts_ok"));
    assert!(render(Some("nope"), Format::Text)
        .unwrap_err()
        .contains("expected one of"));
}
