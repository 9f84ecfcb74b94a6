//! The `kafka` example node on stdin/stdout; its logic is [`straum_examples::kafka`].

fn main() -> std::io::Result<()> {
    straum_node::run(|_| straum_examples::kafka::Kafka::default())
}
