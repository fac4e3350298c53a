//! The reference token rollup against four real validator processes: two independent rollup
//! instances following different validators execute the same transfers to the same state
//! root; an invalid transfer is skipped with its reason.

mod common;

use bytes::Bytes;
use common::*;
use commonware_cryptography::Signer as _;
use weft_rollup::service::Rollup;
use weft_rollup_token::{TokenState, Transfer};
use weft_types::{NamespaceId, SigningKey, Transaction};

const NS: u64 = 7;

fn domain() -> weft_rollup_token::TransferDomain {
    weft_rollup_token::TransferDomain {
        chain: chain(),
        rollup: NamespaceId(NS),
    }
}

fn pk(k: &SigningKey) -> [u8; 32] {
    k.public_key().as_ref().try_into().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rollup_instances_agree_on_executed_transfers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _net = Net::create(dir.path(), 26_000);
    wait_all_started().await;
    let (alice, bob, carol) = (key(700), key(701), key(702));
    let genesis = || TokenState::genesis(&[(pk(&alice), 1_000), (pk(&bob), 10)]);
    let rollups = [
        Rollup::new(chain(), NS, genesis()),
        Rollup::new(chain(), NS, genesis()),
    ];
    for (r, v) in rollups.iter().zip([0usize, 2]) {
        tokio::spawn(weft_rollup::service::follow(r.clone(), client(v)));
    }

    // alice -> bob 100, bob -> carol 50, bob -> carol 500 (overdraft: skipped), alice -> carol 1.
    let transfers = [
        (&alice, &bob, 100u64, 0u32),
        (&bob, &carol, 50, 0),
        (&bob, &carol, 500, 1),
        (&alice, &carol, 1, 1),
    ];
    let mut weft_nonces = std::collections::HashMap::new();
    let mut hashes = Vec::new();
    for (from, to, amount, nonce) in transfers {
        let payload = Transfer::sign(from, &domain(), pk(to), amount, nonce).encode();
        let weft_nonce = weft_nonces.entry(pk(from)).or_insert(0u64);
        let tx = Transaction::sign(
            from,
            &chain(),
            NamespaceId(NS),
            *weft_nonce,
            Bytes::from(payload),
        );
        *weft_nonce += 1;
        // Each sender submits to one validator, in order.
        let to_validator = if pk(from) == pk(&alice) { 1 } else { 3 };
        hashes.push(
            client(to_validator)
                .send_transaction(&hex_of(&tx))
                .await
                .expect("accepted by Weft"),
        );
        if hashes.len() == 1 {
            // Bob spends what alice sends him: wait for it, as a real client would. (Across
            // senders, the order of concurrent submissions is not fixed.)
            let funding = hashes.clone();
            wait_until("alice's transfer final", || all_finalized(&[0], &funding)).await;
        }
    }
    wait_until("transfers final", || all_finalized(&[0, 2], &hashes)).await;
    // Notifications come only for heights holding the namespace's transactions: wait for
    // the rollups to pass the last transfer's height.
    let mut last = 0;
    for h in &hashes {
        if let Some(weft_client::types::TxStatus::Finalized { height, .. }) = status(0, h).await {
            last = last.max(height);
        }
    }
    wait_until("both rollups to execute past the transfers", || async {
        rollups.iter().all(|r| r.status().next_height > last)
    })
    .await;

    let [a, b] = &rollups;
    assert_eq!(
        a.status().state_root,
        b.status().state_root,
        "same data, same root"
    );
    let mut locations = Vec::new();
    for h in &hashes {
        locations.push(status(0, h).await);
    }
    assert_eq!(
        (a.status().applied, a.status().skipped),
        (3, 1),
        "skipped: {:?}; hashes {hashes:?} at {locations:?}",
        a.skipped(0)
    );
    assert_eq!(
        a.account(&pk(&alice)).map(|x| (x.balance, x.nonce)),
        Some((899, 2))
    );
    assert_eq!(
        a.account(&pk(&bob)).map(|x| (x.balance, x.nonce)),
        Some((60, 1))
    );
    assert_eq!(
        a.account(&pk(&carol)).map(|x| (x.balance, x.nonce)),
        Some((51, 0))
    );
    let skipped = a.skipped(0);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].tx_hash, hashes[2]);
    assert!(
        skipped[0].reason.contains("does not cover 500"),
        "{}",
        skipped[0].reason
    );
}
