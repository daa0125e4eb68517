use proptest::prelude::*;
use rand::{SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{ctx, scope, testonly};
use zksync_consensus_crypto::keccak256::Keccak256;
use zksync_consensus_roles::{
    node,
    validator::{self, GenesisHash},
};

use super::{HandshakeError, consensus, gossip};
use crate::{
    frame,
    testonly::{
        Mutation, bytes, case_runtime, decode_stable, framed, mutate, mutations, noise_pair,
        raw_noise_pair, run_case,
    },
};

fn genesis(n: u8) -> GenesisHash {
    GenesisHash(Keccak256::new(&[n]))
}

fn node_key(seed: u64) -> node::SecretKey {
    node::SecretKey::generate(&mut StdRng::seed_from_u64(seed))
}

fn validator_key(seed: u64) -> validator::SecretKey {
    validator::SecretKey::generate(&mut StdRng::seed_from_u64(seed))
}

#[test]
fn gossip_handshake_succeeds() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (a, b) = (node_key(1), node_key(2));
        let version: semver::Version = "1.2.3".parse().unwrap();
        let ia = gossip::Identity {
            key: &a,
            genesis: genesis(0),
            build_version: Some(version.clone()),
        };
        let ib = gossip::Identity {
            key: &b,
            genesis: genesis(0),
            build_version: None,
        };
        let (mut sa, mut sb) = noise_pair(ctx).await?;
        let (got_b, got_a) = scope::run!(ctx, |ctx, s| async {
            let t = s.spawn(async {
                gossip::inbound(ctx, &ib, &mut sb, |k| *k == a.public())
                    .await
                    .map_err(|e| ctx::Error::Internal(e.into()))
            });
            let got_b = gossip::outbound(ctx, &ia, &mut sa, &b.public(), false)
                .await
                .map_err(|e| ctx::Error::Internal(e.into()))?;
            Ok((got_b, t.join(ctx).await?))
        })
        .await?;
        assert_eq!(got_a.session_id.key, a.public());
        assert_eq!(got_a.build_version, Some(version));
        assert!(!got_a.is_static);
        assert_eq!(got_b.session_id.key, b.public());
        assert!(got_b.is_static, "b has a among its static peers");
        Ok(())
    });
}

/// Runs the dialer's gossip handshake against an acceptor that answers `answer` (built from
/// the real session id by `make`), and returns the dialer's result.
async fn gossip_dialer_vs(
    ctx: &ctx::Ctx,
    make: impl FnOnce(&[u8]) -> gossip::Handshake,
    expect_peer: &node::PublicKey,
) -> ctx::Result<Result<gossip::Handshake, HandshakeError>> {
    let me = node_key(1);
    let id = gossip::Identity {
        key: &me,
        genesis: genesis(0),
        build_version: None,
    };
    let (mut sa, mut sb) = noise_pair(ctx).await?;
    let answer = make(&sb.session_id.0);
    scope::run!(ctx, |ctx, s| async {
        s.spawn_bg(async {
            let _: gossip::Handshake = frame::read(ctx, &mut sb.read, 10_000).await?;
            frame::write(ctx, &mut sb.write, &answer).await?;
            Ok(())
        });
        Ok::<_, ctx::Error>(gossip::outbound(ctx, &id, &mut sa, expect_peer, true).await)
    })
    .await
}

#[test]
fn gossip_dialer_rejects_bad_handshakes() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let peer = node_key(2);
        let signed =
            |sid: &[u8]| peer.sign_msg(node::Msg::SessionId(node::SessionId(sid.to_vec())));
        let ok = |sid: &[u8]| gossip::Handshake {
            session_id: signed(sid),
            is_static: false,
            genesis: genesis(0),
            build_version: None,
        };
        let res = gossip_dialer_vs(ctx, ok, &peer.public()).await?;
        assert!(res.is_ok(), "{res:?}");
        let res = gossip_dialer_vs(
            ctx,
            |sid| gossip::Handshake {
                genesis: genesis(1),
                ..ok(sid)
            },
            &peer.public(),
        )
        .await?;
        assert!(
            matches!(res, Err(HandshakeError::GenesisMismatch)),
            "{res:?}"
        );
        let res = gossip_dialer_vs(ctx, |_| ok(&[7; 32]), &peer.public()).await?;
        assert!(
            matches!(res, Err(HandshakeError::SessionIdMismatch)),
            "{res:?}"
        );
        let res = gossip_dialer_vs(ctx, ok, &node_key(3).public()).await?;
        assert!(matches!(res, Err(HandshakeError::PeerMismatch)), "{res:?}");
        let forged = |sid: &[u8]| {
            let mut h = ok(sid);
            h.session_id.sig = signed(&[9; 32]).sig;
            h
        };
        let res = gossip_dialer_vs(ctx, forged, &peer.public()).await?;
        assert!(matches!(res, Err(HandshakeError::Signature)), "{res:?}");
        Ok(())
    });
}

