//! Scenarios for the embedded L1 and its settlement contract.

mod staking;
mod support;

use commonware_cryptography::Signer as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use support::{
    chain_id, honest_for, honest_with, owner_of, submitter_of, Harness, SumProgram, TestChain,
    FINALIZED_HEAD, GENESIS, OTHER_NAMESPACE, ROLLUP, START,
};
use weft_settlement::auth::public_key;
use weft_settlement::{
    BatchHeader, Config, Cursor, EmbeddedL1, L1Tx, Registration, Reject, SettlementError, WeftData,
    L1,
};
use weft_types::{ChainId, SigningKey};

/// Submits and returns the rejection, asserting the submission did not settle.
fn rejected(h: &Harness, sub: weft_settlement::Submission) -> Reject {
    let receipt = h.submit(sub).unwrap();
    receipt.rejected().cloned().expect("submission settled")
}

#[test]
fn honest_batches_settle_in_order_and_roots_chain() {
    let h = Harness::new();
    let mut root = GENESIS;
    let mut start = START;
    for (index, end) in [Cursor::new(3, 0), Cursor::new(5, 1), Cursor::new(8, 0)]
        .into_iter()
        .enumerate()
    {
        let head = h.l1.head().unwrap();
        let sub = h.honest(end);
        assert_eq!(sub.old_root, root);
        let receipt = h.submit(sub.clone()).unwrap();
        let batch = receipt.settled().expect("honest batch settles").clone();
        assert_eq!(receipt.l1_block, head + 1);
        assert_eq!(h.l1.head().unwrap(), head + 1);
        assert_eq!(batch.header.batch_index, index as u64);
        assert_eq!(batch.header.start, start);
        assert_eq!(batch.old_root, root);
        assert_eq!(batch.new_root, sub.new_root);
        assert_eq!(batch.proof_bytes, sub.proof.len() as u64);
        assert_eq!(batch.l1_block, receipt.l1_block);
        assert_eq!(h.l1.batch(ROLLUP, index as u64).unwrap(), Some(batch));
        root = sub.new_root;
        start = end;
    }
    let status = h.status();
    assert_eq!(status.settled_batches, 3);
    assert_eq!(status.root, root);
    assert_eq!(status.next_start, Cursor::new(8, 0));
    assert_eq!(status.genesis_root, GENESIS);
    assert_eq!(status.program, "test/sum-v1");
    assert_eq!(status.last_batch.unwrap().new_root, root);
    assert_eq!(h.l1.batch(ROLLUP, 3).unwrap(), None);
}

#[test]
fn out_of_order_index_is_refused() {
    let h = Harness::new();
    let mut sub = h.honest(Cursor::new(3, 0));
    sub.header.batch_index = 1;
    let reject = rejected(&h, sub);
    assert_eq!(
        reject,
        Reject::OutOfOrder {
            expected: 0,
            got: 1
        }
    );
    assert_eq!(reject.code(), 4);
    assert_eq!(h.status().settled_batches, 0);
}

#[test]
fn already_settled_index_is_refused_and_the_stored_batch_is_unchanged() {
    let h = Harness::new();
    let first = h.honest(Cursor::new(3, 0));
    h.submit(first.clone()).unwrap().settled().unwrap();
    let stored = h.l1.batch(ROLLUP, 0).unwrap().unwrap();

    // A competing, otherwise valid batch 0 over a longer range.
    let header = BatchHeader {
        end: Cursor::new(4, 0),
        ..first.header
    };
    let competing = honest_for(&h.chain, header, GENESIS);
    assert_eq!(
        rejected(&h, competing),
        Reject::AlreadySettled {
            rollup: ROLLUP,
            batch_index: 0
        }
    );
    // Resubmitting the very same signed batch is a replay: answered from the record.
    assert!(matches!(
        h.submit(first).unwrap_err(),
        SettlementError::Duplicate { .. }
    ));
    assert_eq!(h.l1.batch(ROLLUP, 0).unwrap().unwrap(), stored);
    assert_eq!(h.status().root, stored.new_root);
}

