//! Key generation and inspection: the logic of the `keys` binary.
//!
//! Two kinds of keys exist (protocol.md 3.1, 3.2):
//! - validator keys (BLS12-381), which sign consensus messages; a validator registers its public
//!   key together with a proof of possession of the secret key;
//! - node keys (ed25519), which identify a node in the network.
//!
//! Keys are read and written in the protocol's text form, `prefix ‖ lowercase hex`, e.g.
//! `validator:secret:bls12_381:<hex>` or `node:public:ed25519:<hex>`. [`Report`] is what the
//! binary prints: one `name: value` line per item.
//!
//! Randomness comes from the caller, so tests can use a seeded generator; the binary passes one
//! seeded from the operating system. Error messages never contain a secret key: at most
//! [`MAX_SHOWN_PREFIX`] characters of the input are echoed, and only the part before the last
//! `:`.

use std::fmt;

use zksync_consensus_crypto::{ByteFmtError, Text, TextFmt, TextFmtError};
use zksync_consensus_roles::{node, validator};

#[cfg(test)]
mod tests;

/// Text prefix of a validator secret key.
pub const VALIDATOR_SECRET_PREFIX: &str = "validator:secret:bls12_381:";
/// Text prefix of a node secret key.
pub const NODE_SECRET_PREFIX: &str = "node:secret:ed25519:";
/// Text prefixes of public keys (and of a proof of possession), recognized only to say that the
/// input is not a secret key.
const PUBLIC_PREFIXES: [&str; 3] = [
    "validator:public:bls12_381:",
    "validator:pop:bls12_381:",
    "node:public:ed25519:",
];
/// Longest prefix of an unrecognized input that an error message shows; anything longer may be
/// key material and is not echoed.
pub const MAX_SHOWN_PREFIX: usize = 32;

/// The kind of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A validator key (BLS12-381).
    Validator,
    /// A node key (ed25519).
    Node,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Validator => "validator (bls12_381)",
            Self::Node => "node (ed25519)",
        })
    }
}

/// A secret key of either kind. `Debug` shows the public key only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretKey {
    /// A validator secret key.
    Validator(validator::SecretKey),
    /// A node secret key.
    Node(node::SecretKey),
}

/// Parsing a secret key from text failed. Neither the messages nor `Debug` show key material.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum ParseError {
    /// The input is empty (or only whitespace).
    #[error("empty input")]
    Empty,
    /// The input has no `prefix:` at all.
    #[error(
        "no prefix (expected {VALIDATOR_SECRET_PREFIX:?} or {NODE_SECRET_PREFIX:?} followed by hex)"
    )]
    NoPrefix,
    /// The input starts with a prefix that is not a secret key's: everything up to the last
    /// `:`, at most [`MAX_SHOWN_PREFIX`] characters long.
    #[error(
        "unknown prefix {0:?} (expected {VALIDATOR_SECRET_PREFIX:?} or {NODE_SECRET_PREFIX:?})"
    )]
    UnknownPrefix(String),
    /// Like [`ParseError::UnknownPrefix`], but the prefix is longer than [`MAX_SHOWN_PREFIX`]
    /// characters, so it may hold key material and is not kept.
    #[error(
        "unknown prefix (longer than {MAX_SHOWN_PREFIX} characters, not shown; expected \
         {VALIDATOR_SECRET_PREFIX:?} or {NODE_SECRET_PREFIX:?})"
    )]
    LongPrefix,
    /// The input is a public key or a proof of possession, not a secret key.
    #[error("{0:?} is not a secret key (a public key or proof of possession?)")]
    NotSecret(&'static str),
    /// The prefix is right but the rest is not a valid key of that kind.
    #[error("{kind} key: {}", describe(.reason))]
    Invalid {
        /// The kind named by the prefix.
        kind: Kind,
        /// Why the rest was rejected (in the message, not a `source`: messages stay one line).
        reason: TextFmtError,
    },
}

/// A decoding error without the redundant "invalid secret key" of the crypto crate.
fn describe(err: &TextFmtError) -> String {
    match err {
        TextFmtError::Bytes(ByteFmtError::Invalid { reason, .. }) => {
            format!("not a valid secret key ({reason})")
        }
        err => err.to_string(),
    }
}

impl SecretKey {
    /// A fresh key of the given kind, from 32 bytes of `rng`.
    pub fn generate(kind: Kind, rng: &mut (impl rand::CryptoRng + ?Sized)) -> Self {
        match kind {
            Kind::Validator => Self::Validator(validator::SecretKey::generate(rng)),
            Kind::Node => Self::Node(node::SecretKey::generate(rng)),
        }
    }

    /// Parses a secret key in text form; the kind is told by its prefix. Surrounding whitespace
    /// is ignored; hex of either case is accepted.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ParseError::Empty);
        }
        if text.starts_with(VALIDATOR_SECRET_PREFIX) {
            return TextFmt::decode(Text::new(text))
                .map(Self::Validator)
                .map_err(|reason| ParseError::Invalid {
                    kind: Kind::Validator,
                    reason,
                });
        }
        if text.starts_with(NODE_SECRET_PREFIX) {
            return TextFmt::decode(Text::new(text))
                .map(Self::Node)
                .map_err(|reason| ParseError::Invalid {
                    kind: Kind::Node,
                    reason,
                });
        }
        if let Some(prefix) = PUBLIC_PREFIXES.iter().find(|p| text.starts_with(**p)) {
            return Err(ParseError::NotSecret(prefix));
        }
        match text.rfind(':').map(|i| &text[..=i]) {
            None => Err(ParseError::NoPrefix),
            Some(prefix) if prefix.chars().count() > MAX_SHOWN_PREFIX => {
                Err(ParseError::LongPrefix)
            }
            Some(prefix) => Err(ParseError::UnknownPrefix(prefix.to_owned())),
        }
    }

    /// The kind of this key.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Validator(_) => Kind::Validator,
            Self::Node(_) => Kind::Node,
        }
    }

    /// The key in text form (this is the secret: handle with care).
    pub fn encode(&self) -> String {
        match self {
            Self::Validator(key) => TextFmt::encode(key),
            Self::Node(key) => TextFmt::encode(key),
        }
    }

    /// What `keys public` prints: the public key and, for a validator key, a proof of
    /// possession. Never the secret key.
    pub fn public_report(&self) -> Report {
        match self {
            Self::Validator(key) => Report {
                secret: None,
                public: TextFmt::encode(&key.public()),
                pop: Some(TextFmt::encode(&key.sign_pop())),
            },
            Self::Node(key) => Report {
                secret: None,
                public: TextFmt::encode(&key.public()),
                pop: None,
            },
        }
    }

    /// What `keys validator` and `keys node` print for a fresh key: the public report preceded
    /// by the secret key.
    pub fn full_report(&self) -> Report {
        Report {
            secret: Some(self.encode()),
            ..self.public_report()
        }
    }
}

/// Keys in text form, printed (by `Display`) as `secret: `, `public: ` and `pop: ` lines, each
/// only if present, each ending with a newline. `Debug` leaves out the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Report {
    /// The secret key (only for a freshly generated key).
    pub secret: Option<String>,
    /// The public key.
    pub public: String,
    /// The proof of possession (only for a validator key).
    pub pop: Option<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(secret) = &self.secret {
            writeln!(f, "secret: {secret}")?;
        }
        writeln!(f, "public: {}", self.public)?;
        if let Some(pop) = &self.pop {
            writeln!(f, "pop: {pop}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("public", &self.public)
            .field("pop", &self.pop)
            .finish()
    }
}
