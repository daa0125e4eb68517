use rand::{SeedableRng as _, rngs::StdRng};
use zksync_consensus_crypto::{ByteFmtError, Text, TextFmt, TextFmtError};
use zksync_consensus_roles::{node, validator};

use super::*;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Splits printed output into `(name, value)` pairs, checking the line format.
fn lines(out: &str) -> Vec<(&str, &str)> {
    assert!(out.ends_with('\n'), "{out:?}");
    out.lines()
        .map(|line| line.split_once(": ").expect("`name: value` line"))
        .collect()
}

fn decode<T: TextFmt>(text: &str) -> T {
    TextFmt::decode(Text::new(text)).unwrap()
}

#[test]
fn validator_key_round_trips_through_printed_text() {
    let key = SecretKey::generate(Kind::Validator, &mut rng(1));
    assert_eq!(key.kind(), Kind::Validator);
    let out = key.full_report().to_string();
    let lines = lines(&out);
    let names: Vec<_> = lines.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["secret", "public", "pop"]);
    let (secret, public, pop) = (lines[0].1, lines[1].1, lines[2].1);
    assert!(
        secret.starts_with("validator:secret:bls12_381:"),
        "{secret}"
    );
    assert!(
        public.starts_with("validator:public:bls12_381:"),
        "{public}"
    );
    assert!(pop.starts_with("validator:pop:bls12_381:"), "{pop}");

    // The printed secret parses back to the same key, with the same public report.
    let parsed = SecretKey::parse(secret).unwrap();
    assert_eq!(parsed, key);
    assert_eq!(parsed.encode(), secret);
    let report = parsed.public_report();
    assert_eq!(report.secret, None);
    assert_eq!(report.public, public);
    assert_eq!(report.pop.as_deref(), Some(pop));
    assert_eq!(
        report.to_string(),
        format!("public: {public}\npop: {pop}\n")
    );

    // The printed public key is the key's, and the proof of possession verifies with it.
    let SecretKey::Validator(secret) = parsed else {
        panic!("not a validator key");
    };
    let public: validator::PublicKey = decode(public);
    assert_eq!(public, secret.public());
    let pop: validator::ProofOfPossession = decode(pop);
    public.verify_pop(&pop).unwrap();

    // ... and not with another key.
    let SecretKey::Validator(other) = SecretKey::generate(Kind::Validator, &mut rng(2)) else {
        panic!("not a validator key");
    };
    assert!(other.public().verify_pop(&pop).is_err());
}

#[test]
fn node_key_round_trips_through_printed_text() {
    let key = SecretKey::generate(Kind::Node, &mut rng(1));
    assert_eq!(key.kind(), Kind::Node);
    let out = key.full_report().to_string();
    let lines = lines(&out);
    let names: Vec<_> = lines.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["secret", "public"]);
    let (secret, public) = (lines[0].1, lines[1].1);
    assert!(secret.starts_with("node:secret:ed25519:"), "{secret}");
    assert!(public.starts_with("node:public:ed25519:"), "{public}");

    let parsed = SecretKey::parse(secret).unwrap();
    assert_eq!(parsed, key);
    assert_eq!(parsed.encode(), secret);
    let report = parsed.public_report();
    assert_eq!(report.to_string(), format!("public: {public}\n"));
    let SecretKey::Node(secret) = parsed else {
        panic!("not a node key");
    };
    let public: node::PublicKey = decode(public);
    assert_eq!(public, secret.public());
}

#[test]
fn generation_is_deterministic_in_the_rng() {
    for kind in [Kind::Validator, Kind::Node] {
        let a = SecretKey::generate(kind, &mut rng(7));
        assert_eq!(a, SecretKey::generate(kind, &mut rng(7)));
        assert_ne!(a, SecretKey::generate(kind, &mut rng(8)));
        // Successive keys from one generator differ.
        let mut r = rng(7);
        assert_ne!(
            SecretKey::generate(kind, &mut r),
            SecretKey::generate(kind, &mut r)
        );
    }
}

#[test]
fn parse_accepts_surrounding_whitespace_and_uppercase_hex() {
    for kind in [Kind::Validator, Kind::Node] {
        let key = SecretKey::generate(kind, &mut rng(3));
        let text = key.encode();
        assert_eq!(SecretKey::parse(&format!("  {text}\n")).unwrap(), key);
        let (prefix, hex) = text.split_at(text.rfind(':').unwrap() + 1);
        let upper = format!("{prefix}{}", hex.to_uppercase());
        assert_eq!(SecretKey::parse(&upper).unwrap(), key);
    }
}

#[test]
fn parse_matches_the_roles_text_format() {
    // A validator secret key of the roles change-detector vectors.
    let text = "validator:secret:bls12_381:27cb45b1670a1ae8d376a85821d51c7f91ebc6e32788027a84758441aaf0a987";
    let expected: validator::SecretKey = decode(text);
    assert_eq!(
        SecretKey::parse(text).unwrap(),
        SecretKey::Validator(expected.clone())
    );
    let report = SecretKey::Validator(expected.clone()).public_report();
    assert_eq!(report.public, TextFmt::encode(&expected.public()));
    assert_eq!(report.pop, Some(TextFmt::encode(&expected.sign_pop())));
}

/// The error of parsing `text`, checked to be one line without the key material.
fn parse_err(text: &str) -> ParseError {
    let err = SecretKey::parse(text).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{msg:?}");
    if let Some((_, hex)) = text.trim().rsplit_once(':')
        && hex.len() >= 8
    {
        assert!(!msg.contains(hex), "{msg:?} echoes the key");
    }
    err
}

