//! The gossip handshake (protocol.md 5.4; 13.B I6): signed with the node's ed25519 key.
//!
//! The dialer writes first and checks the answer in this order: genesis, session id, peer key,
//! signature. The acceptor reads first and checks session id, genesis, signature (any key),
//! then answers. `is_static` tells whether the sender treats the peer as a static one;
//! `build_version` is informational but must be valid SemVer when present.

use anyhow::Context as _;
use zksync_concurrency::ctx;
use zksync_consensus_roles::{node, validator::GenesisHash};
use zksync_protobuf::{ProtoFmt, read_required, required};

use super::{HandshakeError, MAX_FRAME, TIMEOUT};
use crate::{frame, noise, proto::zksync::network::gossip as proto};

/// The gossip handshake message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The session id, signed by the sender's node key.
    pub session_id: node::Signed,
    /// Whether the sender has the receiver among its static peers.
    pub is_static: bool,
    /// The sender's genesis hash.
    pub genesis: GenesisHash,
    /// The sender's build version.
    pub build_version: Option<semver::Version>,
}

impl ProtoFmt for Handshake {
    type Proto = proto::Handshake;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            session_id: read_required(&r.session_id).context("session_id")?,
            is_static: *required(&r.is_static).context("is_static")?,
            genesis: read_required(&r.genesis).context("genesis")?,
            build_version: r
                .build_version
                .as_ref()
                .map(|v| v.parse())
                .transpose()
                .context("build_version")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::Handshake {
            session_id: Some(self.session_id.build()),
            is_static: Some(self.is_static),
            genesis: Some(self.genesis.build()),
            build_version: self.build_version.as_ref().map(|v| v.to_string()),
        }
    }
}

/// What this node says about itself.
#[derive(Clone, Debug)]
pub struct Identity<'a> {
    /// Its node key.
    pub key: &'a node::SecretKey,
    /// Its genesis hash.
    pub genesis: GenesisHash,
    /// Its build version.
    pub build_version: Option<semver::Version>,
}

impl Identity<'_> {
    fn handshake(&self, stream: &noise::Stream, is_static: bool) -> Handshake {
        let session_id = node::SessionId(stream.session_id.0.to_vec());
        Handshake {
            session_id: self.key.sign_msg(node::Msg::SessionId(session_id)),
            is_static,
            genesis: self.genesis,
            build_version: self.build_version.clone(),
        }
    }
}

fn signed_session(h: &Handshake) -> &node::SessionId {
    let node::Msg::SessionId(s) = &h.session_id.msg;
    s
}

/// Dialer side: authenticates `peer`. Returns its handshake.
pub async fn outbound(
    ctx: &ctx::Ctx,
    me: &Identity<'_>,
    stream: &mut noise::Stream,
    peer: &node::PublicKey,
    is_static: bool,
) -> Result<Handshake, HandshakeError> {
    let ctx = &ctx.with_timeout(TIMEOUT);
    let mine = me.handshake(stream, is_static);
    frame::write(ctx, &mut stream.write, &mine).await?;
    let h: Handshake = frame::read(ctx, &mut stream.read, MAX_FRAME).await?;
    if h.genesis != me.genesis {
        return Err(HandshakeError::GenesisMismatch);
    }
    if signed_session(&h).0 != stream.session_id.0 {
        return Err(HandshakeError::SessionIdMismatch);
    }
    if h.session_id.key != *peer {
        return Err(HandshakeError::PeerMismatch);
    }
    h.session_id
        .verify()
        .map_err(|_| HandshakeError::Signature)?;
    Ok(h)
}

/// Acceptor side: authenticates whoever dialed; `is_static` says whether a key is among this
/// node's static inbound peers. Returns the peer's handshake.
pub async fn inbound(
    ctx: &ctx::Ctx,
    me: &Identity<'_>,
    stream: &mut noise::Stream,
    is_static: impl Fn(&node::PublicKey) -> bool,
) -> Result<Handshake, HandshakeError> {
    let ctx = &ctx.with_timeout(TIMEOUT);
    let h: Handshake = frame::read(ctx, &mut stream.read, MAX_FRAME).await?;
    if signed_session(&h).0 != stream.session_id.0 {
        return Err(HandshakeError::SessionIdMismatch);
    }
    if h.genesis != me.genesis {
        return Err(HandshakeError::GenesisMismatch);
    }
    h.session_id
        .verify()
        .map_err(|_| HandshakeError::Signature)?;
    let answer = me.handshake(stream, is_static(&h.session_id.key));
    frame::write(ctx, &mut stream.write, &answer).await?;
    Ok(h)
}
