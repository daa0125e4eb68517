//! Helpers of the property tests of the decoders of bytes from a peer.

use super::*;

/// A runtime for the async cases of a property test: one thread, shared by the cases.
pub(crate) fn case_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a tokio runtime")
}

/// Runs the async body of one property-test case on `rt`, with a manual clock. Unlike
/// `zksync_concurrency::testonly::run_test` it installs no abort-on-panic hook, so that a panic
/// fails the case, which proptest then shrinks and records. Panics if the body fails.
pub(crate) fn run_case<T, F, Fut>(rt: &tokio::runtime::Runtime, f: F) -> T
where
    F: FnOnce(ctx::Ctx) -> Fut,
    Fut: Future<Output = ctx::Result<T>>,
{
    let ctx = ctx::test_root(ctx::ManualClock::new(), 0);
    match rt.block_on(f(ctx)) {
        Ok(v) => v,
        Err(err) => panic!("case failed: {err:#}"),
    }
}

/// Arbitrary bytes, fewer than `max`.
pub(crate) fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// `body` behind a `u32` little-endian length prefix of `len`.
pub(crate) fn framed(len: u32, body: &[u8]) -> Vec<u8> {
    [&len.to_le_bytes()[..], body].concat()
}

/// A change to an encoding, as a faulty or malicious peer could make it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mutation {
    /// XOR a byte with a non-zero mask.
    Flip(Index, u8),
    /// Insert a byte.
    Insert(Index, u8),
    /// Remove a byte.
    Remove(Index),
    /// Keep only a prefix.
    Truncate(Index),
}

/// One to three mutations.
pub(crate) fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(
        prop_oneof![
            3 => (any::<Index>(), 1..=u8::MAX).prop_map(|(i, m)| Mutation::Flip(i, m)),
            1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            1 => any::<Index>().prop_map(Mutation::Remove),
            1 => any::<Index>().prop_map(Mutation::Truncate),
        ],
        1..4,
    )
}

/// `bytes` with `mutations` applied.
pub(crate) fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        match *m {
            Mutation::Flip(i, mask) if !bytes.is_empty() => {
                let i = i.index(bytes.len());
                bytes[i] ^= mask;
            }
            Mutation::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), b),
            Mutation::Remove(i) if !bytes.is_empty() => {
                bytes.remove(i.index(bytes.len()));
            }
            Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len() + 1)),
            Mutation::Flip(..) | Mutation::Remove(_) => {}
        }
    }
    bytes
}

/// Decodes `bytes` as a `T` (which must not panic). A value it accepts must survive a
/// canonical round trip: its encoding decodes to the same value.
pub(crate) fn decode_stable<T: ProtoFmt + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> Option<T> {
    let v = zksync_protobuf::decode::<T>(bytes).ok()?;
    let again = zksync_protobuf::decode::<T>(&zksync_protobuf::encode(&v))
        .expect("the encoding of an accepted value decodes");
    assert_eq!(again, v, "round trip of a value decoded from {bytes:02x?}");
    Some(v)
}

/// The dialer's end of a Noise connection driven by hand, like a malicious peer past the Noise
/// handshake: it encrypts any plaintext the test gives it, or writes raw bytes.
pub(crate) struct RawNoise {
    /// The connection.
    pub(crate) tcp: tcp::Stream,
    /// The session id (the same as the acceptor's).
    pub(crate) session_id: noise::SessionId,
    state: snow::TransportState,
}

impl RawNoise {
    /// Sends `pt` (at most [`noise::MAX_PLAINTEXT`] bytes) as one transport message; an empty
    /// one reads as end of stream.
    pub(crate) async fn send(&mut self, ctx: &ctx::Ctx, pt: &[u8]) -> ctx::Result<()> {
        let mut msg = vec![0; 2 + pt.len() + 16];
        let n = self
            .state
            .write_message(pt, &mut msg[2..])
            .context("encrypting")?;
        msg[..2].copy_from_slice(&(n as u16).to_le_bytes());
        msg.truncate(2 + n);
        self.send_raw(ctx, &msg).await
    }

    /// Sends `data` in transport messages of `chunk` plaintext bytes (the last one may be
    /// shorter); nothing if `data` is empty.
    pub(crate) async fn send_chunked(
        &mut self,
        ctx: &ctx::Ctx,
        data: &[u8],
        chunk: usize,
    ) -> ctx::Result<()> {
        for c in data.chunks(chunk.clamp(1, noise::MAX_PLAINTEXT)) {
            self.send(ctx, c).await?;
        }
        Ok(())
    }

