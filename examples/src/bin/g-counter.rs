//! The `g-counter` example node on stdin/stdout; its logic is [`straum_examples::g_counter`].

fn main() -> std::io::Result<()> {
    straum_node::run(|_| straum_examples::g_counter::Counter::default())
}