#[test]
fn parse_rejects_empty_input() {
    assert_eq!(parse_err(""), ParseError::Empty);
    assert_eq!(parse_err(" \n\t"), ParseError::Empty);
    assert_eq!(ParseError::Empty.to_string(), "empty input");
}

#[test]
fn parse_rejects_input_without_prefix() {
    // Bare hex, as if the prefix had been cut off: not echoed.
    let hex = "27cb45b1670a1ae8d376a85821d51c7f91ebc6e32788027a84758441aaf0a987";
    let err = parse_err(hex);
    assert_eq!(err, ParseError::NoPrefix);
    let msg = err.to_string();
    assert!(!msg.contains(hex));
    assert_eq!(
        msg,
        "no prefix (expected \"validator:secret:bls12_381:\" or \"node:secret:ed25519:\" \
         followed by hex)"
    );
}

#[test]
fn parse_rejects_unknown_prefix() {
    let err = parse_err("foo:27cb45b1670a1ae8d376a85821d51c7f91ebc6e32788027a84758441aaf0a987");
    assert_eq!(err, ParseError::UnknownPrefix("foo:".into()));
    assert_eq!(
        err.to_string(),
        "unknown prefix \"foo:\" (expected \"validator:secret:bls12_381:\" or \
         \"node:secret:ed25519:\")"
    );
    // A near miss.
    let err = parse_err("validator:secret:bn254:00");
    assert_eq!(
        err,
        ParseError::UnknownPrefix("validator:secret:bn254:".into())
    );
}

#[test]
fn parse_does_not_echo_a_long_prefix() {
    // A mistyped prefix and a stray colon after the key: the "prefix" holds the key, so it is
    // not shown.
    let key = SecretKey::generate(Kind::Validator, &mut rng(4)).encode();
    let hex = key.rsplit_once(':').unwrap().1;
    let text = format!("validator:secert:bls12_381:{hex}:");
    let err = SecretKey::parse(&text).unwrap_err();
    assert_eq!(err, ParseError::LongPrefix);
    let msg = err.to_string();
    assert!(!msg.contains(hex), "{msg:?} echoes the key");
    let debug = format!("{err:?}");
    assert!(!debug.contains(hex), "{debug:?} echoes the key");
    assert!(
        msg.contains("longer than 32 characters, not shown"),
        "{msg}"
    );

    // Also when the whole printed output of `keys validator` is given.
    let out = SecretKey::generate(Kind::Validator, &mut rng(4))
        .full_report()
        .to_string();
    assert_eq!(SecretKey::parse(&out), Err(ParseError::LongPrefix));
}

#[test]
fn parse_rejects_public_keys_and_proofs() {
    let key = SecretKey::generate(Kind::Validator, &mut rng(5)).full_report();
    assert_eq!(
        parse_err(&key.public),
        ParseError::NotSecret("validator:public:bls12_381:")
    );
    assert_eq!(
        parse_err(key.pop.as_ref().unwrap()),
        ParseError::NotSecret("validator:pop:bls12_381:")
    );
    let key = SecretKey::generate(Kind::Node, &mut rng(5)).full_report();
    let err = parse_err(&key.public);
    assert_eq!(err, ParseError::NotSecret("node:public:ed25519:"));
    assert_eq!(
        err.to_string(),
        "\"node:public:ed25519:\" is not a secret key (a public key or proof of possession?)"
    );
}

#[test]
fn parse_rejects_bad_hex() {
    let err = parse_err("validator:secret:bls12_381:zz");
    assert!(
        matches!(
            err,
            ParseError::Invalid {
                kind: Kind::Validator,
                reason: TextFmtError::Hex(_)
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "validator (bls12_381) key: bad hex: Invalid character 'z' at position 0"
    );
    let err = parse_err("node:secret:ed25519:abc");
    assert_eq!(
        err.to_string(),
        "node (ed25519) key: bad hex: Odd number of digits"
    );
}

#[test]
fn parse_rejects_wrong_lengths() {
    for (text, kind) in [
        ("validator:secret:bls12_381:", Kind::Validator),
        ("validator:secret:bls12_381:00ff", Kind::Validator),
        ("node:secret:ed25519:00ff", Kind::Node),
    ] {
        let err = parse_err(text);
        assert!(
            matches!(
                &err,
                ParseError::Invalid {
                    kind: k,
                    reason: TextFmtError::Bytes(ByteFmtError::Length { .. })
                } if *k == kind
            ),
            "{text}: {err:?}"
        );
    }
    let long = format!("node:secret:ed25519:{}", "11".repeat(33));
    assert_eq!(
        parse_err(&long).to_string(),
        "node (ed25519) key: expected 32 bytes, got 33"
    );
}

#[test]
fn parse_rejects_out_of_range_validator_scalars() {
    // Zero and values not below the group order are not secret keys.
    for hex in ["00".repeat(32), "ff".repeat(32)] {
        let err = parse_err(&format!("validator:secret:bls12_381:{hex}"));
        let msg = err.to_string();
        assert!(
            msg.starts_with("validator (bls12_381) key: not a valid secret key ("),
            "{msg}"
        );
    }
}

#[test]
fn report_debug_redacts_the_secret() {
    let report = SecretKey::generate(Kind::Node, &mut rng(6)).full_report();
    let secret = report.secret.clone().unwrap();
    let debug = format!("{report:?}");
    assert!(!debug.contains(&secret), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(debug.contains(&report.public), "{debug}");
}
