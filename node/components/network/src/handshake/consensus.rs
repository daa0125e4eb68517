//! The consensus handshake (protocol.md 5.5): signed with the validator's BLS key.
//!
//! The dialer writes first and checks the answer: genesis, session id, peer key, signature.
//! The acceptor reads first and checks genesis, session id, signature, then answers (whether
//! the key is a validator of the epoch is the caller's check, after the handshake).

use anyhow::Context as _;
use zksync_concurrency::ctx;
use zksync_consensus_roles::{
    node::SessionId,
    validator::{self, GenesisHash},
};
use zksync_protobuf::{ProtoFmt, read_required};

use super::{HandshakeError, MAX_FRAME, TIMEOUT};
use crate::{frame, noise, proto::zksync::network::consensus as proto};

/// The consensus handshake message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The session id, signed by the sender's validator key.
    pub session_id: validator::Signed<SessionId>,
    /// The sender's genesis hash.
    pub genesis: GenesisHash,
}

impl ProtoFmt for Handshake {
    type Proto = proto::Handshake;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            session_id: read_required(&r.session_id).context("session_id")?,
            genesis: read_required(&r.genesis).context("genesis")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::Handshake {
            session_id: Some(self.session_id.build()),
            genesis: Some(self.genesis.build()),
        }
    }
}

fn handshake(
    key: &validator::SecretKey,
    genesis: GenesisHash,
    stream: &noise::Stream,
) -> Handshake {
    Handshake {
        session_id: key.sign_msg(SessionId(stream.session_id.0.to_vec())),
        genesis,
    }
}

/// Dialer side: authenticates the validator `peer`.
pub async fn outbound(
    ctx: &ctx::Ctx,
    key: &validator::SecretKey,
    genesis: GenesisHash,
    stream: &mut noise::Stream,
    peer: &validator::PublicKey,
) -> Result<(), HandshakeError> {
    let ctx = &ctx.with_timeout(TIMEOUT);
    let mine = handshake(key, genesis, stream);
    frame::write(ctx, &mut stream.write, &mine).await?;
    let h: Handshake = frame::read(ctx, &mut stream.read, MAX_FRAME).await?;
    if h.genesis != genesis {
        return Err(HandshakeError::GenesisMismatch);
    }
    if h.session_id.msg.0 != stream.session_id.0 {
        return Err(HandshakeError::SessionIdMismatch);
    }
    if h.session_id.key != *peer {
        return Err(HandshakeError::PeerMismatch);
    }
    h.session_id
        .verify()
        .map_err(|_| HandshakeError::Signature)?;
    Ok(())
}

/// Acceptor side: returns the dialer's validator key.
pub async fn inbound(
    ctx: &ctx::Ctx,
    key: &validator::SecretKey,
    genesis: GenesisHash,
    stream: &mut noise::Stream,
) -> Result<validator::PublicKey, HandshakeError> {
    let ctx = &ctx.with_timeout(TIMEOUT);
    let h: Handshake = frame::read(ctx, &mut stream.read, MAX_FRAME).await?;
    if h.genesis != genesis {
        return Err(HandshakeError::GenesisMismatch);
    }
    if h.session_id.msg.0 != stream.session_id.0 {
        return Err(HandshakeError::SessionIdMismatch);
    }
    h.session_id
        .verify()
        .map_err(|_| HandshakeError::Signature)?;
    let mine = handshake(key, genesis, stream);
    frame::write(ctx, &mut stream.write, &mine).await?;
    Ok(h.session_id.key)
}
