//! Generates the `zksync.tools` schema code (the config file).
fn main() -> anyhow::Result<()> {
    zksync_protobuf_build::Config {
        input_dir: "src/proto".into(),
        import_prefix: "zksync/tools".into(),
        dependencies: vec![
            zksync_protobuf_build::Dependency::from_links(
                "zksync_protobuf",
                "::zksync_protobuf::proto",
            )?,
            zksync_protobuf_build::Dependency::from_links(
                "zksync_consensus_roles",
                "::zksync_consensus_roles::proto",
            )?,
        ],
    }
    .generate()
}
