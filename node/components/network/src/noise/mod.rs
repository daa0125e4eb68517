//! The Noise layer (protocol.md 5.3, 13.B I1-I2): an NN handshake over TCP with the protocol
//! name `zksync-bft`, then an encrypted byte stream.
//!
//! - Handshake: the dialer (initiator) sends `u16 LE 32 ‖ e`, the acceptor answers
//!   `u16 LE 48 ‖ e, ee` (32 bytes and the tag of an empty payload). Payloads must be empty;
//!   any other length is refused. The session id is the final handshake hash.
//! - Transport: each message is `u16 LE ciphertext length ‖ ciphertext`, at most 65535 bytes of
//!   ciphertext (65519 of plaintext). Writers buffer plaintext and send it when the buffer is
//!   full or on flush; an empty buffer is never sent, because the reference reads an empty
//!   message as end of stream, and so do we. Nonces count from 0 in each direction.
//! - The stream splits into a read half and a write half, which run in different tasks.
//! - Randomness (the ephemeral keys) comes from the ctx.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use snow::{params::NoiseParams, resolvers::CryptoResolver, resolvers::DefaultResolver};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    net::tcp::{OwnedReadHalf, OwnedWriteHalf},
};
use zksync_concurrency::{ctx, net::tcp};

#[cfg(test)]
mod tests;

/// The protocol name hashed into the handshake instead of the conventional one.
pub const PROTOCOL_NAME: &str = "zksync-bft";
/// Largest ciphertext of one transport message.
pub const MAX_CIPHERTEXT: usize = 65535;
/// Poly1305 tag size.
const TAG: usize = 16;
/// Largest plaintext of one transport message.
pub const MAX_PLAINTEXT: usize = MAX_CIPHERTEXT - TAG;
/// Size of handshake message 1 (`e`) and 2 (`e, ee` with an empty encrypted payload).
pub const HANDSHAKE_MSG_SIZES: [usize; 2] = [32, 48];

fn params() -> NoiseParams {
    let mut p: NoiseParams = "Noise_NN_25519_ChaChaPoly_SHA256"
        .parse()
        .expect("valid noise params");
    p.name = PROTOCOL_NAME.into();
    p
}

/// Snow's default primitives, with the randomness of the ctx.
struct Resolver(Mutex<Option<StdRng>>);

struct CtxRandom(StdRng);

impl snow::types::Random for CtxRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoResolver for Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn snow::types::Random>> {
        let rng = self.0.lock().ok()?.take()?;
        Some(Box::new(CtxRandom(rng)))
    }
    fn resolve_dh(&self, c: &snow::params::DHChoice) -> Option<Box<dyn snow::types::Dh>> {
        DefaultResolver.resolve_dh(c)
    }
    fn resolve_hash(&self, c: &snow::params::HashChoice) -> Option<Box<dyn snow::types::Hash>> {
        DefaultResolver.resolve_hash(c)
    }
    fn resolve_cipher(
        &self,
        c: &snow::params::CipherChoice,
    ) -> Option<Box<dyn snow::types::Cipher>> {
        DefaultResolver.resolve_cipher(c)
    }
}

/// The session id: the final handshake hash, equal on both sides and bound to both ephemeral
/// keys. Peers sign it to authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionId(pub [u8; 32]);

/// Reads a `u16 LE length ‖ bytes` handshake message of exactly `want` bytes.
async fn read_handshake_msg(
    ctx: &ctx::Ctx,
    tcp: &mut tcp::Stream,
    want: usize,
) -> ctx::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    ctx.wait(tcp.read_exact(&mut len))
        .await?
        .context("reading handshake")?;
    let len = u16::from_le_bytes(len) as usize;
    if len != want {
        return Err(anyhow::anyhow!("noise handshake message of {len} bytes, want {want}").into());
    }
    let mut buf = vec![0; len];
    ctx.wait(tcp.read_exact(&mut buf))
        .await?
        .context("reading handshake")?;
    Ok(buf)
}

async fn write_handshake_msg(ctx: &ctx::Ctx, tcp: &mut tcp::Stream, msg: &[u8]) -> ctx::Result<()> {
    let mut buf = (msg.len() as u16).to_le_bytes().to_vec();
    buf.extend_from_slice(msg);
    ctx.wait(tcp.write_all(&buf))
        .await?
        .context("writing handshake")?;
    ctx.wait(tcp.flush()).await?.context("writing handshake")?;
    Ok(())
}

