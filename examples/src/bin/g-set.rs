//! The `g-set` example node on stdin/stdout; its logic is [`straum_examples::g_set`].

fn main() -> std::io::Result<()> {
    straum_node::run(|_| straum_examples::g_set::GSet::default())
}
