//! Generates the `zksync.std` schema code.
fn main() -> anyhow::Result<()> {
    zksync_protobuf_build::Config {
        input_dir: "src/proto".into(),
        import_prefix: "zksync".into(),
        dependencies: vec![],
    }
    .generate()
}
