//! Block fetching (capability 4; protocol.md 5.7, 5.11): ask a peer for one block by number;
//! the answer is the block, or nothing if the peer does not have it.

use anyhow::Context as _;
use zksync_concurrency::{limiter, time};
use zksync_consensus_roles::validator::{Block, BlockNumber};
use zksync_protobuf::{ProtoFmt, kB, required};

use super::Rpc;
use crate::proto::zksync::network::gossip as proto;

/// The get_block RPC.
#[derive(Debug)]
pub struct GetBlockRpc;

impl Rpc for GetBlockRpc {
    const CAPABILITY: u64 = 4;
    const INFLIGHT: u32 = 5;
    const METHOD: &'static str = "get_block";
    type Req = Req;
    type Resp = Resp;
}

/// Default rate per connection: burst 64, one per 250 µs (4,000 blocks/s).
///
/// The reference allows 10 per second (burst 10), which caps block sync at 10 blocks/s per
/// peer. Serving a block costs one store read and its encryption, so a peer may ask for
/// thousands per second; the rate stays a bound on what one connection can make us do.
pub const RATE: limiter::Rate = limiter::Rate {
    burst: 64,
    refresh: time::Duration::from_micros(250),
};
/// Default timeout of a call.
pub const TIMEOUT: time::Duration = time::Duration::from_secs(10);
/// Largest request.
pub const MAX_REQ_SIZE: usize = kB;
/// Largest response, given the largest block.
pub fn max_resp_size(max_block_size: usize) -> usize {
    max_block_size + kB
}

/// The number of the block wanted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req(pub BlockNumber);

/// The block, if the peer has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resp(pub Option<Block>);

impl ProtoFmt for Req {
    type Proto = proto::GetBlockRequest;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self(BlockNumber(*required(&r.number).context("number")?)))
    }
    fn build(&self) -> Self::Proto {
        proto::GetBlockRequest {
            number: Some(self.0.0),
        }
    }
}

impl ProtoFmt for Resp {
    type Proto = proto::GetBlockResponse;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self(match (&r.pre_genesis, &r.block_v2) {
            (None, None) => None,
            (Some(b), None) => Some(Block::PreGenesis(ProtoFmt::read(b).context("pre_genesis")?)),
            (None, Some(b)) => Some(Block::Final(ProtoFmt::read(b).context("block_v2")?)),
            (Some(_), Some(_)) => anyhow::bail!("both pre_genesis and block_v2 set"),
        }))
    }
    fn build(&self) -> Self::Proto {
        let mut p = proto::GetBlockResponse::default();
        match &self.0 {
            None => {}
            Some(Block::PreGenesis(b)) => p.pre_genesis = Some(b.build()),
            Some(Block::Final(b)) => p.block_v2 = Some(b.build()),
        }
        p
    }
}
