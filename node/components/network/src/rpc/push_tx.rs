//! Transactions (capability 10; protocol.md 5.7, 5.8): a node pushes transactions it has not
//! sent to the peer yet; the receiver hands them to the execution layer.

use anyhow::Context as _;
use zksync_concurrency::{limiter, time};
use zksync_consensus_storage::Transaction;
use zksync_protobuf::{ProtoFmt, read_required, required};

use super::Rpc;
use crate::proto::zksync::network::gossip as proto;

/// The push_tx RPC.
#[derive(Debug)]
pub struct PushTxRpc;

impl Rpc for PushTxRpc {
    const CAPABILITY: u64 = 10;
    const INFLIGHT: u32 = 1;
    const METHOD: &'static str = "push_tx";
    type Req = Req;
    type Resp = ();
}

/// Default rate: burst 10, one per 10 ms.
pub const RATE: limiter::Rate = limiter::Rate {
    burst: 10,
    refresh: time::Duration::from_millis(10),
};

/// One transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req(pub Transaction);

struct Tx(Transaction);

impl ProtoFmt for Tx {
    type Proto = proto::Transaction;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self(Transaction(required(&r.tx).context("tx")?.clone())))
    }
    fn build(&self) -> Self::Proto {
        proto::Transaction {
            tx: Some(self.0.0.clone()),
        }
    }
}

impl ProtoFmt for Req {
    type Proto = proto::PushTx;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let Tx(tx) = read_required(&r.tx).context("tx")?;
        Ok(Self(tx))
    }
    fn build(&self) -> Self::Proto {
        proto::PushTx {
            tx: Some(Tx(self.0.clone()).build()),
        }
    }
}
