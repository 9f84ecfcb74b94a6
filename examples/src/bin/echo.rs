//! The `echo` example node on stdin/stdout; its logic is [`straum_examples::echo`].

fn main() -> std::io::Result<()> {
    straum_node::run(|_| straum_examples::echo::Echo)
}
