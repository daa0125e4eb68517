use rand::{SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{oneshot, testonly};
use zksync_consensus_roles::{testonly::Setup, validator::*};

use super::*;

fn commit(setup: &Setup, key: usize, view: u64) -> Signed<ConsensusMsg> {
    let msg = ConsensusMsg::ReplicaCommit(ReplicaCommit {
        view: setup.view(view),
        proposal: BlockHeader {
            number: BlockNumber(view),
            payload: Payload(vec![]).hash(),
        },
    });
    setup.keys[key].sign_msg(msg)
}

fn timeout(setup: &Setup, key: usize, view: u64) -> Signed<ConsensusMsg> {
    let msg = ConsensusMsg::ReplicaTimeout(ReplicaTimeout {
        view: setup.view(view),
        high_vote: None,
        high_qc: None,
    });
    setup.keys[key].sign_msg(msg)
}

fn req(msg: Signed<ConsensusMsg>) -> (ConsensusReq, oneshot::Receiver<()>) {
    let (ack, acked) = oneshot::channel();
    (ConsensusReq { msg, ack }, acked)
}

#[test]
fn queue_keeps_the_newest_message_per_signer_and_type() {
    testonly::run_test(|ctx, _| async move {
        let setup = Setup::new(&mut StdRng::seed_from_u64(1), 4);
        let watermark = ViewWatermark::default();
        let (send, mut recv) = create_input_channel(watermark.clone());
        let (r1, acked1) = req(commit(&setup, 0, 5));
        assert!(send.send(r1));
        // Another type from the same signer, and the same type from another signer, coexist.
        assert!(send.send(req(timeout(&setup, 0, 5)).0));
        assert!(send.send(req(commit(&setup, 1, 5)).0));
        // A newer commit vote of signer 0 replaces the older one (whose ack completes).
        assert!(send.send(req(commit(&setup, 0, 6)).0));
        assert!(acked1.recv_or_disconnected(&ctx).await?.is_err());
        // An equal or older view loses to the queued one.
        assert!(!send.send(req(commit(&setup, 0, 6)).0));
        assert!(!send.send(req(commit(&setup, 0, 4)).0));
        let mut got = vec![];
        while let Some(r) = recv.try_recv() {
            got.push((r.msg.msg.label(), r.msg.msg.view().number.0));
        }
        assert_eq!(
            got,
            vec![
                ("ReplicaTimeoutV2", 5),
                ("ReplicaCommitV2", 5),
                ("ReplicaCommitV2", 6)
            ]
        );
        Ok(())
    });
}

#[test]
fn queue_drops_stale_views_only() {
    testonly::run_test(|ctx, _| async move {
        let setup = Setup::new(&mut StdRng::seed_from_u64(2), 4);
        let watermark = ViewWatermark::default();
        let (send, recv) = create_input_channel(watermark.clone());
        // Signatures are the replica's business.
        let mut forged = commit(&setup, 3, 5);
        forged.sig = commit(&setup, 3, 6).sig;
        assert!(send.send(req(forged).0));
        watermark.advance(ViewNumber(10));
        watermark.advance(ViewNumber(3));
        assert_eq!(
            watermark.get(),
            ViewNumber(10),
            "the watermark never moves back"
        );
        assert!(!send.send(req(commit(&setup, 1, 9)).0), "stale view");
        // A proposal of the view just before is kept (its payload may complete a certified
        // block); older ones are not.
        let proposal = |view: u64| {
            setup.keys[0].sign_msg(ConsensusMsg::LeaderProposal(LeaderProposal {
                proposal_payload: None,
                justification: ProposalJustification::Timeout(TimeoutQC::new(setup.view(view - 1))),
            }))
        };
        assert!(!send.send(req(proposal(8)).0), "stale proposal");
        assert!(send.send(req(proposal(9)).0));
        assert!(send.send(req(commit(&setup, 1, 10)).0));
        assert!(
            send.send(req(commit(&setup, 2, 11)).0),
            "future views are kept"
        );
        assert_eq!(recv.len(), 4);
        // A dropped message's ack completes at once.
        let (r, acked) = req(commit(&setup, 0, 1));
        assert!(!send.send(r));
        assert!(acked.recv_or_disconnected(&ctx).await?.is_err());
        Ok(())
    });
}
