//! Consensus messages (capability 0; protocol.md 5.7, 5.9): a validator sends each of its
//! consensus messages to every validator; the receiver answers once the replica has taken the
//! message (or the queue dropped it), which bounds each sender to [`ConsensusRpc::INFLIGHT`]
//! unprocessed messages.

use anyhow::Context as _;
use zksync_concurrency::{limiter, time};
use zksync_consensus_roles::validator;
use zksync_protobuf::{ProtoFmt, kB, read_required};

use super::Rpc;
use crate::proto::zksync::network::consensus as proto;

/// The consensus RPC.
#[derive(Debug)]
pub struct ConsensusRpc;

impl Rpc for ConsensusRpc {
    const CAPABILITY: u64 = 0;
    const INFLIGHT: u32 = 3;
    const METHOD: &'static str = "consensus";
    type Req = Req;
    type Resp = Resp;
}

/// Default rate: unlimited (burst 10, no refresh delay).
pub const RATE: limiter::Rate = limiter::Rate {
    burst: 10,
    refresh: time::Duration::ZERO,
};
/// Largest response.
pub const MAX_RESP_SIZE: usize = kB;
/// Largest request, given the largest block: a proposal carries one payload.
pub fn max_req_size(max_block_size: usize) -> usize {
    max_block_size + 100 * kB
}

/// A signed consensus message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req(pub validator::Signed<validator::ConsensusMsg>);

/// The acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resp;

impl ProtoFmt for Req {
    type Proto = proto::ConsensusReq;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self(read_required(&r.msg).context("msg")?))
    }
    fn build(&self) -> Self::Proto {
        proto::ConsensusReq {
            msg: Some(self.0.build()),
        }
    }
}

impl ProtoFmt for Resp {
    type Proto = proto::ConsensusResp;
    fn read(_: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self)
    }
    fn build(&self) -> Self::Proto {
        proto::ConsensusResp {}
    }
}