#[test]
fn gossip_acceptor_rejects_bad_handshakes() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let me = node_key(1);
        let id = gossip::Identity {
            key: &me,
            genesis: genesis(0),
            build_version: None,
        };
        let peer = node_key(2);
        let signed =
            |sid: &[u8]| peer.sign_msg(node::Msg::SessionId(node::SessionId(sid.to_vec())));
        type Make<'a> = Box<dyn Fn(&[u8]) -> gossip::Handshake + 'a>;
        let cases: Vec<(Make<'_>, &str)> = vec![
            (
                Box::new(|sid| gossip::Handshake {
                    session_id: signed(sid),
                    is_static: false,
                    genesis: genesis(1),
                    build_version: None,
                }),
                "genesis",
            ),
            (
                Box::new(|_| gossip::Handshake {
                    session_id: signed(&[7; 32]),
                    is_static: false,
                    genesis: genesis(0),
                    build_version: None,
                }),
                "session",
            ),
            (
                Box::new(|sid| {
                    let mut s = signed(sid);
                    s.sig = signed(&[9; 32]).sig;
                    gossip::Handshake {
                        session_id: s,
                        is_static: false,
                        genesis: genesis(0),
                        build_version: None,
                    }
                }),
                "signature",
            ),
        ];
        for (make, what) in cases {
            let (mut sa, mut sb) = noise_pair(ctx).await?;
            let h = make(&sa.session_id.0);
            frame::write(ctx, &mut sa.write, &h).await?;
            let res = gossip::inbound(ctx, &id, &mut sb, |_| false).await;
            let ok = match what {
                "genesis" => matches!(res, Err(HandshakeError::GenesisMismatch)),
                "session" => matches!(res, Err(HandshakeError::SessionIdMismatch)),
                _ => matches!(res, Err(HandshakeError::Signature)),
            };
            assert!(ok, "{what}: {res:?}");
        }
        Ok(())
    });
}

#[test]
fn consensus_handshake_checks() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (a, b) = (validator_key(1), validator_key(2));
        // Success.
        let (mut sa, mut sb) = noise_pair(ctx).await?;
        let got = scope::run!(ctx, |ctx, s| async {
            let t = s.spawn(async {
                consensus::inbound(ctx, &b, genesis(0), &mut sb)
                    .await
                    .map_err(|e| ctx::Error::Internal(e.into()))
            });
            consensus::outbound(ctx, &a, genesis(0), &mut sa, &b.public())
                .await
                .map_err(|e| ctx::Error::Internal(e.into()))?;
            t.join(ctx).await.map_err(ctx::Error::from)
        })
        .await?;
        assert_eq!(got, a.public());
        // Dialing the wrong validator.
        let (mut sa, mut sb) = noise_pair(ctx).await?;
        let res = scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async {
                let _ = consensus::inbound(ctx, &b, genesis(0), &mut sb).await;
                Ok(())
            });
            Ok::<_, ctx::Error>(
                consensus::outbound(ctx, &a, genesis(0), &mut sa, &validator_key(3).public()).await,
            )
        })
        .await?;
        assert!(matches!(res, Err(HandshakeError::PeerMismatch)), "{res:?}");
        // Another chain; a relayed handshake (another session); a forged signature.
        let sign = |sid: &[u8]| a.sign_msg(node::SessionId(sid.to_vec()));
        for what in ["genesis", "session", "signature"] {
            let (mut sa, mut sb) = noise_pair(ctx).await?;
            let sid = sa.session_id.0;
            let h = match what {
                "genesis" => consensus::Handshake {
                    session_id: sign(&sid),
                    genesis: genesis(1),
                },
                "session" => consensus::Handshake {
                    session_id: sign(&[7; 32]),
                    genesis: genesis(0),
                },
                _ => {
                    let mut s = sign(&sid);
                    s.sig = sign(&[9; 32]).sig;
                    consensus::Handshake {
                        session_id: s,
                        genesis: genesis(0),
                    }
                }
            };
            frame::write(ctx, &mut sa.write, &h).await?;
            let res = consensus::inbound(ctx, &b, genesis(0), &mut sb).await;
            let ok = match what {
                "genesis" => matches!(res, Err(HandshakeError::GenesisMismatch)),
                "session" => matches!(res, Err(HandshakeError::SessionIdMismatch)),
                _ => matches!(res, Err(HandshakeError::Signature)),
            };
            assert!(ok, "{what}: {res:?}");
        }
        Ok(())
    });
}

