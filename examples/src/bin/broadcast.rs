//! The `broadcast` example node on stdin/stdout; its logic is [`straum_examples::broadcast`].

fn main() -> std::io::Result<()> {
    straum_node::run(|_| straum_examples::broadcast::Broadcast::default())
}
