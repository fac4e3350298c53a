//! The rollup-facing API against four real validator processes: every method over HTTP, the
//! namespace subscription over WebSocket (backfill, live, and resuming after a disconnect with
//! no gap or duplicate), namespace proofs and finality verified offline by `weft-client`, and
//! tampered proofs refused.

mod common;

use common::*;
use commonware_codec::{Decode as _, Encode as _};
use weft_client::{types::*, verify_namespace_proof, Client, VerifyError};
use weft_types::{Limits, NamespaceId, NamespaceProof, VerifyingKey};

async fn validator_keys(c: &Client) -> Vec<VerifyingKey> {
    use commonware_codec::DecodeExt as _;
    c.validators()
        .await
        .unwrap()
        .iter()
        .map(|v| {
            VerifyingKey::decode(
                weft_types::from_hex_fixed::<32>(&v.public_key)
                    .unwrap()
                    .to_vec(),
            )
            .unwrap()
        })
        .collect()
}

/// Reads `stream` until it has delivered `count` transactions; returns them as (height, hash).
async fn read_txs(stream: &mut weft_client::NamespaceStream, count: usize) -> Vec<(u64, String)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let block = tokio::time::timeout(std::time::Duration::from_secs(60), stream.next())
            .await
            .expect("subscription delivers in time")
            .expect("subscription item");
        assert!(
            !block.transactions.is_empty(),
            "only blocks with the namespace's transactions are sent"
        );
        seen.extend(
            block
                .transactions
                .iter()
                .map(|t| (block.height, t.tx.hash.clone())),
        );
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_subscriptions_and_verified_proofs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _net = Net::create(dir.path(), 24_000);
    wait_all_started().await;
    let c = client(0);
    let limits = Limits::default();

    // The validator set is genesis'.
    let validators = validator_keys(&c).await;
    let genesis = weft_node::Genesis::load(&dir.path().join("genesis.toml")).unwrap();
    assert_eq!(validators, genesis.validator_keys().unwrap());

    // A live subscription opened before anything is submitted.
    let mut live = c.subscribe_namespace(1, 0);

    // Submissions: a batch to validator 1, single transactions to validator 2.
    let (alice, bob) = (key(500), key(501));
    let batch: Vec<String> = (0..10)
        .map(|n| hex_of(&tx(&alice, 1, n, format!("a{n}").as_bytes())))
        .collect();
    let results = client(1).send_transactions(&batch).await.unwrap();
    let mut alice_hashes = Vec::new();
    for r in results {
        match r {
            SubmitResult::Accepted { hash, .. } => alice_hashes.push(hash),
            SubmitResult::Error { error } => panic!("rejected: {error:?}"),
        }
    }
    let bob_hashes = submit(2, &bob, 2, 0, 3).await;
    let all: Vec<String> = alice_hashes.iter().chain(&bob_hashes).cloned().collect();
    wait_until("submissions final on validator 0", || {
        all_finalized(&[0], &all)
    })
    .await;

    // Status, blocks by height and hash, encoded block, head, nonce.
    let TxStatus::Finalized {
        height,
        index,
        block_hash,
    } = c.transaction_status(&alice_hashes[0]).await.unwrap()
    else {
        panic!()
    };
    let block = c.block(height, true).await.unwrap().unwrap();
    assert_eq!(block.header.hash, block_hash);
    assert_eq!(block.tx_hashes[index as usize], alice_hashes[0]);
    assert_eq!(
        block.transactions.as_ref().unwrap()[index as usize].hash,
        alice_hashes[0]
    );
    assert_eq!(
        c.block_by_hash(&block_hash, false)
            .await
            .unwrap()
            .unwrap()
            .header,
        block.header
    );
    assert!(c
        .block_by_hash(&format!("0x{}", "00".repeat(32)), false)
        .await
        .unwrap()
        .is_none());
    let encoded = c.encoded_block(height).await.unwrap().unwrap();
    let decoded =
        weft_types::Block::decode_untrusted(&hex::decode(&encoded[2..]).unwrap(), &limits).unwrap();
    assert_eq!(decoded.digest().to_string(), block_hash);
    assert!(c.head().await.unwrap().unwrap().height >= height);
    let alice_pk = weft_types::to_hex(commonware_cryptography::Signer::public_key(&alice).as_ref());
    assert_eq!(c.next_nonce(&alice_pk).await.unwrap().next, 10);

    // Namespace range: alice's transactions in order.
    let head = c.head().await.unwrap().unwrap().height;
    let range = c.namespace_transactions(1, 0, head).await.unwrap();
    let ranged: Vec<String> = range
        .transactions
        .iter()
        .map(|t| t.tx.hash.clone())
        .collect();
    assert_eq!(ranged, alice_hashes);

    // The live subscription delivered exactly those, in order.
    let streamed = read_txs(&mut live, alice_hashes.len()).await;
    assert_eq!(
        streamed.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>(),
        alice_hashes
    );

    // Resume after a disconnect: drop the stream after its first block, submit more, resume
    // from the next height; together the two streams equal the range, with no gap or duplicate.
    let mut first = c.subscribe_namespace(1, 0);
    let first_block = first.next().await.unwrap();
    let resume_from = first.next_height();
    drop(first);
    let more: Vec<String> = (10..15)
        .map(|n| hex_of(&tx(&alice, 1, n, format!("a{n}").as_bytes())))
        .collect();
    for r in client(3).send_transactions(&more).await.unwrap() {
        assert!(matches!(r, SubmitResult::Accepted { .. }));
    }
    let mut resumed = c.subscribe_namespace(1, resume_from);
    let expected_total = alice_hashes.len() + more.len();
    let rest = read_txs(
        &mut resumed,
        expected_total - first_block.transactions.len(),
    )
    .await;
    let mut joined: Vec<String> = first_block
        .transactions
        .iter()
        .map(|t| t.tx.hash.clone())
        .collect();
    joined.extend(rest.iter().map(|(_, h)| h.clone()));
    let head = c.head().await.unwrap().unwrap().height;
    let range = c.namespace_transactions(1, 0, head).await.unwrap();
    assert_eq!(
        joined,
        range
            .transactions
            .iter()
            .map(|t| t.tx.hash.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(joined.len(), expected_total);

    // Proofs verified offline, for a present and an absent namespace.
    let chain = c.chain_id().await.unwrap();
    let verified = c
        .verified_namespace(1, height, &validators, &chain, &limits)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(verified.header.digest().to_string(), block_hash);
    assert!(verified
        .transactions
        .iter()
        .any(|t| t.hash().to_string() == alice_hashes[0]));
    let absent = c
        .verified_namespace(999, height, &validators, &chain, &limits)
        .await
        .unwrap()
        .unwrap();
    assert!(absent.transactions.is_empty());

    // Tampered proofs are refused.
    let proof = c.namespace_proof(1, height).await.unwrap().unwrap();
    let finality = c.finality(height).await.unwrap().unwrap();
    verify_namespace_proof(&proof, &finality, &validators, &chain, &limits).unwrap();
    // (a) a changed transaction
    let NamespaceProof::Present {
        leaf_count,
        index,
        siblings,
        mut txs,
    } = NamespaceProof::decode_cfg(hex::decode(&proof.proof[2..]).unwrap(), &limits).unwrap()
    else {
        panic!("namespace 1 is present")
    };
    txs[0] = tx(&key(9_999), 1, 0, b"forged");
    let mut forged = proof.clone();
    forged.proof = weft_types::to_hex(
        &NamespaceProof::Present {
            leaf_count,
            index,
            siblings,
            txs,
        }
        .encode(),
    );
    assert!(matches!(
        verify_namespace_proof(&forged, &finality, &validators, &chain, &limits),
        Err(VerifyError::Proof(_))
    ));
    // (b) the wrong namespace
    let mut wrong_ns = proof.clone();
    wrong_ns.namespace = 2;
    assert!(verify_namespace_proof(&wrong_ns, &finality, &validators, &chain, &limits).is_err());
    // (c) the wrong root: another block's header
    let other = c.block(height - 1, false).await.unwrap().unwrap();
    let mut wrong_root = proof.clone();
    wrong_root.header = weft_types::to_hex(
        &weft_types::Block::decode_untrusted(
            &hex::decode(&c.encoded_block(height - 1).await.unwrap().unwrap()[2..]).unwrap(),
            &limits,
        )
        .unwrap()
        .header
        .encode(),
    );
    assert_ne!(other.header.hash, proof.block_hash);
    assert!(matches!(
        verify_namespace_proof(&wrong_root, &finality, &validators, &chain, &limits),
        Err(VerifyError::Header(_))
    ));
    // (d) a certificate checked against keys that are not the validators
    let strangers: Vec<VerifyingKey> = (0..4)
        .map(|i| commonware_cryptography::Signer::public_key(&key(7_000 + i)))
        .collect();
    assert!(matches!(
        verify_namespace_proof(&proof, &finality, &strangers, &chain, &limits),
        Err(VerifyError::Certificate(
            weft_consensus::CertificateError::BadSignatures
        ))
    ));
    // (e) a certificate of this network checked as another network's: signatures are bound
    // to the chain, so the same validator keys do not carry it over.
    let elsewhere = weft_types::ChainId(weft_types::sha256(&[b"another network"]));
    assert!(matches!(
        verify_namespace_proof(&proof, &finality, &validators, &elsewhere, &limits),
        Err(VerifyError::Certificate(
            weft_consensus::CertificateError::BadSignatures
        ))
    ));
    // (f) a truncated certificate
    let mut truncated = finality.clone();
    truncated
        .certificate
        .truncate(truncated.certificate.len() - 10);
    assert!(verify_namespace_proof(&proof, &truncated, &validators, &chain, &limits).is_err());

    // Bad input over the API: too many subscriptions on one connection, an oversized body.
    let ws = c.connect_ws().await.unwrap();
    let mut subs = Vec::new();
    for _ in 0..weft_rpc::DEFAULT_SUBSCRIPTIONS_PER_CONNECTION_MAX {
        subs.push(
            Client::subscribe_on(&ws, 1, 0)
                .await
                .expect("within the bound"),
        );
    }
    assert!(
        Client::subscribe_on(&ws, 1, 0).await.is_err(),
        "one subscription too many is refused"
    );
    drop(subs);
    let huge = format!(
        "0x{}",
        "00".repeat(weft_rpc::DEFAULT_REQUEST_BODY_BYTES_MAX as usize / 2 + 1024)
    );
    assert!(
        c.send_transaction(&huge).await.is_err(),
        "an oversized body is refused"
    );
    let mut p = jsonrpsee::core::params::ArrayParams::new();
    p.insert(1u64).unwrap();
    assert_eq!(call_code(c.raw("weft_getNamespaceProof", p).await), -32602);

    // Still healthy: a new transaction is finalized and streamed.
    let last = submit(0, &bob, 2, 3, 1).await;
    wait_until("post-bad-input transaction", || all_finalized(&[0], &last)).await;
    let verified_range = c
        .namespace_transactions(2, 0, c.head().await.unwrap().unwrap().height)
        .await
        .unwrap();
    assert_eq!(verified_range.transactions.len(), 4);
    assert!(verified_range
        .transactions
        .iter()
        .all(|t| t.tx.namespace == NamespaceId(2).0));
}
