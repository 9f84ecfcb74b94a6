//! The `pn-counter` example node on stdin/stdout; its logic is [`straum_examples::pn_counter`].

fn main() -> std::io::Result<()> {
    straum_node::run(|_| straum_examples::pn_counter::PnCounter::default())
}
