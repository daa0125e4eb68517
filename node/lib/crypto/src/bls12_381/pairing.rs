//! Pairing checks on the calling thread.
//!
//! `blst`'s `verify` and `aggregate_verify` hand every Miller loop to a process-wide thread
//! pool and wait for it, even for a single signature. On a busy node (every core already
//! running consensus, networking or other nodes' work) that buys no parallelism, only a
//! thread wake-up and two context switches per check. The checks of consensus messages are
//! small (one or a few messages), so they run here, on the caller's thread, through `blst`'s
//! pairing accumulator; only large batches ([`super::BatchVerifier`]) keep `blst`'s pool.

use blst::{BLST_ERROR, Pairing, blst_p1_affine, blst_p2_affine, min_sig};

use super::{Error, check};

/// Checks `e(sig, g2) == prod e(H(msg_i), pk_i)` under the domain separation tag `dst`.
/// Every point must already be validated (in its subgroup); none is checked again here.
/// An empty list of pairs fails.
pub(crate) fn verify<'a>(
    sig: &min_sig::Signature,
    dst: &[u8],
    pairs: impl IntoIterator<Item = (&'a [u8], &'a min_sig::PublicKey)>,
) -> Result<(), Error> {
    let mut pairing = Pairing::new(true, dst);
    let sig: &blst_p1_affine = sig.into();
    let mut first = true;
    for (msg, pk) in pairs {
        let pk: &blst_p2_affine = pk.into();
        // The signature enters the accumulator once, with the first message.
        let res = if first {
            pairing.aggregate(pk, false, sig, false, msg, &[])
        } else {
            pairing.aggregate(pk, false, &(), false, msg, &[])
        };
        check(res)?;
        first = false;
    }
    if first {
        return Err(Error::Empty);
    }
    pairing.commit();
    check(if pairing.finalverify(None) {
        BLST_ERROR::BLST_SUCCESS
    } else {
        BLST_ERROR::BLST_VERIFY_FAIL
    })
}
