//! The store on the deterministic runtime's storage: it survives reopen and a crash, and
//! the runtime's fault injection reaches it (a failed sync fails the commit, and the store
//! reopens at its last good commit).

use bytes::Bytes;
use commonware_runtime::{deterministic, Runner as _, Storage as _};
use commonware_utils::probability;
use weft_storage::{StorageError, Store};
use weft_types::{Block, Body, ChainId, Digest, Limits, NamespaceId, SigningKey, Transaction};

const PARTITION: &str = "store";

fn chain() -> ChainId {
    ChainId(weft_types::sha256(&[b"runtime backend tests"]))
}

fn genesis() -> Block {
    use commonware_cryptography::Signer as _;
    Block::genesis(
        Digest::from([3u8; 32]),
        SigningKey::from_seed(0).public_key(),
        0,
    )
}

/// A child of `parent` carrying one transaction of `nonce` from a fixed sender.
fn child(parent: &Block, nonce: u64) -> Block {
    use commonware_cryptography::Signer as _;
    let tx = Transaction::sign(
        &SigningKey::from_seed(7),
        &chain(),
        NamespaceId(5),
        nonce,
        Bytes::from(format!("payload {nonce}")),
    );
    Block::child(
        parent,
        0,
        parent.height() + 1,
        parent.header.timestamp_ms + 1,
        SigningKey::from_seed(0).public_key(),
        Body::from_txs(vec![tx]),
    )
}

async fn open(context: &deterministic::Context) -> Store {
    let chain = context.open(PARTITION, b"chain.redb").await.expect("blob");
    let bulk = context
        .open(PARTITION, b"chain.acks.redb")
        .await
        .expect("blob");
    let express = context
        .open(PARTITION, b"chain.acks-express.redb")
        .await
        .expect("blob");
    let bulk_journal = context
        .open(PARTITION, b"chain.acks.journal")
        .await
        .expect("blob");
    let express_journal = context
        .open(PARTITION, b"chain.acks-express.journal")
        .await
        .expect("blob");
    Store::open_on(
        chain,
        [bulk, express],
        [bulk_journal, express_journal],
        Limits::default(),
    )
    .expect("open store")
}

/// `count` blocks after genesis.
fn chain_of(count: u64) -> Vec<Block> {
    let mut blocks = vec![genesis()];
    for nonce in 1..=count {
        let next = child(blocks.last().unwrap(), nonce);
        blocks.push(next);
    }
    blocks
}

#[test]
fn committed_blocks_survive_reopen_and_an_unclean_crash() {
    let blocks = chain_of(5);
    // Unsynced bytes are torn at the crash: each survives with probability one half.
    let cfg = deterministic::Config::new()
        .with_seed(1)
        .with_storage_fault_config(deterministic::FaultConfig {
            write_rate: Some(deterministic::WriteConfig {
                failure_rate: probability!(0.0),
                retention_rate: probability!(0.5),
                mode: deterministic::PartialWriteMode::Subset,
            }),
            ..Default::default()
        });
    let blocks_ref = &blocks;
    let ((), checkpoint) =
        deterministic::Runner::new(cfg).start_and_recover(|context| async move {
            {
                let store = open(&context).await;
                for block in &blocks_ref[..3] {
                    assert!(store.commit_finalized(block, b"cert", 9).unwrap());
                }
            }
            // Reopened on the same blob: everything is there.
            let store = open(&context).await;
            assert_eq!(store.head_height(), Some(2));
            assert_eq!(store.block(2).unwrap().as_ref(), Some(&blocks_ref[2]));
            for block in &blocks_ref[3..] {
                assert!(store.commit_finalized(block, b"cert", 9).unwrap());
            }
            // The runtime crashes with the store open.
        });
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let store = open(&context).await;
        assert_eq!(
            store.head_height(),
            Some(5),
            "a crash lost committed blocks"
        );
        for block in &blocks {
            assert_eq!(store.block(block.height()).unwrap().as_ref(), Some(block));
        }
    });
}

#[test]
fn the_runtimes_sync_faults_fail_the_commit_and_the_store_reopens_at_its_last_commit() {
    let blocks = chain_of(3);
    let blocks = &blocks;
    deterministic::Runner::seeded(2).start(|context| async move {
        {
            let store = open(&context).await;
            assert!(store.commit_finalized(&blocks[0], b"", 9).unwrap());
            assert!(store.commit_finalized(&blocks[1], b"cert", 9).unwrap());
            // Every sync fails from here: the next commit must not report success.
            context.storage_fault_config().write().sync_rate = Some(probability!(1.0));
            let failed = store.commit_finalized(&blocks[2], b"cert", 9);
            assert!(
                matches!(failed, Err(StorageError::Database(_))),
                "a commit whose sync failed was acknowledged: {failed:?}"
            );
            assert_eq!(
                store.head_height(),
                Some(1),
                "the head moved on a failed commit"
            );
        }
        context.storage_fault_config().write().sync_rate = None;
        let store = open(&context).await;
        assert_eq!(store.head_height(), Some(1));
        assert_eq!(store.block(1).unwrap().as_ref(), Some(&blocks[1]));
        // The block whose commit failed commits now.
        assert!(store.commit_finalized(&blocks[2], b"cert", 9).unwrap());
        assert_eq!(store.block(2).unwrap().as_ref(), Some(&blocks[2]));
    });
}

