//! Everything validators sign and exchange (protocol.md sections 2-4).

mod block;
mod commit;
mod commit_batch;
mod discovery;
mod genesis;
mod hash;
mod msg;
mod proposal;
mod schedule;
mod signers;
mod state;
mod timeout;
mod view;

pub use block::*;
pub use commit::*;
pub use commit_batch::*;
pub use discovery::*;
pub use genesis::*;
pub use msg::*;
pub use proposal::*;
pub use schedule::*;
pub use signers::*;
pub use state::*;
pub use timeout::*;
pub use view::*;