#[test]
fn non_contiguous_start_is_refused() {
    let h = Harness::new();
    let header = BatchHeader {
        rollup: ROLLUP,
        batch_index: 0,
        start: Cursor::new(1, 1),
        end: Cursor::new(3, 0),
    };
    let sub = honest_for(&h.chain, header, GENESIS);
    assert_eq!(
        rejected(&h, sub),
        Reject::NonContiguous {
            expected: START,
            got: Cursor::new(1, 1)
        }
    );
    h.submit(h.honest(Cursor::new(3, 0)))
        .unwrap()
        .settled()
        .unwrap();
    // The second batch must start at the first one's end, not after it.
    let header = BatchHeader {
        rollup: ROLLUP,
        batch_index: 1,
        start: Cursor::new(4, 0),
        end: Cursor::new(5, 0),
    };
    let sub = honest_for(&h.chain, header, h.status().root);
    assert_eq!(
        rejected(&h, sub),
        Reject::NonContiguous {
            expected: Cursor::new(3, 0),
            got: Cursor::new(4, 0)
        }
    );
}

#[test]
fn old_root_mismatch_is_refused() {
    let h = Harness::new();
    let header = h.honest(Cursor::new(3, 0)).header;
    let stale = [9, 9, 9, 9];
    let sub = honest_for(&h.chain, header, stale);
    assert_eq!(
        rejected(&h, sub),
        Reject::OldRootMismatch {
            expected: GENESIS,
            got: stale
        }
    );
}

#[test]
fn commitment_mismatch_is_refused() {
    let h = Harness::new();
    let honest = h.honest(Cursor::new(3, 0));
    // A self-consistent batch (the proof verifies) over data Weft did not finalize.
    let forged = [7, 7, 7, 7];
    let new_root = SumProgram::transition(&GENESIS, &forged);
    let sub = weft_settlement::Submission {
        commitment: forged,
        new_root,
        proof: SumProgram::prove(&GENESIS, &new_root, &forged),
        ..honest.clone()
    };
    assert_eq!(
        rejected(&h, sub),
        Reject::CommitmentMismatch {
            expected: honest.commitment,
            got: forged
        }
    );
}

#[test]
fn data_the_program_cannot_commit_to_is_refused() {
    let h = Harness::new();
    h.chain.finalize(vec![(ROLLUP, vec![0xff])]);
    let mut sub = h.honest(Cursor::new(FINALIZED_HEAD, 0));
    sub.header.end = Cursor::new(FINALIZED_HEAD + 2, 0);
    assert!(matches!(
        rejected(&h, sub),
        Reject::CommitmentFailed { reason } if reason.contains("poison")
    ));
}

#[test]
fn invalid_proof_is_refused() {
    let h = Harness::new();
    let honest = h.honest(Cursor::new(3, 0));

    let mut tampered = honest.clone();
    tampered.proof[0] ^= 1;
    assert!(matches!(
        rejected(&h, tampered),
        Reject::InvalidProof { reason } if reason.contains("public inputs")
    ));

    // A proof for a wrong transition, matching its own public inputs.
    let wrong_root = [0, 0, 0, 1];
    let wrong = weft_settlement::Submission {
        new_root: wrong_root,
        proof: SumProgram::prove(&GENESIS, &wrong_root, &honest.commitment),
        ..honest.clone()
    };
    assert!(matches!(
        rejected(&h, wrong),
        Reject::InvalidProof { reason } if reason.contains("transition")
    ));
    assert_eq!(h.status().root, GENESIS);
    h.submit(honest).unwrap().settled().unwrap();
}

#[test]
fn end_beyond_finalized_data_is_refused_until_finalized() {
    let h = Harness::new();
    let header = BatchHeader {
        rollup: ROLLUP,
        batch_index: 0,
        start: START,
        end: Cursor::new(FINALIZED_HEAD + 1, 1),
    };
    // Built as it will be once block FINALIZED_HEAD + 1 is finalized.
    let later = TestChain::with_head(FINALIZED_HEAD + 1);
    let sub = honest_for(&later, header, GENESIS);
    assert_eq!(
        rejected(&h, sub.clone()),
        Reject::NotFinalized {
            end: Cursor::new(FINALIZED_HEAD + 1, 1),
            head: Some(FINALIZED_HEAD)
        }
    );
    h.chain.finalize_next();
    h.submit(sub).unwrap().settled().unwrap();
}

