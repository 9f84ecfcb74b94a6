//! The `txn-list-append` example node on stdin/stdout; its logic is [`straum_examples::txn_list_append`].

fn main() -> std::io::Result<()> {
    straum_node::run(|_| straum_examples::txn_list_append::ListAppend::default())
}
