//! Generates the `zksync.network` schema code.
use zksync_protobuf_build::{Config, Dependency};

fn main() -> anyhow::Result<()> {
    Config {
        input_dir: "src/proto".into(),
        import_prefix: "zksync/network".into(),
        dependencies: vec![
            Dependency::from_links("zksync_protobuf", "::zksync_protobuf::proto")?,
            Dependency::from_links("zksync_consensus_roles", "::zksync_consensus_roles::proto")?,
        ],
    }
    .generate()
}
