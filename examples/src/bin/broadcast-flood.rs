//! The `broadcast-flood` example node on stdin/stdout; its logic is
//! [`straum_examples::broadcast_flood`].

fn main() -> std::io::Result<()> {
    straum_node::run(|_| straum_examples::broadcast_flood::FloodingBroadcast::default())
}
