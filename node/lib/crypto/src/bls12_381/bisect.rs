//! Verifying many signatures over one message at once, finding the bad ones only if needed.
//!
//! All commit votes of a view sign the same message, so a quorum of them can be checked with one
//! pairing check: aggregate the signatures, sum the keys. Only when that fails are the votes
//! split in halves and checked again, recursively, which finds `b` bad votes among `n` with
//! about `2 b log2(n)` checks instead of `n`.

use super::{AggregateSignature, Error, PublicKey, Signature};

/// Indices of the signatures in `votes` that are not valid signatures of their key over `msg`
/// (empty if all are valid).
pub fn find_invalid_same_message(msg: &[u8], votes: &[(&PublicKey, &Signature)]) -> Vec<usize> {
    let mut bad = vec![];
    check_range(msg, votes, 0, &mut bad);
    bad
}

fn check_range(
    msg: &[u8],
    votes: &[(&PublicKey, &Signature)],
    offset: usize,
    bad: &mut Vec<usize>,
) {
    if votes.is_empty() {
        return;
    }
    let res = AggregateSignature::aggregate(votes.iter().map(|(_, s)| *s))
        .and_then(|agg| agg.verify_same_message(msg, votes.iter().map(|(k, _)| *k)));
    match res {
        Ok(()) => {}
        Err(_) if votes.len() == 1 => bad.push(offset),
        // Includes keys summing to the identity and signatures that are not points:
        // splitting separates them.
        Err(
            Error::BadSignature | Error::IdentityPublicKey | Error::Empty | Error::InvalidPoint,
        ) => {
            let mid = votes.len() / 2;
            check_range(msg, &votes[..mid], offset, bad);
            check_range(msg, &votes[mid..], offset + mid, bad);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};

    use super::*;
    use crate::{ByteFmt, bls12_381::SecretKey};

    #[test]
    fn finds_exactly_the_bad_votes() {
        let rng = &mut StdRng::seed_from_u64(3);
        let keys: Vec<SecretKey> = (0..16).map(|_| SecretKey::generate(rng)).collect();
        let pks: Vec<PublicKey> = keys.iter().map(SecretKey::public).collect();
        let msg = b"commit vote";
        let good: Vec<Signature> = keys.iter().map(|k| k.sign(msg)).collect();
        let check = |sigs: &[Signature]| {
            let votes: Vec<_> = pks.iter().zip(sigs).collect();
            find_invalid_same_message(msg, &votes)
        };
        assert!(check(&good).is_empty());
        assert!(find_invalid_same_message(msg, &[]).is_empty());
        for _ in 0..10 {
            let mut sigs = good.clone();
            let mut want: Vec<usize> = (0..rng.random_range(1..4))
                .map(|_| rng.random_range(0..16))
                .collect();
            want.sort_unstable();
            want.dedup();
            for &i in &want {
                // A valid signature, but over another message.
                sigs[i] = keys[i].sign(b"something else");
            }
            assert_eq!(check(&sigs), want);
        }
        // All bad.
        let all_bad: Vec<Signature> = keys.iter().map(|k| k.sign(b"x")).collect();
        assert_eq!(check(&all_bad), (0..16).collect::<Vec<_>>());
    }

    #[test]
    fn valid_votes_whose_keys_sum_to_identity_are_not_flagged() {
        // k and -k: both signatures are valid, but the aggregate check fails (identity key
        // sum). Splitting checks them one by one, and neither is reported.
        let rng = &mut StdRng::seed_from_u64(4);
        let k = SecretKey::generate(rng);
        let neg = SecretKey::decode(&crate::bls12_381::tests::negate_scalar(&ByteFmt::encode(
            &k,
        )))
        .unwrap();
        let msg = b"m";
        let (pk, npk) = (k.public(), neg.public());
        let (sig, nsig) = (k.sign(msg), neg.sign(msg));
        assert!(find_invalid_same_message(msg, &[(&pk, &sig), (&npk, &nsig)]).is_empty());
        // With a bad third vote, only that one is reported.
        let other = SecretKey::generate(rng);
        let (opk, osig) = (other.public(), other.sign(b"not m"));
        assert_eq!(
            find_invalid_same_message(msg, &[(&pk, &sig), (&npk, &nsig), (&opk, &osig)]),
            vec![2]
        );
    }
}
