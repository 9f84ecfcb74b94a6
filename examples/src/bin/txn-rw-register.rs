//! The `txn-rw-register` example node on stdin/stdout; its logic is [`straum_examples::txn_rw_register`].

fn main() -> std::io::Result<()> {
    straum_node::run(straum_examples::txn_rw_register::TxnNode::new)
}
