//! Generates the `zksync.roles` schema code.
fn main() -> anyhow::Result<()> {
    zksync_protobuf_build::Config {
        input_dir: "src/proto".into(),
        import_prefix: "zksync/roles".into(),
        dependencies: vec![zksync_protobuf_build::Dependency::from_links(
            "zksync_protobuf",
            "::zksync_protobuf::proto",
        )?],
    }
    .generate()
}
