//! Build-time generation of Rust code from `.proto` files, for the `build.rs` of crates that
//! own schemas. `protox` compiles the schemas in pure Rust (no `protoc`), a check rejects
//! schemas whose prost encoding would not be canonical (see [`canonical`]), and `prost-build`
//! generates the structs.
//!
//! Layout: a crate keeps its schemas under `input_dir` (usually `src/proto`); they are imported
//! as `import_prefix/<path under input_dir>` (e.g. `zksync/roles/validator/v2.proto`) and their
//! package must be `import_prefix` with `/` replaced by `.` (optionally extended by
//! sub-packages). Crates that import schemas of another crate declare a dependency
//! ([`Dependency`]), which the other crate advertises through Cargo's `links` metadata.
//!
//! Output in `OUT_DIR`: `gen.rs` (the module tree to `include!`) and `descriptor.binpb` (a
//! `FileDescriptorSet` of the crate's schemas and everything they import).

// Build scripts talk to Cargo through stdout.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use prost::Message as _;

pub mod canonical;

/// Schemas of another crate that this crate's schemas import.
#[derive(Clone, Debug)]
pub struct Dependency {
    /// Import prefix of its schemas, e.g. `zksync/roles`.
    pub import_prefix: String,
    /// Directory holding its schemas.
    pub dir: PathBuf,
    /// Rust path of the module that `include!`s its `gen.rs`, e.g.
    /// `::zksync_consensus_roles::proto`; package `a.b` is then at `<rust_path>::a::b`.
    pub rust_path: String,
}

impl Dependency {
    /// The dependency advertised by a crate with `links = "<links>"` whose build script used
    /// [`Config::generate`]. Reads `DEP_<LINKS>_PROTO_DIR` and `DEP_<LINKS>_PROTO_PREFIX`.
    pub fn from_links(links: &str, rust_path: &str) -> anyhow::Result<Self> {
        let var = |key: &str| {
            let name = format!("DEP_{}_{key}", links.to_uppercase().replace('-', "_"));
            std::env::var(&name).with_context(|| format!("{name} is not set (is `{links}` a direct dependency with `links = \"{links}\"`?)"))
        };
        Ok(Self {
            import_prefix: var("PROTO_PREFIX")?,
            dir: var("PROTO_DIR")?.into(),
            rust_path: rust_path.to_string(),
        })
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory of this crate's schemas, relative to the crate root.
    pub input_dir: PathBuf,
    /// Import prefix of this crate's schemas, e.g. `zksync/roles`.
    pub import_prefix: String,
    /// Schemas of other crates imported by this crate's schemas.
    pub dependencies: Vec<Dependency>,
}

/// Maps import names to files: `prefix/rest` to `dir/rest`.
struct Resolver {
    roots: Vec<(String, PathBuf)>,
}

impl protox::file::FileResolver for Resolver {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        for (prefix, dir) in &self.roots {
            if let Some(rest) = name
                .strip_prefix(prefix.as_str())
                .and_then(|r| r.strip_prefix('/'))
            {
                let path = dir.join(rest);
                if path.exists() {
                    return protox::file::File::open(name, &path);
                }
            }
        }
        Err(protox::Error::file_not_found(name))
    }
}

fn proto_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {d:?}"))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "proto") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

impl Config {
    /// Compiles, checks and generates. Call from `build.rs`; errors fail the build.
    pub fn generate(&self) -> anyhow::Result<()> {
        let manifest_dir: PathBuf = std::env::var("CARGO_MANIFEST_DIR")
            .context("CARGO_MANIFEST_DIR")?
            .into();
        let out_dir: PathBuf = std::env::var("OUT_DIR").context("OUT_DIR")?.into();
        let input_dir = manifest_dir.join(&self.input_dir);
        println!("cargo:rerun-if-changed={}", input_dir.display());

        // Import names of this crate's schemas.
        let mut names = vec![];
        for path in proto_files(&input_dir)? {
            println!("cargo:rerun-if-changed={}", path.display());
            let rel = path
                .strip_prefix(&input_dir)?
                .to_str()
                .context("non-UTF-8 path")?;
            names.push(format!("{}/{}", self.import_prefix, rel.replace('\\', "/")));
        }
        anyhow::ensure!(!names.is_empty(), "no .proto files under {input_dir:?}");

        let mut roots = vec![(self.import_prefix.clone(), input_dir.clone())];
        roots.extend(
            self.dependencies
                .iter()
                .map(|d| (d.import_prefix.clone(), d.dir.clone())),
        );
        let mut compiler = protox::Compiler::with_file_resolver(Resolver { roots });
        compiler.include_imports(true);
        for name in &names {
            compiler
                .open_file(name)
                .map_err(|e| anyhow::anyhow!("compiling {name}: {e}"))?;
        }
        let fds = compiler.file_descriptor_set();

        // This crate's files are checked; imported ones were checked by their own crate.
        let own: Vec<&prost_types::FileDescriptorProto> = fds
            .file
            .iter()
            .filter(|f| names.contains(&f.name().to_string()))
            .collect();
        let package_prefix = self.import_prefix.replace('/', ".");
        for file in own {
            anyhow::ensure!(
                file.package() == package_prefix
                    || file.package().starts_with(&format!("{package_prefix}.")),
                "{}: package {:?} must be {package_prefix:?} or under it",
                file.name(),
                file.package()
            );
            canonical::check_file(file)?;
        }

        std::fs::write(out_dir.join("descriptor.binpb"), fds.encode_to_vec())?;
        let mut config = prost_build::Config::new();
        config.skip_protoc_run();
        config.enable_type_names();
        config.out_dir(&out_dir);
        config.include_file("gen.rs");
        // Types of imported files map to the generated code of the crate that owns them
        // (one mapping per package; several files may share one).
        let mut externs = std::collections::BTreeMap::new();
        for file in &fds.file {
            if names.contains(&file.name().to_string()) {
                continue;
            }
            let dep = self
                .dependencies
                .iter()
                .filter(|d| file.name().starts_with(&format!("{}/", d.import_prefix)))
                // The most specific prefix wins (`zksync/roles` over `zksync`).
                .max_by_key(|d| d.import_prefix.len())
                .with_context(|| {
                    format!("{} is imported but no dependency provides it", file.name())
                })?;
            let rust = format!("{}::{}", dep.rust_path, file.package().replace('.', "::"));
            externs.insert(format!(".{}", file.package()), rust);
        }
        for (package, rust) in externs {
            config.extern_path(package, rust);
        }
        // All files go in (prost needs the imported messages' descriptors); types of imported
        // files are skipped by the extern paths above.
        config.compile_fds(fds).context("generating Rust code")?;

        // Advertise this crate's schemas to dependents (needs `links` in Cargo.toml).
        println!("cargo:PROTO_DIR={}", input_dir.display());
        println!("cargo:PROTO_PREFIX={}", self.import_prefix);
        Ok(())
    }
}