    /// Receives one transport message and returns its plaintext.
    pub(crate) async fn recv(&mut self, ctx: &ctx::Ctx) -> ctx::Result<Vec<u8>> {
        use tokio::io::AsyncReadExt as _;
        let mut len = [0u8; 2];
        ctx.wait(self.tcp.read_exact(&mut len))
            .await?
            .context("reading")?;
        let mut ct = vec![0; u16::from_le_bytes(len).into()];
        ctx.wait(self.tcp.read_exact(&mut ct))
            .await?
            .context("reading")?;
        let mut pt = vec![0; ct.len()];
        let n = self
            .state
            .read_message(&ct, &mut pt)
            .context("decrypting")?;
        pt.truncate(n);
        Ok(pt)
    }

    /// Writes `bytes` as they are.
    pub(crate) async fn send_raw(&mut self, ctx: &ctx::Ctx, bytes: &[u8]) -> ctx::Result<()> {
        use tokio::io::AsyncWriteExt as _;
        ctx.wait(self.tcp.write_all(bytes))
            .await?
            .context("writing")?;
        Ok(())
    }

    /// Ends what this side sends (the acceptor reads end of stream after it); the connection
    /// stays open the other way, so that nothing resets it.
    pub(crate) async fn shutdown(&mut self, ctx: &ctx::Ctx) -> ctx::Result<()> {
        use tokio::io::AsyncWriteExt as _;
        ctx.wait(self.tcp.shutdown())
            .await?
            .context("shutting down")?;
        Ok(())
    }
}

/// Snow's default primitives, with a constant "randomness" (the ephemeral key is fixed anyway).
struct FixedResolver;

struct FixedRandom;

impl snow::types::Random for FixedRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        dest.fill(7);
        Ok(())
    }
}

impl snow::resolvers::CryptoResolver for FixedResolver {
    fn resolve_rng(&self) -> Option<Box<dyn snow::types::Random>> {
        Some(Box::new(FixedRandom))
    }
    fn resolve_dh(&self, c: &snow::params::DHChoice) -> Option<Box<dyn snow::types::Dh>> {
        snow::resolvers::DefaultResolver.resolve_dh(c)
    }
    fn resolve_hash(&self, c: &snow::params::HashChoice) -> Option<Box<dyn snow::types::Hash>> {
        snow::resolvers::DefaultResolver.resolve_hash(c)
    }
    fn resolve_cipher(
        &self,
        c: &snow::params::CipherChoice,
    ) -> Option<Box<dyn snow::types::Cipher>> {
        snow::resolvers::DefaultResolver.resolve_cipher(c)
    }
}

/// A Noise connection over loopback whose dialer is driven by hand: ([`RawNoise`], the
/// acceptor's stream).
pub(crate) async fn raw_noise_pair(ctx: &ctx::Ctx) -> ctx::Result<(RawNoise, noise::Stream)> {
    use tokio::io::AsyncReadExt as _;
    let (mut raw, acc) = tcp_pair(ctx).await?;
    let mut params: snow::params::NoiseParams = "Noise_NN_25519_ChaChaPoly_SHA256"
        .parse()
        .context("noise params")?;
    params.name = noise::PROTOCOL_NAME.into();
    let mut hs = snow::Builder::with_resolver(params, Box::new(FixedResolver))
        .fixed_ephemeral_key_for_testing_only(&[7; 32])
        .build_initiator()
        .context("noise setup")?;
    scope::run!(ctx, |ctx, s| async {
        let acc = s.spawn(noise::handshake(ctx, acc, false));
        let mut m1 = [0u8; 2 + 64];
        let n = hs.write_message(&[], &mut m1[2..]).context("noise")?;
        m1[..2].copy_from_slice(&(n as u16).to_le_bytes());
        ctx.wait(tokio::io::AsyncWriteExt::write_all(&mut raw, &m1[..2 + n]))
            .await?
            .context("writing")?;
        let mut m2 = [0u8; 2 + 48];
        ctx.wait(raw.read_exact(&mut m2))
            .await?
            .context("reading")?;
        hs.read_message(&m2[2..], &mut []).context("noise")?;
        let acc = acc.join(ctx).await?;
        let session_id = noise::SessionId(
            hs.get_handshake_hash()
                .try_into()
                .context("handshake hash")?,
        );
        let state = hs.into_transport_mode().context("noise")?;
        assert_eq!(session_id, acc.session_id);
        Ok((
            RawNoise {
                tcp: raw,
                session_id,
                state,
            },
            acc,
        ))
    })
    .await
}
