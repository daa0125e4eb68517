//! Block store state (capability 3; protocol.md 5.7, 5.8): a node pushes the range of blocks
//! it can serve whenever it changes; peers fetch blocks they miss from nodes that have them.

use anyhow::Context as _;
use zksync_concurrency::{limiter, time};
use zksync_consensus_roles::validator::BlockNumber;
use zksync_consensus_storage::{BlockStoreState, Last};
use zksync_protobuf::{ProtoFmt, kB, read_optional, read_required, required};

use super::Rpc;
use crate::proto::zksync::network::gossip as proto;

/// The push_block_store_state RPC.
#[derive(Debug)]
pub struct PushBlockStoreStateRpc;

impl Rpc for PushBlockStoreStateRpc {
    const CAPABILITY: u64 = 3;
    const INFLIGHT: u32 = 1;
    const METHOD: &'static str = "push_block_store_state";
    type Req = Req;
    type Resp = ();
}

/// Default rate: burst 2, one per 200 ms.
pub const RATE: limiter::Rate = limiter::Rate {
    burst: 2,
    refresh: time::Duration::from_millis(200),
};
/// Largest request.
pub const MAX_REQ_SIZE: usize = 10 * kB;

/// The sender's block range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req(pub BlockStoreState);

struct LastFmt(Last);

impl ProtoFmt for LastFmt {
    type Proto = proto::Last;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        use proto::last::T;
        Ok(Self(match required(&r.t)? {
            T::PreGenesis(n) => Last::PreGenesis(BlockNumber(*n)),
            T::FinalV2(qc) => Last::Final(ProtoFmt::read(qc).context("final_v2")?),
        }))
    }
    fn build(&self) -> Self::Proto {
        use proto::last::T;
        proto::Last {
            t: Some(match &self.0 {
                Last::PreGenesis(n) => T::PreGenesis(n.0),
                Last::Final(qc) => T::FinalV2(qc.build()),
            }),
        }
    }
}

struct StateFmt(BlockStoreState);

impl ProtoFmt for StateFmt {
    type Proto = proto::BlockStoreState;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self(BlockStoreState {
            first: BlockNumber(*required(&r.first).context("first")?),
            last: read_optional::<LastFmt>(&r.last)
                .context("last")?
                .map(|l| l.0),
        }))
    }
    fn build(&self) -> Self::Proto {
        proto::BlockStoreState {
            first: Some(self.0.first.0),
            last: self.0.last.clone().map(|l| LastFmt(l).build()),
        }
    }
}

impl ProtoFmt for Req {
    type Proto = proto::PushBlockStoreState;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let StateFmt(state) = read_required(&r.state).context("state")?;
        Ok(Self(state))
    }
    fn build(&self) -> Self::Proto {
        proto::PushBlockStoreState {
            state: Some(StateFmt(self.0.clone()).build()),
        }
    }
}