#[test]
fn empty_oversized_and_overproved_batches_are_refused() {
    let h = Harness::with_config(Config {
        batch_heights_max: 4,
        proof_bytes_max: 64,
        ..Config::default()
    });
    let empty = h.honest(START);
    assert_eq!(
        rejected(&h, empty),
        Reject::EmptyBatch {
            start: START,
            end: START
        }
    );
    let too_large = h.honest(Cursor::new(6, 0));
    assert_eq!(
        rejected(&h, too_large),
        Reject::TooLarge {
            heights: 5,
            heights_max: 4
        }
    );
    let mut big_proof = h.honest(Cursor::new(5, 0));
    big_proof.proof.extend([0; 65]);
    assert_eq!(
        rejected(&h, big_proof),
        Reject::ProofTooLarge {
            bytes: 96 + 65,
            bytes_max: 64
        }
    );
}

#[test]
fn unknown_rollup_and_changed_program_are_refused() {
    let h = Harness::new();
    // An unregistered rollup has no submitter to sign for it: an error, nothing recorded.
    let head = h.l1.head().unwrap();
    let mut sub = h.honest(Cursor::new(3, 0));
    sub.header.rollup = 99;
    assert!(matches!(
        h.submit(sub).unwrap_err(),
        SettlementError::UnknownRollup { rollup: 99 }
    ));
    assert_eq!(h.l1.head().unwrap(), head);

    let h = h.reopen_with("test/sum-v2");
    let reject = rejected(&h, h.honest(Cursor::new(3, 0)));
    assert_eq!(
        reject,
        Reject::ProgramMismatch {
            rollup: ROLLUP,
            registered: "test/sum-v1".into(),
            configured: "test/sum-v2".into()
        }
    );
    assert_eq!(reject.code(), 2);
}

#[test]
fn rejected_submissions_are_recorded_in_blocks_but_change_nothing() {
    let h = Harness::new();
    h.submit(h.honest(Cursor::new(3, 0)))
        .unwrap()
        .settled()
        .unwrap();
    let status = h.status();
    let head = h.l1.head().unwrap();

    let mut bad = h.honest(Cursor::new(5, 0));
    bad.proof.pop();
    let receipt = h.submit(bad.clone()).unwrap();
    assert_eq!(receipt.l1_block, head + 1);
    assert_eq!(h.l1.head().unwrap(), head + 1);
    assert_eq!(h.status(), status);
    assert_eq!(h.l1.batch(ROLLUP, 1).unwrap(), None);

    let block = h.l1.block(receipt.l1_block).unwrap().unwrap();
    assert_eq!(block.hash, receipt.l1_block_hash);
    let [L1Tx::Submit { call, outcome }] = block.txs.as_slice() else {
        panic!("expected one submit tx, got {:?}", block.txs);
    };
    assert_eq!(call.header, bad.header);
    assert_eq!(call.proof_bytes, bad.proof.len() as u64);
    assert_eq!(outcome, &receipt.outcome);
    assert_eq!(receipt.rejected().unwrap().code(), 13);
}

#[test]
fn unavailable_data_fails_the_call_and_records_nothing() {
    let h = Harness::new();
    let sub = h.honest(Cursor::new(3, 0));
    let head = h.l1.head().unwrap();
    h.chain.set_unavailable(true);
    let err = h.submit(sub.clone()).unwrap_err();
    assert!(
        matches!(err, SettlementError::Data { rollup: ROLLUP, .. }),
        "{err}"
    );
    assert_eq!(h.l1.head().unwrap(), head);
    h.chain.set_unavailable(false);
    h.submit(sub).unwrap().settled().unwrap();
}

