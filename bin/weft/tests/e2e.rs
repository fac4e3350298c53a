//! End-to-end: four real `weft node` processes on loopback.
//!
//! Transactions go in through RPC at different validators; every validator must report the
//! same finalized order. One validator is killed with SIGKILL while submissions continue; after
//! a restart it must catch up with nothing lost. Bad input gets specific errors and leaves the
//! node healthy.

mod common;

use bytes::Bytes;
use common::*;
use weft_client::types::TxStatus;
use weft_types::{SigningKey, Transaction};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_agree_survive_sigkill_and_reject_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut net = Net::create(dir.path(), 23_000);
    let everyone: Vec<usize> = (0..VALIDATORS).collect();
    wait_all_started().await;

    // Phase 1: submissions to every validator, one sender each.
    let senders: Vec<SigningKey> = (0..VALIDATORS as u64).map(|i| key(100 + i)).collect();
    let mut hashes = Vec::new();
    for (v, sender) in senders.iter().enumerate() {
        hashes.extend(submit(v, sender, 1 + v as u64 % 2, 0, 10).await);
    }
    wait_until("phase 1 transactions final everywhere", || {
        all_finalized(&everyone, &hashes)
    })
    .await;
    assert_same_order(&everyone, &hashes).await;

    // Phase 2: kill validator 3 with SIGKILL, keep submitting to the others.
    let before_kill = client(3).head().await.unwrap().unwrap().height;
    net.kill(3);
    let survivors = [0, 1, 2];
    let mut more = Vec::new();
    for v in survivors {
        more.extend(submit(v, &senders[v], 1 + v as u64 % 2, 10, 10).await);
    }
    wait_until("phase 2 transactions final on survivors", || {
        all_finalized(&survivors, &more)
    })
    .await;

    // Phase 3: restart it; it catches up with nothing lost or changed.
    net.start(3);
    hashes.extend(more);
    wait_until("restarted validator to catch up", || {
        all_finalized(&everyone, &hashes)
    })
    .await;
    assert!(client(3).head().await.unwrap().unwrap().height > before_kill);
    assert_same_order(&everyone, &hashes).await;

    // Phase 4: bad input gets specific errors.
    let c = client(0);
    let limits = weft_types::Limits::default();
    assert_eq!(
        call_code(c.send_transaction("0xdeadbeef").await),
        weft_rpc::codes::MALFORMED_TX
    );
    assert_eq!(
        call_code(c.send_transaction("not hex at all").await),
        weft_rpc::codes::MALFORMED_TX
    );
    let huge = tx(
        &senders[0],
        1,
        1_000,
        &vec![7u8; limits.payload_bytes_max + 1],
    );
    assert_eq!(
        call_code(c.send_transaction(&hex_of(&huge)).await),
        weft_rpc::codes::TX_TOO_LARGE
    );
    let good = tx(&senders[0], 1, 2_000, b"x");
    let forged = Transaction::from_parts(
        good.namespace(),
        *good.sender(),
        good.nonce(),
        Bytes::from_static(b"y"),
        good.signature().unwrap().clone(),
    );
    assert_eq!(
        call_code(c.send_transaction(&hex_of(&forged)).await),
        weft_rpc::codes::BAD_SIGNATURE
    );
    let replay = tx(&senders[0], 1, 5, b"replayed nonce");
    assert_eq!(
        call_code(c.send_transaction(&hex_of(&replay)).await),
        weft_rpc::codes::NONCE_TOO_LOW
    );
    let first = tx(&senders[0], 1, 0, b"payload 0");
    assert_eq!(
        call_code(c.send_transaction(&hex_of(&first)).await),
        weft_rpc::codes::ALREADY_FINALIZED
    );
    assert_eq!(
        call_code(c.raw("weft_noSuchMethod", Default::default()).await),
        -32601
    );
    assert_eq!(
        call_code(c.namespace_transactions(1, 0, 1_000_000).await),
        weft_rpc::codes::RANGE_TOO_LARGE
    );
    assert_eq!(
        call_code(
            c.raw("weft_getTransactionStatus", jsonrpsee_params(&["0x12"]))
                .await
        ),
        -32602
    );
    assert_eq!(
        call_code(
            c.raw("weft_getBlockByHeight", jsonrpsee_params(&["ten"]))
                .await
        ),
        -32602
    );
    let batch: Vec<String> = (0..5_000).map(|_| "0x00".to_string()).collect();
    assert_eq!(
        call_code(c.send_transactions(&batch).await),
        weft_rpc::codes::BATCH_TOO_LARGE
    );

    // A range past the head returns what exists and the head, at once.
    let Some(TxStatus::Finalized {
        height: first_height,
        ..
    }) = status(0, &hashes[0]).await
    else {
        panic!("finalized")
    };
    let to = first_height + weft_rpc::DEFAULT_NAMESPACE_RANGE_HEIGHTS_MAX - 1;
    let range = c.namespace_transactions(1, first_height, to).await.unwrap();
    let head = range.head.expect("head");
    assert_eq!(
        range.to,
        to.min(head),
        "a range past the head stops at the head"
    );
    assert!(range.transactions.iter().all(|t| t.tx.namespace == 1));
    assert!(range.transactions.iter().any(|t| t.tx.hash == hashes[0]));

    // The node still works: a fresh transaction is finalized.
    let gap = tx(&senders[0], 1, 1_000_000, b"too far ahead");
    assert_eq!(
        call_code(c.send_transaction(&hex_of(&gap)).await),
        weft_rpc::codes::NONCE_TOO_HIGH
    );
    let sender0 =
        weft_types::to_hex(commonware_cryptography::Signer::public_key(&senders[0]).as_ref());
    let next = c.next_nonce(&sender0).await.unwrap();
    assert_eq!((next.next, next.finalized_next), (20, 20));
    let after = submit(0, &senders[0], 1, next.next, 1).await;
    wait_until("post-bad-input transaction final", || {
        all_finalized(&[0], &after)
    })
    .await;
}
