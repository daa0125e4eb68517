//! `keys`: generates validator and node keys, and recovers a public key from a secret key.
//!
//! The logic lives in `zksync_consensus_tools::keys`; this file parses the command line, reads
//! standard input, prints and sets the exit code (0 on success, 1 on an error, 2 on a usage
//! error).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{
    io::{IsTerminal as _, Read as _},
    process::ExitCode,
};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rand::{SeedableRng as _, rngs::StdRng, rngs::SysRng};
use zksync_consensus_tools::keys::{Kind, SecretKey};

/// Generates consensus keys and recovers public keys from secret keys.
///
/// Keys are written in the protocol's text form: `validator:secret:bls12_381:<hex>`,
/// `validator:public:bls12_381:<hex>`, `validator:pop:bls12_381:<hex>`,
/// `node:secret:ed25519:<hex>`, `node:public:ed25519:<hex>`.
#[derive(Parser, Debug)]
#[command(
    name = "keys",
    version,
    about,
    long_about,
    after_help = "Examples:
  keys validator > validator.txt   # secret key, public key and proof of possession
  keys node > node.txt             # secret key and public key
  keys public - < secret.txt       # public key (and pop) of the secret key in secret.txt"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generates a new validator key (BLS12-381).
    ///
    /// Prints three lines: `secret: <key>`, `public: <key>` and `pop: <proof>`, the proof of
    /// possession that registers the public key on chain. Randomness comes from the operating
    /// system. The secret key is printed: redirect the output to a file only you can read.
    Validator,
    /// Generates a new node key (ed25519), the identity of a node in the network.
    ///
    /// Prints two lines: `secret: <key>` and `public: <key>`. Randomness comes from the
    /// operating system. The secret key is printed: redirect the output to a file only you can
    /// read.
    Node,
    /// Prints the public key of a secret key (and, for a validator key, its proof of
    /// possession).
    ///
    /// The kind of key is told by its prefix (`validator:secret:bls12_381:` or
    /// `node:secret:ed25519:`). Prints `public: <key>` and, for a validator key,
    /// `pop: <proof>`; never the secret key.
    ///
    /// Pass `-` to read the secret key from standard input, which keeps it out of the shell
    /// history and the process list: `keys public - < secret.txt`.
    #[command(after_help = "Example: keys public - < validator_secret.txt")]
    Public {
        /// The secret key in text form, or `-` to read it from standard input (recommended).
        #[arg(value_name = "SECRET|-")]
        secret: String,
    },
}

/// Most bytes read from standard input: a secret key in text form is under 100.
const MAX_STDIN: u64 = 4096;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            // `{:#}` prints the whole chain of causes on one line.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command; returns what to print.
fn run(command: Command) -> anyhow::Result<String> {
    let key = match command {
        Command::Validator => return Ok(generate(Kind::Validator)?.full_report().to_string()),
        Command::Node => return Ok(generate(Kind::Node)?.full_report().to_string()),
        Command::Public { secret } if secret == "-" => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Paste the secret key, then press Enter and Ctrl-D:");
            }
            let mut text = String::new();
            stdin
                .take(MAX_STDIN + 1)
                .read_to_string(&mut text)
                .context("reading the secret key from standard input")?;
            anyhow::ensure!(
                text.len() as u64 <= MAX_STDIN,
                "standard input is longer than {MAX_STDIN} bytes; expected one secret key"
            );
            SecretKey::parse(&text)
        }
        Command::Public { secret } => SecretKey::parse(&secret),
    };
    Ok(key
        .context("invalid secret key")?
        .public_report()
        .to_string())
}

/// A fresh key, from a generator seeded by the operating system.
fn generate(kind: Kind) -> anyhow::Result<SecretKey> {
    let mut rng =
        StdRng::try_from_rng(&mut SysRng).context("getting randomness from the system")?;
    Ok(SecretKey::generate(kind, &mut rng))
}
