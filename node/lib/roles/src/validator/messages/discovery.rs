//! Signed network addresses of validators (protocol.md 5.10).

use std::net::SocketAddr;

use anyhow::Context as _;
use zksync_protobuf::{ProtoFmt, read_required, required, std_conv::Timestamp};

use crate::proto::zksync::roles::validator as proto;

/// Where a validator can be reached, signed by its key. Newer versions (then newer timestamps)
/// replace older ones.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NetAddress {
    /// The address.
    pub addr: SocketAddr,
    /// Increases with every new address of the validator.
    pub version: u64,
    /// When the address was signed.
    pub timestamp: Timestamp,
}

impl ProtoFmt for NetAddress {
    type Proto = proto::NetAddress;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            addr: read_required(&r.addr).context("addr")?,
            version: *required(&r.version).context("version")?,
            timestamp: read_required(&r.timestamp).context("timestamp")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::NetAddress {
            addr: Some(self.addr.build()),
            version: Some(self.version),
            timestamp: Some(self.timestamp.build()),
        }
    }
}
