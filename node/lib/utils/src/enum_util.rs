//! Embedding a type into a wrapper enum and getting it back.
//!
//! Messages travel wrapped in enums (`ConsensusMsg` inside a validator `Msg`, an RPC request
//! inside a transport message). [`Variant`] names the embedding once, so generic code (signing,
//! typed channels) can accept "any variant of `Msg`" and extract it again with a typed error.

/// The value held another variant than the one asked for.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("bad variant: expected {expected}")]
pub struct BadVariantError {
    /// Name of the expected variant type.
    pub expected: &'static str,
}

/// `Self` is one of the variants of the enum `E`.
pub trait Variant<E>: Sized {
    /// Wraps `self` into `E`.
    fn insert(self) -> E;
    /// Unwraps `E` if it holds this variant.
    fn extract(e: E) -> Result<Self, BadVariantError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Msg {
        A(u32),
        B(String),
    }

    #[derive(Debug, PartialEq)]
    struct A(u32);

    impl Variant<Msg> for A {
        fn insert(self) -> Msg {
            Msg::A(self.0)
        }
        fn extract(e: Msg) -> Result<Self, BadVariantError> {
            match e {
                Msg::A(x) => Ok(A(x)),
                _ => Err(BadVariantError { expected: "A" }),
            }
        }
    }

    #[test]
    fn round_trip_and_mismatch() {
        let msg: Msg = A(7).insert();
        assert_eq!(msg, Msg::A(7));
        assert_eq!(A::extract(msg), Ok(A(7)));
        assert_eq!(
            A::extract(Msg::B("x".into())),
            Err(BadVariantError { expected: "A" })
        );
    }
}
