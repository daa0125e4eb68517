//! Byte and text encodings of keys, signatures and hashes (protocol.md 3.4).
//!
//! Text is `prefix ‖ lowercase hex(bytes)`; decoding requires the exact prefix and accepts hex
//! of either case.

/// Decoding bytes failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ByteFmtError {
    /// The input has the wrong length.
    #[error("expected {expected} bytes, got {got}")]
    Length {
        /// Accepted length(s), for the message.
        expected: &'static str,
        /// Actual length.
        got: usize,
    },
    /// The bytes do not encode a valid value.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was being decoded.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
}

/// Decoding text failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum TextFmtError {
    /// The text does not start with the required prefix.
    #[error("expected prefix {expected:?}")]
    Prefix {
        /// The required prefix.
        expected: &'static str,
    },
    /// The part after the prefix is not hex.
    #[error("bad hex: {0}")]
    Hex(#[from] hex::FromHexError),
    /// The hex decodes to bytes that are not a valid value.
    #[error(transparent)]
    Bytes(#[from] ByteFmtError),
}

/// Binary encoding of a value.
pub trait ByteFmt: Sized {
    /// Decodes and validates.
    fn decode(bytes: &[u8]) -> Result<Self, ByteFmtError>;
    /// Encodes (canonical form).
    fn encode(&self) -> Vec<u8>;
}

/// Text encoding of a value.
pub trait TextFmt: Sized {
    /// Decodes and validates.
    fn decode(text: Text<'_>) -> Result<Self, TextFmtError>;
    /// Encodes (canonical form: the prefix and lowercase hex).
    fn encode(&self) -> String;
}

/// Text being decoded. Surrounding whitespace is ignored.
#[derive(Clone, Copy, Debug)]
pub struct Text<'a>(&'a str);

impl<'a> Text<'a> {
    /// Wraps `s`.
    pub fn new(s: &'a str) -> Self {
        Self(s.trim())
    }

    /// Removes `prefix`, which must be there.
    pub fn strip(self, prefix: &'static str) -> Result<Self, TextFmtError> {
        match self.0.strip_prefix(prefix) {
            Some(rest) => Ok(Self(rest)),
            None => Err(TextFmtError::Prefix { expected: prefix }),
        }
    }

    /// Hex-decodes the text and byte-decodes the result.
    pub fn decode_hex<T: ByteFmt>(self) -> Result<T, TextFmtError> {
        Ok(T::decode(&hex::decode(self.0)?)?)
    }

    /// The text as a string.
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// `prefix ‖ hex(bytes)`.
pub(crate) fn encode_text(prefix: &str, v: &impl ByteFmt) -> String {
    format!("{prefix}{}", hex::encode(v.encode()))
}

/// Requires `bytes` to have length `N`.
pub(crate) fn fixed<const N: usize>(
    bytes: &[u8],
    expected: &'static str,
) -> Result<[u8; N], ByteFmtError> {
    bytes.try_into().map_err(|_| ByteFmtError::Length {
        expected,
        got: bytes.len(),
    })
}

/// Implements `TextFmt` as `prefix ‖ hex(ByteFmt)`.
macro_rules! text_fmt_with_prefix {
    ($t:ty, $prefix:expr) => {
        impl $crate::TextFmt for $t {
            fn decode(text: $crate::Text<'_>) -> Result<Self, $crate::TextFmtError> {
                text.strip($prefix)?.decode_hex()
            }
            fn encode(&self) -> String {
                $crate::fmt::encode_text($prefix, self)
            }
        }
    };
}
pub(crate) use text_fmt_with_prefix;