#[test]
fn build_version_must_be_semver() {
    use zksync_protobuf::ProtoFmt as _;
    let key = node_key(1);
    let h = gossip::Handshake {
        session_id: key.sign_msg(node::Msg::SessionId(node::SessionId(vec![1; 32]))),
        is_static: true,
        genesis: genesis(0),
        build_version: Some("0.1.0".parse().unwrap()),
    };
    let mut p = h.build();
    assert_eq!(gossip::Handshake::read(&p).unwrap(), h);
    p.build_version = Some("not a version".into());
    assert!(gossip::Handshake::read(&p).is_err());
    p.build_version = None;
    p.is_static = None;
    assert!(
        gossip::Handshake::read(&p).is_err(),
        "is_static is required"
    );
}

/// A valid SemVer version (prerelease and build metadata included).
fn semver() -> impl Strategy<Value = semver::Version> {
    "(0|[1-9][0-9]{0,4})\\.(0|[1-9][0-9]{0,4})\\.(0|[1-9][0-9]{0,4})(-[a-z]{1,4}(\\.[1-9][0-9]?)?)?(\\+[a-z0-9]{1,4})?"
        .prop_map(|s| s.parse().unwrap())
}

/// A valid gossip handshake, signed by a key from the seed over arbitrary session ids.
fn gossip_handshake() -> impl Strategy<Value = gossip::Handshake> {
    (
        any::<u64>(),
        bytes(64),
        any::<bool>(),
        proptest::option::of(semver()),
    )
        .prop_map(|(seed, sid, is_static, build_version)| {
            let rng = &mut StdRng::seed_from_u64(seed);
            let key: node::SecretKey = rng.random();
            gossip::Handshake {
                session_id: key.sign_msg(node::Msg::SessionId(node::SessionId(sid))),
                is_static,
                genesis: rng.random(),
                build_version,
            }
        })
}

