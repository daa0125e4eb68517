//! Validator addresses (capability 1; protocol.md 5.7, 5.10): a node pushes the signed
//! addresses of validators it learned (the whole set first, then changes).

use anyhow::Context as _;
use zksync_concurrency::{limiter, time};
use zksync_consensus_roles::validator::{NetAddress, Signed};
use zksync_protobuf::{ProtoFmt, kB};

use super::Rpc;
use crate::proto::zksync::network::gossip as proto;

/// The push_validator_addrs RPC.
#[derive(Debug)]
pub struct PushValidatorAddrsRpc;

impl Rpc for PushValidatorAddrsRpc {
    const CAPABILITY: u64 = 1;
    const INFLIGHT: u32 = 1;
    const METHOD: &'static str = "push_validator_addrs";
    type Req = Req;
    type Resp = ();
}

/// Default rate: burst 1, one per 5 s.
pub const RATE: limiter::Rate = limiter::Rate {
    burst: 1,
    refresh: time::Duration::from_secs(5),
};
/// Largest request.
pub const MAX_REQ_SIZE: usize = 100 * kB;

/// Signed validator addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req(pub Vec<Signed<NetAddress>>);

impl ProtoFmt for Req {
    type Proto = proto::PushValidatorAddrs;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let addrs = r
            .net_addresses
            .iter()
            .enumerate()
            .map(|(i, a)| ProtoFmt::read(a).with_context(|| format!("net_addresses[{i}]")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self(addrs))
    }
    fn build(&self) -> Self::Proto {
        proto::PushValidatorAddrs {
            net_addresses: self.0.iter().map(ProtoFmt::build).collect(),
        }
    }
}
