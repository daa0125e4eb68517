//! Frames from a peer past the Noise handshake: any plaintext it can send.

use proptest::prelude::*;
use zksync_concurrency::{ctx, testonly};
use zksync_protobuf::DecodeError;

use super::*;
use crate::{
    mux::Handshake,
    testonly::{bytes, case_runtime, framed, mutate, mutations, raw_noise_pair, run_case},
};

/// The limit of the frames read in these tests.
const MAX: usize = 300;

/// A valid frame of a mux handshake with up to 8 capabilities.
fn valid_frame() -> impl Strategy<Value = Vec<u8>> {
    let caps = || proptest::collection::btree_map(any::<u64>(), any::<u32>(), 0..4);
    (caps(), caps()).prop_map(|(accept, connect)| encode(&Handshake { accept, connect }))
}

/// What a peer may send as frames: garbage, a length prefix with a body, an oversized length,
/// a valid frame, or a damaged one.
fn frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        bytes(40),
        (0..=MAX as u32 + 4, bytes(MAX + 8)).prop_map(|(len, body)| framed(len, &body)),
        (MAX as u32 + 1.., bytes(8)).prop_map(|(len, body)| framed(len, &body)),
        valid_frame(),
        (valid_frame(), mutations()).prop_map(|(f, ms)| mutate(f, &ms)),
        (valid_frame(), mutations()).prop_map(|(f, ms)| {
            // The body damaged, the length prefix kept right.
            let body = mutate(f[4..].to_vec(), &ms);
            framed(body.len() as u32, &body)
        }),
    ]
}

/// Sends `data` in transport messages of `chunk` bytes and ends the stream; then reads a frame.
async fn read_sent(
    ctx: &ctx::Ctx,
    data: &[u8],
    chunk: usize,
) -> ctx::Result<ctx::Result<Handshake>> {
    let (mut raw, mut acc) = raw_noise_pair(ctx).await?;
    raw.send_chunked(ctx, data, chunk).await?;
    raw.shutdown(ctx).await?;
    Ok(read(ctx, &mut acc.read, MAX).await)
}

/// `read` of any plaintext (in transport messages of any size) never panics and does what the
/// wire format says: a length over the limit is refused as such, a short stream is a read
/// error, and a complete frame decodes exactly as its body does on its own.
#[test]
fn read_of_arbitrary_plaintext() {
    let rt = case_runtime();
    proptest!(ProptestConfig::with_cases(128), |(data in frame_bytes(), chunk in 1usize..400)| {
        let sent = data.clone();
        let got = run_case(&rt, |ctx| async move { read_sent(&ctx, &sent, chunk).await });
        let len = data.get(..4).map(|l| u32::from_le_bytes(l.try_into().unwrap()) as usize);
        match (len, got) {
            (Some(len), got) if len > MAX => match got {
                Err(ctx::Error::Internal(err)) => {
                    prop_assert!(format!("{err:#}").contains("exceeds"), "{:#}", err);
                }
                got => prop_assert!(false, "got {:?}", got),
            },
            (Some(len), got) if data.len() >= 4 + len => {
                let want = zksync_protobuf::decode::<Handshake>(&data[4..4 + len]);
                match (want, got) {
                    (Ok(want), Ok(got)) => prop_assert_eq!(want, got),
                    (Err(_), Err(ctx::Error::Internal(err))) => prop_assert!(
                        err.chain().any(|e| e.downcast_ref::<DecodeError>().is_some()),
                        "{:#}",
                        err
                    ),
                    (want, got) => prop_assert!(false, "want {:?}, got {:?}", want, got),
                }
            }
            // Fewer bytes than the length prefix or the body.
            (_, Err(ctx::Error::Internal(err))) => {
                prop_assert!(format!("{err:#}").contains("end of stream"), "{:#}", err);
            }
            (_, got) => prop_assert!(false, "got {:?}", got),
        }
    });
}

/// A length over the limit is refused from the prefix alone: `read` neither allocates nor
/// waits for the body (the peer keeps the connection open and sends nothing more).
#[test]
fn oversized_length_is_refused_before_the_body() {
    let _guard = testonly::set_timeout(testonly::DEFAULT_TIMEOUT);
    let rt = case_runtime();
    proptest!(ProptestConfig::with_cases(32), |(len in MAX as u32 + 1..)| {
        let err = run_case(&rt, |ctx| async move {
            let ctx = &ctx;
            let (mut raw, mut acc) = raw_noise_pair(ctx).await?;
            raw.send(ctx, &len.to_le_bytes()).await?;
            let res = read::<Handshake>(ctx, &mut acc.read, MAX).await;
            drop(raw);
            Ok(res.err())
        });
        let Some(ctx::Error::Internal(err)) = err else {
            return Err(TestCaseError::fail(format!("{err:?}")));
        };
        prop_assert!(format!("{err:#}").contains("exceeds"), "{:#}", err);
    });
}
