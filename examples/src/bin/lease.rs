//! The `lease` example node on stdin/stdout; its logic is [`straum_examples::lease`].

fn main() -> std::io::Result<()> {
    straum_node::run(|_| straum_examples::lease::LeaseNode::default())
}