#[test]
fn blocks_form_a_hash_chain() {
    let h = Harness::new();
    h.submit(h.honest(Cursor::new(3, 0))).unwrap();
    h.l1.inbox_send(ROLLUP, b"force".to_vec()).unwrap();
    let mut bad = h.honest(Cursor::new(4, 0));
    bad.old_root = [0; 4];
    h.submit(bad).unwrap();

    let head = h.l1.head().unwrap();
    // Genesis, registration, settle, inbox, reject.
    assert_eq!(head, 4);
    let genesis = h.l1.block(0).unwrap().unwrap();
    assert!(genesis.txs.is_empty());
    assert_eq!(genesis.hash, genesis.compute_hash());
    let mut parent = genesis;
    for number in 1..=head {
        let block = h.l1.block(number).unwrap().unwrap();
        assert_eq!(block.number, number);
        assert_eq!(block.parent_hash, parent.hash);
        assert_eq!(block.hash, block.compute_hash());
        assert!(block.timestamp_ms >= parent.timestamp_ms);
        assert_eq!(block.txs.len(), 1);
        parent = block;
    }
    assert!(matches!(
        h.l1.block(1).unwrap().unwrap().txs[0],
        L1Tx::RegisterRollup {
            rollup: ROLLUP,
            genesis_root: GENESIS,
            start: START,
            ..
        }
    ));
    assert_eq!(h.l1.block(head + 1).unwrap(), None);
}

#[test]
fn state_survives_reopen() {
    let h = Harness::new();
    h.submit(h.honest(Cursor::new(3, 0)))
        .unwrap()
        .settled()
        .unwrap();
    h.submit(h.honest(Cursor::new(6, 1)))
        .unwrap()
        .settled()
        .unwrap();
    let mut bad = h.honest(Cursor::new(7, 0));
    bad.header.batch_index = 5;
    h.submit(bad).unwrap().rejected().unwrap();
    h.l1.inbox_send(ROLLUP, vec![1]).unwrap();
    h.l1.inbox_send(ROLLUP, vec![2, 2]).unwrap();

    let status = h.status();
    let head = h.l1.head().unwrap();
    let blocks: Vec<_> = (0..=head)
        .map(|n| h.l1.block(n).unwrap().unwrap())
        .collect();
    let batches: Vec<_> = (0..2)
        .map(|i| h.l1.batch(ROLLUP, i).unwrap().unwrap())
        .collect();
    let inbox = h.l1.inbox(ROLLUP, 0, 10).unwrap();

    let h = h.reopen();
    assert_eq!(h.status(), status);
    assert_eq!(h.l1.head().unwrap(), head);
    for block in &blocks {
        assert_eq!(h.l1.block(block.number).unwrap().as_ref(), Some(block));
    }
    for batch in &batches {
        let index = batch.header.batch_index;
        assert_eq!(h.l1.batch(ROLLUP, index).unwrap().as_ref(), Some(batch));
    }
    assert_eq!(h.l1.inbox(ROLLUP, 0, 10).unwrap(), inbox);

    // The chain goes on where it stopped.
    let receipt = h.submit(h.honest(Cursor::new(9, 0))).unwrap();
    assert_eq!(receipt.settled().unwrap().header.batch_index, 2);
    assert_eq!(receipt.l1_block, head + 1);
    let block = h.l1.block(head + 1).unwrap().unwrap();
    assert_eq!(block.parent_hash, blocks.last().unwrap().hash);
    assert_eq!(h.l1.inbox_send(ROLLUP, vec![3]).unwrap().index, 2);
}

