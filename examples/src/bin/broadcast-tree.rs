//! The `broadcast-tree` example node on stdin/stdout; its logic is
//! [`straum_examples::broadcast_tree`].

fn main() -> std::io::Result<()> {
    straum_node::run(|_| straum_examples::broadcast_tree::TreeBroadcast::default())
}
