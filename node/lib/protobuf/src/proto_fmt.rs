//! The `ProtoFmt` trait and the encode/decode entry points.

use anyhow::Context as _;
use prost::Message;

/// Conversion between a validated domain type and its generated protobuf struct.
pub trait ProtoFmt: Sized {
    /// The generated struct.
    type Proto: Message + Default;

    /// Validates a decoded struct. Errors should name the offending field through
    /// `anyhow::Context` (`read_required(&r.view).context("view")?`), so the final message
    /// reads like a path: `justification: commit_qc: signers: missing`.
    fn read(r: &Self::Proto) -> anyhow::Result<Self>;

    /// Builds the struct whose prost encoding is the canonical encoding of `self`.
    fn build(&self) -> Self::Proto;
}

/// Decoding failed.
#[derive(thiserror::Error, Debug)]
pub enum DecodeError {
    /// The input is larger than allowed.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not well-formed protobuf.
    #[error("malformed protobuf: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// Well-formed protobuf that is not a valid value; the message names the field path.
    #[error("invalid: {0:#}")]
    Invalid(anyhow::Error),
}

/// The canonical encoding of `x`.
pub fn encode<T: ProtoFmt>(x: &T) -> Vec<u8> {
    x.build().encode_to_vec()
}

/// Decodes and validates `bytes` (lenient, see the crate docs).
pub fn decode<T: ProtoFmt>(bytes: &[u8]) -> Result<T, DecodeError> {
    let proto = T::Proto::decode(bytes)?;
    T::read(&proto).map_err(DecodeError::Invalid)
}

/// [`decode`] that first rejects inputs longer than `limit` bytes.
pub fn decode_with_limit<T: ProtoFmt>(bytes: &[u8], limit: usize) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    decode(bytes)
}

/// The value of a required field.
pub fn required<T>(x: &Option<T>) -> anyhow::Result<&T> {
    x.as_ref().context("missing")
}

/// Reads a required message field.
pub fn read_required<T: ProtoFmt>(x: &Option<T::Proto>) -> anyhow::Result<T> {
    T::read(required(x)?)
}

/// Reads an optional message field.
pub fn read_optional<T: ProtoFmt>(x: &Option<T::Proto>) -> anyhow::Result<Option<T>> {
    x.as_ref().map(T::read).transpose()
}
