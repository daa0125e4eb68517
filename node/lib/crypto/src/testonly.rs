//! Helpers for tests of this crate.

use crate::{Text, TextFmt, TextFmtError};

/// `TextFmt::encode`, without importing the trait (whose `decode` clashes with `ByteFmt`'s).
pub(crate) fn text_encode<T: TextFmt>(v: &T) -> String {
    v.encode()
}

/// `TextFmt::decode` of a string.
pub(crate) fn text_decode<T: TextFmt>(s: &str) -> Result<T, TextFmtError> {
    T::decode(Text::new(s))
}
