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

    /// A point of the curve outside the prime-order subgroup (a torsion component), found by
    /// trying small x coordinates.
    fn torsion_point() -> blst::min_sig::Signature {
        (1u8..)
            .find_map(|x| {
                let mut b = [0u8; 48];
                b[0] = 0x80;
                b[47] = x;
                let p = blst::min_sig::Signature::uncompress(&b).ok()?;
                (!p.subgroup_check()).then_some(p)
            })
            .unwrap()
    }

    /// `sig` plus the point `p`, as received bytes.
    fn shifted(sig: &Signature, p: &blst::min_sig::Signature) -> Signature {
        let s = blst::min_sig::Signature::uncompress(sig.as_bytes()).unwrap();
        let mut agg = blst::min_sig::AggregateSignature::from_signature(&s);
        agg.add_signature(p, false).unwrap();
        Signature::decode(&agg.to_signature().compress()).unwrap()
    }

    /// Votes are aggregated without their own subgroup checks; the aggregate is checked. A
    /// vote with a torsion component is found and named; two whose components cancel make a
    /// valid aggregate (each alone fails), and the certificate built from them is valid for
    /// any verifier.
    #[test]
    fn the_aggregate_is_subgroup_checked_not_each_vote() {
        let rng = &mut StdRng::seed_from_u64(5);
        let keys: Vec<SecretKey> = (0..5).map(|_| SecretKey::generate(rng)).collect();
        let pks: Vec<PublicKey> = keys.iter().map(SecretKey::public).collect();
        let msg = b"commit vote";
        let mut sigs: Vec<Signature> = keys.iter().map(|k| k.sign(msg)).collect();
        let t = torsion_point();
        let bad = shifted(&sigs[2], &t);
        assert_eq!(bad.verify(msg, &pks[2]), Err(Error::InvalidPoint));
        let votes = |sigs: &[Signature]| -> Vec<usize> {
            let v: Vec<_> = pks.iter().zip(sigs).collect();
            find_invalid_same_message(msg, &v)
        };
        let mut one_bad = sigs.clone();
        one_bad[2] = bad;
        assert_eq!(votes(&one_bad), vec![2]);
        // -T: the same x, the other y (the sign bit of the compressed form).
        let mut neg = t.compress();
        neg[0] ^= 0x20;
        let neg_t = blst::min_sig::Signature::uncompress(&neg).unwrap();
        sigs[0] = shifted(&sigs[0], &t);
        sigs[1] = shifted(&sigs[1], &neg_t);
        assert_eq!(sigs[0].verify(msg, &pks[0]), Err(Error::InvalidPoint));
        assert_eq!(sigs[1].verify(msg, &pks[1]), Err(Error::InvalidPoint));
        assert!(votes(&sigs).is_empty());
        let agg = AggregateSignature::aggregate(&sigs).unwrap();
        let received = AggregateSignature::decode(agg.as_bytes()).unwrap();
        assert_eq!(received.verify_same_message(msg, &pks), Ok(()));
    }
}
