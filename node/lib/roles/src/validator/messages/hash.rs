//! Keccak-256 hash newtypes with their text prefix and protobuf message.

/// Defines a Keccak-256 hash newtype: `Debug` and `TextFmt` as `prefix ‖ hex`, and `ProtoFmt`
/// through a message with a single `keccak256` bytes field.
macro_rules! keccak_hash_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $proto:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub zksync_consensus_crypto::keccak256::Keccak256);

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&zksync_consensus_crypto::TextFmt::encode(self))
            }
        }

        impl zksync_consensus_crypto::TextFmt for $name {
            fn decode(
                text: zksync_consensus_crypto::Text<'_>,
            ) -> Result<Self, zksync_consensus_crypto::TextFmtError> {
                text.strip($prefix)?.decode_hex().map(Self)
            }
            fn encode(&self) -> String {
                format!("{}{}", $prefix, hex::encode(self.0.as_bytes()))
            }
        }

        impl zksync_protobuf::ProtoFmt for $name {
            type Proto = $proto;
            fn read(r: &Self::Proto) -> anyhow::Result<Self> {
                use anyhow::Context as _;
                let bytes = zksync_protobuf::required(&r.keccak256).context("keccak256")?;
                Ok(Self(
                    zksync_consensus_crypto::ByteFmt::decode(bytes).context("keccak256")?,
                ))
            }
            fn build(&self) -> Self::Proto {
                Self::Proto {
                    keccak256: Some(self.0.as_bytes().to_vec()),
                }
            }
        }
    };
}
pub(crate) use keccak_hash_type;
