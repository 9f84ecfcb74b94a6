//! The `unique-ids` example node on stdin/stdout; its logic is
//! [`straum_examples::unique_ids`]. `--durable` keeps reserved ids in
//! `$STRAUM_NODE_DATA_DIR`, so a restarted node never repeats one.

fn main() -> std::io::Result<()> {
    let durable = std::env::args().any(|a| a == "--durable");
    if durable && std::env::var_os(straum_node::DATA_DIR_VARIABLE).is_none() {
        return Err(std::io::Error::other(
            "--durable needs STRAUM_NODE_DATA_DIR (set by straum)",
        ));
    }
    straum_node::run(|init| straum_examples::unique_ids::UniqueIds::new(init, durable))
}