/// A valid consensus handshake, signed by a key from the seed over arbitrary session ids.
fn consensus_handshake() -> impl Strategy<Value = consensus::Handshake> {
    (any::<u64>(), bytes(64)).prop_map(|(seed, sid)| {
        let rng = &mut StdRng::seed_from_u64(seed);
        let key: validator::SecretKey = rng.random();
        consensus::Handshake {
            session_id: key.sign_msg(node::SessionId(sid)),
            genesis: rng.random(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The handshake decoders never panic on arbitrary bytes, and a value they accept
    /// re-encodes to the same value.
    #[test]
    fn decoders_never_panic(bytes in bytes(300)) {
        decode_stable::<gossip::Handshake>(&bytes);
        decode_stable::<consensus::Handshake>(&bytes);
    }

    /// Gossip handshakes round-trip; damaged encodings never make the decoder panic.
    #[test]
    fn gossip_round_trip_and_damaged_encodings(h in gossip_handshake(), ms in mutations()) {
        let enc = zksync_protobuf::encode(&h);
        prop_assert_eq!(decode_stable::<gossip::Handshake>(&enc), Some(h));
        decode_stable::<gossip::Handshake>(&mutate(enc, &ms));
    }

    /// Consensus handshakes round-trip; damaged encodings never make the decoder panic.
    #[test]
    fn consensus_round_trip_and_damaged_encodings(
        h in consensus_handshake(),
        ms in mutations(),
    ) {
        let enc = zksync_protobuf::encode(&h);
        prop_assert_eq!(decode_stable::<consensus::Handshake>(&enc), Some(h));
        decode_stable::<consensus::Handshake>(&mutate(enc, &ms));
    }

    /// Any build version string is accepted only as valid SemVer that round-trips, and never
    /// makes the decoder panic.
    #[test]
    fn build_version_of_any_string(
        h in gossip_handshake(),
        v in prop_oneof![".{0,30}", "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}[-+.a-zA-Z0-9]{0,8}"],
    ) {
        use zksync_protobuf::ProtoFmt as _;
        let mut p = h.build();
        p.build_version = Some(v.clone());
        let got = gossip::Handshake::read(&p);
        prop_assert_eq!(got.is_ok(), v.parse::<semver::Version>().is_ok());
        decode_stable::<gossip::Handshake>(&prost::Message::encode_to_vec(&p));
    }
}

/// What a dialer sends as its handshake frame: its valid handshake for the session, the same
/// damaged, or garbage.
#[derive(Clone, Debug)]
enum Sent {
    Valid,
    Damaged(Vec<Mutation>),
    Garbage(Vec<u8>),
}

fn sent() -> impl Strategy<Value = Sent> {
    prop_oneof![
        1 => Just(Sent::Valid),
        4 => mutations().prop_map(Sent::Damaged),
        2 => bytes(200).prop_map(Sent::Garbage),
    ]
}

impl Sent {
    /// The frame body to send, given the valid handshake's encoding.
    fn body(&self, valid: Vec<u8>) -> Vec<u8> {
        match self {
            Self::Valid => valid,
            Self::Damaged(ms) => mutate(valid, ms),
            Self::Garbage(b) => b.clone(),
        }
    }
}

/// The acceptor's gossip handshake, fed a valid, damaged or garbage frame, never panics; it
/// accepts the valid one, and whatever it accepts comes from the key that signed the session.
#[test]
fn gossip_inbound_of_arbitrary_frames() {
    let rt = case_runtime();
    let (me, peer) = (node_key(1), node_key(2));
    proptest!(ProptestConfig::with_cases(128), |(sent in sent())| {
        let s = sent.clone();
        let (me, peer) = (&me, &peer);
        let res = run_case(&rt, |ctx| async move {
            let ctx = &ctx;
            let (mut raw, mut acc) = raw_noise_pair(ctx).await?;
            let h = gossip::Handshake {
                session_id: peer.sign_msg(node::Msg::SessionId(node::SessionId(
                    raw.session_id.0.to_vec(),
                ))),
                is_static: false,
                genesis: genesis(0),
                build_version: None,
            };
            let body = s.body(zksync_protobuf::encode(&h));
            raw.send(ctx, &framed(body.len() as u32, &body)).await?;
            raw.shutdown(ctx).await?;
            let id = gossip::Identity {
                key: me,
                genesis: genesis(0),
                build_version: None,
            };
            Ok(gossip::inbound(ctx, &id, &mut acc, |_| false).await)
        });
        match (&sent, res) {
            (Sent::Garbage(_), res) => prop_assert!(res.is_err(), "{:?}", res),
            (_, Ok(h)) => prop_assert_eq!(h.session_id.key, peer.public()),
            (Sent::Valid, res) => prop_assert!(false, "{:?}", res),
            (_, Err(_)) => {}
        }
    });
}

/// The acceptor's consensus handshake, fed a valid, damaged or garbage frame, never panics; it
/// accepts the valid one, and whatever it accepts comes from the key that signed the session.
#[test]
fn consensus_inbound_of_arbitrary_frames() {
    let rt = case_runtime();
    let (me, peer) = (validator_key(1), validator_key(2));
    proptest!(ProptestConfig::with_cases(64), |(sent in sent())| {
        let s = sent.clone();
        let (me, peer) = (&me, &peer);
        let res = run_case(&rt, |ctx| async move {
            let ctx = &ctx;
            let (mut raw, mut acc) = raw_noise_pair(ctx).await?;
            let h = consensus::Handshake {
                session_id: peer.sign_msg(node::SessionId(raw.session_id.0.to_vec())),
                genesis: genesis(0),
            };
            let body = s.body(zksync_protobuf::encode(&h));
            raw.send(ctx, &framed(body.len() as u32, &body)).await?;
            raw.shutdown(ctx).await?;
            Ok(consensus::inbound(ctx, me, genesis(0), &mut acc).await)
        });
        match (&sent, res) {
            (Sent::Garbage(_), res) => prop_assert!(res.is_err(), "{:?}", res),
            (_, Ok(key)) => prop_assert_eq!(key, peer.public()),
            (Sent::Valid, res) => prop_assert!(false, "{:?}", res),
            (_, Err(_)) => {}
        }
    });
}