#[test]
fn inbox_appends_and_reads_within_bounds() {
    let h = Harness::with_config(Config {
        inbox_payload_bytes_max: 8,
        inbox_messages_max: 3,
        ..Config::default()
    });
    let head = h.l1.head().unwrap();
    assert!(matches!(
        h.l1.inbox_send(ROLLUP, vec![0; 9]).unwrap_err(),
        SettlementError::PayloadTooLarge {
            bytes: 9,
            bytes_max: 8
        }
    ));
    assert!(matches!(
        h.l1.inbox_send(99, vec![0]).unwrap_err(),
        SettlementError::UnknownRollup { rollup: 99 }
    ));
    assert!(matches!(
        h.l1.inbox(99, 0, 1).unwrap_err(),
        SettlementError::UnknownRollup { rollup: 99 }
    ));
    assert_eq!(h.l1.head().unwrap(), head);

    for i in 0..5u8 {
        let message = h.l1.inbox_send(ROLLUP, vec![i; 8]).unwrap();
        assert_eq!(message.index, u64::from(i));
        assert_eq!(message.rollup, ROLLUP);
        assert_eq!(message.l1_block, head + 1 + u64::from(i));
        let block = h.l1.block(message.l1_block).unwrap().unwrap();
        assert_eq!(block.txs, vec![L1Tx::InboxSend { message }]);
    }
    let page = h.l1.inbox(ROLLUP, 1, 2).unwrap();
    assert_eq!(page.iter().map(|m| m.index).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(page[1].payload, vec![2; 8]);
    // A larger request is cut to `inbox_messages_max`.
    let page = h.l1.inbox(ROLLUP, 0, 100).unwrap();
    assert_eq!(
        page.iter().map(|m| m.index).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(h.l1.inbox(ROLLUP, 4, 100).unwrap().len(), 1);
    assert!(h.l1.inbox(ROLLUP, 5, 100).unwrap().is_empty());
    assert_eq!(h.status().inbox_messages, 5);
}

#[test]
fn registration_is_idempotent_and_conflicts_are_errors() {
    let h = Harness::new();
    let head = h.l1.head().unwrap();
    h.register(ROLLUP, GENESIS, START).unwrap();
    assert_eq!(
        h.l1.head().unwrap(),
        head,
        "identical registration seals nothing"
    );
    assert!(matches!(
        h.register(ROLLUP, [0; 4], START).unwrap_err(),
        SettlementError::RegistrationConflict {
            rollup: ROLLUP,
            field: "genesis_root"
        }
    ));
    assert!(matches!(
        h.register(ROLLUP, GENESIS, Cursor::new(2, 0)).unwrap_err(),
        SettlementError::RegistrationConflict {
            rollup: ROLLUP,
            field: "start"
        }
    ));
    assert!(matches!(
        h.register(99, GENESIS, START).unwrap_err(),
        SettlementError::NoProgram { rollup: 99 }
    ));
    assert_eq!(h.l1.head().unwrap(), head);
    assert_eq!(h.l1.status().unwrap().len(), 1);
}

#[test]
fn concurrent_submissions_of_one_index_settle_once() {
    let h = Harness::new();
    let subs: Vec<_> = (3..9)
        .map(|height| {
            let header = BatchHeader {
                rollup: ROLLUP,
                batch_index: 0,
                start: START,
                end: Cursor::new(height, 0),
            };
            honest_for(&h.chain, header, GENESIS)
        })
        .collect();
    let receipts: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = subs
            .iter()
            .map(|sub| s.spawn(|| h.submit(sub.clone()).unwrap()))
            .collect();
        handles.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let settled: Vec<_> = receipts.iter().filter_map(|r| r.settled()).collect();
    assert_eq!(settled.len(), 1);
    for receipt in receipts.iter().filter(|r| r.settled().is_none()) {
        assert_eq!(receipt.rejected().unwrap().code(), 3);
    }
    let status = h.status();
    assert_eq!(status.settled_batches, 1);
    assert_eq!(status.root, settled[0].new_root);
    assert_eq!(h.l1.head().unwrap(), 1 + subs.len() as u64);
}

#[test]
fn an_invalid_config_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let weft: Arc<dyn WeftData> = Arc::new(TestChain::with_head(0));
    let cfg = Config {
        proof_bytes_max: 0,
        ..Config::default()
    };
    let result = EmbeddedL1::open(
        dir.path().join("l1.redb"),
        cfg,
        support::chain_id(),
        BTreeMap::new(),
        weft,
    );
    assert!(matches!(result, Err(SettlementError::Config(_))));
}

/// Rule 5b: a batch lists the outcome of every bundle it holds a leg of, leaves a reverted
/// bundle's legs out of its data, and cannot execute a bundle another rollup settled as
/// reverted (nor the reverse).
#[test]
fn bundle_outcomes_cover_the_legs_and_agree_across_rollups() {
    let h = Harness::new();
    h.register(OTHER_NAMESPACE, GENESIS, START).unwrap();
    let (b1, b2) = ([1u8; 32], [2u8; 32]);
    // Block 11: bundle 1 has a leg in each rollup, bundle 2 one in each too.
    h.chain.finalize(vec![
        (ROLLUP, vec![11, 1]),
        (ROLLUP, vec![11, 7, 1]),
        (OTHER_NAMESPACE, vec![11, 8, 1]),
        (ROLLUP, vec![11, 7, 2]),
        (OTHER_NAMESPACE, vec![11, 8, 2]),
    ]);
    for (p, b) in [
        (&[11u8, 7, 1][..], b1),
        (&[11, 8, 1], b1),
        (&[11, 7, 2], b2),
        (&[11, 8, 2], b2),
    ] {
        h.chain.mark_leg(p, b);
    }
    let header = |rollup| BatchHeader {
        rollup,
        batch_index: 0,
        start: START,
        end: Cursor::new(12, 0),
    };
    // Bundle 1 reverted, bundle 2 executed: the honest ROLLUP batch.
    let outcome = |b: &[u8; 32]| *b == b2;
    let honest = honest_with(&h.chain, header(ROLLUP), GENESIS, &outcome);
    assert_eq!(honest.bundle_outcomes.len(), 2);
    let mut missing = honest.clone();
    missing.bundle_outcomes.pop();
    assert!(matches!(
        rejected(&h, missing),
        Reject::BundleOutcomesMismatch { .. }
    ));
    let mut unsorted = honest.clone();
    unsorted.bundle_outcomes.reverse();
    assert!(matches!(
        rejected(&h, unsorted),
        Reject::BundleOutcomesMismatch { .. }
    ));
    // Claiming bundle 1 executed with the reverted data's commitment: the leg is counted
    // back in, and the commitment no longer matches.
    let mut flipped = honest.clone();
    flipped.bundle_outcomes[0].executed = true;
    assert!(matches!(
        rejected(&h, flipped),
        Reject::CommitmentMismatch { .. }
    ));
    assert!(h.submit(honest).unwrap().settled().is_some());
    // The other rollup cannot settle bundle 1 as executed, nor bundle 2 as reverted.
    let liar = honest_with(&h.chain, header(OTHER_NAMESPACE), GENESIS, &|_| true);
    assert_eq!(
        rejected(&h, liar),
        Reject::BundleOutcomeConflict {
            bundle: b1,
            claimed: true,
            rollup: ROLLUP,
            settled: false
        }
    );
    let other = honest_with(&h.chain, header(OTHER_NAMESPACE), GENESIS, &outcome);
    assert!(h.submit(other).unwrap().settled().is_some());
}

/// Auth rule A1: whoever calls first does not get to fix a rollup's genesis root and
/// submitter: only the owner its deployment names registers it, on this chain, with exactly
/// what it signed. A refused registration records nothing.
#[test]
fn only_the_owner_registers_a_rollup() {
    let h = Harness::unregistered(Config::default());
    let head = h.l1.head().unwrap();
    let attacker = SigningKey::from_seed(666);
    let hijack = Registration {
        rollup: ROLLUP,
        program: support::PROGRAM.into(),
        genesis_root: [6, 6, 6, 6],
        start: START,
        submitter: public_key(&attacker),
    };
    let unauthorized = |r: Result<(), SettlementError>| {
        assert!(
            matches!(r, Err(SettlementError::Unauthorized { rollup: ROLLUP, .. })),
            "{r:?}"
        )
    };
    unauthorized(h.l1.register_rollup(hijack.sign(&attacker, &chain_id())));
    // The owner's signature on another network, or over other fields, does not carry over.
    let honest = Registration {
        rollup: ROLLUP,
        program: support::PROGRAM.into(),
        genesis_root: GENESIS,
        start: START,
        submitter: public_key(&submitter_of(ROLLUP)),
    };
    let elsewhere = ChainId(weft_types::sha256(&[b"another network"]));
    unauthorized(h.l1.register_rollup(honest.clone().sign(&owner_of(ROLLUP), &elsewhere)));
    let mut swapped = honest.clone().sign(&owner_of(ROLLUP), &chain_id());
    swapped.registration.submitter = public_key(&attacker);
    unauthorized(h.l1.register_rollup(swapped));
    // Another rollup's owner is not this one's.
    unauthorized(
        h.l1.register_rollup(honest.clone().sign(&owner_of(OTHER_NAMESPACE), &chain_id())),
    );
    assert_eq!(h.l1.head().unwrap(), head, "refusals record nothing");
    assert!(h.l1.status().unwrap().is_empty());

    h.l1.register_rollup(honest.clone().sign(&owner_of(ROLLUP), &chain_id()))
        .unwrap();
    let status = h.status();
    assert_eq!(status.genesis_root, GENESIS);
    assert_eq!(status.submitter, public_key(&submitter_of(ROLLUP)));
    // The owner cannot swap the submitter by registering again either (no replayable
    // rotation): a conflict.
    let rotated = Registration {
        submitter: public_key(&attacker),
        ..honest.clone()
    };
    assert!(matches!(
        h.l1.register_rollup(rotated.sign(&owner_of(ROLLUP), &chain_id())),
        Err(SettlementError::RegistrationConflict {
            rollup: ROLLUP,
            field: "submitter"
        })
    ));
}

/// Auth rules A2 and A3: someone holding a valid proof of a differently cut batch 0 cannot
/// settle it ahead of the rollup (which would leave the rollup's own batch 1 non-contiguous
/// for good), nor make the L1 fetch data, verify a proof or seal a block for it.
#[test]
fn only_the_registered_submitter_settles_and_refusals_cost_nothing() {
    let h = Harness::new();
    let head = h.l1.head().unwrap();
    let status = h.status();
    let header = BatchHeader {
        rollup: ROLLUP,
        batch_index: 0,
        start: START,
        end: Cursor::new(4, 1),
    };
    // Valid in every contract rule: only the signature is wrong.
    let competing = honest_for(&h.chain, header, GENESIS);
    let mut by_attacker = competing.clone();
    by_attacker.sign(&SigningKey::from_seed(666), &chain_id());
    let mut by_owner = competing.clone();
    by_owner.sign(&owner_of(ROLLUP), &chain_id());
    let mut tampered = support::signed(competing.clone());
    tampered.header.end = Cursor::new(5, 0);
    let mut elsewhere = competing.clone();
    elsewhere.sign(
        &submitter_of(ROLLUP),
        &ChainId(weft_types::sha256(&[b"another network"])),
    );
    // Make any data fetch fail loudly: a refused call must not reach it.
    h.chain.set_unavailable(true);
    for sub in [competing, by_attacker, by_owner, tampered, elsewhere] {
        let err = h.l1.submit(sub).unwrap_err();
        assert!(
            matches!(err, SettlementError::Unauthorized { rollup: ROLLUP, .. }),
            "{err}"
        );
    }
    h.chain.set_unavailable(false);
    assert_eq!(h.l1.head().unwrap(), head, "refusals record nothing");
    assert_eq!(h.status(), status);
    // The rollup's own cut settles, and its next batch continues it.
    h.submit(h.honest(Cursor::new(3, 0)))
        .unwrap()
        .settled()
        .unwrap();
    h.submit(h.honest(Cursor::new(6, 0)))
        .unwrap()
        .settled()
        .unwrap();
}

/// Inbox sends are open to anyone and each seals a durable block: bounded per second.
#[test]
fn inbox_sends_are_bounded_per_second() {
    let h = Harness::with_config(Config {
        inbox_sends_per_second_max: 3,
        ..Config::default()
    });
    let head = h.l1.head().unwrap();
    let secs = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let first = secs();
    let (mut sent, mut busy) = (0u64, 0u64);
    for i in 0..12u8 {
        match h.l1.inbox_send(ROLLUP, vec![i]) {
            Ok(_) => sent += 1,
            Err(SettlementError::Busy {
                per_second_max: 3,
                retry_after_ms,
                ..
            }) => {
                assert!((1..=1000).contains(&retry_after_ms));
                busy += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let seconds = secs() - first + 1;
    assert_eq!(sent + busy, 12);
    assert!(sent <= 3 * seconds, "{sent} sends in {seconds} s");
    if seconds == 1 {
        assert_eq!(busy, 9);
    }
    assert_eq!(
        h.l1.head().unwrap(),
        head + sent,
        "a busy answer seals nothing"
    );
    assert_eq!(h.status().inbox_messages, sent);
    // Sends to an unregistered rollup are refused before they count, and one rollup's
    // budget is its own: with this rollup's spent, another's is still open.
    for _ in 0..100 {
        assert!(matches!(
            h.l1.inbox_send(99, vec![0]),
            Err(SettlementError::UnknownRollup { rollup: 99 })
        ));
    }
    h.register(OTHER_NAMESPACE, GENESIS, START).unwrap();
    h.l1.inbox_send(OTHER_NAMESPACE, vec![1]).unwrap();
}

/// A registration must name the program the L1 runs for the rollup, and a submitter that is
/// a key: an owner's typo cannot brick the rollup.
#[test]
fn a_registration_for_another_program_or_a_non_key_is_refused() {
    let h = Harness::unregistered(Config::default());
    let base = Registration {
        rollup: ROLLUP,
        program: support::PROGRAM.into(),
        genesis_root: GENESIS,
        start: START,
        submitter: public_key(&submitter_of(ROLLUP)),
    };
    let other_program = Registration {
        program: "test/sum-v0".into(),
        ..base.clone()
    };
    // Not every 32 bytes are a point of the curve: the first such pattern.
    let bad_key = (0..=255u8)
        .map(|b| [b; 32])
        .find(|k| !weft_settlement::auth::is_public_key(k))
        .expect("some pattern is not a point");
    let not_a_key = Registration {
        submitter: bad_key,
        ..base.clone()
    };
    for (r, why) in [
        (other_program, "the L1 runs"),
        (not_a_key, "not an ed25519"),
    ] {
        let err =
            h.l1.register_rollup(r.sign(&owner_of(ROLLUP), &chain_id()))
                .unwrap_err();
        assert!(
            matches!(&err, SettlementError::BadRegistration { rollup: ROLLUP, reason } if reason.contains(why)),
            "{err}"
        );
    }
    assert!(h.l1.status().unwrap().is_empty());
    h.l1.register_rollup(base.sign(&owner_of(ROLLUP), &chain_id()))
        .unwrap();
}

/// A signed submission seen on the wire and sent again is answered from the record: no
/// second block, no second verification, whatever its first verdict.
#[test]
fn a_replayed_submission_costs_a_lookup_not_a_block() {
    let h = Harness::new();
    let mut bad = h.honest(Cursor::new(3, 0));
    bad.proof[0] ^= 1;
    let bad = support::signed(bad);
    let rejected = h.l1.submit(bad.clone()).unwrap();
    assert!(rejected.rejected().is_some());
    let honest = support::signed(h.honest(Cursor::new(3, 0)));
    let settled = h.l1.submit(honest.clone()).unwrap();
    assert!(settled.settled().is_some());
    let head = h.l1.head().unwrap();
    // Make any data fetch fail loudly: a replay must not reach it.
    h.chain.set_unavailable(true);
    for (replay, first) in [(bad, rejected.l1_block), (honest, settled.l1_block)] {
        let err = h.l1.submit(replay).unwrap_err();
        assert!(
            matches!(err, SettlementError::Duplicate { l1_block } if l1_block == first),
            "{err}"
        );
    }
    assert_eq!(h.l1.head().unwrap(), head, "replays seal nothing");
}

/// A proof crafted to make the program's verifier panic is refused like any invalid proof
/// and recorded; the L1 goes on serving (its write lock is not poisoned), and the honest
/// batch settles after it.
#[test]
fn a_proof_that_panics_the_verifier_is_refused_and_the_l1_goes_on() {
    let h = Harness::new();
    let honest = h.honest(Cursor::new(3, 0));
    for tail in [&b""[..], &[0u8; 64][..], &[0xffu8; 4096][..]] {
        let mut crafted = honest.clone();
        crafted.proof = [support::POISON_PROOF, tail].concat();
        let reject = rejected(&h, crafted);
        assert!(
            matches!(&reject, Reject::InvalidProof { reason } if reason.contains("panicked")),
            "{reject:?}"
        );
    }
    h.l1.inbox_send(ROLLUP, vec![1]).unwrap();
    assert!(h.submit(honest).unwrap().settled().is_some());
}