/// `count` acknowledged transactions from sender `seed` and a receipt for each.
fn acks(seed: u64, count: u64) -> (Vec<Transaction>, Vec<weft_types::Receipt>) {
    use commonware_cryptography::Signer as _;
    let issuer = SigningKey::from_seed(1);
    let txs: Vec<Transaction> = (0..count)
        .map(|nonce| {
            Transaction::sign(
                &SigningKey::from_seed(seed),
                &chain(),
                NamespaceId(5),
                nonce,
                Bytes::from(format!("ack {seed}/{nonce}")),
            )
        })
        .collect();
    let receipts = txs
        .iter()
        .map(|t| weft_types::Promise::for_tx(chain(), t, 0, 40, issuer.public_key()).sign(&issuer))
        .collect();
    (txs, receipts)
}

/// Acknowledged submissions and receipts are durable through the journal alone: the
/// acknowledgement databases' own commits never sync between checkpoints, and a crash that
/// tears every unsynced write keeps all of them, on both lanes, before and after a
/// checkpoint; a second open finds the journal already applied.
#[test]
fn acknowledgements_survive_an_unclean_crash_through_the_journal() {
    let cfg = deterministic::Config::new()
        .with_seed(3)
        .with_storage_fault_config(deterministic::FaultConfig {
            write_rate: Some(deterministic::WriteConfig {
                failure_rate: probability!(0.0),
                retention_rate: probability!(0.5),
                mode: deterministic::PartialWriteMode::Subset,
            }),
            ..Default::default()
        });
    let groups: Vec<_> = (10..16).map(|seed| acks(seed, 3)).collect();
    let groups_ref = &groups;
    let ((), checkpoint) =
        deterministic::Runner::new(cfg).start_and_recover(|context| async move {
            let store = open(&context).await;
            for (i, (txs, receipts)) in groups_ref.iter().enumerate() {
                let lane = weft_storage::ACK_LANES[i % 2];
                store
                    .persist_pending_with_receipts(lane, txs, receipts)
                    .unwrap();
                if i == 1 {
                    // The first two groups reach the databases durably; the rest only the
                    // journals.
                    for lane in weft_storage::ACK_LANES {
                        store.checkpoint(lane).unwrap();
                    }
                }
            }
            // The runtime crashes with the store open: no clean close checkpoints it.
            std::mem::forget(store);
        });
    deterministic::Runner::from(checkpoint).start(|context| async move {
        for _reopen in 0..2 {
            let store = open(&context).await;
            let mut pending = store.pending().unwrap();
            pending.sort_by_key(|t| t.hash());
            let mut all: Vec<Transaction> = groups.iter().flat_map(|g| g.0.clone()).collect();
            all.sort_by_key(|t| t.hash());
            assert_eq!(pending, all, "a crash lost acknowledged transactions");
            for receipt in groups.iter().flat_map(|g| g.1.iter()) {
                assert_eq!(
                    store.receipt(&receipt.promise.tx).unwrap().as_ref(),
                    Some(receipt),
                    "a crash lost a signed receipt"
                );
            }
        }
    });
}

/// An acknowledgement whose journal sync fails is not reported done, and nothing of it is
/// served; once the disk recovers, the same group is acknowledged.
#[test]
fn a_failed_journal_sync_fails_the_acknowledgement() {
    deterministic::Runner::seeded(4).start(|context| async move {
        let store = open(&context).await;
        let (txs, receipts) = acks(20, 2);
        context.storage_fault_config().write().sync_rate = Some(probability!(1.0));
        let failed =
            store.persist_pending_with_receipts(weft_storage::AckLane::Express, &txs, &receipts);
        assert!(
            matches!(failed, Err(StorageError::Journal { .. })),
            "an acknowledgement whose sync failed was reported done: {failed:?}"
        );
        assert!(store.pending().unwrap().is_empty());
        assert_eq!(store.receipt(&receipts[0].promise.tx).unwrap(), None);
        context.storage_fault_config().write().sync_rate = None;
        store
            .persist_pending_with_receipts(weft_storage::AckLane::Express, &txs, &receipts)
            .unwrap();
        assert_eq!(store.pending().unwrap().len(), 2);
    });
}