/// Runs the handshake on `tcp` (as the dialer if `initiator`) and returns the encrypted stream.
pub async fn handshake(
    ctx: &ctx::Ctx,
    mut tcp: tcp::Stream,
    initiator: bool,
) -> ctx::Result<Stream> {
    let resolver = Resolver(Mutex::new(Some(StdRng::from_rng(&mut ctx.rng()))));
    let builder = snow::Builder::with_resolver(params(), Box::new(resolver));
    let mut hs = if initiator {
        builder.build_initiator()
    } else {
        builder.build_responder()
    }
    .context("noise setup")?;
    let mut buf = [0u8; 64];
    let mut payload = [0u8; 0];
    if initiator {
        let n = hs.write_message(&[], &mut buf).context("noise write")?;
        write_handshake_msg(ctx, &mut tcp, &buf[..n]).await?;
        let msg = read_handshake_msg(ctx, &mut tcp, HANDSHAKE_MSG_SIZES[1]).await?;
        hs.read_message(&msg, &mut payload)
            .context("noise handshake message 2")?;
    } else {
        let msg = read_handshake_msg(ctx, &mut tcp, HANDSHAKE_MSG_SIZES[0]).await?;
        hs.read_message(&msg, &mut payload)
            .context("noise handshake message 1")?;
        let n = hs.write_message(&[], &mut buf).context("noise write")?;
        write_handshake_msg(ctx, &mut tcp, &buf[..n]).await?;
    }
    let session_id = SessionId(
        hs.get_handshake_hash()
            .try_into()
            .context("handshake hash size")?,
    );
    let state = Arc::new(
        hs.into_stateless_transport_mode()
            .context("noise transport")?,
    );
    let (read, write) = tcp.into_split();
    Ok(Stream {
        session_id,
        read: ReadHalf {
            tcp: BufReader::with_capacity(READ_BUFFER, read),
            state: state.clone(),
            nonce: 0,
            buf: vec![],
            pos: 0,
            eof: false,
        },
        write: WriteHalf {
            tcp: write,
            state,
            nonce: 0,
            buf: Vec::with_capacity(MAX_PLAINTEXT),
        },
    })
}

/// An encrypted connection.
pub struct Stream {
    /// The session id.
    pub session_id: SessionId,
    /// Reading half.
    pub read: ReadHalf,
    /// Writing half.
    pub write: WriteHalf,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// Bytes read from the socket at once. A transport message is read as its 2-byte length, then
/// its body; without a buffer that is two system calls per message, with one the messages
/// that arrived together are read in one. Larger messages bypass the buffer.
const READ_BUFFER: usize = 8 * 1024;

/// The reading half of a [`Stream`].
pub struct ReadHalf {
    tcp: BufReader<OwnedReadHalf>,
    state: Arc<snow::StatelessTransportState>,
    nonce: u64,
    /// Decrypted bytes not yet consumed: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl ReadHalf {
    /// Decrypts the next transport message into the buffer. An empty message is end of
    /// stream.
    async fn fill(&mut self, ctx: &ctx::Ctx) -> ctx::Result<()> {
        if self.eof {
            return Err(anyhow::anyhow!("end of stream").into());
        }
        let mut len = [0u8; 2];
        match ctx.wait(self.tcp.read_exact(&mut len)).await? {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.eof = true;
                return Err(anyhow::anyhow!("end of stream").into());
            }
            Err(e) => return Err(anyhow::Error::from(e).context("reading").into()),
        }
        let len = u16::from_le_bytes(len) as usize;
        if len < TAG {
            return Err(
                anyhow::anyhow!("noise message of {len} bytes is shorter than its tag").into(),
            );
        }
        let mut ct = vec![0; len];
        ctx.wait(self.tcp.read_exact(&mut ct))
            .await?
            .context("reading")?;
        let mut pt = vec![0; len - TAG];
        let n = self
            .state
            .read_message(self.nonce, &ct, &mut pt)
            .map_err(|e| anyhow::anyhow!("noise decryption: {e}"))?;
        self.nonce += 1;
        if n == 0 {
            self.eof = true;
            return Err(anyhow::anyhow!("end of stream").into());
        }
        pt.truncate(n);
        self.buf = pt;
        self.pos = 0;
        Ok(())
    }

    /// Reads exactly `out.len()` bytes.
    pub async fn read_exact(&mut self, ctx: &ctx::Ctx, out: &mut [u8]) -> ctx::Result<()> {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.buf.len() {
                self.fill(ctx).await?;
            }
            let n = (self.buf.len() - self.pos).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
        }
        Ok(())
    }
}

/// The writing half of a [`Stream`].
pub struct WriteHalf {
    tcp: OwnedWriteHalf,
    state: Arc<snow::StatelessTransportState>,
    nonce: u64,
    /// Plaintext not sent yet (never more than [`MAX_PLAINTEXT`]).
    buf: Vec<u8>,
}

impl WriteHalf {
    /// Encrypts and sends the buffer, if not empty.
    async fn send_buffer(&mut self, ctx: &ctx::Ctx) -> ctx::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut msg = vec![0; 2 + self.buf.len() + TAG];
        let n = self
            .state
            .write_message(self.nonce, &self.buf, &mut msg[2..])
            .map_err(|e| anyhow::anyhow!("noise encryption: {e}"))?;
        self.nonce += 1;
        msg[..2].copy_from_slice(&(n as u16).to_le_bytes());
        msg.truncate(2 + n);
        ctx.wait(self.tcp.write_all(&msg))
            .await?
            .context("writing")?;
        self.buf.clear();
        Ok(())
    }

    /// Buffers `data`, sending full transport messages as they fill up.
    pub async fn write_all(&mut self, ctx: &ctx::Ctx, mut data: &[u8]) -> ctx::Result<()> {
        while !data.is_empty() {
            let n = (MAX_PLAINTEXT - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == MAX_PLAINTEXT {
                self.send_buffer(ctx).await?;
            }
        }
        Ok(())
    }

    /// Sends everything buffered.
    pub async fn flush(&mut self, ctx: &ctx::Ctx) -> ctx::Result<()> {
        self.send_buffer(ctx).await?;
        ctx.wait(self.tcp.flush()).await?.context("flushing")?;
        Ok(())
    }
}
