//! The `lin-kv` example node on stdin/stdout; its logic is [`straum_examples::lin_kv`].

fn main() -> std::io::Result<()> {
    straum_node::run(straum_examples::lin_kv::Raft::new)
}
